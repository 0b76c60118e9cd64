"""Variables of this project's Flax models <-> state dicts of the original PyTorch code, both ways.

A state dict here is a flat ``{name: array}`` mapping with the original's parameter and buffer names (what
its ``nn.Module.state_dict()`` returns); values may be NumPy arrays or torch tensors. Nothing here imports
torch unless ``as_torch=True`` asks for torch tensors.

How names are matched: the Flax variable tree is walked and each of our module names is given the name the
original gives the same module. A module whose children form a known set (ReLUConvBN, FactorizedReduce,
SepConv, DilConv, the auxiliary head) maps them by its layout table (our ``SepConv.dw2`` is the original's
``op.5``: the 6th entry of its ``nn.Sequential``, counting the ReLUs); other names by :data:`NAME_RULES`
(``cell3`` -> ``cells.3``, ``edge5`` -> ``_ops.5``, ``op2_max_pool_3x3`` -> ``_ops.2``, ...). Our BatchNorm
wrapper's inner ``bn`` has no counterpart and is dropped.

How values are laid out: PyTorch is NCHW with OIHW kernels, we are NHWC with

* dense conv kernels ``[k, k, C_in, C_out]``      <-> ``[C_out, C_in, k, k]``;
* depthwise kernels ``[k, k, C]``                   <-> ``[C, 1, k, k]`` (``groups=C``);
* pointwise (1x1) kernels ``[C_in, C_out]``         <-> ``[C_out, C_in, 1, 1]``;
* dense (classifier) kernels ``[C_in, C_out]``      <-> ``nn.Linear.weight [C_out, C_in]``;
* BN ``scale``/``bias`` and ``batch_stats`` ``mean``/``var`` <-> ``weight``/``bias``,
  ``running_mean``/``running_var``. ``num_batches_tracked`` is ignored on import and written on export
  (it only matters to a torch BatchNorm with ``momentum=None``, which the original never uses).

No channel permutation is needed anywhere: our PC-DARTS MixedOp takes the *first* ``C//K`` channels through
the ops, concatenates the bypass channels after them (2x2 max-pooled on stride-2 edges) and channel-shuffles
with K groups, exactly the order of the original's MixedOp (``tests/test_parity.py`` checks it by logits).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

# The original's op list, in its order (genotypes.PRIMITIVES there); our ``darts_reference`` space.
from shapley_nas_jax.spaces import REFERENCE_OPS

ALPHA_KEYS = ("alphas_normal", "alphas_reduce")  # the original's nn.Parameters, one per cell type (alpha[0], [1])

# Flax leaf name -> torch name of BatchNorm entries (scale/bias in params, mean/var in batch_stats).
BN_LEAVES = {"scale": "weight", "bias": "bias", "mean": "running_mean", "var": "running_var"}

# Modules recognised by the set of their children's names (params and batch_stats together): our child
# name -> the original's attribute path. Sequential indices count the parameterless ReLUs / pools.
MODULE_LAYOUTS: dict[frozenset, dict[str, str]] = {
    # ReLUConvBN: Sequential(ReLU, Conv2d, BatchNorm2d)
    frozenset({"conv", "bn"}): {"conv": "op.1", "bn": "op.2"},
    # FactorizedReduce: relu, conv_1, conv_2, bn
    frozenset({"conv1", "conv2", "bn"}): {"conv1": "conv_1", "conv2": "conv_2", "bn": "bn"},
    # SepConv: Sequential(ReLU, dw, pw, BN, ReLU, dw, pw, BN)
    frozenset({"dw1", "pw1", "bn1", "dw2", "pw2", "bn2"}): {
        "dw1": "op.1", "pw1": "op.2", "bn1": "op.3", "dw2": "op.5", "pw2": "op.6", "bn2": "op.7"},
    # DilConv: Sequential(ReLU, dw, pw, BN)
    frozenset({"dw", "pw", "bn"}): {"dw": "op.1", "pw": "op.2", "bn": "op.3"},
    # AuxiliaryHeadCIFAR: features = Sequential(ReLU, AvgPool, Conv, BN, ReLU, Conv, BN, ReLU), classifier
    frozenset({"conv1", "bn1", "conv2", "bn2", "classifier"}): {
        "conv1": "features.2", "bn1": "features.3", "conv2": "features.5", "bn2": "features.6",
        "classifier": "classifier"},
    # AuxiliaryHeadImageNet: the same without the BN after the 2x2 conv
    frozenset({"conv1", "bn1", "conv2", "classifier"}): {
        "conv1": "features.2", "bn1": "features.3", "conv2": "features.5", "classifier": "classifier"},
}

# Every other module name: (pattern, replacement) tried in order; names matching none are kept as they are
# (preprocess0, preprocess1, classifier, auxiliary_head).
NAME_RULES: tuple[tuple[re.Pattern, str], ...] = tuple((re.compile(p), r) for p, r in (
    (r"cell(\d+)", r"cells.\1"),
    (r"edge(\d+)", r"_ops.\1"),  # a search cell's MixedOps
    (r"op(\d+)_\w+", r"_ops.\1"),  # a MixedOp's ops (index in the space's op list) / an eval cell's ops
    (r"stem_conv", "stem.0"),
    (r"stem_bn", "stem.1"),
    (r"stem0_conv1", "stem0.0"),
    (r"stem0_bn1", "stem0.1"),
    (r"stem0_conv2", "stem0.3"),
    (r"stem0_bn2", "stem0.4"),
    (r"stem1_conv", "stem1.1"),
    (r"stem1_bn", "stem1.2"),
))


# ------------------------------------------------------------------------------------------------ layouts

def _kernel_to_torch(kind: str, a: np.ndarray) -> np.ndarray:
    if kind == "conv":  # [k, k, I, O] -> [O, I, k, k]
        return a.transpose(3, 2, 0, 1)
    if kind == "depthwise":  # [k, k, C] -> [C, 1, k, k]
        return a.transpose(2, 0, 1)[:, None]
    if kind == "pointwise":  # [I, O] -> [O, I, 1, 1]
        return a.T[:, :, None, None]
    if kind == "linear":  # [I, O] -> [O, I]
        return a.T
    return a


def _kernel_from_torch(kind: str, t: np.ndarray) -> np.ndarray:
    if kind == "conv":
        return t.transpose(2, 3, 1, 0)
    if kind == "depthwise":
        return t[:, 0].transpose(1, 2, 0)
    if kind == "pointwise":
        return t[:, :, 0, 0].T
    if kind == "linear":
        return t.T
    return t


@dataclass(frozen=True)
class Entry:
    """One variable: our ``collection``/``path`` (shape ``shape``) <-> the original's ``torch_key``."""

    torch_key: str
    collection: str
    path: tuple[str, ...]
    kind: str  # conv | depthwise | pointwise | linear | copy
    shape: tuple[int, ...]

    @property
    def our_name(self) -> str:
        return "/".join((self.collection, *self.path))

    @property
    def torch_shape(self) -> tuple[int, ...]:
        return _kernel_to_torch(self.kind, np.empty(self.shape, np.uint8)).shape


