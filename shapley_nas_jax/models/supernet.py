"""Weight-sharing supernets whose architecture (``alpha``) and coalition (``mask``) are call inputs.

``model.apply(variables, x, alpha, mask, train=False, rngs=..., mutable=...)`` with ``x [B, H, W, 3]``,
``alpha`` and ``mask`` ``[cell_types, edges, ops]`` -> logits ``[B, num_classes]``. Every op on every edge
is always computed and scaled by its mixing weight (see :func:`mixing_weights`), so one compiled function
serves every mask and ``jax.vmap`` over masks works. Nothing about a coalition lives in module state.

``train`` only switches BatchNorm between batch statistics (and, with ``mutable=["batch_stats"]``, a
running-average update) and the stored running averages.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax


from shapley_nas_jax.errors import UnknownNameError
from shapley_nas_jax.ops import primitives as P
from shapley_nas_jax.ops.layers import (
    BatchNorm,
    Conv,
    FactorizedReduce,
    PointwiseConv,
    ReLUConvBN,
    classifier,
    imagenet_stem,
    make_op,
    strided_zeros,
)
from shapley_nas_jax.spaces import SearchSpace, get_space


class ScoringDefaults(NamedTuple):
    """How a supernet is run while scoring coalitions (forward passes only)."""

    formulation: str  # op arithmetic (ops.primitives: lax | shifted)
    skip_absent_ops: bool  # ops masked out of a coalition skipped by a cond (one coalition at a time only)
    scan_edges: bool  # like edges run by nn.scan (False: one module per edge; parameters converted per step)


# One-coalition-at-a-time scoring on CPU, fastest per topology by measurement (scripts/bench_shapley.py,
# BENCHMARKS.md, measured with AVX-512 and with AVX2, which chose alike). DARTS cells (depthwise convs and
# pools on few channels): the shifted formulation with masked-out ops skipped; NB201 cells (dense convs):
# lax convs, every op computed (the per-op conds cost more than they save there). Both with one module per
# edge: scanned edges compile faster but scored 1.7x (DARTS) and 1.3x (NB201) slower.
CPU_SCORING = {"darts": ScoringDefaults("shifted", True, False), "nb201": ScoringDefaults("lax", False, False)}
OTHER_SCORING = ScoringDefaults("lax", False, True)

# Training steps (forward + backward) on CPU, fastest per topology by measurement (scripts/bench_train.py,
# BENCHMARKS.md): both train with the shifted formulation, whose custom VJPs are shifted sums and matmuls
# too (NB201, C=16, 5 cells per stage, batch 64: 4.3 s per weight step against 60 s with lax).
CPU_TRAINING = {"darts": "shifted", "nb201": "shifted"}


def scoring_defaults(topology: str, backend: str, sequential: bool) -> ScoringDefaults:
    """How to score coalitions of a ``topology`` supernet on ``backend``; ``sequential``: one coalition at
    a time (under vmap a skipping cond would compute both branches, so nothing is skipped)."""
    defaults = CPU_SCORING.get(topology, OTHER_SCORING) if backend == "cpu" else OTHER_SCORING
    return defaults._replace(skip_absent_ops=defaults.skip_absent_ops and sequential)


def training_formulation(topology: str, backend: str) -> str:
    """The formulation of training steps (weight and DARTS steps) of a ``topology`` supernet on ``backend``."""
    return CPU_TRAINING.get(topology, "lax") if backend == "cpu" else "lax"


def mixing_weights(alpha, mask=None, renormalize: bool = False):
    """Mixed-op weights ``softmax(alpha, -1) * mask``, all ``[..., ops]``.

    ``mask=None`` means all ones. With ``renormalize`` the surviving weights on each edge are rescaled to
    sum to one (an edge whose ops are all masked stays all zero). The reference code does not renormalise.
    """
    weights = jax.nn.softmax(alpha, axis=-1)
    if mask is not None:
        weights = weights * mask
    if renormalize:
        total = jnp.sum(weights, axis=-1, keepdims=True)
        safe = jnp.where(total > 0, total, 1.0)
        weights = jnp.where(total > 0, weights / safe, 0.0)
    return weights


def edge_normalization_weights(beta, endpoints):
    """PC-DARTS edge normalisation: per destination node, softmax of ``beta [cell_types, edges]`` over the
    node's incoming edges; ``endpoints`` = ``(node, input)`` per edge. Returns ``[cell_types, edges]``."""
    out = jnp.zeros_like(beta)
    for node in sorted({n for n, _ in endpoints}):
        edges = jnp.array([e for e, (n, _) in enumerate(endpoints) if n == node])
        out = out.at[:, edges].set(jax.nn.softmax(beta[:, edges], axis=-1))
    return out


