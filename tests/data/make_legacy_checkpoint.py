"""Writes tests/data/legacy_checkpoint/: a search killed after its first architecture update, as the code
of commit 8a09162 saved it (``SearchState`` as 14 flat fields), and ``state.npz``, every leaf of the state it
saved under its flat key path. test_search.py resumes it with today's code.

Made with ``PYTHONPATH=tests python tests/data/make_legacy_checkpoint.py`` at that commit; running it at a
later commit writes that commit's layout instead, which is not what the test is for.
"""

import glob
import os
import shutil

import jax
import numpy as np

from search_configs import quick_darts_space, tiny_config
from shapley_nas_jax.search import SearchInterrupted, run_search

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "legacy_checkpoint")
OPTIONS = {"train.batch_size": 16, "data.train_fraction": 0.05, "shapley.value_batch_size": 16,
           "train.clip_with_alpha_grad": True}  # the reference-only fields are in the state too


def main():
    shutil.rmtree(HERE, ignore_errors=True)
    saved = {}

    def stop_after_first_update(event, state):
        if event == "alpha_update":
            saved.update({jax.tree_util.keystr(path): np.asarray(leaf)
                          for path, leaf in jax.tree_util.tree_leaves_with_path(state)})
            return True
        return False

    try:
        run_search(tiny_config(quick_darts_space(), **OPTIONS), HERE, progress=False,
                   interrupt=stop_after_first_update)
    except SearchInterrupted:
        pass
    np.savez_compressed(os.path.join(HERE, "state.npz"), **saved)
    for marker in glob.glob(os.path.join(HERE, "checkpoints", "**", "commit_success.txt"), recursive=True):
        with open(marker) as f:  # orbax writes where it saved; keep the path relative to the project
            text = f.read().replace(os.path.dirname(os.path.dirname(os.path.dirname(HERE))) + os.sep, "")
        with open(marker, "w") as f:
            f.write(text)
    print(sorted(os.listdir(os.path.join(HERE, "checkpoints"))), len(saved), "leaves")


if __name__ == "__main__":
    main()
