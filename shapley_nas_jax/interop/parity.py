"""Side-by-side checks of this project against a checkout of the original PyTorch code (needs torch).

Each check builds the original's model from its own code, converts its weights with :mod:`.convert`, runs
both on the same inputs and returns :class:`Check` rows (largest absolute / relative difference and whether
they are within tolerance). ``tests/test_parity.py`` asserts them; ``scripts/parity_report.py`` prints them.

* :func:`supernet_checks`: masked supernet logits (``model_search.Network`` with ``weights_dict``), in eval
  mode (running BN statistics) and train mode (batch statistics, and the running averages it writes);
* :func:`network_checks`: the evaluation network's logits (``model.NetworkCIFAR`` / ``NetworkImageNet``) for a
  published genotype, eval mode, and train mode with the auxiliary head (drop path off);
* :func:`weight_step_checks`: one weight step of the search (``train.clip_with_alpha_grad``) against torch
  SGD with ``clip_grad_norm_`` over the weights and alpha's never-zeroed gradient;
* :func:`shapley_checks`: one Shapley estimate against the original's ``shap_estimation`` with the same
  permutations and value batches.

The original is imported from its directory as it is; only ``shap_estimation`` (and the ``remove_players``
it calls) is taken from ``train_search.py`` without running that script's module-level code (argument
parsing, experiment folders, logging). ``torchvision`` (imported by its ``utils.py``, unused by what runs
here) is stubbed while importing when it is not installed. Nothing calls ``.cuda()``.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import functools
import importlib
import importlib.util
import io
import os
import sys
import types
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from shapley_nas_jax.interop.convert import (
    ALPHA_KEYS,
    NETWORK_INPUTS,
    network_from_torch,
    supernet_from_torch,
    supernet_to_torch,
    to_numpy,
)

ORIGINAL_MODULES = ("genotypes", "operations", "utils", "model_search", "model")
CELL_TYPES = ("normal", "reduce")


# ------------------------------------------------------------------------------------------------ results

@dataclasses.dataclass(frozen=True)
class Check:
    """One comparison: ``ok`` iff every ``|got - want| <= atol + rtol * |want|`` (``np.allclose``).

    ``known``: for a difference this project keeps on purpose or has not fixed, why it differs; such a
    check is reported but does not count as a failure (``failed`` is False) whatever its outcome.
    """

    name: str
    max_abs: float
    max_rel: float
    rtol: float
    atol: float
    ok: bool
    known: str = ""

    @property
    def failed(self) -> bool:
        return not self.ok and not self.known

    @property
    def status(self) -> str:
        if self.known:
            return "known difference" if not self.ok else "ok (known difference gone?)"
        return "ok" if self.ok else "FAIL"

    def __str__(self) -> str:
        why = f" ({self.known})" if self.known else ""
        return (f"{self.name}: max abs diff {self.max_abs:.3g}, max rel diff {self.max_rel:.3g} "
                f"(rtol {self.rtol:g}, atol {self.atol:g}) {self.status}{why}")


def compare(name: str, got, want, *, rtol: float = 1e-4, atol: float = 1e-5, known: str = "") -> Check:
    """A :class:`Check` of ``got`` against the reference ``want`` (same shapes)."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if got.shape != want.shape:
        raise ValueError(f"{name}: shapes differ, {got.shape} vs {want.shape}")
    diff = np.abs(got - want)
    max_abs = float(diff.max(initial=0.0))
    max_rel = float((diff / np.maximum(np.abs(want), 1e-12)).max(initial=0.0))
    ok = bool(np.all(diff <= atol + rtol * np.abs(want)))
    return Check(name, max_abs, max_rel, rtol, atol, ok, known)


def _flat(state_dict: dict, keys: Sequence[str]) -> np.ndarray:
    return np.concatenate([to_numpy(state_dict[k]).astype(np.float64).ravel() for k in keys])


def compare_state_dicts(name: str, got: dict, want: dict, keys: Sequence[str], **options) -> Check:
    """One :class:`Check` over the entries ``keys`` of two state dicts (concatenated)."""
    return compare(name, _flat(got, keys), _flat(want, keys), **options)


# torch.nn.BatchNorm2d(momentum=0.1) and ours (flax momentum 0.9) weight the batch statistics by this much.
BN_MOMENTUM = 0.1
BIASED_VARIANCE = ("ours updates running_var with the biased batch variance (flax), torch with the unbiased "
                   "one: a factor n/(n-1), n = batch x height x width")


