"""Flax Linen op modules (DARTS, RobustDARTS, NAS-Bench-201) and the op registry.

Every module takes ``x [B, H, W, C_in]`` and ``train`` (BatchNorm: batch statistics and running-average
update when True, running averages when False) and is general enough for evaluation networks:
``C_in == C_out`` or not where it makes sense, stride 1 or 2, ``affine`` BatchNorm or not.
The arithmetic lives in :mod:`shapley_nas_jax.ops.primitives`; modules here only own parameter shapes.

Parameter shapes: depthwise kernels ``[k, k, C]``, pointwise kernels ``[C_in, C_out]``, dense kernels
``[k, k, C_in, C_out]``; initialised like PyTorch's default (uniform +-1/sqrt(fan_in)).
"""

from __future__ import annotations

import math
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax


from shapley_nas_jax.errors import UnknownNameError
from shapley_nas_jax.ops import primitives as P
from shapley_nas_jax.registry import Registry

# PyTorch BatchNorm2d(momentum=0.1, eps=1e-5) == flax momentum 0.9.
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5


def torch_default_init(fan_in: int):
    """PyTorch's default conv and linear init (kaiming_uniform with a=sqrt(5), and the bias):
    U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1.0 / math.sqrt(fan_in)

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


# Initialisers of the classifier (every conv already initialises like PyTorch): flax = Flax's Dense default
# (LeCun-normal kernel, zero bias); torch = nn.Linear's (kernel and bias uniform in +-1/sqrt(fan_in)).
CLASSIFIER_INITS = ("flax", "torch")


def classifier(x, num_classes: int, init: str = "flax", name: str = "classifier"):
    """The final linear layer on features ``x [B, F]``, initialised the ``init`` way (CLASSIFIER_INITS).

    Call it inside a compact module; the parameters are ``<name>/kernel [F, K]`` and ``<name>/bias [K]``
    whichever the init."""
    if init not in CLASSIFIER_INITS:
        raise UnknownNameError(f"classifier init {init!r} is not valid; choose one of {', '.join(CLASSIFIER_INITS)}")
    if init == "flax":
        return nn.Dense(num_classes, name=name)(x)
    uniform = torch_default_init(x.shape[-1])
    return nn.Dense(num_classes, kernel_init=uniform, bias_init=uniform, name=name)(x)


def _batch_moments(x):
    """Per-channel mean and (biased) variance of ``x [..., C]``, as flax's BatchNorm computes them: E[x^2] - E[x]^2
    clipped at 0."""
    axes = tuple(range(x.ndim - 1))
    mean = jnp.mean(x, axes)
    return mean, jnp.maximum(jnp.mean(jnp.square(x), axes) - jnp.square(mean), 0.0)


@jax.custom_vjp
def _batch_normalize(x, scale, bias):
    """Training-mode BatchNorm of ``x [..., C]`` with batch statistics -> (output, mean, variance).

    The values are flax's; the backward pass is the closed form (two per-channel sums and one elementwise pass)
    instead of autodiff through the statistics, which XLA:CPU ran as several more reductions over the
    activations (BENCHMARKS.md, lever log). The mean and variance outputs feed only the running averages, so
    their cotangents are ignored: callers stop their gradients."""
    return _batch_normalize_fwd(x, scale, bias)[0]


def _normalize(x, mean, inv_std, scale, bias):
    return (x - mean) * (inv_std * scale) + bias  # flax's order of operations, so the values are its own


def _batch_normalize_fwd(x, scale, bias):
    mean, var = _batch_moments(x)
    inv_std = lax.rsqrt(var + BN_EPSILON)
    return (_normalize(x, mean, inv_std, scale, bias), mean, var), (x, mean, inv_std, scale)


def _batch_normalize_bwd(residuals, cotangents):
    x, mean, inv_std, scale = residuals
    dy = cotangents[0]
    axes = tuple(range(x.ndim - 1))
    n = x.size // x.shape[-1]
    x_hat = (x - mean) * inv_std
    d_bias = jnp.sum(dy, axes)
    d_scale = jnp.sum(dy * x_hat, axes)
    dx = (scale * inv_std / n) * (n * dy - d_bias - x_hat * d_scale)
    return dx, d_scale, d_bias


_batch_normalize.defvjp(_batch_normalize_fwd, _batch_normalize_bwd)


class _ChannelBatchNorm(nn.Module):
    """flax's ``nn.BatchNorm`` over the last axis (same variables, values and running-average update), with
    the closed-form backward pass of :func:`_batch_normalize`."""

    use_affine: bool

    @nn.compact
    def __call__(self, x, use_running_average: bool):
        features = (x.shape[-1],)
        ra_mean = self.variable("batch_stats", "mean", lambda: jnp.zeros(features, jnp.float32))
        ra_var = self.variable("batch_stats", "var", lambda: jnp.ones(features, jnp.float32))
        scale = self.param("scale", nn.initializers.ones, features) if self.use_affine else jnp.ones(features, x.dtype)
        bias = self.param("bias", nn.initializers.zeros, features) if self.use_affine else jnp.zeros(features, x.dtype)
        if use_running_average:
            return _normalize(x, ra_mean.value, lax.rsqrt(ra_var.value + BN_EPSILON), scale, bias)
        y, mean, var = _batch_normalize(x, scale, bias)
        if not self.is_initializing():
            ra_mean.value = BN_MOMENTUM * ra_mean.value + (1 - BN_MOMENTUM) * lax.stop_gradient(mean)
            ra_var.value = BN_MOMENTUM * ra_var.value + (1 - BN_MOMENTUM) * lax.stop_gradient(var)
        return y


class BatchNorm(nn.Module):
    """BatchNorm over the channel axis; ``affine`` adds scale and bias (PyTorch ``affine``)."""

    affine: bool = False

    @nn.compact
    def __call__(self, x, train: bool = False):
        return _ChannelBatchNorm(self.affine, name="bn")(x, use_running_average=not train)


class DepthwiseConv(nn.Module):
    """Depthwise conv, kernel ``[k, k, C_in]``, no bias. Padding defaults to ``dilation*(k-1)//2``."""

    kernel_size: int
    stride: int = 1
    dilation: int = 1
    padding: int | None = None

    @nn.compact
    def __call__(self, x):
        k, c = self.kernel_size, x.shape[-1]
        kernel = self.param("kernel", torch_default_init(k * k), (k, k, c))
        return P.depthwise_conv(x, kernel, self.stride, self.dilation, self.padding)


