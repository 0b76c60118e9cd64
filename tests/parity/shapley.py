"""One Shapley estimate of the search against the original's ``shap_estimation``, with the same permutations
and value batches."""

from __future__ import annotations

import contextlib
import io

import jax
import jax.numpy as jnp
import numpy as np

from shapley_nas_jax.interop.convert import supernet_from_torch
from shapley_nas_jax.search.state import Hyperparameters
from parity.original import Batches
from parity.pairs import (
    CELL_TYPES,
    build_supernet_pair,
    nhwc,
    search_program,
    search_state,
    torch_images,
    torch_mixing_weights,
    torch_on_one_thread,
)
from parity.results import Check, compare

__all__ = ["shapley_checks"]


def _center_classifier(net, alpha, image_size: int, train: bool, seed: int) -> None:
    """Set the classifier's bias of ``net`` to minus the mean logit of the full supernet on random images.

    A randomly initialised supernet gives nearly the same pooled features for every random image, so it
    predicts one class for all of them and removing ops hardly changes that: an accuracy game with next to
    no signal. Centred logits follow the image-specific part of the features, which the ops change."""
    import torch

    features = []
    hook = net.classifier.register_forward_hook(lambda module, args, out: features.append(args[0]))
    initial = {key: v.clone() for key, v in net.state_dict().items()}
    net.train(train)
    try:
        with torch.no_grad():
            net(torch_images(seed, (64, 3, image_size, image_size)),
                weights_dict=torch_mixing_weights(alpha, np.ones(alpha.shape, np.float32)))
            bias = -(features[0].mean(0) @ net.classifier.weight.T)
    finally:
        hook.remove()
        net.load_state_dict(initial)
    with torch.no_grad():
        net.classifier.bias.copy_(bias)


def _contested_batches(net, alpha, samples: int, batch: int, image_size: int, train: bool, seed: int):
    """Value batches ``[samples, batch, 3, H, W]`` of random images that the full supernet and the empty
    one (every op removed: only the PC-DARTS bypass channels left) classify differently, labelled with the
    full supernet's predictions on their batch. So each chain starts at 100% and ends low, and truncates on
    the way. The network's state (running statistics) is left as it was."""
    import torch

    initial = {key: v.clone() for key, v in net.state_dict().items()}
    full = torch_mixing_weights(alpha, np.ones(alpha.shape, np.float32))
    empty = torch_mixing_weights(alpha, np.zeros(alpha.shape, np.float32))
    net.train(train)
    chosen, attempt = [], 0
    with torch.no_grad():
        while sum(len(c) for c in chosen) < samples * batch:
            if attempt == 20:
                raise RuntimeError("could not find images that the full and the empty supernet classify differently")
            pool = torch_images(seed + 1000 * attempt, (256, 3, image_size, image_size))
            differ = net(pool, weights_dict=full).argmax(-1) != net(pool, weights_dict=empty).argmax(-1)
            chosen.append(pool[differ])
            attempt += 1
        images = torch.cat(chosen)[: samples * batch].reshape(samples, batch, 3, image_size, image_size)
        labels = torch.stack([net(x, weights_dict=full).argmax(-1) for x in images])
    net.load_state_dict(initial)
    return images, labels


@torch_on_one_thread
def shapley_checks(orig, *, C: int = 4, layers: int = 3, k: int = 4, batch: int = 16, image_size: int = 8,
                   samples: int = 2, bn_mode: str = "running", truncation: float = 0.5, formulation: str = "lax",
                   scan_edges: bool = False, scoring: str = "sequential", seed: int = 0,
                   atol: float = 1e-6) -> list[Check]:
    """One Shapley estimate of our search against the original's ``shap_estimation`` run with the same
    ``samples`` permutations (ours, handed to its ``np.random.permutation`` calls) and the same value batch
    per permutation, on a supernet whose classifier is centred (see :func:`_center_classifier`) and images
    the full and the empty supernet classify differently (:func:`_contested_batches`), labelled with the full
    supernet's predictions: each chain starts at 100% and truncates once it loses ``1 - truncation`` of it.
    The original scores accuracy in percent, ours as a fraction: ours x 100 is compared, and so are the
    forward passes each chain took (counted on the original's model). BN mode ``running`` = the original in
    ``eval()``, ``batch`` = in ``train()``."""
    import torch

    net, model, _, alpha = build_supernet_pair(orig, C=C, layers=layers, k=k, scan_edges=scan_edges, seed=seed)
    program = search_program(C=C, layers=layers, k=k, image_size=image_size, scan_edges=scan_edges,
                              formulation=formulation, **{"shapley.samples": samples,
                                                          "shapley.truncation": truncation,
                                                          "shapley.aggregate": "mean_minus_std",
                                                          "shapley.truncated": "zero",
                                                          "shapley.metric": "accuracy",
                                                          "shapley.bn_mode": bn_mode,
                                                          "shapley.value_batch_size": batch,
                                                          "shapley.scoring": scoring})
    _center_classifier(net, alpha, image_size, bn_mode == "batch", seed + 5)
    variables, _ = supernet_from_torch(net.state_dict(), model)  # with the centred classifier
    images, labels = _contested_batches(net, alpha, samples, batch, image_size, bn_mode == "batch", seed + 2)
    state = search_state(program, variables, alpha, seed)
    value_batches = {"image": jnp.stack([nhwc(x) for x in images]), "label": jnp.asarray(labels.numpy(), jnp.int32)}
    hyper = Hyperparameters.from_config(program.config, steps_per_epoch=1)
    phi, estimate = program.estimate_shapley(state, value_batches, jax.random.PRNGKey(seed), hyper)

    num_edges, num_ops = alpha.shape[1:]
    players = [f"{ct}_{e}_{op}" for ct in CELL_TYPES for e in range(num_edges) for op in range(num_ops)]
    estimate_fn = orig.shap_estimation(np.asarray(estimate.permutations))
    batches = Batches(images, labels, net)
    with contextlib.redirect_stdout(io.StringIO()):  # it prints its progress
        shap_normal, shap_reduce = estimate_fn(batches, net, torch.nn.CrossEntropyLoss(), players,
                                               num_samples=samples, threshold=truncation)
    # evaluations per chain: the full supernet, then one per removal up to and including the truncating one
    ours = np.asarray(estimate.measured).sum(axis=1) + 1
    lengths = ", ".join(map(str, ours))
    return [
        compare(f"Shapley estimate (BN {bn_mode}), percent", 100 * np.asarray(phi),
                np.stack([shap_normal, shap_reduce]), rtol=1e-5, atol=atol),
        compare(f"Shapley chain lengths (forward passes: {lengths} of {len(players) + 1})", ours,
                batches.chain_lengths(), rtol=0, atol=0),
        Check("Shapley: a chain truncated before its end (else the rule went untested)", 0.0, 0.0, 0.0, 0.0,
              bool(ours.min() <= len(players))),
    ]