@contextlib.contextmanager
def bn_input_sizes(net):
    """Yields ``{BN module name: n}``, filled as ``net`` runs: the number of values per channel each of its
    BatchNorm2d layers normalised in its last call (batch x height x width)."""
    import torch

    sizes: dict[str, int] = {}
    hooks = [m.register_forward_pre_hook(lambda mod, args, name=name: sizes.__setitem__(
                 name, args[0].numel() // args[0].shape[1]))
             for name, m in net.named_modules() if isinstance(m, torch.nn.BatchNorm2d)]
    try:
        yield sizes
    finally:
        for h in hooks:
            h.remove()


def running_stat_checks(what: str, ours: dict, theirs: dict, before: dict, sizes: dict, **tol) -> list[Check]:
    """BN running averages after one train-mode forward: ours (a state dict) against torch's ``theirs``,
    both from ``before``. ``running_var`` twice: as torch computes it (a known difference, see
    :data:`BIASED_VARIANCE`), and as torch would with the biased batch variance (recomputed from torch's
    own update and ``sizes``, from :func:`bn_input_sizes`), which must match."""
    means, variances = _bn_stat_keys(theirs, "running_mean"), _bn_stat_keys(theirs, "running_var")
    old, new = _flat(before, variances), _flat(theirs, variances)
    n = np.concatenate([np.full(to_numpy(theirs[k]).size, sizes[k.rsplit(".", 1)[0]], np.float64)
                        for k in variances])
    unbiased = (new - (1 - BN_MOMENTUM) * old) / BN_MOMENTUM
    with_biased = (1 - BN_MOMENTUM) * old + BN_MOMENTUM * unbiased * (n - 1) / n
    return [
        compare_state_dicts(f"{what}: BN running_mean", ours, theirs, means, **tol),
        compare_state_dicts(f"{what}: BN running_var", ours, theirs, variances, known=BIASED_VARIANCE, **tol),
        compare(f"{what}: BN running_var, torch's update with the biased batch variance", _flat(ours, variances),
                with_biased, **tol),
    ]


# ------------------------------------------------------------------------------------------------ loading

def check_checkout(path: str | None) -> str:
    """``path`` made absolute if it holds the original code and torch is importable; else a one-line
    ValueError saying what is missing."""
    if not path:
        raise ValueError("no checkout of the original code given (set SHAPLEY_NAS_ORIGINAL or pass --original)")
    files = [f"{m}.py" for m in (*ORIGINAL_MODULES, "train_search")]
    missing = [f for f in files if not os.path.isfile(os.path.join(path, f))]
    if missing:
        raise ValueError(f"{path!r} is not a checkout of the original code: no {', '.join(missing)}")
    if importlib.util.find_spec("torch") is None:
        raise ValueError("comparing with the original code needs torch, which is not installed")
    return os.path.abspath(path)


@contextlib.contextmanager
def _importing_from(checkout: str):
    """``checkout`` first on sys.path, and a stub torchvision if there is none; afterwards sys.path and
    sys.modules are as before, so the generic names the original uses (utils, model, ...) clash with nothing."""
    saved = {n: sys.modules.pop(n) for n in ORIGINAL_MODULES if n in sys.modules}
    stubs: dict[str, types.ModuleType] = {}
    if importlib.util.find_spec("torchvision") is None:
        stubs = {n: types.ModuleType(n) for n in ("torchvision", "torchvision.transforms", "torchvision.datasets")}
        stubs["torchvision"].transforms = stubs["torchvision.transforms"]
        stubs["torchvision"].datasets = stubs["torchvision.datasets"]
        sys.modules.update(stubs)
    sys.path.insert(0, checkout)
    try:
        yield
    finally:
        sys.path.remove(checkout)
        for n in (*ORIGINAL_MODULES, *stubs):
            sys.modules.pop(n, None)
        sys.modules.update(saved)


def _functions_from(path: str, names: Sequence[str], namespace: dict) -> dict:
    """The top-level functions ``names`` of the file ``path``, defined in ``namespace`` (only their ``def``
    statements run, not the rest of the module)."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    defs = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name in names]
    if {d.name for d in defs} != set(names):
        raise ValueError(f"{path} does not define {', '.join(sorted(set(names) - {d.name for d in defs}))}")
    exec(compile(ast.Module(body=defs, type_ignores=[]), path, "exec"), namespace)
    return {n: namespace[n] for n in names}


@functools.lru_cache(maxsize=4)
def load_original(checkout: str) -> types.SimpleNamespace:
    """The original's modules (``genotypes``, ``operations``, ``utils``, ``model_search``, ``model``) and its
    ``shap_estimation`` from ``train_search.py``, imported from ``checkout``."""
    checkout = check_checkout(checkout)
    with _importing_from(checkout):
        modules = {n: importlib.import_module(n) for n in ORIGINAL_MODULES}
    import torch

    def shap_estimation(permutations):
        """The original's ``shap_estimation`` whose ``np.random.permutation`` calls return ``permutations``
        (rows, in order); it needs batches whose ``.cuda()`` is a no-op, as :class:`_Batches` gives."""
        namespace = {"np": _FixedPermutationsNumpy(permutations), "torch": torch, "utils": modules["utils"]}
        return _functions_from(os.path.join(checkout, "train_search.py"), ("remove_players", "shap_estimation"),
                               namespace)["shap_estimation"]

    return types.SimpleNamespace(checkout=checkout, shap_estimation=shap_estimation, **modules)


class _FixedPermutationsNumpy:
    """NumPy, except that ``random.permutation(n)`` returns the given permutations one after another."""

    def __init__(self, permutations):
        rows = iter(np.asarray(permutations))
        self.random = types.SimpleNamespace(permutation=lambda n: _checked_row(next(rows), n))

    def __getattr__(self, name):
        return getattr(np, name)


def _checked_row(row, n):
    if len(row) != n:
        raise ValueError(f"a permutation of {len(row)} players was given for {n}")
    return row


def _host_tensor_class():
    import torch

    class HostTensor(torch.Tensor):
        """A CPU tensor whose ``.cuda()`` returns it as a plain tensor (the original moves batches to GPU)."""

        def cuda(self, *args, **kwargs):
            return self.as_subclass(torch.Tensor)

    return HostTensor


class _Batches:
    """A stand-in for a DataLoader: every ``iter()`` starts at the next batch (the original takes
    ``next(iter(valid_queue))`` once per permutation, so permutation j scores batch j). ``chain_lengths()``:
    how many forward passes of ``net`` each permutation took (counted by a forward hook while in use)."""

    def __init__(self, images, labels, net):
        host = _host_tensor_class()
        self._batches = [(x.as_subclass(host), y.as_subclass(host)) for x, y in zip(images, labels)]
        self._starts: list[int] = []
        self._forwards = 0
        self._hook = net.register_forward_hook(lambda *_: self._count())

    def _count(self):
        self._forwards += 1

    def __iter__(self):
        self._starts.append(self._forwards)
        return iter([self._batches[len(self._starts) - 1]])

    def chain_lengths(self) -> np.ndarray:
        self._hook.remove()
        return np.diff([*self._starts, self._forwards])


# ------------------------------------------------------------------------------------------------ helpers

def randomize_state(module, seed: int) -> None:
    """Give ``module`` (a torch model) distinctive BN statistics and affine BN parameters, and alphas of
    scale 1 when it has them, so that eval mode and the mixing weights are not trivial."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(0.2 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))
                if m.affine:
                    m.weight.copy_(1 + 0.2 * torch.randn(m.weight.shape, generator=g))
                    m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=g))
        for key in ALPHA_KEYS:
            if hasattr(module, key):
                getattr(module, key).copy_(torch.randn(getattr(module, key).shape, generator=g))