class PointwiseConv(nn.Module):
    """1x1 conv, kernel ``[C_in, C_out]``, no bias."""

    features: int
    stride: int = 1

    @nn.compact
    def __call__(self, x):
        cin = x.shape[-1]
        kernel = self.param("kernel", torch_default_init(cin), (cin, self.features))
        return P.pointwise_conv(x, kernel, self.stride)


class Conv(nn.Module):
    """Dense conv, kernel ``[k, k, C_in, C_out]``, no bias."""

    features: int
    kernel_size: int
    stride: int = 1
    padding: int = 0
    dilation: int = 1

    @nn.compact
    def __call__(self, x):
        k, cin = self.kernel_size, x.shape[-1]
        kernel = self.param("kernel", torch_default_init(k * k * cin), (k, k, cin, self.features))
        return P.conv(x, kernel, self.stride, self.padding, self.dilation)


class ReLUConvBN(nn.Module):
    """ReLU -> conv kxk (stride, padding) -> BN. Also NB201's ``nor_conv_kxk``."""

    C_out: int
    kernel_size: int = 1
    stride: int = 1
    padding: int = 0
    affine: bool = False

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = nn.relu(x)
        x = Conv(self.C_out, self.kernel_size, self.stride, self.padding, name="conv")(x)
        return BatchNorm(self.affine, name="bn")(x, train)