def _leaf_kind(name: str, shape: tuple[int, ...], siblings: set[str]) -> str:
    if name != "kernel":
        return "copy"
    if len(shape) == 4:
        return "conv"
    if len(shape) == 3:
        return "depthwise"
    return "linear" if "bias" in siblings else "pointwise"


def _merge(trees: Mapping[str, Any]) -> dict:
    """One name tree holding the modules of every collection (a module with affine-less BN has its BN only
    in ``batch_stats``): ``{name: subtree}`` with leaves ``None``."""
    out: dict = {}

    def add(dst, src):
        for k, v in src.items():
            if isinstance(v, Mapping):
                add(dst.setdefault(k, {}), v)
            else:
                dst[k] = None

    for tree in trees.values():
        add(out, tree)
    return out


def _is_bn_wrapper(node: dict) -> bool:
    """Our ``BatchNorm`` module: a single child ``bn`` (flax's BatchNorm) holding only BN leaves."""
    return set(node) == {"bn"} and isinstance(node["bn"], dict) and set(node["bn"]) <= set(BN_LEAVES) \
        and all(v is None for v in node["bn"].values())


def _torch_names(merged: dict) -> dict[tuple[str, ...], str]:
    """Our leaf path (without collection) -> the original's key, for every leaf of ``merged``."""
    names: dict[tuple[str, ...], str] = {}

    def segment(children: frozenset, name: str) -> str:
        layout = MODULE_LAYOUTS.get(children)
        if layout is not None:
            return layout[name]
        for pattern, replacement in NAME_RULES:
            match = pattern.fullmatch(name)
            if match:
                return match.expand(replacement)
        return name

    def walk(node: dict, path: tuple[str, ...], prefix: tuple[str, ...]):
        if _is_bn_wrapper(node):  # our wrapper's inner 'bn' has no counterpart: its leaves are the module's
            for leaf in node["bn"]:
                names[path + ("bn", leaf)] = ".".join(prefix + (BN_LEAVES[leaf],))
            return
        children = frozenset(node)
        for name, child in node.items():
            if child is None:  # a leaf of a module that is not a BN: kernel / bias
                names[path + (name,)] = ".".join(prefix + ({"kernel": "weight"}.get(name, name),))
            else:
                walk(child, path + (name,), prefix + (segment(children, name),))

    walk(merged, (), ())
    return names


