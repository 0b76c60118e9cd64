"""Interoperability with the original PyTorch implementation of Shapley-NAS.

* :mod:`.convert`: our Flax variables <-> the original's state dicts (``supernet_from_torch``,
  ``supernet_to_torch`` for ``model_search.Network``; ``network_from_torch``, ``network_to_torch`` for
  ``model.py``'s ``NetworkCIFAR`` / ``NetworkImageNet``). NumPy only; torch only for ``as_torch=True``.
* The side-by-side checks against a checkout of the original code are test code, not installed:
  ``tests/parity/`` (used by ``tests/test_parity.py`` and ``scripts/parity_report.py``).
* :mod:`.shapiq_games` (not imported here): shapiq's Shapley-value approximators on this library's games, for
  ``scripts/compare_estimators.py`` (needs ``pip install 'shapley-nas-jax[compare]'``).
"""

from shapley_nas_jax.interop.convert import (
    ALPHA_KEYS,
    Entry,
    as_torch_tensors,
    entries_of,
    network_from_torch,
    network_to_torch,
    supernet_from_torch,
    supernet_to_torch,
    to_numpy,
)

__all__ = [
    "ALPHA_KEYS",
    "Entry",
    "as_torch_tensors",
    "entries_of",
    "network_from_torch",
    "network_to_torch",
    "supernet_from_torch",
    "supernet_to_torch",
    "to_numpy",
]