class SepConv(nn.Module):
    """DARTS separable conv: (ReLU, dw kxk stride s, pw C_in->C_in, BN, ReLU, dw kxk, pw C_in->C_out, BN).

    Parameters with ``affine=False``: ``2*k*k*C_in + C_in*C_in + C_in*C_out``.
    """

    C_out: int
    kernel_size: int = 3
    stride: int = 1
    affine: bool = False

    @nn.compact
    def __call__(self, x, train: bool = False):
        c_in, k = x.shape[-1], self.kernel_size
        x = nn.relu(x)
        x = DepthwiseConv(k, self.stride, name="dw1")(x)
        x = PointwiseConv(c_in, name="pw1")(x)
        x = BatchNorm(self.affine, name="bn1")(x, train)
        x = nn.relu(x)
        x = DepthwiseConv(k, 1, name="dw2")(x)
        x = PointwiseConv(self.C_out, name="pw2")(x)
        return BatchNorm(self.affine, name="bn2")(x, train)


class DilConv(nn.Module):
    """DARTS dilated separable conv: ReLU, dw kxk (stride s, dilation d), pw C_in->C_out, BN."""

    C_out: int
    kernel_size: int = 3
    stride: int = 1
    dilation: int = 2
    affine: bool = False

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = nn.relu(x)
        x = DepthwiseConv(self.kernel_size, self.stride, self.dilation, name="dw")(x)
        x = PointwiseConv(self.C_out, name="pw")(x)
        return BatchNorm(self.affine, name="bn")(x, train)


class Pool3x3(nn.Module):
    """3x3 max or average pool (padding 1, average without padded pixels), optionally followed by BN.

    ``bn=True`` is DARTS/PC-DARTS search behaviour; the Shapley-NAS reference code and evaluation
    networks have no BN after pools.
    """

    kind: str = "max"  # "max" | "avg"
    stride: int = 1
    bn: bool = False
    affine: bool = False

    @nn.compact
    def __call__(self, x, train: bool = False):
        if self.kind == "max":
            x = P.max_pool_3x3(x, self.stride)
        elif self.kind == "avg":
            x = P.avg_pool_3x3(x, self.stride)
        else:
            raise ValueError(f"unknown pool kind {self.kind!r}")
        if self.bn:
            x = BatchNorm(self.affine, name="bn")(x, train)
        return x


class Identity(nn.Module):
    """``skip_connect`` at stride 1."""

    @nn.compact
    def __call__(self, x, train: bool = False):
        return x


