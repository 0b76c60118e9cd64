"""The machinery every supernet cell shares: mixing weights, the mixed op on one edge, a cell's intermediate
nodes (one module per edge, or like edges run by ``nn.scan``) and the conversion between those two variable
layouts.

``weights`` and ``mask`` are ``[..., ops]``; a MixedOp computes every op and scales it by its weight, so one
compiled function serves every coalition and ``jax.vmap`` over masks works.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from shapley_nas_jax.ops import primitives as P
from shapley_nas_jax.ops.layers import make_op, strided_zeros
from shapley_nas_jax.spaces import SearchSpace


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
