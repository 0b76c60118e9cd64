"""The two sides of a check: the original's models and ours with the converted weights, their inputs
(images, coalition masks, mixing weights) and our search program and state for the original's setup."""

from __future__ import annotations

import contextlib
import functools
import io
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from shapley_nas_jax.interop.convert import ALPHA_KEYS, network_from_torch, supernet_from_torch, to_numpy

__all__ = ["CELL_TYPES", "build_network_pair", "build_supernet_pair", "example_masks", "nhwc", "randomize_state",
           "search_program", "search_state", "single_threaded_torch", "torch_images", "torch_mixing_weights",
           "torch_on_one_thread"]

CELL_TYPES = ("normal", "reduce")


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
                getattr(module, key).data.copy_(torch.randn(getattr(module, key).shape, generator=g))


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


def torch_on_one_thread(check):
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
                        seed: int = 0, stem: str = "cifar"):
    """``(torch_net, model, variables, alpha)``: the original's search supernet (seeded, randomised BN
    statistics and alphas) and ours with its converted variables. ``stem="cifar"``: ``model_search.Network``;
    ``"imagenet"``: ``model_search_imagenet.Network`` (three stride-2 convs to 3C channels; its alphas are plain
    tensors outside the state dict, built with ``.cuda()``, which is a no-op here)."""
    import torch

    from shapley_nas_jax.models import build_supernet
    from shapley_nas_jax.spaces import get_space

    torch.manual_seed(seed)
    original = {"cifar": orig.model_search, "imagenet": orig.model_search_imagenet}[stem]
    with _cuda_is_a_no_op():
        net = original.Network(C, num_classes, layers, torch.nn.CrossEntropyLoss(), k=k)
    randomize_state(net, seed + 1)
    model = build_supernet(get_space("darts_reference"), channels=C, layers=layers, num_classes=num_classes,
                           partial_channels=k, edge_normalization=False, pool_bn=False, renormalize=False,
                           stem=stem, remat=False, scan_edges=scan_edges)
    alphas = [getattr(net, key).detach() for key in ALPHA_KEYS]
    variables, alpha = supernet_from_torch(net.state_dict(), model, alphas=alphas)
    return net, model, variables, alpha


@contextlib.contextmanager
def _cuda_is_a_no_op():
    """``Tensor.cuda()`` returns the tensor itself while the block runs (the original moves its ImageNet
    supernet's alphas to the GPU when it builds them)."""
    import torch

    cuda = torch.Tensor.cuda
    torch.Tensor.cuda = lambda self, *args, **kwargs: self
    try:
        yield
    finally:
        torch.Tensor.cuda = cuda


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


def search_program(*, C, layers, k, image_size, scan_edges, formulation, **options):
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
    return SearchProgram(config, get_space(config.space), image_shape=(image_size, image_size, 3), num_classes=10)


def search_state(program, variables, alpha, seed: int):
    """A fresh search state holding the converted ``variables`` and ``alpha`` (not ``program.init_state(key)``,
    which would first initialise weights of its own)."""
    from shapley_nas_jax.search.state import SearchState

    params, root = variables["params"], jax.random.PRNGKey(seed)
    return SearchState.create(params=params, batch_stats=variables["batch_stats"],
                              opt_state=program.weight_tx.init(params), alpha=alpha, beta=None,
                              arch_optimizer=program.init_arch_state(alpha, None, root), rng=root,
                              clip_with_alpha_grad=bool(program.config.train.clip_with_alpha_grad))
