"""Parity with the original PyTorch code (issue "Parity with the original code").

Needs torch and a checkout of the original code, named by $SHAPLEY_NAS_ORIGINAL (a directory with its
model_search.py, model.py, train_search.py, ...); skipped without either. The same weights (the original's,
converted by shapley_nas_jax.interop) and the same inputs must give the same numbers: masked supernet logits
in both BN modes, the evaluation networks' logits, one weight step with alpha's gradient in the clipping, and
one Shapley estimate with the same permutations. The checks themselves live in parity
(scripts/parity_report.py prints them as a table).

    SHAPLEY_NAS_ORIGINAL=/path/to/Shapley-NAS python -m pytest -q tests/test_parity.py
"""

import os

import numpy as np
import pytest

from shapley_nas_jax.interop import network_to_torch, supernet_to_torch


@pytest.fixture(scope="module")
def orig():
    pytest.importorskip("torch", reason="parity with the original code needs torch")
    import parity

    path = os.environ.get("SHAPLEY_NAS_ORIGINAL")
    if not path:
        pytest.skip("set SHAPLEY_NAS_ORIGINAL to a checkout of the original code (model_search.py, model.py, ...)")
    try:
        return parity.load_original(path)
    except ValueError as err:
        pytest.skip(f"SHAPLEY_NAS_ORIGINAL: {err}")


def assert_checks(checks):
    assert checks
    failed = [str(c) for c in checks if c.failed]
    assert not failed, "\n".join(failed)


def test_parity_state_dicts_round_trip_through_ours(orig):
    """The original's own state dicts (every key, shape and value) survive torch -> ours -> torch."""
    import torch

    import parity

    net, model, variables, alpha = parity.build_supernet_pair(orig, C=8, layers=3, k=4)
    state = net.state_dict()
    back = supernet_to_torch(variables, alpha, model, as_torch=True)
    assert back.keys() == state.keys()
    for key, value in state.items():
        if not key.endswith("num_batches_tracked"):
            assert torch.equal(back[key], value), key

    for network in ("cifar", "imagenet"):
        net, model, variables = parity.build_network_pair(orig, "DARTS_V2", network=network)
        state = net.state_dict()
        back = network_to_torch(variables, model)
        assert back.keys() == state.keys(), network
        for key, value in state.items():
            if not key.endswith("num_batches_tracked"):
                np.testing.assert_array_equal(back[key], value.numpy(), err_msg=key)


# lax with one module per edge, shifted with stacked edges (which compiles the shifted ops about twice as fast)
FORMULATIONS = pytest.mark.parametrize("formulation,scan_edges", [("lax", False), ("shifted", True)],
                                       ids=["lax-per_edge", "shifted-stacked"])


@FORMULATIONS
def test_parity_supernet_logits_eval_mode(orig, formulation, scan_edges):
    """torch eval() == our train=False: full, random, edge-emptying and empty masks, K=4, 3 cells."""
    import parity

    checks = parity.supernet_checks(orig, bn_modes=("running",), num_random_masks=2, formulation=formulation,
                                    scan_edges=scan_edges)
    assert len(checks) == 5
    assert_checks(checks)


@FORMULATIONS
def test_parity_supernet_logits_train_mode(orig, formulation, scan_edges):
    """torch train() == our train=True (batch statistics), and the running averages that one forward writes
    (running_var up to the known biased/unbiased factor, which a check of its own pins down)."""
    import parity

    checks = parity.supernet_checks(orig, bn_modes=("batch",), num_random_masks=1, formulation=formulation,
                                    scan_edges=scan_edges)
    assert {c.name.split(": ")[-1] for c in checks if "running_var" in c.name} == {
        "BN running_var", "BN running_var, torch's update with the biased batch variance"}
    assert_checks(checks)


@pytest.mark.parametrize("bn_mode", ["running", "batch"])
def test_parity_imagenet_search_supernet_logits(orig, bn_mode):
    """``model_search_imagenet.Network`` (the original ImageNet search's supernet: the 3C-channel stride-2 stem,
    K=4, no post-pool BN) == our supernet with ``model.stem="imagenet"``, as configs/darts_imagenet.py builds it."""
    import parity

    checks = parity.supernet_checks(orig, stem="imagenet", image_size=32, bn_modes=(bn_mode,), num_random_masks=1)
    assert [c.name.split("mask ")[1] for c in checks if c.name.startswith("imagenet supernet logits")] == [
        "full", "random0"]
    assert_checks(checks)


@pytest.mark.parametrize("network,genotype", [("cifar", "shapley_nas_cifar10"), ("imagenet", "shapley_nas_imagenet")])
def test_parity_darts_evaluation_network(orig, network, genotype):
    """NetworkCIFAR / NetworkImageNet of a published genotype: eval logits, and train-mode logits with the
    auxiliary head (drop path off)."""
    import parity

    checks = parity.network_checks(orig, genotype, network=network, batch=4 if network == "cifar" else 2)
    assert len(checks) == 3
    assert_checks(checks)


@pytest.mark.slow  # compiling the weight step's backward pass takes most of it (~25 s on 2 busy cores)
def test_parity_weight_step_with_alpha_grad_in_the_clipping(orig):
    """One SearchProgram.weight_step (train.clip_with_alpha_grad) == torch SGD + clip_grad_norm_ over the
    weights and alphas' never-zeroed gradient (stacked edges, lax)."""
    import parity

    assert_checks(parity.weight_step_checks(orig, scan_edges=True))


def test_parity_shapley_estimate_with_the_same_permutations(orig):
    """Our estimate x 100 == the original's shap_estimation (percent) on the same 2 permutations and value
    batches, with the original's threshold 0.5; the chains truncate at the same positions (running BN
    statistics; a 3-cell C=4 supernet)."""
    import parity

    checks = parity.shapley_checks(orig)
    assert len(checks) == 3
    assert_checks(checks)


def test_a_check_passes_within_its_tolerances_and_reports_known_differences():
    from parity.results import compare

    close = compare("logits", [1.0, 2.0], [1.0, 2.0 + 1e-6])
    assert close.ok and not close.failed and close.status == "ok"
    off = compare("logits", [1.0], [1.1])
    assert off.failed and off.max_abs == pytest.approx(0.1) and str(off).endswith("FAIL")
    kept = compare("logits", [1.0], [1.1], known="kept on purpose")
    assert not kept.failed and kept.status == "known difference" and "(kept on purpose)" in str(kept)
    with pytest.raises(ValueError, match="shapes differ"):
        compare("logits", [1.0], [1.0, 2.0])
