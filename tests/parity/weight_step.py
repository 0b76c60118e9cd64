"""One weight step of the search (``train.clip_with_alpha_grad``) against the original's ``train()`` step."""

from __future__ import annotations

import jax.numpy as jnp

from shapley_nas_jax.search.state import Hyperparameters
from shapley_nas_jax.interop.convert import supernet_to_torch
from parity.pairs import (
    build_supernet_pair,
    nhwc,
    search_program,
    search_state,
    torch_images,
    torch_on_one_thread,
)
from parity.results import (
    Check,
    bn_input_sizes,
    compare,
    compare_state_dicts,
    running_stat_checks,
)

__all__ = ["weight_step_checks"]


@torch_on_one_thread
def weight_step_checks(orig, *, C: int = 8, layers: int = 3, k: int = 4, batch: int = 4, image_size: int = 16,
                       learning_rate: float = 0.1, weight_decay: float = 3e-4, grad_clip: float = 1.0,
                       alpha_grad_scale: float = 0.5, formulation: str = "lax", scan_edges: bool = False,
                       seed: int = 0, rtol: float = 1e-4, atol: float = 1e-6) -> list[Check]:
    """One weight step of our search with ``train.clip_with_alpha_grad=True`` against the original's
    ``train()`` step: SGD(momentum 0.9, weight decay) on the weights, ``clip_grad_norm_`` over every
    parameter including alphas, whose ``.grad`` already holds an earlier sum (``alpha_grad_scale * N(0,1)``,
    large enough that clipping acts). Compares the new weights, alphas' clipped gradient sum and the BN
    running averages (see :func:`running_stat_checks`)."""
    import torch

    net, model, variables, alpha = build_supernet_pair(orig, C=C, layers=layers, k=k, scan_edges=scan_edges,
                                                       seed=seed)
    program = search_program(C=C, layers=layers, k=k, image_size=image_size, scan_edges=scan_edges,
                              formulation=formulation, **{"train.clip_with_alpha_grad": True,
                                                          "train.grad_clip": grad_clip,
                                                          "train.learning_rate": learning_rate,
                                                          "train.weight_decay": weight_decay})
    g = torch.Generator().manual_seed(seed + 4)
    earlier = alpha_grad_scale * torch.randn((2, *net.alphas_normal.shape), generator=g)
    images = torch_images(seed + 2, (batch, 3, image_size, image_size))
    labels = torch.randint(0, 10, (batch,), generator=g)

    # the original: only the weights are optimised; alphas' .grad is never zeroed and is clipped with them
    alphas = [net.alphas_normal, net.alphas_reduce]
    weights = [p for p in net.parameters() if all(p is not a for a in alphas)]
    optimizer = torch.optim.SGD(weights, learning_rate, momentum=0.9, weight_decay=weight_decay)
    for a, grad in zip(alphas, earlier):
        a.grad = grad.clone()
    before = {key: v.clone() for key, v in net.state_dict().items()}
    net.train()
    optimizer.zero_grad()
    with bn_input_sizes(net) as sizes:
        torch.nn.functional.cross_entropy(net(images), labels).backward()
    torch.nn.utils.clip_grad_norm_(net.parameters(), grad_clip)
    optimizer.step()
    want = net.state_dict()
    want_alpha_grad = torch.stack([a.grad for a in alphas]).numpy()

    state = search_state(program, variables, alpha, seed)
    state = state.replace(reference=state.reference.replace(alpha_grad=jnp.asarray(earlier.numpy())))
    hyper = Hyperparameters.from_config(program.config, steps_per_epoch=10)  # step 0: rate lr
    new = program.weight_step(state, {"image": nhwc(images), "label": jnp.asarray(labels.numpy(), jnp.int32)}, hyper)
    got = supernet_to_torch({"params": new.weights.params, "batch_stats": new.weights.batch_stats}, None, model)
    weight_keys = sorted(k for k in got if not k.endswith(("running_mean", "running_var", "num_batches_tracked")))
    return [
        compare_state_dicts("weight step: new weights", got, want, weight_keys, rtol=rtol, atol=atol),
        compare("weight step: alpha's clipped gradient sum", new.reference.alpha_grad, want_alpha_grad,
                rtol=rtol, atol=atol),
        *running_stat_checks("weight step", got, want, before, sizes, rtol=rtol, atol=atol),
    ]