@contextlib.contextmanager
def single_threaded_torch():
    """Torch on one thread while the block runs: its intra-op threads only slow the tiny convolutions of
    these checks down (several times over on a shared machine), and one thread is deterministic."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _torch_on_one_thread(check):
    """``check`` run inside :func:`single_threaded_torch`."""

    @functools.wraps(check)
    def run(*args, **kwargs):
        with single_threaded_torch():
            return check(*args, **kwargs)

    return run


def torch_images(seed: int, shape) -> Any:
    """Standard-normal NCHW images (torch) from a seed; ``nhwc(images)`` is our input."""
    import torch

    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def nhwc(images) -> jnp.ndarray:
    return jnp.asarray(to_numpy(images).transpose(0, 2, 3, 1))


def torch_mixing_weights(alpha, mask):
    """The original's ``weights_dict``: ``softmax(alpha) * mask`` per cell type (no renormalisation)."""
    import torch

    w = torch.softmax(torch.tensor(np.array(alpha)), dim=-1) * torch.tensor(np.array(mask))
    return {ct: w[i] for i, ct in enumerate(CELL_TYPES)}


def example_masks(seed: int, shape=(2, 14, 7), num_random: int = 3) -> dict[str, np.ndarray]:
    """Coalition masks: the full supernet, ``num_random`` Bernoulli(1/2) masks, one with half the edges
    emptied (every op removed: only the PC-DARTS bypass channels remain there) and the empty one."""
    rng = np.random.default_rng(seed)
    masks = {"full": np.ones(shape, np.float32)}
    for i in range(num_random):
        masks[f"random{i}"] = (rng.random(shape) < 0.5).astype(np.float32)
    emptied = (rng.random(shape) < 0.7).astype(np.float32)
    emptied[rng.random(shape[:2]) < 0.5] = 0.0
    masks["edges_emptied"] = emptied
    masks["empty"] = np.zeros(shape, np.float32)
    return masks


