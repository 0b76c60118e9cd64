"""Discrete architectures: DARTS genotypes and NAS-Bench-201 arch strings.

* :class:`DartsGenotype` prints exactly like DARTS' ``Genotype`` namedtuple; :class:`NB201Genotype` prints
  the NAS-Bench-201 arch string ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``.
* :func:`parse_genotype` reads both string forms and the JSON form (``to_json()``).
* :func:`derive_genotype` turns op strengths ``[cell_types, edges, ops]`` (softmax(alpha) or Shapley values)
  into a genotype.
* :func:`get_genotype` looks up a published genotype by name, or parses a string / JSON file.
* :func:`resolve_genotype` also reads a search's ``results.json`` or workdir (``shapley-nas train`` / ``info``).
"""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import re
from typing import Any, Sequence

import numpy as np

from shapley_nas_jax.errors import InvalidInputError, UnknownNameError, UserError

# The cells' structure and string forms (search spaces build on these; this module imports no space).
DARTS_STEPS = 4  # intermediate nodes of a DARTS cell
NB201_NODES = 4  # nodes of a NAS-Bench-201 cell, node 0 = input, node 3 = output
NB201_OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
"""Candidate operations of an NB201 edge, in the index order of the last axis of alpha."""
NB201_EDGES: tuple[tuple[int, int], ...] = tuple((node, src) for node in range(1, NB201_NODES)
                                                 for src in range(node))
"""The 6 edges as ``(node, input)``, in edge-index (arch-string) order: 1<-0, 2<-0, 2<-1, 3<-0, ..."""

EXAMPLE_ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
"""A well-formed arch string, quoted in error messages."""

_WHITESPACE = re.compile(r"\s+")


def normalize_arch(arch_str: str) -> str:
    """Return ``arch_str`` with all whitespace removed (arch strings never contain any)."""
    if not isinstance(arch_str, str):
        raise TypeError(f"an NB201 arch string must be a str, got {type(arch_str).__name__}")
    return _WHITESPACE.sub("", arch_str)


def arch_format_hint() -> str:
    """One-line description of what a valid NB201 arch string looks like."""
    return f"a valid arch string looks like {EXAMPLE_ARCH} with ops from {', '.join(NB201_OPS)}"


def format_arch(ops: Sequence[str]) -> str:
    """The arch string of one op name per edge, in edge order (the names are not checked)."""
    if len(ops) != len(NB201_EDGES):
        raise InvalidInputError(f"an NB201 cell has {len(NB201_EDGES)} edges, got {len(ops)} ops")
    groups: dict[int, list[str]] = {}
    for (node, src), op in zip(NB201_EDGES, ops):
        groups.setdefault(node, []).append(f"{op}~{src}")
    return "+".join("|" + "|".join(parts) + "|" for parts in groups.values())


def parse_arch(arch_str: str) -> tuple[str, ...]:
    """The op names of an arch string, one per edge in edge order; whitespace is ignored.

    Only the structure is checked (the op names may be any string); ValueError if it is malformed.
    """
    arch = normalize_arch(arch_str)

    def malformed(what: str) -> InvalidInputError:
        return InvalidInputError(f"malformed NB201 arch string {arch_str!r}: {what}; {arch_format_hint()}")

    nodes = arch.split("+")
    if len(nodes) != 3:
        raise malformed("expected 3 '+'-separated nodes")
    ops = []
    for node, chunk in enumerate(nodes, start=1):
        if not (chunk.startswith("|") and chunk.endswith("|")):
            raise malformed(f"node {node} must look like |op~0|...|")
        parts = chunk[1:-1].split("|")
        if len(parts) != node:
            raise malformed(f"node {node} needs {node} inputs")
        for src, part in enumerate(parts):
            op, sep, index = part.partition("~")
            if not sep or index != str(src):
                raise malformed(f"expected 'op~{src}', got {part!r}")
            ops.append(op)
    return tuple(ops)




def _known_ops() -> tuple[str, ...]:
    from shapley_nas_jax.ops import known_ops

    return known_ops()


def _check_op(op: str) -> str:
    known = _known_ops()
    if op not in known:
        raise UnknownNameError(f"unknown op name {op!r} in genotype; known ops: {', '.join(known)}")
    return op


# ----------------------------------------------------------------------------- DARTS