def entries_of(template: Mapping[str, Any]) -> list[Entry]:
    """Every variable of ``template`` (``{"params": ..., "batch_stats": ...}`` of arrays or shape structs)
    with its torch key, kind and shape, in the tree's order."""
    template = {c: _plain(t) for c, t in template.items()}
    names = _torch_names(_merge(template))
    entries = []
    for collection, tree in template.items():
        for path, leaf in _leaves(tree):
            siblings = set(_get(tree, path[:-1]))
            shape = tuple(np.shape(leaf))
            entries.append(Entry(names[path], collection, path, _leaf_kind(path[-1], shape, siblings), shape))
    keys = [e.torch_key for e in entries]
    if len(set(keys)) != len(keys):  # a bug in the tables above, never the user's input
        raise AssertionError("two variables map to one torch key")
    return entries


# ------------------------------------------------------------------------------------------------ trees

def _plain(tree) -> dict:
    """A nested plain dict (FrozenDicts unfrozen)."""
    if isinstance(tree, Mapping):
        return {k: _plain(v) for k, v in tree.items()}
    return tree


def _leaves(tree: dict, path: tuple[str, ...] = ()):
    for k, v in tree.items():
        if isinstance(v, Mapping):
            yield from _leaves(v, path + (k,))
        else:
            yield path + (k,), v


def _get(tree: dict, path: tuple[str, ...]):
    for k in path:
        tree = tree[k]
    return tree


def _set(tree: dict, path: tuple[str, ...], value) -> None:
    for k in path[:-1]:
        tree = tree.setdefault(k, {})
    tree[path[-1]] = value


def to_numpy(value) -> np.ndarray:
    """A NumPy array from a NumPy/JAX array or a torch tensor (without importing torch)."""
    if hasattr(value, "detach"):  # torch.Tensor
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def _shape(shape) -> str:
    return "[" + ", ".join(map(str, shape)) + "]"


def _one_line(problems: list[str]) -> str:
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return problems[0] + more


# ------------------------------------------------------------------------------------------------ generic

def _from_torch(state_dict: Mapping[str, Any], entries: Sequence[Entry], what: str, extra_keys=()) -> dict:
    """Our variables ``{collection: tree}`` from a state dict; ``extra_keys`` are allowed and ignored."""
    wanted = {e.torch_key: e for e in entries}
    bn_prefixes = {e.torch_key.rsplit(".", 1)[0] for e in entries if e.torch_key.endswith(".running_mean")}
    ignorable = {p + ".num_batches_tracked" for p in bn_prefixes} | set(extra_keys)
    missing = [k for k in wanted if k not in state_dict]
    if missing:
        e = wanted[missing[0]]
        raise ValueError(_one_line([f"state dict for {what} is missing key {e.torch_key!r} (expected shape "
                                    f"{_shape(e.torch_shape)}, for our {e.our_name})"] + missing[1:]))
    unexpected = sorted(k for k in state_dict if k not in wanted and k not in ignorable)
    if unexpected:
        raise ValueError(_one_line([f"state dict for {what} has unexpected key {unexpected[0]!r} "
                                    f"(no variable of {what} maps to it)"] + unexpected[1:]))
    out: dict = {}
    for e in entries:
        value = to_numpy(state_dict[e.torch_key])
        if value.shape != e.torch_shape:
            raise ValueError(f"state dict key {e.torch_key!r} has shape {_shape(value.shape)}, {what} expects "
                             f"{_shape(e.torch_shape)} (our {e.our_name} {_shape(e.shape)})")
        ours = np.ascontiguousarray(_kernel_from_torch(e.kind, value), dtype=np.float32)
        _set(out.setdefault(e.collection, {}), e.path, jnp.asarray(ours))
    return out


