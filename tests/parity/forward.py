"""Forward passes: the masked supernet's logits (``model_search.Network``) and the evaluation networks'
(``model.NetworkCIFAR`` / ``NetworkImageNet``), ours against the original's with the same weights."""

from __future__ import annotations

from typing import Sequence

import jax
import numpy as np

from shapley_nas_jax.interop.convert import NETWORK_INPUTS, supernet_to_torch
from parity.pairs import (
    build_network_pair,
    build_supernet_pair,
    example_masks,
    nhwc,
    torch_images,
    torch_mixing_weights,
    torch_on_one_thread,
)
from parity.results import Check, bn_input_sizes, compare, running_stat_checks

__all__ = ["network_checks", "supernet_checks"]


@torch_on_one_thread
def supernet_checks(orig, *, C: int = 8, layers: int = 3, k: int = 4, batch: int = 4, image_size: int = 16,
                    bn_modes: Sequence[str] = ("running", "batch"), num_random_masks: int = 3,
                    formulation: str = "lax", scan_edges: bool = False, seed: int = 0, rtol: float = 1e-4,
                    atol: float = 1e-5, stem: str = "cifar") -> list[Check]:
    """Masked supernet logits, ours against ``model_search.Network(C, 10, layers, k=k)`` (``stem="imagenet"``:
    ``model_search_imagenet.Network``, at least 32x32 images) with the same weights: one check per (BN mode,
    mask of :func:`example_masks`). BN mode ``running`` is torch ``eval()`` against ``train=False``;
    ``batch`` is torch ``train()`` against ``train=True, mutable=["batch_stats"]``, which also checks the
    running means and variances one such forward writes (full mask)."""
    import torch

    from shapley_nas_jax.ops import primitives

    net, model, variables, alpha = build_supernet_pair(orig, C=C, layers=layers, k=k, scan_edges=scan_edges,
                                                       seed=seed, stem=stem)
    initial = {key: v.clone() for key, v in net.state_dict().items()}
    images = torch_images(seed + 2, (batch, 3, image_size, image_size))
    x = nhwc(images)
    masks = example_masks(seed + 3, tuple(alpha.shape), num_random_masks)
    if stem == "imagenet":  # its MixedOp sums only the ops with nonzero weight: an emptied edge fails there,
        # which is why that search never removes an edge's last op (shapley.keep_last_op)
        masks = {name: mask for name, mask in masks.items() if name not in ("edges_emptied", "empty")}
        for mask in masks.values():
            mask[..., 0] = np.where(mask.sum(axis=-1) == 0, 1.0, mask[..., 0])
    checks = []
    with primitives.formulation(formulation):
        running = jax.jit(lambda v, m: model.apply(v, x, alpha, m, train=False))
        batch_stats = jax.jit(lambda v, m: model.apply(v, x, alpha, m, train=True, mutable=["batch_stats"]))
        for mode in bn_modes:
            for name, mask in masks.items():
                net.load_state_dict(initial)  # train-mode forwards update the running statistics
                net.train(mode == "batch")
                with torch.no_grad(), bn_input_sizes(net) as sizes:
                    want = net(images, weights_dict=torch_mixing_weights(alpha, mask)).numpy()
                if mode == "running":
                    got = running(variables, mask)
                else:
                    got, updates = batch_stats(variables, mask)
                checks.append(compare(f"{stem} supernet logits, BN {mode}, mask {name}", got, want, rtol=rtol,
                                      atol=atol))
                if mode == "batch" and name == "full":
                    ours = supernet_to_torch({"params": variables["params"], **updates}, alpha, model)
                    checks += running_stat_checks(f"{stem} supernet train-mode forward", ours, net.state_dict(), initial,
                                                  sizes, rtol=rtol, atol=atol)
    return checks


@torch_on_one_thread
def network_checks(orig, genotype: str = "shapley_nas_cifar10", *, network: str = "cifar", C: int = 8,
                   layers: int = 4, batch: int = 4, train_mode: bool = True, formulation: str = "lax",
                   seed: int = 0, rtol: float = 1e-4, atol: float = 1e-5) -> list[Check]:
    """The evaluation network's logits, ours against the original's ``model.NetworkCIFAR`` (32x32 inputs) or
    ``NetworkImageNet`` (224x224) for the genotype named ``genotype`` in both libraries (ours lower-case),
    with an auxiliary head and drop path off: eval mode, and with ``train_mode`` train mode (batch statistics;
    main and auxiliary logits).

    ``layers >= 4`` for train mode: the original's auxiliary head starts with an in-place ReLU on the output
    of cell ``2*layers//3``; every later cell starts with a ReLU too, so that changes nothing, unless that cell
    is the last (``layers <= 3``), whose output the classifier then reads rectified (in training mode only).
    """
    import torch

    from shapley_nas_jax.ops import primitives

    net, model, variables = build_network_pair(orig, genotype, network=network, C=C, layers=layers, seed=seed)
    torch_cls = type(net).__name__
    size = NETWORK_INPUTS[torch_cls][0]
    images = torch_images(seed + 2, (batch, 3, size, size))
    x = nhwc(images)
    checks = []
    with primitives.formulation(formulation):
        net.eval()
        with torch.no_grad():
            want, _ = net(images)
        got, _ = jax.jit(lambda v: model.apply(v, x, train=False))(variables)
        checks.append(compare(f"{torch_cls}({genotype}) logits, eval", got, want.numpy(), rtol=rtol, atol=atol))
        if train_mode:
            net.train()
            with torch.no_grad():
                want, want_aux = net(images)
            (got, got_aux), _ = jax.jit(lambda v: model.apply(v, x, train=True, mutable=["batch_stats"]))(variables)
            checks.append(compare(f"{torch_cls}({genotype}) logits, train", got, want.numpy(), rtol=rtol, atol=atol))
            checks.append(compare(f"{torch_cls}({genotype}) auxiliary logits, train", got_aux, want_aux.numpy(),
                                  rtol=rtol, atol=atol))
    return checks