class MixedOp(nn.Module):
    """Weighted sum of the candidate ops on one edge, with optional PC-DARTS partial channels.

    With ``partial_channels = K > 1`` the first ``C//K`` channels go through the ops and the rest bypass
    them (2x2 max pool on stride-2 edges); the two parts are concatenated and channel-shuffled with K groups.
    ``x [B, H, W, C]``, ``weights [ops]`` -> ``[B, H/stride, W/stride, C]``.

    ``skip_absent_ops``: ops whose weight is exactly 0 (masked out of a coalition) are skipped by a
    ``cond`` instead of computed and multiplied by 0. Same values; faster when one coalition is scored at a
    time (under ``vmap`` over coalitions the ``cond`` becomes a select that computes both branches).
    """

    op_names: tuple[str, ...]
    stride: int = 1
    partial_channels: int = 1
    affine: bool = False
    pool_bn: bool = False
    skip_absent_ops: bool = False

    @nn.compact
    def __call__(self, x, weights, train: bool = False):
        k = self.partial_channels
        channels = x.shape[-1]
        if channels % k:
            raise ValueError(f"partial_channels={k} must divide the channel count {channels}")
        c_part = channels // k
        x_ops, bypass = P.split_channels(x, c_part) if k > 1 else (x, None)

        def absent_op(module, x_ops):  # an op masked out of the coalition (weight exactly 0) contributes 0
            return strided_zeros(x_ops, self.stride)

        out = None
        for i, name in enumerate(self.op_names):

            def weighted_op(module, x_ops, i=i, name=name):
                op = make_op(name, c_part, self.stride, self.affine, module_name=f"op{i}_{name}", pool_bn=self.pool_bn)
                return weights[i] * op(x_ops, train)

            if self.skip_absent_ops and not self.is_initializing():
                y = nn.cond(weights[i] != 0, weighted_op, absent_op, self, x_ops)
            else:
                y = weighted_op(self, x_ops)
            out = y if out is None else out + y
        if k == 1:
            return out
        # Keep the ops' weighted sum out of the concat + shuffle loop (a no-op except on XLA:CPU, where
        # fusing it there makes a branchy, unvectorised loop: 5-30x slower; see BENCHMARKS.md).
        out = P.materialize(out)
        if self.stride == 2:
            bypass = P.max_pool_2x2(bypass)
        return P.channel_shuffle(jnp.concatenate([out, bypass], axis=-1), k)


class _ScannedEdge(nn.Module):
    """One edge of a group of edges with the same ops and stride, as the body of an ``nn.scan`` over the
    group (parameters stacked along a leading edge axis): ``xs = (x, weights [ops], edge_weight)`` of this
    edge -> its weighted output."""

    op_names: tuple[str, ...]
    stride: int
    partial_channels: int
    pool_bn: bool
    skip_absent_ops: bool
    train: bool

    @nn.compact
    def __call__(self, carry, xs):
        x, weights, edge_weight = xs
        mixed = MixedOp(self.op_names, self.stride, self.partial_channels, False, self.pool_bn,
                        self.skip_absent_ops, name="mixed")
        return carry, edge_weight * mixed(x, weights, self.train)


def edge_groups(endpoints, num_inputs: int) -> dict[str, list[int]]:
    """The edges a scanned cell runs together, by module name: ``input_edges`` (every edge from one of the
    cell's ``num_inputs`` inputs), then ``node{n}_edges`` per intermediate node ``n`` (the edges into ``n``
    from earlier intermediate nodes), in the order they run."""
    groups = {"input_edges": [e for e, (_, src) in enumerate(endpoints) if src < num_inputs]}
    for node in sorted({n for n, _ in endpoints}):
        into = [e for e, (n, src) in enumerate(endpoints) if n == node and src >= num_inputs]
        if into:
            groups[f"node{node}_edges"] = into
    return groups


def _scannable(edge_ops, groups: dict[str, list[int]]) -> bool:
    """Whether every group's edges share one op list (e.g. not a space with different ops per edge)."""
    return all(len({edge_ops[e] for e in edges}) == 1 for edges in groups.values())


