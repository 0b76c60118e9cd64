"""The arithmetic of every op, as plain functions on NHWC arrays with explicitly shaped kernels.

Modules in :mod:`shapley_nas_jax.ops.layers` call only the public functions here, and they own the
parameter shapes. How each function is *computed* (its formulation) can be swapped per backend with
:func:`set_formulation` without touching modules, supernets or parameter shapes. Only the ``"lax"``
formulation (``lax.conv_general_dilated`` / ``lax.reduce_window``) is the reference; ``"shifted"`` computes
the same functions from shifted (strided) slices of a padded input, which XLA fuses into a few elementwise
loops and which is one to two orders of magnitude faster on CPU for the small-channel, depthwise and pooling
shapes of the PC-DARTS supernet in forward passes (measurements in BENCHMARKS.md). ``"auto"`` (the default)
resolves to ``"lax"``; the search opts into ``"shifted"`` per use, by measurement: for forward-only scoring
(``shapley.formulation``, ``models.scoring_defaults``) and for training steps (``model.formulation``,
``models.training_formulation``; its custom VJPs compute backward passes as shifted sums and matmuls too),
applied with the :func:`formulation` context manager. A new
formulation is added with :func:`register_formulation` and may override any subset of the functions (the
rest fall back to lax).

The switch is read at trace time: functions already jitted keep the formulation they were traced with.

Shapes: ``x [B, H, W, C]``. Padding follows PyTorch (symmetric ``padding`` pixels on each side), so
output size is ``floor((H + 2p - d*(k-1) - 1) / s) + 1``.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax


from shapley_nas_jax.errors import UnknownNameError
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


# ----------------------------------------------------------------------------- shifted formulation
#
# A k x k window op is the sum (or max) over its k*k taps of a strided slice of the padded input:
# tap (i, j) of output pixel (y, x) reads padded pixel (y*s + i*d, x*s + j*d). Each slice is a view that
# XLA fuses with the multiply-add chain, so the whole op is one loop over the output.

# Pointwise convs with at most this many input channels are computed as a sum over input channels of
# broadcast multiplies (fused elementwise); above it as one matmul on [B*H*W, C_in]. Measured on CPU
# (scripts/bench_ops.py): the sum wins for C_in=4, the matmul for C_in >= 16.
POINTWISE_SUM_MAX_CHANNELS = 8


def _out_size(n: int, k: int, s: int, p: int, d: int) -> int:
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def _pad_hw(x, padding: int, value=0.0):
    if padding == 0:
        return x
    # lax.pad, not jnp.pad: a jnp.pad inside a custom_vjp rule, inside a scan, breaks second-order
    # differentiation (jax 0.10: a residual arrives as a scalar).
    return lax.pad(x, np.asarray(value, x.dtype), ((0, 0, 0), (padding, padding, 0), (padding, padding, 0), (0, 0, 0)))


def _runtime_false(x):
    """A boolean scalar that is always False but that XLA cannot constant-fold: the sign bit of x's first
    element shifted right twice (always 0). No gradient flows through it."""
    bits = lax.bitcast_convert_type(lax.stop_gradient(x.reshape(-1)[0]), jnp.uint32)
    zero = lax.shift_right_logical(lax.shift_right_logical(bits, jnp.uint32(31)), jnp.uint32(1))
    return zero != 0


def _plain_barrier(x):
    return lax.cond(_runtime_false(x), jnp.zeros_like, lambda y: y, x)


@jax.custom_batching.custom_vmap
def _cond_barrier(x):
    return _plain_barrier(x)


@_cond_barrier.def_vmap
def _cond_barrier_vmap(axis_size, in_batched, x):
    # Apply the barrier to the whole batched array: the predicate stays a scalar, so the cond stays a cond
    # (a batched predicate would turn it into a fusible select).
    return _cond_barrier(x), in_batched[0]


@jax.custom_jvp
def _differentiable_barrier(x):
    return _cond_barrier(x)


@_differentiable_barrier.defjvp
def _differentiable_barrier_jvp(primals, tangents):
    # The primal through a plain cond, not the custom_vmap: linearizing a custom_vmap again (second-order
    # DARTS through the scanned cell edges) fails. Unbatched it is the same barrier.
    return _plain_barrier(primals[0]), tangents[0]


def _materialize(x):
    """Make ``x`` one buffer that XLA:CPU cannot fuse into its consumers (nor its producer into them).

    A k x k shifted op reads k*k slices of its input; if the input's producer (the previous depthwise conv
    of a SepConv, a BN + ReLU, a whole MixedOp sum) were fused into it, the producer would be recomputed for
    every tap (k^2 times, k^4 for two stacked depthwise convs). ``lax.optimization_barrier`` is expanded
    away before fusion on XLA:CPU, so the barrier is a ``cond`` on a predicate XLA cannot fold: fusion never
    crosses a conditional. Identity in value, vmap (custom rule) and derivatives (the tangent passes
    through unchanged, to any order).
    """
    return _differentiable_barrier(x)


def _windows(x, k: int, stride: int, dilation: int, padding: int, pad_value=0.0):
    """``(i, j, slice)`` for every tap of a k x k window over ``x`` padded by ``padding`` with ``pad_value``;
    each slice has the output's spatial shape ``[B, Ho, Wo, C]``."""
    x = _materialize(x)
    b, h, w, c = x.shape
    ho, wo = _out_size(h, k, stride, padding, dilation), _out_size(w, k, stride, padding, dilation)
    xp = _pad_hw(x, padding, pad_value)
    for i in range(k):
        for j in range(k):
            y0, x0 = i * dilation, j * dilation
            yield i, j, lax.slice(
                xp, (0, y0, x0, 0), (b, y0 + (ho - 1) * stride + 1, x0 + (wo - 1) * stride + 1, c), (1, stride, stride, 1)
            )


