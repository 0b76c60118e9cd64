"""Weight-sharing supernets whose architecture (``alpha``) and coalition (``mask``) are call inputs.

``model.apply(variables, x, alpha, mask, train=False, rngs=..., mutable=...)`` with ``x [B, H, W, 3]``,
``alpha`` and ``mask`` ``[cell_types, edges, ops]`` -> logits ``[B, num_classes]``. Every op on every edge
is always computed and scaled by its mixing weight (see :func:`~shapley_nas_jax.models.cells.mixing_weights`),
so one compiled function serves every mask and ``jax.vmap`` over masks works. Nothing about a coalition lives
in module state.

``train`` only switches BatchNorm between batch statistics (and, with ``mutable=["batch_stats"]``, a
running-average update) and the stored running averages. ``formulation`` (a field) is the op arithmetic the
supernet's forward pass traces with (``ops.primitives``: ``lax`` | ``shifted``; None: the one selected
around the call, lax by default); it never changes values or parameters.
"""

from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax.numpy as jnp


from shapley_nas_jax.errors import UnknownNameError
from shapley_nas_jax.models.cells import cell_nodes, edge_normalization_weights, mixing_weights
from shapley_nas_jax.ops import primitives as P
from shapley_nas_jax.ops.layers import (
    BatchNorm,
    Conv,
    FactorizedReduce,
    PointwiseConv,
    ReLUConvBN,
    classifier,
    imagenet_stem,
)
from shapley_nas_jax.spaces import SearchSpace, get_space


def _with_formulation(forward):
    """``forward`` (a supernet's ``__call__``) traced with the module's ``formulation`` selected."""

    @functools.wraps(forward)
    def call(self, *args, **kwargs):
        with P.formulation(self.formulation):
            return forward(self, *args, **kwargs)

    return call


class DartsSearchCell(nn.Module):
    """A DARTS search cell: two preprocessed inputs, ``steps`` intermediate nodes, each the sum of the
    mixed ops on its incoming edges, output = concat of the last ``multiplier`` nodes.

    ``s0 [B, H0, W0, C0]`` (c_{k-2}; twice the size of s1 if the previous cell reduced), ``s1 [B, H, W, C1]``,
    ``weights [edges, ops]``, ``edge_weights [edges]`` or None -> ``[B, H', W', multiplier*C]``.
    """

    edge_ops: tuple[tuple[str, ...], ...]
    endpoints: tuple[tuple[int, int], ...]
    C: int
    reduction: bool
    reduction_prev: bool
    multiplier: int = 4
    partial_channels: int = 1
    pool_bn: bool = False
    skip_absent_ops: bool = False
    scan_edges: bool = True

    @nn.compact
    def __call__(self, s0, s1, weights, edge_weights=None, train: bool = False):
        if self.reduction_prev:
            s0 = FactorizedReduce(self.C, affine=False, name="preprocess0")(s0, train)
        else:
            s0 = ReLUConvBN(self.C, 1, 1, 0, affine=False, name="preprocess0")(s0, train)
        s1 = ReLUConvBN(self.C, 1, 1, 0, affine=False, name="preprocess1")(s1, train)
        nodes = cell_nodes([s0, s1], weights, edge_weights, edge_ops=self.edge_ops, endpoints=self.endpoints,
                           input_stride=2 if self.reduction else 1, partial_channels=self.partial_channels,
                           pool_bn=self.pool_bn, skip_absent_ops=self.skip_absent_ops, scan=self.scan_edges,
                           train=train)
        return jnp.concatenate([nodes[n] for n in sorted(nodes)[-self.multiplier:]], axis=-1)