@dataclasses.dataclass(frozen=True)
class DartsGenotype:
    """A DARTS cell pair. ``normal`` / ``reduce``: 8 ``(op_name, input_node)`` pairs, two per intermediate
    node (pairs 2i, 2i+1 feed node i+2; inputs 0, 1 are the cell inputs c_{k-2}, c_{k-1});
    ``*_concat``: the nodes concatenated into the cell output (``[2, 3, 4, 5]``)."""

    normal: tuple[tuple[str, int], ...]
    normal_concat: tuple[int, ...]
    reduce: tuple[tuple[str, int], ...]
    reduce_concat: tuple[int, ...]

    def __post_init__(self):
        for field in ("normal", "reduce"):
            pairs = tuple((str(op), int(node)) for op, node in getattr(self, field))
            if len(pairs) % 2:
                raise InvalidInputError(f"{field} cell needs two (op, input) pairs per node, got {len(pairs)} pairs")
            for i, (op, node) in enumerate(pairs):
                _check_op(op)
                if not 0 <= node < i // 2 + 2:
                    raise InvalidInputError(f"{field} pair {i} ({op!r}, {node}): input must be in 0..{i // 2 + 1}")
            object.__setattr__(self, field, pairs)
        for field in ("normal_concat", "reduce_concat"):
            object.__setattr__(self, field, tuple(int(n) for n in getattr(self, field)))

    def cell(self, cell_type: str) -> tuple[tuple[str, int], ...]:
        """The pairs of ``"normal"`` or ``"reduce"``."""
        if cell_type not in ("normal", "reduce"):
            raise ValueError(f"unknown cell type {cell_type!r}; expected 'normal' or 'reduce'")
        return getattr(self, cell_type)

    def concat(self, cell_type: str) -> tuple[int, ...]:
        return getattr(self, f"{cell_type}_concat")

    def __str__(self) -> str:
        def pairs(ps):
            return "[" + ", ".join(f"({op!r}, {node})" for op, node in ps) + "]"

        return (
            f"Genotype(normal={pairs(self.normal)}, normal_concat={list(self.normal_concat)}, "
            f"reduce={pairs(self.reduce)}, reduce_concat={list(self.reduce_concat)})"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "darts",
            "normal": [[op, node] for op, node in self.normal],
            "normal_concat": list(self.normal_concat),
            "reduce": [[op, node] for op, node in self.reduce],
            "reduce_concat": list(self.reduce_concat),
        }


# ----------------------------------------------------------------------------- NAS-Bench-201


@dataclasses.dataclass(frozen=True)
class NB201Genotype:
    """A NAS-Bench-201 cell: 6 op names in edge order 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2 (``NB201_EDGES``)."""

    ops: tuple[str, ...]

    def __post_init__(self):
        ops = tuple(str(op) for op in self.ops)
        if len(ops) != len(NB201_EDGES):
            raise InvalidInputError(f"an NB201 genotype has {len(NB201_EDGES)} ops, got {len(ops)}")
        for op in ops:
            _check_op(op)
        object.__setattr__(self, "ops", ops)

    def __str__(self) -> str:
        return format_arch(self.ops)

    def to_json(self) -> dict[str, Any]:
        return {"type": "nb201", "arch": str(self)}


Genotype = DartsGenotype | NB201Genotype


# ----------------------------------------------------------------------------- parsing