def build_supernet_pair(orig, *, C: int, layers: int, k: int, num_classes: int = 10, scan_edges: bool = False,
                        seed: int = 0):
    """``(torch_net, model, variables, alpha)``: the original's ``Network`` (seeded, randomised BN statistics
    and alphas) and our supernet with its converted variables."""
    import torch

    from shapley_nas_jax.models import build_supernet
    from shapley_nas_jax.spaces import get_space

    torch.manual_seed(seed)
    net = orig.model_search.Network(C, num_classes, layers, torch.nn.CrossEntropyLoss(), k=k)
    randomize_state(net, seed + 1)
    model = build_supernet(get_space("darts_reference"), channels=C, layers=layers, num_classes=num_classes,
                           partial_channels=k, edge_normalization=False, pool_bn=False, renormalize=False,
                           stem="cifar", remat=False, scan_edges=scan_edges)
    variables, alpha = supernet_from_torch(net.state_dict(), model)
    return net, model, variables, alpha


def build_network_pair(orig, genotype: str, *, network: str = "cifar", C: int = 8, layers: int = 4,
                       num_classes: int = 10, seed: int = 0):
    """``(torch_net, model, variables)``: the original's ``model.NetworkCIFAR`` / ``NetworkImageNet`` (with an
    auxiliary head, drop path off, seeded, randomised BN) for its genotype named ``genotype``, and ours for
    our genotype of that name (lower-case) with the converted variables."""
    import torch

    from shapley_nas_jax.evaluation.networks import NetworkCIFAR, NetworkImageNet
    from shapley_nas_jax.genotypes import get_genotype

    classes = {"cifar": ("NetworkCIFAR", NetworkCIFAR), "imagenet": ("NetworkImageNet", NetworkImageNet)}
    torch_cls, our_cls = classes[network]
    torch.manual_seed(seed)
    with contextlib.redirect_stdout(io.StringIO()):  # the original's Cell prints its channel counts
        net = getattr(orig.model, torch_cls)(C, num_classes, layers, True, getattr(orig.genotypes, genotype))
    net.drop_path_prob = 0.0
    randomize_state(net, seed + 1)
    model = our_cls(get_genotype(genotype.lower()), C=C, layers=layers, num_classes=num_classes, auxiliary=True)
    return net, model, network_from_torch(net.state_dict(), model)


def _bn_stat_keys(state_dict: dict, stat: str) -> list[str]:
    return sorted(k for k in state_dict if k.endswith(f".{stat}"))


# ------------------------------------------------------------------------------------------------ checks