def _accumulate(terms, combine=jnp.add):
    out = None
    for t in terms:
        out = t if out is None else combine(out, t)
    return out


def _transposed_windows(dy, in_hw: tuple[int, int], k: int, stride: int, dilation: int, padding: int, fill=0):
    """The adjoint of :func:`_windows`, as slices again: ``(i, j, slice)`` with ``slice [B, H, W, C]`` such
    that the input-gradient of ``sum_ij f_ij(window_ij(x))`` is ``sum_ij f_ij'(slice_ij)`` for elementwise
    ``f_ij``. ``slice_ij[u]`` is the output-gradient entry whose window tap (i, j) read input pixel ``u``
    (``fill`` where none did): ``dy`` dilated by the stride, padded, read at flipped tap offsets.

    So backward passes are shifted sums too: one padded buffer, k*k strided-free slices, fused into one loop
    (autodiff of the forward slices would instead add k*k scatter-like pads, which XLA:CPU runs slowly).
    """
    dy = _materialize(dy)
    b, ho, wo, c = dy.shape
    h, w = in_hw
    low = (k - 1) * dilation - padding
    pads = [(0, 0, 0)]
    for n_in, n_out in ((h, ho), (w, wo)):
        pads.append((low, n_in + (k - 1) * dilation - low - ((n_out - 1) * stride + 1), stride - 1))
    pads.append((0, 0, 0))
    dyp = lax.pad(dy, np.asarray(fill, dy.dtype), pads)
    for i in range(k):
        for j in range(k):
            y0, x0 = (k - 1 - i) * dilation, (k - 1 - j) * dilation
            yield i, j, lax.slice(dyp, (0, y0, x0, 0), (b, y0 + h, x0 + w, c))


def _depthwise_forward(x, kernel, stride, dilation, padding):
    k = kernel.shape[0]
    return _accumulate(win * kernel[i, j] for i, j, win in _windows(x, k, stride, dilation, padding))


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _shifted_depthwise_conv(x, kernel, stride, dilation, padding):
    return _depthwise_forward(x, kernel, stride, dilation, padding)


def _shifted_depthwise_fwd(x, kernel, stride, dilation, padding):
    return _shifted_depthwise_conv(x, kernel, stride, dilation, padding), (x, kernel)


