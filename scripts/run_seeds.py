"""Run one search config over several seeds and summarise them as mean ± std (paper Tables 1 and 5).

    python scripts/run_seeds.py --config configs/nb201_cifar10.py --seeds 0,1,2,3 --workdir runs/nb201-c10 \
        --config.search.benchmark=../shared/data/nb201/nb201_200ep.csv.gz
    python scripts/run_seeds.py --config configs/robust_darts.py:s2,cifar10 --seeds 0,1,2,3 --workdir runs/s2-c10-darts \
        --config.search.method=darts_1st --train-config configs/train_cifar10.py

Seeds run one after another in this process, each in ROOT/seed<k> (``config.seed = k``; everything else
identical: same supernet, data, schedule and budget), so that they share compiled programs. Rerunning the
command resumes: ``run_search`` continues every unfinished seed from its last checkpoint, and a seed finished
with this config is not rerun. With ``--train-config`` each found genotype is trained from scratch by
``run_training`` in ROOT/train/seed<k> (resumable too) and its test error enters the summary.
``--config.KEY=VALUE`` and ``--train-config.KEY=VALUE`` override keys of either config. With
``--population`` the unfinished seeds (consecutive) first run as one population, one vmapped program
(``search.population``; ROOT/population-<first>-<last>), whose members count as the seeds' runs.

Writes ROOT/summary.json, over every finished seed of ROOT with this config (without ``--train-config``: also
seeds run by earlier calls, so seeds can be run one call at a time), and prints:

* NB201 runs with a benchmark (``search.benchmark``): the Table 5 row (CIFAR-10 / CIFAR-100 /
  ImageNet16-120, validation and test accuracy, mean ± std over seeds);
* other runs: each seed's genotype and skip count, and with ``--train-config`` the Table 1 cell
  (test error %, mean ± std over seeds).

The work is ``shapley_nas_jax.experiments.run_seeds``.
"""

from __future__ import annotations

import argparse
import os
import sys

from shapley_nas_jax.cli.common import load_config, split_overrides
from shapley_nas_jax.errors import UserError
from shapley_nas_jax.experiments import parse_seeds, run_seeds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="search config file (configs/*.py[:argument])")
    parser.add_argument("--train-config", help="training config file: train each seed's genotype from scratch "
                                               "and report its test error")
    parser.add_argument("--seeds", default="0,1,2,3", help="comma-separated seeds, or a range a-b")
    parser.add_argument("--workdir", required=True, help="root directory: ROOT/seed<k> per seed, ROOT/summary.json")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--population", action="store_true",
                        help="search the unfinished seeds (consecutive) as one vmapped population first")
    try:
        overrides, argv = split_overrides(sys.argv[1:] if argv is None else argv, "config")
        train_overrides, argv = split_overrides(argv, "train-config")
        args = parser.parse_args(argv)
        config = load_config(args.config, overrides)
        train_config = load_config(args.train_config, train_overrides) if args.train_config else None
        summary = run_seeds(config, parse_seeds(args.seeds), args.workdir, train_config,
                            progress=not args.no_progress, log=lambda line: print(line, flush=True),
                            population=args.population)
    except UserError as error:
        parser.exit(2, f"run_seeds: error: {error}\n")
    print(summary["table"])
    print(f"summary: {os.path.join(args.workdir, 'summary.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