@_torch_on_one_thread
def supernet_checks(orig, *, C: int = 8, layers: int = 3, k: int = 4, batch: int = 4, image_size: int = 16,
                    bn_modes: Sequence[str] = ("running", "batch"), num_random_masks: int = 3,
                    formulation: str = "lax", scan_edges: bool = False, seed: int = 0, rtol: float = 1e-4,
                    atol: float = 1e-5) -> list[Check]:
    """Masked supernet logits, ours against ``model_search.Network(C, 10, layers, k=k)`` with the same
    weights: one check per (BN mode, mask of :func:`example_masks`). BN mode ``running`` is torch ``eval()``
    against ``train=False``; ``batch`` is torch ``train()`` against ``train=True, mutable=["batch_stats"]``,
    which also checks the running means and variances one such forward writes (full mask)."""
    import torch

    from shapley_nas_jax.ops import primitives

    net, model, variables, alpha = build_supernet_pair(orig, C=C, layers=layers, k=k, scan_edges=scan_edges,
                                                       seed=seed)
    initial = {key: v.clone() for key, v in net.state_dict().items()}
    images = torch_images(seed + 2, (batch, 3, image_size, image_size))
    x = nhwc(images)
    masks = example_masks(seed + 3, tuple(alpha.shape), num_random_masks)
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
                checks.append(compare(f"supernet logits, BN {mode}, mask {name}", got, want, rtol=rtol, atol=atol))
                if mode == "batch" and name == "full":
                    ours = supernet_to_torch({"params": variables["params"], **updates}, alpha, model)
                    checks += running_stat_checks("supernet train-mode forward", ours, net.state_dict(), initial,
                                                  sizes, rtol=rtol, atol=atol)
    return checks


@_torch_on_one_thread
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


def _search_program(*, C, layers, k, image_size, scan_edges, formulation, **options):
    """A SearchProgram for the original's setup (darts_reference space, K partial channels)."""
    from shapley_nas_jax.config import base_config
    from shapley_nas_jax.search.steps import SearchProgram
    from shapley_nas_jax.spaces import get_space

    config = base_config()
    config.model.channels, config.model.layers, config.model.partial_channels = C, layers, k
    config.model.scan_edges, config.model.formulation = scan_edges, formulation
    config.shapley.formulation = formulation
    for key, value in options.items():
        section, name = key.split(".")
        config[section][name] = value
    return SearchProgram(config, get_space(config.space), image_shape=(image_size, image_size, 3), num_classes=10,
                         steps_per_epoch=10)


def _search_state(program, variables, alpha, seed: int):
    """A fresh search state holding the converted ``variables`` and ``alpha`` (not ``program.init_state()``,
    which would first initialise weights of its own)."""
    from shapley_nas_jax.search.state import SearchState

    params = variables["params"]
    return SearchState.create(params=params, batch_stats=variables["batch_stats"],
                              opt_state=program.weight_tx.init(params), alpha=alpha, beta=None,
                              arch_state=program.arch_tx.init(alpha), rng=jax.random.PRNGKey(seed),
                              clip_with_alpha_grad=bool(program.config.train.clip_with_alpha_grad))


@_torch_on_one_thread
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
    program = _search_program(C=C, layers=layers, k=k, image_size=image_size, scan_edges=scan_edges,
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

    state = _search_state(program, variables, alpha, seed).replace(alpha_grad=jnp.asarray(earlier.numpy()))
    new = program.weight_step(state, {"image": nhwc(images), "label": jnp.asarray(labels.numpy(), jnp.int32)})
    got = supernet_to_torch({"params": new.params, "batch_stats": new.batch_stats}, None, model)
    weight_keys = sorted(k for k in got if not k.endswith(("running_mean", "running_var", "num_batches_tracked")))
    return [
        compare_state_dicts("weight step: new weights", got, want, weight_keys, rtol=rtol, atol=atol),
        compare("weight step: alpha's clipped gradient sum", new.alpha_grad, want_alpha_grad, rtol=rtol, atol=atol),
        *running_stat_checks("weight step", got, want, before, sizes, rtol=rtol, atol=atol),
    ]


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


@_torch_on_one_thread
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
    program = _search_program(C=C, layers=layers, k=k, image_size=image_size, scan_edges=scan_edges,
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
    state = _search_state(program, variables, alpha, seed)
    value_batches = {"image": jnp.stack([nhwc(x) for x in images]), "label": jnp.asarray(labels.numpy(), jnp.int32)}
    phi, estimate = program.estimate_shapley(state, value_batches, jax.random.PRNGKey(seed))

    num_edges, num_ops = alpha.shape[1:]
    players = [f"{ct}_{e}_{op}" for ct in CELL_TYPES for e in range(num_edges) for op in range(num_ops)]
    estimate_fn = orig.shap_estimation(np.asarray(estimate.permutations))
    batches = _Batches(images, labels, net)
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