def _shifted_depthwise_bwd(stride, dilation, padding, residuals, dy):
    x, kernel = residuals
    k = kernel.shape[0]
    dy = _materialize(dy)
    dx = _accumulate(g * kernel[i, j] for i, j, g in _transposed_windows(dy, x.shape[1:3], k, stride, dilation, padding))
    return dx, _depthwise_kernel_grad(x, dy, k, stride, dilation, padding).astype(kernel.dtype)


def _depthwise_kernel_grad(x, dy, k: int, stride: int, dilation: int, padding: int):
    """``dk[i, j, c] = sum_{b,y,x} xpad[b, y*s + i*d, x*s + j*d, c] * dy[b, y, x, c]`` as one batched matmul.

    Written as k*k reductions over (B, H, W) it is XLA:CPU's slowest pattern (a scalar loop per tap, 5-20x
    the forward pass). Instead, channel-major, contract each tap row's input rows with ``dy`` over (B, Ho):
    ``m[c, i, u, x] = sum_{b,y} xpad[c, b, y*s + i*d, u] * dy[c, b, y, x]`` (a matmul per channel), then
    read the k taps of each row off ``m``'s shifted diagonals ``u = x*s + j*d``.
    """
    b, ho, wo, c = dy.shape
    xc = jnp.transpose(_pad_hw(x, padding), (3, 0, 1, 2))  # [C, B, Hp, Wp]
    dc = jnp.transpose(dy, (3, 0, 1, 2))  # [C, B, Ho, Wo]
    wp = xc.shape[3]
    rows = jnp.stack([lax.slice(xc, (0, 0, i * dilation, 0), (c, b, i * dilation + (ho - 1) * stride + 1, wp),
                                (1, 1, stride, 1)) for i in range(k)], axis=1)  # [C, k, B, Ho, Wp]
    m = lax.dot_general(rows, dc, (((2, 3), (1, 2)), ((0,), (0,))), precision=lax.Precision.HIGHEST)  # [C,k,Wp,Wo]
    cols = np.arange(wo)
    taps = m[:, :, np.arange(k)[:, None] * dilation + cols[None, :] * stride, cols[None, :]]  # [C, k, k, Wo]
    return jnp.transpose(taps.sum(-1), (1, 2, 0))  # [k, k, C]


_shifted_depthwise_conv.defvjp(_shifted_depthwise_fwd, _shifted_depthwise_bwd)


@jax.custom_vjp
def _channel_sum_matmul(x, kernel):
    """``[B,H,W,Cin] @ [Cin,Cout]`` as a sum over (few) input channels of broadcast multiplies; gradients
    by matmuls (the autodiff of the sum would be Cin*Cout separate reductions)."""
    x = _materialize(x)
    return _accumulate(x[..., c : c + 1] * kernel[c] for c in range(kernel.shape[0]))


def _channel_sum_matmul_fwd(x, kernel):
    return _channel_sum_matmul(x, kernel), (x, kernel)


def _channel_sum_matmul_bwd(residuals, dy):
    x, kernel = residuals
    cin, cout = kernel.shape
    flat_x, flat_dy = x.reshape(-1, cin), dy.reshape(-1, cout)
    dx = jnp.dot(flat_dy, kernel.T, precision=lax.Precision.HIGHEST).reshape(x.shape)
    dk = jnp.dot(flat_x.T, flat_dy, precision=lax.Precision.HIGHEST)
    return dx, dk


_channel_sum_matmul.defvjp(_channel_sum_matmul_fwd, _channel_sum_matmul_bwd)


def _matmul_channels(x, kernel):
    """``[B,H,W,Cin] @ [Cin,Cout]`` as a sum over input channels (few channels) or one matmul."""
    cin, cout = kernel.shape
    if cin <= POINTWISE_SUM_MAX_CHANNELS:
        return _channel_sum_matmul(x, kernel)
    b, h, w, _ = x.shape
    y = jnp.dot(x.reshape(b * h * w, cin), kernel, precision=lax.Precision.HIGHEST)
    return y.reshape(b, h, w, cout)


