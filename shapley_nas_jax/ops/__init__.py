"""Operations: arithmetic in :mod:`.primitives`, Flax modules and the op registry in :mod:`.layers`."""

from shapley_nas_jax.ops import primitives
from shapley_nas_jax.ops.layers import (
    BatchNorm,
    Conv,
    DepthwiseConv,
    DilConv,
    FactorizedReduce,
    Identity,
    Noise,
    PointwiseConv,
    Pool3x3,
    ReLUConvBN,
    SepConv,
    Zero,
    known_ops,
    make_op,
    register_op,
)
from shapley_nas_jax.ops.primitives import formulation, get_formulation, register_formulation

__all__ = [
    "BatchNorm",
    "Conv",
    "DepthwiseConv",
    "DilConv",
    "FactorizedReduce",
    "Identity",
    "Noise",
    "PointwiseConv",
    "Pool3x3",
    "ReLUConvBN",
    "SepConv",
    "Zero",
    "formulation",
    "get_formulation",
    "known_ops",
    "make_op",
    "primitives",
    "register_formulation",
    "register_op",
]