def cell_nodes(inputs, weights, edge_weights, *, edge_ops, endpoints, input_stride: int, partial_channels: int = 1,
               pool_bn: bool = False, skip_absent_ops: bool = False, scan: bool = True, train: bool = False):
    """Intermediate nodes of a search cell: ``{node: sum of MixedOp(edge)(state[src]) over its edges}``.

    ``inputs``: the cell's input states (nodes ``0 .. len(inputs)-1``, one shape), ``weights [edges, ops]``,
    ``edge_weights [edges]`` or None; edges from inputs have stride ``input_stride``, the others 1. Call it
    inside a compact method: the edge modules belong to the caller.

    ``scan=True`` traces one MixedOp per group of :func:`edge_groups` (all edges from the inputs; the edges
    into each intermediate node from earlier ones) and runs the group's edges one at a time by ``nn.scan``
    over stacked parameters and stacked inputs (measured faster on CPU than ``nn.vmap`` over them, and the
    ops' conds of ``skip_absent_ops`` stay conds): the same values as one module per edge (``edge{e}``, the layout with
    ``scan=False`` or when a group's op lists differ), with a fraction of the program to compile (14 traced
    MixedOps of a DARTS cell become 4). :func:`per_edge_variables` converts the stacked layout to the
    per-edge one and :func:`stacked_edge_variables` back.
    """
    num_inputs = len(inputs)
    node_ids = sorted({n for n, _ in endpoints})
    groups = edge_groups(endpoints, num_inputs)
    if not (scan and _scannable(edge_ops, groups)):
        states = dict(enumerate(inputs))
        for e, (node, src) in enumerate(endpoints):
            stride = input_stride if src < num_inputs else 1
            y = MixedOp(edge_ops[e], stride, partial_channels, False, pool_bn, skip_absent_ops, name=f"edge{e}")(
                states[src], weights[e], train)
            if edge_weights is not None:
                y = edge_weights[e] * y
            states[node] = y if node not in states else states[node] + y
        return {n: states[n] for n in node_ids}

    if edge_weights is None:
        edge_weights = jnp.ones((len(endpoints),), weights.dtype)
    states = dict(enumerate(inputs))

    def run_group(name: str, stride: int):
        """Each edge's output, ``[edges, B, H', W', C]``; every edge gets its own copy of its input (a
        scanned input indexed per step would make the backward pass rewrite the whole stack per edge)."""
        edges = groups[name]
        index = np.asarray(edges)
        xs = (jnp.stack([states[endpoints[e][1]] for e in edges]), weights[index], edge_weights[index])
        body = nn.scan(_ScannedEdge, variable_axes={"params": 0, "batch_stats": 0},
                       split_rngs={"params": True, "noise": True}, length=len(edges))
        module = body(edge_ops[edges[0]], stride, partial_channels, pool_bn, skip_absent_ops, train, name=name)
        return module(None, xs)[1]

    from_inputs = run_group("input_edges", input_stride)
    for node in node_ids:
        total = None
        for i, e in enumerate(groups["input_edges"]):
            if endpoints[e][0] == node:
                total = from_inputs[i] if total is None else total + from_inputs[i]
        name = f"node{node}_edges"
        if name in groups:
            from_nodes = run_group(name, 1).sum(axis=0)
            total = from_nodes if total is None else total + from_nodes
        states[node] = total
    return {n: states[n] for n in node_ids}


def _space_groups(space: SearchSpace) -> dict[str, list[int]]:
    return edge_groups(space.edge_endpoints, 2 if space.topology == "darts" else 1)


def per_edge_variables(tree: Any, space: SearchSpace) -> Any:
    """A supernet variable tree (params, batch_stats or any tree shaped like them) with each scanned cell's
    stacked groups (``input_edges``, ``node{n}_edges``) split into one ``edge{e}`` entry per edge: the layout
    of ``scan_edges=False``, whose values it gives the same logits with. Cells already per edge pass through."""
    groups = _space_groups(space)

    def convert(node):
        if not isinstance(node, dict):
            return node
        out = {k: convert(v) for k, v in node.items() if k not in groups}
        for name, edges in groups.items():
            if name in node:
                for i, e in enumerate(edges):
                    out[f"edge{e}"] = jax.tree.map(lambda a, i=i: a[i], node[name]["mixed"])
        return out

    return convert(dict(tree))


def stacked_edge_variables(tree: Any, space: SearchSpace) -> Any:
    """The inverse of :func:`per_edge_variables`: per-edge cells (``edge{e}``) whose groups of edges share
    ops (as a scanned supernet runs them) get stacked ``input_edges`` / ``node{n}_edges`` entries."""
    groups = _space_groups(space)

    def convert(node):
        if not isinstance(node, dict):
            return node
        if not all(f"edge{e}" in node for edges in groups.values() for e in edges):
            return {k: convert(v) for k, v in node.items()}
        members = {name: [node[f"edge{e}"] for e in edges] for name, edges in groups.items()}
        if any(len({jax.tree.structure(m) for m in ms}) > 1 for ms in members.values()):
            return dict(node)  # different ops per edge: this cell is not scanned
        out = {k: v for k, v in node.items() if not k.startswith("edge")}
        for name, ms in members.items():
            out[name] = {"mixed": jax.tree.map(lambda *a: jnp.stack(a), *ms)}
        return out

    return convert(dict(tree))


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
    ``stem_multiplier*C`` + BN; ``stem="imagenet"``: three stride-2 3x3 convs (PC-DARTS ImageNet search, /8).
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

    @property
    def reduce_at(self) -> tuple[int, int]:
        """Indices of the two reduction cells."""
        return self.layers // 3, 2 * self.layers // 3

    def prefix_cell_types(self) -> tuple[int, ...]:
        """Cell types (0 = normal) whose mask the prefix (stem + cells before the first reduction) reads."""
        return (0,) if self.reduce_at[0] > 0 else ()

    @nn.compact
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
            s0, s1 = imagenet_stem(x, C, train)
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

    @nn.compact
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