def _shifted_pointwise_conv(x, kernel, stride):
    return _matmul_channels(subsample(x, stride), kernel)


def _shifted_conv(x, kernel, stride, padding, dilation):
    kh, kw, cin, cout = kernel.shape
    if kh == kw == 1 and padding == 0:
        return _matmul_channels(subsample(x, stride), kernel[0, 0])
    if kh != kw:
        return _lax_conv_full(x, kernel, stride, padding, dilation)
    return _accumulate(_matmul_channels(win, kernel[i, j]) for i, j, win in _windows(x, kh, stride, dilation, padding))


def _max_pool_forward(x, window, stride, padding):
    return _accumulate((win for _, _, win in _windows(x, window, stride, 1, padding, -jnp.inf)), jnp.maximum)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2, 3))
def _shifted_max_pool(x, window, stride, padding):
    return _max_pool_forward(x, window, stride, padding)


def _shifted_max_pool_fwd(x, window, stride, padding):
    # The primal through the custom function itself, as in every fwd rule here: computed inline, second-order
    # differentiation inside a scan fails to linearize it (jax 0.10).
    return _shifted_max_pool(x, window, stride, padding), x


def _shifted_max_pool_bwd(window, stride, padding, x, dy):
    # Each output's gradient goes to the first tap (row-major) holding its maximum, as lax's
    # select-and-scatter does: the winning tap index per output, then a shifted sum over taps.
    best = arg = None
    for i, j, win in _windows(x, window, stride, 1, padding, -jnp.inf):
        if best is None:
            best, arg = win, jnp.zeros(win.shape, jnp.int32)
        else:
            better = win > best
            best, arg = jnp.where(better, win, best), jnp.where(better, i * window + j, arg)
    hw = x.shape[1:3]
    taps = zip(_transposed_windows(dy, hw, window, stride, 1, padding),
               _transposed_windows(arg, hw, window, stride, 1, padding, fill=-1))
    dx = _accumulate(jnp.where(a == i * window + j, g, 0.0) for (i, j, g), (_, _, a) in taps)
    return (dx,)


_shifted_max_pool.defvjp(_shifted_max_pool_fwd, _shifted_max_pool_bwd)


def _pool_counts(h: int, w: int, window: int, stride: int, padding: int) -> np.ndarray:
    """Number of real (non-padding) pixels under each output window, ``[Ho, Wo]`` (a trace-time constant)."""
    ones = np.pad(np.ones((h, w), np.float32), padding)
    ho, wo = _out_size(h, window, stride, padding, 1), _out_size(w, window, stride, padding, 1)
    count = np.zeros((ho, wo), np.float32)
    for i in range(window):
        for j in range(window):
            count += ones[i : i + (ho - 1) * stride + 1 : stride, j : j + (wo - 1) * stride + 1 : stride]
    return count


def _avg_pool_scale(x_hw, window, stride, padding, count_include_pad, dtype):
    """The divisor of every output pixel, as a multiplier broadcastable to ``[B, Ho, Wo, C]``."""
    if count_include_pad or padding == 0:
        return jnp.asarray(1.0 / (window * window), dtype)
    return jnp.asarray(1.0 / _pool_counts(*x_hw, window, stride, padding), dtype)[None, :, :, None]


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2, 3, 4))
def _shifted_avg_pool(x, window, stride, padding, count_include_pad):
    total = _accumulate(win for _, _, win in _windows(x, window, stride, 1, padding))
    return total * _avg_pool_scale(x.shape[1:3], window, stride, padding, count_include_pad, x.dtype)


def _shifted_avg_pool_fwd(x, window, stride, padding, count_include_pad):
    return _shifted_avg_pool(x, window, stride, padding, count_include_pad), x.shape[1:3]


def _shifted_avg_pool_bwd(window, stride, padding, count_include_pad, x_hw, dy):
    dy = dy * _avg_pool_scale(x_hw, window, stride, padding, count_include_pad, dy.dtype)
    return (_accumulate(g for _, _, g in _transposed_windows(dy, x_hw, window, stride, 1, padding)),)