class DartsSupernet(nn.Module):
    """DARTS / PC-DARTS search network for any DARTS-topology space (``darts``, ``darts_reference``, S1-S4).

    ``__call__(x [B,H,W,3], alpha, mask=None, beta=None, train=False) -> logits [B, num_classes]`` with
    ``alpha``, ``mask`` ``[2, 14, ops]`` (cell type 0 = normal, 1 = reduce) and, only with
    ``edge_normalization``, ``beta [2, 14]`` (None = zeros, i.e. uniform over each node's inputs).

    Cells at ``layers//3`` and ``2*layers//3`` reduce (channels double). ``stem="cifar"``: conv3x3 to
    ``stem_multiplier*C`` + BN; ``stem="imagenet"``: three stride-2 3x3 convs to ``stem_multiplier*C`` channels
    (``stem_multiplier*C/2`` after the first; /8), as the ImageNet search supernets of PC-DARTS and of the
    original code (``model_search_imagenet.py``) build it (the evaluation network's stem has ``C``).
    The Shapley-NAS reference uses ``partial_channels=4``, no ``pool_bn``, no edge normalisation.
    """

    space: SearchSpace
    C: int = 16
    layers: int = 8
    num_classes: int = 10
    steps: int = 4
    multiplier: int = 4
    stem_multiplier: int = 3
    partial_channels: int = 1
    edge_normalization: bool = False
    pool_bn: bool = False
    renormalize: bool = False
    stem: str = "cifar"
    remat: bool = False  # rematerialise each cell in the backward pass (less activation memory, more compute)
    skip_absent_ops: bool = False  # skip masked-out ops by a cond (scoring one coalition at a time)
    scan_edges: bool = True  # one traced MixedOp per group of like edges, run by nn.scan (much faster compiles)
    classifier_init: str = "flax"  # classifier initialisation: flax | torch (ops.layers.CLASSIFIER_INITS)
    formulation: str | None = None  # op arithmetic of the forward pass (ops.primitives); None: as selected

    @property
    def reduce_at(self) -> tuple[int, int]:
        """Indices of the two reduction cells."""
        return self.layers // 3, 2 * self.layers // 3

    def prefix_cell_types(self) -> tuple[int, ...]:
        """Cell types (0 = normal) whose mask the prefix (stem + cells before the first reduction) reads."""
        return (0,) if self.reduce_at[0] > 0 else ()

    @nn.compact
    @_with_formulation
    def __call__(self, x, alpha, mask=None, beta=None, train: bool = False, prefix=None,
                 return_prefix: bool = False):
        """Logits ``[B, num_classes]``.

        The network splits at the first reduction cell into a *prefix* (stem and the normal cells before it,
        which read only the normal cells' mask) and the rest. ``return_prefix=True`` returns the prefix's
        output ``(s0, s1)`` instead of logits; ``prefix=(s0, s1)`` starts from such an output instead of
        ``x`` (``x`` is then unused). So a coalition that differs from the last one only in reduction-cell
        ops can reuse the last prefix (exactly the same values).
        """
        space = self.space
        if space.topology != "darts":
            raise ValueError(f"DartsSupernet needs a DARTS-topology space, got {space.name} ({space.topology})")
        endpoints = space.edge_endpoints
        if len({n for n, _ in endpoints}) != self.steps:
            raise ValueError(f"space {space.name} has {len({n for n, _ in endpoints})} nodes per cell, steps={self.steps}")
        weights = mixing_weights(alpha, mask, self.renormalize)
        edge_weights = None
        if self.edge_normalization:
            if beta is None:
                beta = jnp.zeros(alpha.shape[:2], alpha.dtype)
            edge_weights = edge_normalization_weights(beta, endpoints)

        first_reduction = self.reduce_at[0]
        if prefix is None:
            s0, s1, reduction_prev = self._stem(x, train)
        else:
            s0, s1 = prefix
            # the prefix ends with a normal cell, unless it is the stem alone (whose /8 output counts as reduced)
            reduction_prev = first_reduction == 0 and self.stem == "imagenet"
        c_curr = self.C
        for i in range(self.layers):
            if i == first_reduction and return_prefix:
                return s0, s1
            if prefix is not None and i < first_reduction:
                continue  # part of the given prefix
            reduction = i in self.reduce_at
            if reduction:
                c_curr *= 2
            ct = 1 if reduction else 0
            cell_cls = nn.remat(DartsSearchCell, static_argnums=(5,)) if self.remat else DartsSearchCell
            cell = cell_cls(
                edge_ops=space.edge_ops[ct],
                endpoints=endpoints,
                C=c_curr,
                reduction=reduction,
                reduction_prev=reduction_prev,
                multiplier=self.multiplier,
                partial_channels=self.partial_channels,
                pool_bn=self.pool_bn,
                skip_absent_ops=self.skip_absent_ops,
                scan_edges=self.scan_edges,
                name=f"cell{i}",
            )
            # positional, so that nn.remat can mark `train` (argument 5, counting self) static
            out = cell(s0, s1, weights[ct], None if edge_weights is None else edge_weights[ct], train)
            s0, s1 = s1, out
            reduction_prev = reduction
        return classifier(P.global_avg_pool(s1), self.num_classes, self.classifier_init)

    def _stem(self, x, train: bool):
        """``(s0, s1, reduction_prev)`` for the first cell."""
        C = self.C
        if self.stem == "cifar":
            s = Conv(self.stem_multiplier * C, 3, 1, 1, name="stem_conv")(x)
            s0 = s1 = BatchNorm(affine=True, name="stem_bn")(s, train)
            reduction_prev = False
        elif self.stem == "imagenet":
            s0, s1 = imagenet_stem(x, self.stem_multiplier * C, train)
            reduction_prev = True
        else:
            raise UnknownNameError(f"unknown stem {self.stem!r}; expected 'cifar' or 'imagenet'")
        return s0, s1, reduction_prev


class ResNetBasicBlock(nn.Module):
    """NAS-Bench-201 residual block: ReLUConvBN 3x3 (stride) -> ReLUConvBN 3x3, plus a shortcut
    (stride 2: 2x2 avg pool then 1x1 conv; channel change at stride 1: ReLUConvBN 1x1; else identity).
    ``[B, H, W, C_in] -> [B, H/stride, W/stride, C_out]``."""

    C_out: int
    stride: int = 2

    @nn.compact
    def __call__(self, x, train: bool = False):
        y = ReLUConvBN(self.C_out, 3, self.stride, 1, affine=True, name="conv_a")(x, train)
        y = ReLUConvBN(self.C_out, 3, 1, 1, affine=True, name="conv_b")(y, train)
        if self.stride == 2:
            shortcut = PointwiseConv(self.C_out, name="downsample")(P.avg_pool_2x2(x))
        elif x.shape[-1] != self.C_out:
            shortcut = ReLUConvBN(self.C_out, 1, 1, 0, affine=True, name="downsample")(x, train)
        else:
            shortcut = x
        return shortcut + y


