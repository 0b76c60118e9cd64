"""The ``lax`` formulation of the primitives, the reference: ``lax.conv_general_dilated`` and
``lax.reduce_window`` on NHWC arrays. Signatures are those :mod:`shapley_nas_jax.ops.primitives` dispatches
to (every argument given, positional); padding is symmetric, as in PyTorch."""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax

_DIMS = ("NHWC", "HWIO", "NHWC")


def _conv(x, kernel, stride: int, padding: int, dilation: int, groups: int):
    return lax.conv_general_dilated(
        x,
        kernel,
        window_strides=(stride, stride),
        padding=((padding, padding), (padding, padding)),
        rhs_dilation=(dilation, dilation),
        dimension_numbers=_DIMS,
        feature_group_count=groups,
    )


def depthwise_conv(x, kernel, stride, dilation, padding):
    kh, kw, c = kernel.shape
    return _conv(x, kernel.reshape(kh, kw, 1, c), stride, padding, dilation, groups=c)


def pointwise_conv(x, kernel, stride):
    cin, cout = kernel.shape
    return _conv(x, kernel.reshape(1, 1, cin, cout), stride, 0, 1, groups=1)


def conv(x, kernel, stride, padding, dilation):
    return _conv(x, kernel, stride, padding, dilation, groups=1)


def _pool_padding(padding: int):
    return ((0, 0), (padding, padding), (padding, padding), (0, 0))


def max_pool(x, window, stride, padding):
    return lax.reduce_window(
        x, -jnp.inf, lax.max, (1, window, window, 1), (1, stride, stride, 1), _pool_padding(padding)
    )


def avg_pool(x, window, stride, padding, count_include_pad):
    dims, strides, pads = (1, window, window, 1), (1, stride, stride, 1), _pool_padding(padding)
    total = lax.reduce_window(x, 0.0, lax.add, dims, strides, pads)
    if count_include_pad or padding == 0:
        return total / (window * window)
    ones = jnp.ones((1,) + x.shape[1:3] + (1,), x.dtype)
    count = lax.reduce_window(ones, 0.0, lax.add, dims, strides, pads)
    return total / count


def subsample(x, stride: int):
    """Keep every ``stride``-th pixel: ``x[:, ::s, ::s]`` (the same in every formulation)."""
    return x if stride == 1 else x[:, ::stride, ::stride, :]


IMPLEMENTATIONS = {
    "depthwise_conv": depthwise_conv,
    "pointwise_conv": pointwise_conv,
    "conv": conv,
    "max_pool": max_pool,
    "avg_pool": avg_pool,
    "materialize": lambda x: x,
}
