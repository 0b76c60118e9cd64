"""The arithmetic of every op, as plain functions on NHWC arrays with explicitly shaped kernels.

Modules in :mod:`shapley_nas_jax.ops.layers` call only the public functions here, and they own the
parameter shapes. How each function is *computed* (its formulation) can be swapped per backend with
:func:`set_formulation` without touching modules, supernets or parameter shapes. Only the ``"lax"``
formulation (``lax.conv_general_dilated`` / ``lax.reduce_window``) exists now; a new one is added with
:func:`register_formulation` and may override any subset of the functions (the rest fall back to lax).

The switch is read at trace time: functions already jitted keep the formulation they were traced with.

Shapes: ``x [B, H, W, C]``. Padding follows PyTorch (symmetric ``padding`` pixels on each side), so
output size is ``floor((H + 2p - d*(k-1) - 1) / s) + 1``.
"""

from __future__ import annotations

from typing import Callable, Mapping

import jax.numpy as jnp
from jax import lax

_DIMS = ("NHWC", "HWIO", "NHWC")


# ----------------------------------------------------------------------------- lax formulation


def _lax_conv(x, kernel, stride: int, padding: int, dilation: int, groups: int):
    return lax.conv_general_dilated(
        x,
        kernel,
        window_strides=(stride, stride),
        padding=((padding, padding), (padding, padding)),
        rhs_dilation=(dilation, dilation),
        dimension_numbers=_DIMS,
        feature_group_count=groups,
    )


def _lax_depthwise_conv(x, kernel, stride, dilation, padding):
    kh, kw, c = kernel.shape
    return _lax_conv(x, kernel.reshape(kh, kw, 1, c), stride, padding, dilation, groups=c)


def _lax_pointwise_conv(x, kernel, stride):
    cin, cout = kernel.shape
    return _lax_conv(x, kernel.reshape(1, 1, cin, cout), stride, 0, 1, groups=1)


def _lax_conv_full(x, kernel, stride, padding, dilation):
    return _lax_conv(x, kernel, stride, padding, dilation, groups=1)


def _pool_padding(padding: int):
    return ((0, 0), (padding, padding), (padding, padding), (0, 0))


def _lax_max_pool(x, window, stride, padding):
    return lax.reduce_window(
        x, -jnp.inf, lax.max, (1, window, window, 1), (1, stride, stride, 1), _pool_padding(padding)
    )


def _lax_avg_pool(x, window, stride, padding, count_include_pad):
    dims, strides, pads = (1, window, window, 1), (1, stride, stride, 1), _pool_padding(padding)
    total = lax.reduce_window(x, 0.0, lax.add, dims, strides, pads)
    if count_include_pad or padding == 0:
        return total / (window * window)
    ones = jnp.ones((1,) + x.shape[1:3] + (1,), x.dtype)
    count = lax.reduce_window(ones, 0.0, lax.add, dims, strides, pads)
    return total / count


_FORMULATIONS: dict[str, dict[str, Callable]] = {
    "lax": {
        "depthwise_conv": _lax_depthwise_conv,
        "pointwise_conv": _lax_pointwise_conv,
        "conv": _lax_conv_full,
        "max_pool": _lax_max_pool,
        "avg_pool": _lax_avg_pool,
    }
}
_active: dict[str, Callable] = dict(_FORMULATIONS["lax"])
_active_name = "lax"


def register_formulation(name: str, implementations: Mapping[str, Callable]) -> None:
    """Register a formulation: a dict from function name (``depthwise_conv``, ``pointwise_conv``, ``conv``,
    ``max_pool``, ``avg_pool``) to an implementation with the lax one's signature. Missing names fall back
    to lax."""
    unknown = set(implementations) - set(_FORMULATIONS["lax"])
    if unknown:
        raise ValueError(f"unknown primitive(s) {sorted(unknown)}; known: {sorted(_FORMULATIONS['lax'])}")
    _FORMULATIONS[name] = {**_FORMULATIONS["lax"], **implementations}


def set_formulation(name: str) -> None:
    """Select the formulation used by every primitive from now on (at trace time)."""
    global _active_name
    if name not in _FORMULATIONS:
        raise ValueError(f"unknown formulation {name!r}; known: {sorted(_FORMULATIONS)}")
    _active.clear()
    _active.update(_FORMULATIONS[name])
    _active_name = name


def get_formulation() -> str:
    """Name of the active formulation."""
    return _active_name


# ----------------------------------------------------------------------------- public interface


def depthwise_conv(x, kernel, stride: int = 1, dilation: int = 1, padding: int | None = None):
    """Depthwise conv. ``x [B,H,W,C]``, ``kernel [kh,kw,C]``; padding defaults to ``dilation*(kh-1)//2``
    ("same" at stride 1)."""
    if padding is None:
        padding = dilation * (kernel.shape[0] - 1) // 2
    return _active["depthwise_conv"](x, kernel, stride, dilation, padding)


def pointwise_conv(x, kernel, stride: int = 1):
    """1x1 conv, no padding. ``x [B,H,W,Cin]``, ``kernel [Cin,Cout]`` -> ``[B,ceil(H/s),ceil(W/s),Cout]``."""
    return _active["pointwise_conv"](x, kernel, stride)


def conv(x, kernel, stride: int = 1, padding: int = 0, dilation: int = 1):
    """Dense conv. ``x [B,H,W,Cin]``, ``kernel [kh,kw,Cin,Cout]``."""
    return _active["conv"](x, kernel, stride, padding, dilation)


def max_pool(x, window: int, stride: int, padding: int = 0):
    """Max pool over ``window x window``, padded with -inf. ``x [B,H,W,C]``."""
    return _active["max_pool"](x, window, stride, padding)


def avg_pool(x, window: int, stride: int, padding: int = 0, count_include_pad: bool = False):
    """Average pool; with ``count_include_pad=False`` padded pixels are not counted (DARTS, NB201)."""
    return _active["avg_pool"](x, window, stride, padding, count_include_pad)


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


def subsample(x, stride: int):
    """Keep every ``stride``-th pixel: ``x[:, ::s, ::s]``."""
    return x if stride == 1 else x[:, ::stride, ::stride, :]


def shift_one_pixel(x):
    """``x`` moved up-left by one pixel (zero fill at the bottom/right), same shape.

    For even H, ``subsample(shift_one_pixel(x), 2)`` equals PyTorch's ``x[:, :, 1:, 1:][::2, ::2]``;
    for odd H it keeps both FactorizedReduce branches the same size.
    """
    return jnp.pad(x[:, 1:, 1:, :], ((0, 0), (0, 1), (0, 1), (0, 0)))


def channel_shuffle(x, groups: int):
    """PC-DARTS channel shuffle on NHWC: view channels as ``(groups, C/groups)``, transpose, flatten."""
    if groups == 1:
        return x
    b, h, w, c = x.shape
    return x.reshape(b, h, w, groups, c // groups).swapaxes(-1, -2).reshape(b, h, w, c)


def global_avg_pool(x):
    """``[B,H,W,C] -> [B,C]``."""
    return jnp.mean(x, axis=(1, 2))
