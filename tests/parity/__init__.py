"""Side-by-side checks of this project against a checkout of the original PyTorch code (needs torch).

Each check builds the original's model from its own code, converts its weights with :mod:`.convert`, runs
both on the same inputs and returns :class:`Check` rows (largest absolute / relative difference and whether
they are within tolerance). ``tests/test_parity.py`` asserts them; ``scripts/parity_report.py`` prints them.

* :func:`supernet_checks`: masked supernet logits (``model_search.Network`` with ``weights_dict``), in eval
  mode (running BN statistics) and train mode (batch statistics, and the running averages it writes);
* :func:`network_checks`: the evaluation network's logits (``model.NetworkCIFAR`` / ``NetworkImageNet``) for a
  published genotype, eval mode, and train mode with the auxiliary head (drop path off);
* :func:`weight_step_checks`: one weight step of the search (``train.clip_with_alpha_grad``) against torch
  SGD with ``clip_grad_norm_`` over the weights and alpha's never-zeroed gradient;
* :func:`shapley_checks`: one Shapley estimate against the original's ``shap_estimation`` with the same
  permutations and value batches.

The original is imported from its directory as it is; only ``shap_estimation`` (and the ``remove_players``
it calls) is taken from ``train_search.py`` without running that script's module-level code (argument
parsing, experiment folders, logging). ``torchvision`` (imported by its ``utils.py``, unused by what runs
here) is stubbed while importing when it is not installed. Nothing calls ``.cuda()``.

Modules: `results` (:class:`Check` and how rows are computed), `original` (loading the checkout), `pairs`
(both sides of a check: models, converted weights, inputs), and one per check kind: `forward`,
`weight_step`, `shapley`.
"""

from parity.forward import network_checks, supernet_checks
from parity.original import ORIGINAL_MODULES, check_checkout, load_original
from parity.pairs import (
    CELL_TYPES,
    build_network_pair,
    build_supernet_pair,
    example_masks,
    nhwc,
    randomize_state,
    single_threaded_torch,
    torch_images,
    torch_mixing_weights,
)
from parity.results import (
    BIASED_VARIANCE,
    BN_MOMENTUM,
    Check,
    bn_input_sizes,
    compare,
    compare_state_dicts,
    running_stat_checks,
)
from parity.shapley import shapley_checks
from parity.weight_step import weight_step_checks

__all__ = [
    "BIASED_VARIANCE",
    "BN_MOMENTUM",
    "CELL_TYPES",
    "Check",
    "ORIGINAL_MODULES",
    "bn_input_sizes",
    "build_network_pair",
    "build_supernet_pair",
    "check_checkout",
    "compare",
    "compare_state_dicts",
    "example_masks",
    "load_original",
    "network_checks",
    "nhwc",
    "randomize_state",
    "running_stat_checks",
    "shapley_checks",
    "single_threaded_torch",
    "supernet_checks",
    "torch_images",
    "torch_mixing_weights",
    "weight_step_checks",
]