def _literal(node: ast.AST):
    """literal_eval that also accepts ``range(a, b)`` (published genotypes use it for concat)."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range":
        if node.keywords or not 1 <= len(node.args) <= 3:
            raise ValueError("bad range(...) in genotype")
        return list(range(*[ast.literal_eval(a) for a in node.args]))
    return ast.literal_eval(node)


def _parse_darts_string(text: str) -> DartsGenotype:
    start = text.find("Genotype(")
    if start < 0:
        raise InvalidInputError(f"malformed genotype string {text[:80]!r}: expected 'Genotype(normal=..., ...)'")
    try:
        expr = ast.parse(text[start:].strip(), mode="eval").body
        if not isinstance(expr, ast.Call) or expr.args:
            raise ValueError("expected keyword arguments only")
        fields = {kw.arg: _literal(kw.value) for kw in expr.keywords}
    except (SyntaxError, ValueError, TypeError) as err:
        raise InvalidInputError(f"malformed genotype string {text[:80]!r}: {err}") from None
    required = {"normal", "normal_concat", "reduce", "reduce_concat"}
    if set(fields) != required:
        raise InvalidInputError(f"malformed genotype string: fields {sorted(fields)} != {sorted(required)}")
    return _darts_from_fields(fields)


def _darts_from_fields(fields: dict) -> DartsGenotype:
    try:
        cells = {c: [(op, node) for op, node in fields[c]] for c in ("normal", "reduce")}
    except (TypeError, ValueError):
        raise InvalidInputError("malformed genotype: cells must be lists of (op_name, input_node) pairs") from None
    return DartsGenotype(cells["normal"], tuple(fields["normal_concat"]), cells["reduce"], tuple(fields["reduce_concat"]))


def _from_json(obj: dict) -> Genotype:
    kind = obj.get("type")
    if kind == "nb201":
        return NB201Genotype(parse_arch(obj["arch"]))
    if kind == "darts":
        missing = {"normal", "normal_concat", "reduce", "reduce_concat"} - set(obj)
        if missing:
            raise InvalidInputError(f"malformed DARTS genotype JSON: missing {sorted(missing)}")
        return _darts_from_fields(obj)
    raise InvalidInputError(f"malformed genotype JSON: 'type' must be 'darts' or 'nb201', got {kind!r}")


def parse_genotype(spec: str | dict | Genotype) -> Genotype:
    """Parse a DARTS ``Genotype(...)`` string, an NB201 arch string, a JSON string or a JSON dict."""
    if isinstance(spec, (DartsGenotype, NB201Genotype)):
        return spec
    if isinstance(spec, dict):
        return _from_json(spec)
    if not isinstance(spec, str):
        raise ValueError(f"cannot parse a genotype from {type(spec).__name__}")
    text = spec.strip()
    if text.startswith("{"):
        try:
            return _from_json(json.loads(text))
        except json.JSONDecodeError as err:
            raise InvalidInputError(f"malformed genotype JSON: {err}") from None
    if text.startswith("|"):
        return NB201Genotype(parse_arch(text))
    return _parse_darts_string(text)


# ----------------------------------------------------------------------------- derivation


def _strengths(space, weights, exclude):
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != tuple(space.alpha_shape):
        raise ValueError(f"weights have shape {weights.shape}, space {space.name} needs {space.alpha_shape}")
    allowed = space.player_mask(exclude)
    return np.where(allowed, weights, -np.inf), allowed


def derive_genotype(space, weights, exclude: Sequence[str] = ("none",)) -> Genotype:
    """Genotype from op strengths ``weights [cell_types, edges, ops]``; ops named in ``exclude`` never win.

    DARTS topology (DARTS ``_parse``): for each intermediate node keep the two incoming edges whose
    strongest allowed op weighs most (ties to the lower edge index), listed strongest first; on each the
    strongest allowed op (ties to the lower op index). NB201: the strongest allowed op on every edge.
    """
    masked, allowed = _strengths(space, weights, exclude)
    if not allowed.any(axis=-1).all():
        raise ValueError(f"every edge needs an op outside exclude={tuple(exclude)}")
    best_op = np.argmax(masked, axis=-1)  # first index among ties
    best_val = np.max(masked, axis=-1)
    if space.topology == "nb201":
        return NB201Genotype(tuple(space.edge_ops[0][e][best_op[0, e]] for e in range(space.num_edges)))
    cells = []
    endpoints = space.edge_endpoints
    for c in range(len(space.cell_types)):
        pairs = []
        for node in sorted({n for n, _ in endpoints}):
            edges = [e for e, (n, _) in enumerate(endpoints) if n == node]
            top2 = sorted(edges, key=lambda e: -best_val[c, e])[:2]  # stable: ties to lower edge index
            pairs += [(space.edge_ops[c][e][best_op[c, e]], endpoints[e][1]) for e in top2]
        cells.append(pairs)
    concat = tuple(range(2, 2 + DARTS_STEPS))
    return DartsGenotype(cells[0], concat, cells[1], concat)


def count_ops(genotype: Genotype, name: str = "skip_connect", cell_type: str | None = None) -> int:
    """How many times op ``name`` appears in ``genotype`` (DARTS: both cells, or only ``cell_type``)."""
    if isinstance(genotype, NB201Genotype):
        return sum(op == name for op in genotype.ops)
    cells = ("normal", "reduce") if cell_type is None else (cell_type,)
    return sum(op == name for c in cells for op, _ in genotype.cell(c))


# ----------------------------------------------------------------------------- library

_LIBRARY_TEXT = {
    "darts_v1": "Genotype(normal=[('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 0), ('sep_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 0), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('avg_pool_3x3', 0)], reduce_concat=[2, 3, 4, 5])",
    "darts_v2": "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])",
    "pc_darts_cifar": "Genotype(normal=[('sep_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 0), ('dil_conv_3x3', 1), ('sep_conv_5x5', 0), ('sep_conv_3x3', 1), ('avg_pool_3x3', 0), ('dil_conv_3x3', 1)], normal_concat=range(2, 6), reduce=[('sep_conv_5x5', 1), ('max_pool_3x3', 0), ('sep_conv_5x5', 1), ('sep_conv_5x5', 2), ('sep_conv_3x3', 0), ('sep_conv_3x3', 3), ('sep_conv_3x3', 1), ('sep_conv_3x3', 2)], reduce_concat=range(2, 6))",
    "pc_darts_imagenet": "Genotype(normal=[('skip_connect', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 0), ('skip_connect', 1), ('sep_conv_3x3', 1), ('sep_conv_3x3', 3), ('sep_conv_3x3', 1), ('dil_conv_5x5', 4)], normal_concat=range(2, 6), reduce=[('sep_conv_3x3', 0), ('skip_connect', 1), ('dil_conv_5x5', 2), ('max_pool_3x3', 1), ('sep_conv_3x3', 2), ('sep_conv_3x3', 1), ('sep_conv_5x5', 0), ('sep_conv_3x3', 3)], reduce_concat=range(2, 6))",
    # Shapley-NAS reference genotypes.py, verbatim.
    "shapley_nas_cifar10": "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('dil_conv_3x3', 0), ('dil_conv_3x3', 2), ('skip_connect', 3), ('sep_conv_3x3', 1), ('dil_conv_5x5', 3)], normal_concat=range(2, 6), reduce=[('sep_conv_3x3', 1), ('max_pool_3x3', 0), ('dil_conv_5x5', 2), ('sep_conv_3x3', 0), ('sep_conv_3x3', 2), ('max_pool_3x3', 0), ('dil_conv_3x3', 3), ('skip_connect', 2)], reduce_concat=range(2, 6))",
    "shapley_nas_imagenet": "Genotype(normal=[('sep_conv_3x3', 1), ('sep_conv_5x5', 0), ('dil_conv_5x5', 2), ('skip_connect', 1), ('sep_conv_3x3', 2), ('sep_conv_5x5', 0), ('sep_conv_3x3', 1), ('skip_connect', 2)], normal_concat=range(2, 6), reduce=[('sep_conv_3x3', 1), ('dil_conv_3x3', 0), ('avg_pool_3x3', 2), ('sep_conv_5x5', 1), ('sep_conv_3x3', 3), ('skip_connect', 1), ('sep_conv_3x3', 2), ('sep_conv_3x3', 4)], reduce_concat=range(2, 6))",
}
_ALIASES = {"darts": "darts_v2", "pc_darts": "pc_darts_cifar", "shapley_nas": "shapley_nas_cifar10"}


def known_genotypes() -> tuple[str, ...]:
    """Names accepted by :func:`get_genotype` (aliases included)."""
    return tuple(sorted(set(_LIBRARY_TEXT) | set(_ALIASES)))


def get_genotype(spec: str | dict | Genotype) -> Genotype:
    """A genotype from a library name (``darts_v1``, ``darts_v2``, ``pc_darts_cifar``, ``pc_darts_imagenet``,
    ``shapley_nas_cifar10``, ``shapley_nas_imagenet``; aliases ``darts``, ``pc_darts``, ``shapley_nas``),
    a genotype string, a JSON dict, or a path to a JSON file holding the ``to_json()`` form."""
    if isinstance(spec, str):
        key = _ALIASES.get(spec.strip(), spec.strip())
        if key in _LIBRARY_TEXT:
            return parse_genotype(_LIBRARY_TEXT[key])
        if spec.endswith(".json") or os.path.isfile(spec):
            if not os.path.isfile(spec):
                raise InvalidInputError(f"genotype file {spec!r} does not exist")
            with open(spec) as f:
                return parse_genotype(json.load(f))
        if "(" not in spec and "|" not in spec and "{" not in spec:
            raise UnknownNameError(f"unknown genotype name {spec!r}; known: {', '.join(known_genotypes())}")
    return parse_genotype(spec)


def resolve_genotype(spec) -> Genotype:
    """A genotype from a library name, a genotype string (DARTS ``Genotype(...)``, NB201 ``|op~0|+...``,
    JSON), a JSON dict, a JSON file holding either the genotype's JSON form or a search's ``results.json``
    (``{"genotype": {...}}``), or a search workdir containing ``results.json``. UserError (one line) otherwise."""
    if isinstance(spec, (DartsGenotype, NB201Genotype)):
        return spec
    try:
        if isinstance(spec, str):
            path = spec.strip()
            if os.path.isdir(path):
                from shapley_nas_jax.runs import RunRecord  # jax and the run files only for a workdir

                spec = RunRecord(path).results
                if spec is None:
                    raise ValueError(f"directory {path!r} has no results.json (is it a finished search workdir?)")
            elif os.path.isfile(path):
                try:
                    with open(path) as f:
                        spec = json.load(f)
                except json.JSONDecodeError as err:
                    raise ValueError(f"genotype file {path!r} is not valid JSON: {err}") from None
        if isinstance(spec, dict) and "type" not in spec and "genotype" in spec:
            spec = spec["genotype"]
        return get_genotype(spec)
    except ValueError as err:
        raise UserError(str(err).splitlines()[0]) from None
