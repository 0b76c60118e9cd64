"""Parameter counts and multiply-adds of evaluation networks, from shapes only (no real arrays).

Parameters are counted from ``jax.eval_shape(model.init, ...)``; by default the auxiliary head is left out,
as DARTS reports it. Multiply-adds (multiply-accumulates, MACs; one MAC = one multiply + one add) are counted
analytically from the jaxpr of one evaluation-mode forward pass of a single image:

* ``conv_general_dilated``: ``prod(out_shape) * kh * kw * C_in / groups`` (the kernel's spatial size times
  its input-feature size, which already is ``C_in / groups``);
* ``dot_general``: ``prod(out_shape) * prod(contracted lhs dims)``.

Pooling, BatchNorm, activations and additions are not counted (the DARTS / mobile-setting convention).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np


from shapley_nas_jax.errors import UnknownNameError
from shapley_nas_jax.evaluation.networks import AUX_HEAD, build_network

# Evaluation input of each dataset family: (H, W, C_in), classes.
DATASET_INPUTS = {
    "cifar10": ((32, 32, 3), 10),
    "cifar100": ((32, 32, 3), 100),
    "imagenet": ((224, 224, 3), 1000),
}
NB201_IMAGENET = ((16, 16, 3), 120)  # ImageNet16-120


@dataclasses.dataclass(frozen=True)
class Complexity:
    """``params``: parameter count (auxiliary head excluded unless asked); ``madds``: multiply-adds per image
    at ``image_shape`` ``(H, W, C_in)``."""

    params: int
    madds: int
    image_shape: tuple[int, int, int]

    @property
    def params_m(self) -> float:
        return self.params / 1e6

    @property
    def madds_m(self) -> float:
        return self.madds / 1e6


def count_params(params: Any, exclude: Sequence[str] = (AUX_HEAD,)) -> int:
    """Number of scalars in a parameter pytree (arrays or ShapeDtypeStructs), skipping top-level subtrees
    named in ``exclude``."""
    if hasattr(params, "keys"):
        params = {k: v for k, v in params.items() if k not in exclude}
    return int(sum(math.prod(leaf.shape) for leaf in jax.tree_util.tree_leaves(params)))


def _subjaxprs(value) -> list:
    """Jaxprs nested in an equation parameter (a Jaxpr, a ClosedJaxpr, or a tuple/list of them)."""
    if hasattr(value, "eqns"):
        return [value]
    if hasattr(value, "jaxpr") and hasattr(value.jaxpr, "eqns"):
        return [value.jaxpr]
    if isinstance(value, (tuple, list)):
        return [j for v in value for j in _subjaxprs(v)]
    return []


def _eqn_madds(eqn) -> int:
    name = eqn.primitive.name
    if name == "conv_general_dilated":
        rhs = eqn.invars[1].aval.shape
        rhs_spec = eqn.params["dimension_numbers"].rhs_spec  # (out feature, in feature, *spatial)
        per_output = rhs[rhs_spec[1]] * math.prod(rhs[d] for d in rhs_spec[2:])
        return math.prod(eqn.outvars[0].aval.shape) * per_output
    if name == "dot_general":
        (lhs_contract, _), _ = eqn.params["dimension_numbers"]
        lhs = eqn.invars[0].aval.shape
        return math.prod(eqn.outvars[0].aval.shape) * math.prod(lhs[d] for d in lhs_contract)
    return 0


def jaxpr_madds(jaxpr) -> int:
    """Multiply-adds of conv and dot equations in ``jaxpr`` (a Jaxpr or ClosedJaxpr), nested calls included;
    a ``scan`` body counts ``length`` times, a ``cond`` counts its most expensive branch."""
    jaxpr = getattr(jaxpr, "jaxpr", jaxpr)
    total = 0
    for eqn in jaxpr.eqns:
        total += _eqn_madds(eqn)
        name = eqn.primitive.name
        if name == "cond":
            total += max((jaxpr_madds(b) for b in _subjaxprs(eqn.params["branches"])), default=0)
            continue
        inner = sum(jaxpr_madds(j) for v in eqn.params.values() for j in _subjaxprs(v))
        total += inner * (eqn.params["length"] if name == "scan" else 1)
    return total


def count_madds(fn: Callable, *args) -> int:
    """Multiply-adds of ``fn(*args)``; ``args`` may be arrays or ``jax.ShapeDtypeStruct`` pytrees."""
    return jaxpr_madds(jax.make_jaxpr(fn)(*args))


def network_complexity(model, image_shape: Sequence[int], exclude: Sequence[str] = (AUX_HEAD,)) -> Complexity:
    """Parameters and per-image multiply-adds of an evaluation network (``model.apply(v, x, train=False)``)
    at input ``image_shape`` ``(H, W, C_in)``; traced abstractly, so full-size ImageNet networks cost no memory."""
    image_shape = tuple(int(s) for s in image_shape)
    x = jax.ShapeDtypeStruct((1, *image_shape), jnp.float32)
    variables = jax.eval_shape(lambda x: model.init(jax.random.key(0), x, train=False), x)
    madds = count_madds(lambda v, x: model.apply(v, x, train=False), variables, x)
    return Complexity(count_params(variables["params"], exclude), int(madds), image_shape)


def genotype_complexity(genotype, dataset: str = "cifar10", *, channels: int | None = None,
                        layers: int | None = None, cells_per_stage: int | None = None) -> Complexity:
    """Complexity of a genotype's evaluation network at its dataset's evaluation resolution.

    ``dataset``: ``cifar10`` / ``cifar100`` (32x32; DARTS CIFAR network, C=36, 20 cells, or the NB201 network)
    or ``imagenet`` (224x224, mobile network C=48, 14 cells; for an NB201 arch: ImageNet16-120 at 16x16).
    """
    from shapley_nas_jax.genotypes import NB201Genotype

    if dataset not in DATASET_INPUTS:
        raise UnknownNameError(f"unknown dataset {dataset!r} for complexity; choose one of {', '.join(DATASET_INPUTS)}")
    image_shape, num_classes = DATASET_INPUTS[dataset]
    if isinstance(genotype, NB201Genotype):
        network = "nb201"
        if dataset == "imagenet":
            image_shape, num_classes = NB201_IMAGENET
    else:
        network = "imagenet" if dataset == "imagenet" else "cifar"
    model = build_network(genotype, network, num_classes=num_classes, channels=channels, layers=layers,
                          cells_per_stage=cells_per_stage)
    return network_complexity(model, image_shape)


def conv_madds(kernel_size: int, c_in: int, c_out: int, out_h: int, out_w: int, groups: int = 1) -> int:
    """Closed form for one convolution: ``k*k*C_in*C_out*H_out*W_out / groups``."""
    return int(np.int64(kernel_size) ** 2 * c_in * c_out * out_h * out_w // groups)