class NB201SearchCell(nn.Module):
    """NAS-Bench-201 search cell: node 0 = input, node i = sum_{j<i} MixedOp(edge i<-j)(node j), output
    node 3. ``x [B, H, W, C]``, ``weights [6, ops]`` -> ``[B, H, W, C]``."""

    edge_ops: tuple[tuple[str, ...], ...]
    endpoints: tuple[tuple[int, int], ...]
    skip_absent_ops: bool = False
    scan_edges: bool = True

    @nn.compact
    def __call__(self, x, weights, train: bool = False):
        nodes = cell_nodes([x], weights, None, edge_ops=self.edge_ops, endpoints=self.endpoints, input_stride=1,
                           skip_absent_ops=self.skip_absent_ops, scan=self.scan_edges, train=train)
        return nodes[max(nodes)]


class NB201Supernet(nn.Module):
    """NAS-Bench-201 search network: stem conv3x3 + BN, three stages of ``N`` search cells (C, 2C, 4C)
    separated by residual reduction blocks, then BN-ReLU-GAP-Dense.

    ``__call__(x [B,H,W,3], alpha, mask=None, train=False) -> logits [B, num_classes]``;
    ``alpha``, ``mask`` ``[1, 6, 5]``.
    """

    space: SearchSpace
    C: int = 16
    N: int = 5
    num_classes: int = 10
    renormalize: bool = False
    remat: bool = False  # rematerialise each search cell in the backward pass
    skip_absent_ops: bool = False  # skip masked-out ops by a cond (scoring one coalition at a time)
    scan_edges: bool = True  # one traced MixedOp per group of like edges, run by nn.scan (much faster compiles)
    classifier_init: str = "flax"  # classifier initialisation: flax | torch (ops.layers.CLASSIFIER_INITS)
    formulation: str | None = None  # op arithmetic of the forward pass (ops.primitives); None: as selected

    @nn.compact
    @_with_formulation
    def __call__(self, x, alpha, mask=None, train: bool = False):
        space = self.space
        if space.topology != "nb201":
            raise ValueError(f"NB201Supernet needs an NB201-topology space, got {space.name} ({space.topology})")
        weights = mixing_weights(alpha, mask, self.renormalize)[0]
        x = Conv(self.C, 3, 1, 1, name="stem_conv")(x)
        x = BatchNorm(affine=True, name="stem_bn")(x, train)
        cell_cls = nn.remat(NB201SearchCell, static_argnums=(3,)) if self.remat else NB201SearchCell
        for stage in range(3):
            if stage > 0:
                x = ResNetBasicBlock(self.C * 2**stage, 2, name=f"reduce{stage}")(x, train)
            for n in range(self.N):
                x = cell_cls(space.edge_ops[0], space.edge_endpoints, self.skip_absent_ops, self.scan_edges,
                             name=f"stage{stage}_cell{n}")(
                    x, weights, train
                )
        x = nn.relu(BatchNorm(affine=True, name="last_bn")(x, train))
        return classifier(P.global_avg_pool(x), self.num_classes, self.classifier_init)


# Generic option names accepted by build_supernet, mapped to module fields.
OPTION_ALIASES = {"channels": "C", "init_channels": "C", "cells_per_stage": "N"}


def _fields(cls) -> set[str]:
    return {f for f in cls.__dataclass_fields__ if f not in ("space", "parent", "name")}


def build_supernet(space: SearchSpace | str, **options: Any) -> nn.Module:
    """The supernet for ``space`` (a SearchSpace or registry name), chosen by ``space.topology``.

    ``options`` are the supernet's fields (e.g. ``C=16, layers=8, partial_channels=4``); the aliases
    ``channels``/``init_channels`` (= ``C``) and ``cells_per_stage`` (= ``N``) are accepted, so one config
    can serve both topologies: options that only the *other* supernet has (e.g. ``partial_channels`` for
    NB201, ``N`` for DARTS) are ignored. Names neither supernet knows raise ValueError.
    """
    space = get_space(space) if isinstance(space, str) else space
    classes = {"darts": DartsSupernet, "nb201": NB201Supernet}
    if space.topology not in classes:
        raise ValueError(f"no supernet for topology {space.topology!r}")
    cls = classes[space.topology]
    known = set().union(*(_fields(c) for c in classes.values()))
    kwargs = {}
    for key, val in options.items():
        field = OPTION_ALIASES.get(key, key)
        if field not in known:
            raise UnknownNameError(f"unknown supernet option {key!r}; known: {', '.join(sorted(known | set(OPTION_ALIASES)))}")
        if field in _fields(cls):
            if field in kwargs and kwargs[field] != val:
                raise ValueError(f"supernet option {field!r} given twice with different values")
            kwargs[field] = val
    return cls(space=space, **kwargs)