def _to_torch(variables: Mapping[str, Any], entries: Sequence[Entry], what: str, num_batches_tracked: int) -> dict:
    """A state dict (NumPy values) from our variables, checked against ``entries``."""
    variables = {c: _plain(t) for c, t in variables.items()}
    given = {(c, *p): v for c, tree in variables.items() for p, v in _leaves(tree)}
    wanted = {(e.collection, *e.path): e for e in entries}
    missing = [k for k in wanted if k not in given]
    if missing:
        e = wanted[missing[0]]
        raise ValueError(_one_line([f"variables of {what} are missing {e.our_name} (expected shape "
                                    f"{_shape(e.shape)}, for torch {e.torch_key!r})"] + missing[1:]))
    unexpected = [k for k in given if k not in wanted]
    if unexpected:
        raise ValueError(_one_line([f"variables have unexpected entry {'/'.join(unexpected[0])} "
                                    f"(no variable of {what} has that name)"] + unexpected[1:]))
    out: dict[str, np.ndarray] = {}
    for key, e in wanted.items():
        value = np.asarray(given[key])
        if value.shape != e.shape:
            raise ValueError(f"variable {e.our_name} has shape {_shape(value.shape)}, {what} expects "
                             f"{_shape(e.shape)} (torch {e.torch_key!r} {_shape(e.torch_shape)})")
        out[e.torch_key] = np.ascontiguousarray(_kernel_to_torch(e.kind, value), dtype=np.float32)
        if e.torch_key.endswith(".running_mean"):
            out[e.torch_key[: -len("running_mean")] + "num_batches_tracked"] = np.asarray(num_batches_tracked,
                                                                                         np.int64)
    return out


def as_torch_tensors(state_dict: Mapping[str, np.ndarray]) -> dict:
    """The same state dict with torch tensors (imports torch)."""
    import torch

    return {k: torch.from_numpy(np.array(v)) for k, v in state_dict.items()}


def _template(model, init_args: Callable[[], tuple], init_kwargs: dict) -> dict:
    """Shapes of ``model``'s variables, without computing them."""
    keys = {"params": jax.random.PRNGKey(0), "noise": jax.random.PRNGKey(1), "drop_path": jax.random.PRNGKey(2)}
    shapes = jax.eval_shape(lambda: model.init(keys, *init_args(), **init_kwargs))
    return {c: _plain(t) for c, t in shapes.items()}


# ------------------------------------------------------------------------------------------------ supernet

def _check_supernet(model) -> None:
    from shapley_nas_jax.models import DartsSupernet

    if not isinstance(model, DartsSupernet):
        raise ValueError(f"expected a DartsSupernet (the original's model_search.Network), got {type(model).__name__}")
    space = model.space
    for ct, table in enumerate(space.edge_ops):
        for e, ops in enumerate(table):
            if tuple(ops) != tuple(REFERENCE_OPS):
                raise ValueError(f"space {space.name!r} has ops {list(ops)} on edge {e} of cell type {ct}; the "
                                 f"original's Network has {list(REFERENCE_OPS)} (use space 'darts_reference')")
    if model.stem not in SUPERNET_INPUTS:
        raise ValueError(f"stem={model.stem!r}: the original's supernets have the stems {', '.join(SUPERNET_INPUTS)}")
    if model.edge_normalization or model.pool_bn:
        raise ValueError("the original's Network has no edge normalisation and no BN after pools; build the "
                         "supernet with edge_normalization=False, pool_bn=False")


# The least input each stem's supernet traces with: the ImageNet stem divides by 8 before two reductions.
SUPERNET_INPUTS = {"cifar": (8, 8, 3), "imagenet": (32, 32, 3)}


@functools.lru_cache(maxsize=16)
def _supernet_entries(model) -> tuple[Entry, ...]:
    """The entries of ``model``'s per-edge layout (tracing a model takes seconds: cached per model)."""
    per_edge = model.clone(scan_edges=False, remat=False, skip_absent_ops=False)
    shape = model.space.alpha_shape
    template = _template(per_edge, lambda: (jnp.zeros((1, *SUPERNET_INPUTS[model.stem])), jnp.zeros(shape), None),
                         {"train": False})
    return tuple(entries_of(template))