class FactorizedReduce(nn.Module):
    """Halve H and W: ReLU, two 1x1 stride-2 convs (on x and on x shifted by one pixel), concat, BN.

    Kernels ``[C_in, C_out//2]`` each, so ``C_out`` must be even. ``skip_connect`` at stride 2.
    """

    C_out: int
    affine: bool = False

    @nn.compact
    def __call__(self, x, train: bool = False):
        if self.C_out % 2:
            raise ValueError(f"FactorizedReduce needs an even C_out, got {self.C_out}")
        x = nn.relu(x)
        a = PointwiseConv(self.C_out // 2, stride=2, name="conv1")(x)
        b = PointwiseConv(self.C_out // 2, stride=2, name="conv2")(P.shift_one_pixel(x))
        return BatchNorm(self.affine, name="bn")(jnp.concatenate([a, b], axis=-1), train)


def imagenet_stem(x, C: int, train: bool = False):
    """The DARTS ImageNet stem, /8: three stride-2 3x3 conv + BN (ReLU between); returns ``(s0, s1)`` at /4
    and /8 with ``C`` channels. Call it inside a compact method: its modules (``stem0_conv1`` ...
    ``stem1_bn``) belong to the calling module."""
    s = Conv(C // 2, 3, 2, 1, name="stem0_conv1")(x)
    s = nn.relu(BatchNorm(affine=True, name="stem0_bn1")(s, train))
    s = Conv(C, 3, 2, 1, name="stem0_conv2")(s)
    s0 = BatchNorm(affine=True, name="stem0_bn2")(s, train)
    s = Conv(C, 3, 2, 1, name="stem1_conv")(nn.relu(s0))
    s1 = BatchNorm(affine=True, name="stem1_bn")(s, train)
    return s0, s1


def strided_zeros(x, stride: int = 1):
    """Zeros with the shape of ``x`` strided by ``stride``: the output of ``none``, and of any op a
    coalition leaves out (every op keeps its input's channels)."""
    return jnp.zeros_like(P.subsample(x, stride))


class Zero(nn.Module):
    """``none``: zeros with the strided input's shape."""

    stride: int = 1

    @nn.compact
    def __call__(self, x, train: bool = False):
        return strided_zeros(x, self.stride)


class Noise(nn.Module):
    """RobustDARTS ``noise``: fresh i.i.d. N(0, 1) with the strided input's shape, independent of the
    input values; draws from the ``"noise"`` rng stream; no parameters."""

    stride: int = 1

    @nn.compact
    def __call__(self, x, train: bool = False):
        shape = P.subsample(x, self.stride).shape
        return jax.random.normal(self.make_rng("noise"), shape, x.dtype)


# ----------------------------------------------------------------------------- registry

OpBuilder = Callable[..., nn.Module]
_OPS: Registry[OpBuilder] = Registry("op")


def register_op(name: str, builder: OpBuilder, *, overwrite: bool = False) -> None:
    """Register ``builder(C, stride, affine, name=None, **options) -> nn.Module`` under ``name``; a taken name
    raises unless ``overwrite=True``.

    ``C`` is the output channel count (== input channels in a cell), ``name`` the Flax module name
    to give the op, ``options`` extra keywords (e.g. ``pool_bn``) that a builder may ignore.
    """
    _OPS.register(name, builder, overwrite=overwrite)


def known_ops() -> tuple[str, ...]:
    """Registered op names, sorted."""
    return _OPS.names()


def make_op(name: str, C: int, stride: int = 1, affine: bool = False, module_name: str | None = None, **options):
    """Build the op registered as ``name`` with ``C`` output channels; an error listing the known ops for
    unknown names."""
    return _OPS.get(name)(C, stride, affine, name=module_name, **options)


def _skip(C, stride, affine, name=None, **_):
    return Identity(name=name) if stride == 1 else FactorizedReduce(C, affine, name=name)


def _pool(kind):
    def build(C, stride, affine, name=None, pool_bn=False, **_):
        return Pool3x3(kind, stride, pool_bn, affine, name=name)

    return build


def _sep(k):
    return lambda C, stride, affine, name=None, **_: SepConv(C, k, stride, affine, name=name)


def _dil(k):
    return lambda C, stride, affine, name=None, **_: DilConv(C, k, stride, 2, affine, name=name)


def _nor_conv(k):
    return lambda C, stride, affine, name=None, **_: ReLUConvBN(C, k, stride, k // 2, affine, name=name)


register_op("none", lambda C, stride, affine, name=None, **_: Zero(stride, name=name))
register_op("noise", lambda C, stride, affine, name=None, **_: Noise(stride, name=name))
register_op("skip_connect", _skip)
register_op("max_pool_3x3", _pool("max"))
register_op("avg_pool_3x3", _pool("avg"))
register_op("sep_conv_3x3", _sep(3))
register_op("sep_conv_5x5", _sep(5))
register_op("sep_conv_7x7", _sep(7))
register_op("dil_conv_3x3", _dil(3))
register_op("dil_conv_5x5", _dil(5))
register_op("nor_conv_1x1", _nor_conv(1))
register_op("nor_conv_3x3", _nor_conv(3))