_shifted_avg_pool.defvjp(_shifted_avg_pool_fwd, _shifted_avg_pool_bwd)


_FORMULATIONS: dict[str, dict[str, Callable]] = {
    "lax": {
        "depthwise_conv": _lax_depthwise_conv,
        "pointwise_conv": _lax_pointwise_conv,
        "conv": _lax_conv_full,
        "max_pool": _lax_max_pool,
        "avg_pool": _lax_avg_pool,
        "materialize": lambda x: x,
    },
    "shifted": {
        "depthwise_conv": _shifted_depthwise_conv,
        "pointwise_conv": _shifted_pointwise_conv,
        "conv": _shifted_conv,
        "max_pool": _shifted_max_pool,
        "avg_pool": _shifted_avg_pool,
        "materialize": _materialize,
    },
}

# "auto" resolves to lax on every backend: "shifted" makes forward-only scoring several times faster on
# CPU, but its fusion barriers make training steps (backward passes) slower and their compiles several
# times longer (BENCHMARKS.md), so it is opted into per use: `shapley.formulation` scores coalitions with it.
AUTO_BY_BACKEND: dict[str, str] = {}


def _resolve(name: str) -> str:
    if name == "auto":
        return AUTO_BY_BACKEND.get(jax.default_backend(), "lax")
    return name


class _Active:
    """The functions of the selected formulation; ``"auto"`` is resolved lazily (at first use, i.e. trace
    time) so importing this module does not initialise a JAX backend."""

    def __init__(self, name: str):
        self.name = name
        self._table: dict[str, Callable] | None = None

    def __getitem__(self, key: str) -> Callable:
        if self._table is None:
            self._table = _FORMULATIONS[_resolve(self.name)]
        return self._table[key]


_active = _Active("auto")


def register_formulation(name: str, implementations: Mapping[str, Callable]) -> None:
    """Register a formulation: a dict from function name (``depthwise_conv``, ``pointwise_conv``, ``conv``,
    ``max_pool``, ``avg_pool``) to an implementation with the lax one's signature. Missing names fall back
    to lax."""
    unknown = set(implementations) - set(_FORMULATIONS["lax"])
    if unknown:
        raise ValueError(f"unknown primitive(s) {sorted(unknown)}; known: {sorted(_FORMULATIONS['lax'])}")
    _FORMULATIONS[name] = {**_FORMULATIONS["lax"], **implementations}
    _active._table = None  # re-resolve in case the active formulation was just replaced


@contextlib.contextmanager
def formulation(name: str):
    """Within the block (e.g. while a jitted function traces), primitives use formulation `name`."""
    previous = get_formulation()
    set_formulation(name)
    try:
        yield
    finally:
        set_formulation(previous)


def set_formulation(name: str) -> None:
    """Select the formulation used by every primitive from now on (at trace time): a registered name or
    ``"auto"`` (the default: the per-backend choice in ``AUTO_BY_BACKEND``)."""
    global _active
    if name != "auto" and name not in _FORMULATIONS:
        raise UnknownNameError(f"unknown formulation {name!r}; known: {sorted(_FORMULATIONS) + ['auto']}")
    _active = _Active(name)


def get_formulation(resolved: bool = False) -> str:
    """Name of the selected formulation (``"auto"`` unless set); ``resolved=True`` gives the concrete one."""
    return _resolve(_active.name) if resolved else _active.name


def list_formulations() -> tuple[str, ...]:
    """Registered formulation names (plus ``"auto"``)."""
    return tuple(sorted(_FORMULATIONS)) + ("auto",)


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


def materialize(x):
    """Identity in value and gradient; under formulations that need it (``shifted`` on XLA:CPU) it forces
    ``x`` into its own buffer so that XLA neither recomputes its producer inside several consumers nor fuses
    it into a slow mixed-layout loop (e.g. a MixedOp sum into the PC-DARTS concat + channel shuffle)."""
    return _active["materialize"](x)


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
