"""The arithmetic of every op, as plain functions on NHWC arrays with explicitly shaped kernels.

Modules in :mod:`shapley_nas_jax.ops.layers` call only the public functions here, and they own the
parameter shapes. How each function is *computed* (its formulation) is a choice of the model that runs it,
never of modules, supernets' parameters or values: ``"lax"`` (:mod:`.lax_formulation`,
``lax.conv_general_dilated`` / ``lax.reduce_window``) is the reference and the default; ``"shifted"``
(:mod:`.shifted_formulation`) computes the same functions from shifted slices of a padded input, much faster
on CPU for the PC-DARTS shapes. A supernet applies its ``formulation`` field around its own forward pass with
:func:`formulation`, and the search picks one per use in its scoring plan
(:func:`shapley_nas_jax.models.resolve_scoring_plan`). A new formulation is added with
:func:`register_formulation` and may override any subset of the functions (the rest fall back to lax).

The selection is read while a function traces and lasts only for a :func:`formulation` block (a context
variable, so threads and nested blocks each see their own): there is no global switch whose later change an
already-jitted function would silently ignore. Outside every block the selection is ``"auto"`` (= ``"lax"``).

Shapes: ``x [B, H, W, C]``. Padding follows PyTorch (symmetric ``padding`` pixels on each side), so
output size is ``floor((H + 2p - d*(k-1) - 1) / s) + 1``.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from typing import Callable, Mapping

import jax
import jax.numpy as jnp

from shapley_nas_jax.ops import lax_formulation, shifted_formulation
from shapley_nas_jax.ops.lax_formulation import subsample  # noqa: F401 -- a primitive too (ops use P.subsample)
from shapley_nas_jax.registry import Registry, UnknownNameError

# ----------------------------------------------------------------------------- formulations

_FORMULATIONS: Registry[dict[str, Callable]] = Registry("formulation")
DEFAULT_FORMULATION = "lax"  # what "auto" (and no selection) means here; per-use choices live in the scoring plan
_SELECTED: contextvars.ContextVar[str] = contextvars.ContextVar("formulation", default="auto")


def register_formulation(name: str, implementations: Mapping[str, Callable], *, overwrite: bool = False) -> None:
    """Register a formulation: a dict from function name (``depthwise_conv``, ``pointwise_conv``, ``conv``,
    ``max_pool``, ``avg_pool``, ``materialize``) to an implementation with the lax one's signature. Missing
    names fall back to lax; a taken name raises unless ``overwrite=True``."""
    known = sorted(lax_formulation.IMPLEMENTATIONS)
    unknown = set(implementations) - set(known)
    if unknown:
        raise UnknownNameError(f"unknown primitive(s) {sorted(unknown)}; known: {', '.join(known)}")
    _FORMULATIONS.register(name, {**lax_formulation.IMPLEMENTATIONS, **implementations}, overwrite=overwrite)


register_formulation("lax", lax_formulation.IMPLEMENTATIONS)
register_formulation("shifted", shifted_formulation.IMPLEMENTATIONS)


def _resolve(name: str) -> str:
    return DEFAULT_FORMULATION if name == "auto" else name


def _implementation(function: str) -> Callable:
    return _FORMULATIONS.get(_resolve(_SELECTED.get()))[function]


@contextlib.contextmanager
def formulation(name: str | None):
    """Within the block (e.g. while a model's forward pass traces), primitives use formulation ``name``
    (None: keep the current selection)."""
    if name is None:
        yield
        return
    if name != "auto":
        _FORMULATIONS.get(name)  # one-line error listing the known names
    token = _SELECTED.set(name)
    try:
        yield
    finally:
        _SELECTED.reset(token)


def get_formulation(resolved: bool = False) -> str:
    """Name of the formulation selected here (``"auto"`` outside every block); ``resolved=True`` gives the
    concrete one."""
    return _resolve(_SELECTED.get()) if resolved else _SELECTED.get()


def list_formulations() -> tuple[str, ...]:
    """Registered formulation names (plus ``"auto"``)."""
    return _FORMULATIONS.names() + ("auto",)


# ----------------------------------------------------------------------------- public interface


def depthwise_conv(x, kernel, stride: int = 1, dilation: int = 1, padding: int | None = None):
    """Depthwise conv. ``x [B,H,W,C]``, ``kernel [kh,kw,C]``; padding defaults to ``dilation*(kh-1)//2``
    ("same" at stride 1)."""
    if padding is None:
        padding = dilation * (kernel.shape[0] - 1) // 2
    return _implementation("depthwise_conv")(x, kernel, stride, dilation, padding)


def pointwise_conv(x, kernel, stride: int = 1):
    """1x1 conv, no padding. ``x [B,H,W,Cin]``, ``kernel [Cin,Cout]`` -> ``[B,ceil(H/s),ceil(W/s),Cout]``."""
    return _implementation("pointwise_conv")(x, kernel, stride)


def conv(x, kernel, stride: int = 1, padding: int = 0, dilation: int = 1):
    """Dense conv. ``x [B,H,W,Cin]``, ``kernel [kh,kw,Cin,Cout]``."""
    return _implementation("conv")(x, kernel, stride, padding, dilation)


def max_pool(x, window: int, stride: int, padding: int = 0):
    """Max pool over ``window x window``, padded with -inf. ``x [B,H,W,C]``."""
    return _implementation("max_pool")(x, window, stride, padding)


def avg_pool(x, window: int, stride: int, padding: int = 0, count_include_pad: bool = False):
    """Average pool; with ``count_include_pad=False`` padded pixels are not counted (DARTS, NB201)."""
    return _implementation("avg_pool")(x, window, stride, padding, count_include_pad)


def materialize(x):
    """Identity in value and gradient; under formulations that need it (``shifted`` on XLA:CPU) it forces
    ``x`` into its own buffer so that XLA neither recomputes its producer inside several consumers nor fuses
    it into a slow mixed-layout loop (e.g. a MixedOp sum into the PC-DARTS concat + channel shuffle)."""
    return _implementation("materialize")(x)


def max_pool_3x3(x, stride: int = 1):
    """3x3 max pool, padding 1. ``[B,H,W,C] -> [B,ceil(H/s),ceil(W/s),C]``."""
    return max_pool(x, 3, stride, 1)


def avg_pool_3x3(x, stride: int = 1):
    """3x3 average pool, padding 1, count_include_pad=False."""
    return avg_pool(x, 3, stride, 1, count_include_pad=False)


def max_pool_2x2(x):
    """2x2 max pool, stride 2, no padding (PC-DARTS bypass channels on reduction edges)."""
    return max_pool(x, 2, 2, 0)


def avg_pool_2x2(x):
    """2x2 average pool, stride 2, no padding (NB201 residual shortcut)."""
    return avg_pool(x, 2, 2, 0)


def shift_one_pixel(x):
    """``x`` moved up-left by one pixel (zero fill at the bottom/right), same shape.

    For even H, ``subsample(shift_one_pixel(x), 2)`` equals PyTorch's ``x[:, :, 1:, 1:][::2, ::2]``;
    for odd H it keeps both FactorizedReduce branches the same size.
    """
    return jnp.pad(x[:, 1:, 1:, :], ((0, 0), (0, 1), (0, 1), (0, 0)))


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def split_channels(x, channels: int):
    """``(x[..., :channels], x[..., channels:])``; the gradient is one concat of the two parts' gradients
    (autodiff would add two zero-padded copies: a slow pad + add loop on XLA:CPU, summed over every edge
    that reads ``x``)."""
    return x[..., :channels], x[..., channels:]


def _split_channels_fwd(x, channels):
    return split_channels(x, channels), None


def _split_channels_bwd(channels, _, grads):
    return (jnp.concatenate(grads, axis=-1),)


split_channels.defvjp(_split_channels_fwd, _split_channels_bwd)


def channel_shuffle(x, groups: int):
    """PC-DARTS channel shuffle on NHWC: view channels as ``(groups, C/groups)``, transpose, flatten."""
    if groups == 1:
        return x
    b, h, w, c = x.shape
    return x.reshape(b, h, w, groups, c // groups).swapaxes(-1, -2).reshape(b, h, w, c)


def global_avg_pool(x):
    """``[B,H,W,C] -> [B,C]``."""
    return jnp.mean(x, axis=(1, 2))
