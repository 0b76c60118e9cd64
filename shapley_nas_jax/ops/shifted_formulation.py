"""The ``shifted`` formulation of the primitives: the same functions as the ``lax`` one, computed from
shifted (strided) slices of a padded input, which XLA fuses into a few elementwise loops. On CPU it is one to
two orders of magnitude faster for the small-channel, depthwise and pooling shapes of the PC-DARTS supernet
(BENCHMARKS.md). Backward passes are custom VJPs that are shifted sums and matmuls too.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from shapley_nas_jax.ops.lax_formulation import conv as lax_conv, subsample

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
        return lax_conv(x, kernel, stride, padding, dilation)
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


IMPLEMENTATIONS = {
    "depthwise_conv": _shifted_depthwise_conv,
    "pointwise_conv": _shifted_pointwise_conv,
    "conv": _shifted_conv,
    "max_pool": _shifted_max_pool,
    "avg_pool": _shifted_avg_pool,
    "materialize": _materialize,
}