def supernet_from_torch(state_dict: Mapping[str, Any], model, *, alphas=None):
    """``(variables, alpha)`` for our DARTS supernet ``model`` from a ``model_search.Network`` state dict
    (``model.stem="imagenet"``: ``model_search_imagenet.Network``, whose alphas are not in its state dict).

    ``variables = {"params", "batch_stats"}`` in ``model``'s layout (stacked edges when it was built with
    ``scan_edges=True``); ``alpha [2, 14, 7]`` from the state dict's ``alphas_normal`` / ``alphas_reduce``,
    or from ``alphas`` (``[2, 14, 7]`` or a pair of ``[14, 7]``) when given, which then wins. ``alpha`` is
    None when neither has them. Raises a one-line ValueError naming a missing, unexpected or mis-shaped key.
    """
    _check_supernet(model)
    alpha_shape = tuple(model.space.alpha_shape)
    variables = _from_torch(state_dict, _supernet_entries(model), "DartsSupernet", extra_keys=ALPHA_KEYS)
    if alphas is None and all(k in state_dict for k in ALPHA_KEYS):
        alphas = [state_dict[k] for k in ALPHA_KEYS]
    alpha = None
    if alphas is not None:
        alpha = np.stack([to_numpy(a) for a in alphas]) if isinstance(alphas, (list, tuple)) else to_numpy(alphas)
        if alpha.shape != alpha_shape:
            raise ValueError(f"alphas have shape {_shape(alpha.shape)}, expected {_shape(alpha_shape)} "
                             f"(alphas_normal, alphas_reduce stacked)")
        alpha = jnp.asarray(alpha, jnp.float32)
    variables.setdefault("batch_stats", {})
    if model.scan_edges:
        from shapley_nas_jax.models import stacked_edge_variables

        variables = {c: stacked_edge_variables(t, model.space) for c, t in variables.items()}
    return variables, alpha


def supernet_to_torch(variables: Mapping[str, Any], alpha, model, *, as_torch: bool = False,
                      num_batches_tracked: int = 0) -> dict:
    """A ``model_search.Network`` state dict from our supernet's ``variables`` (either edge layout) and
    ``alpha [2, 14, 7]`` (written as ``alphas_normal`` / ``alphas_reduce``; left out when None).

    Values are NumPy arrays, or torch tensors with ``as_torch=True``; every BN gets ``num_batches_tracked``.
    """
    from shapley_nas_jax.models import per_edge_variables

    _check_supernet(model)
    variables = {c: per_edge_variables(_plain(t), model.space) for c, t in variables.items()}
    out = _to_torch(variables, _supernet_entries(model), "DartsSupernet", num_batches_tracked)
    if alpha is not None:
        alpha = np.asarray(alpha, np.float32)
        if alpha.shape != tuple(model.space.alpha_shape):
            raise ValueError(f"alpha has shape {_shape(alpha.shape)}, expected {_shape(model.space.alpha_shape)}")
        for key, a in zip(ALPHA_KEYS, alpha):
            out[key] = np.ascontiguousarray(a)
    return as_torch_tensors(out) if as_torch else out


# ------------------------------------------------------------------------------------------------ networks

# The resolution each evaluation network is built for: the auxiliary head's pool and 2x2 conv assume an 8x8
# (CIFAR, 32x32 input) or 7x7 (ImageNet, 224x224 input) map; its kernel shapes depend on that.
NETWORK_INPUTS = {"NetworkCIFAR": (32, 32, 3), "NetworkImageNet": (224, 224, 3)}


def _hashable(shape):
    return None if shape is None else tuple(int(n) for n in shape)


@functools.lru_cache(maxsize=16)
def _network_entries(network, input_shape) -> tuple[Entry, ...]:
    name = type(network).__name__
    if name not in NETWORK_INPUTS:
        raise ValueError(f"expected a NetworkCIFAR or NetworkImageNet (the original's model.py), got {name}")
    shape = tuple(input_shape or NETWORK_INPUTS[name])
    return tuple(entries_of(_template(network, lambda: (jnp.zeros((1, *shape)),), {"train": False})))


def network_from_torch(state_dict: Mapping[str, Any], network, *, input_shape=None) -> dict:
    """Our variables ``{"params", "batch_stats"}`` for an evaluation ``network`` (``NetworkCIFAR`` or
    ``NetworkImageNet`` of :mod:`shapley_nas_jax.evaluation.networks`) from the original's ``model.py``
    network state dict (auxiliary head included when ``network.auxiliary``).

    ``input_shape`` ``(H, W, C)``: the resolution the network is built for (default 32x32 CIFAR, 224x224
    ImageNet: the only ones where the original's auxiliary head works). One-line ValueError on a missing,
    unexpected or mis-shaped key.
    """
    return _from_torch(state_dict, _network_entries(network, _hashable(input_shape)), type(network).__name__)


def network_to_torch(variables: Mapping[str, Any], network, *, input_shape=None, as_torch: bool = False,
                     num_batches_tracked: int = 0) -> dict:
    """The original's ``model.py`` network state dict from our evaluation ``network``'s ``variables``
    (NumPy values, or torch tensors with ``as_torch=True``)."""
    entries = _network_entries(network, _hashable(input_shape))
    out = _to_torch(variables, entries, type(network).__name__, num_batches_tracked)
    return as_torch_tensors(out) if as_torch else out
