"""Evaluation networks built from a discrete genotype, trained from scratch.

* :class:`NetworkCIFAR`: DARTS' CIFAR network (C=36, 20 cells, reductions at 1/3 and 2/3 of the depth,
  auxiliary head after the cell at 2/3, drop path).
* :class:`NetworkImageNet`: DARTS' ImageNet mobile-setting network (C=48, 14 cells, two-stage stride-2 stem).
* :class:`NB201Network`: the NAS-Bench-201 network for an arch string (16 channels, 5 cells per stage).

Every network is called as ``model.apply(variables, x, train=..., drop_path_rate=..., rngs=..., mutable=...)``
with ``x [B, H, W, C_in]`` float32 and returns ``(logits [B, num_classes], aux_logits [B, num_classes] | None)``.
``aux_logits`` is only computed in training mode (``train=True``) and only when the network has an auxiliary
head; in evaluation it is ``None``. Drop path (probability ``drop_path_rate``, a float or a traced scalar)
only acts in training mode and draws from the ``"drop_path"`` rng stream. ``variables`` are
``{"params": ..., "batch_stats": ...}``; the auxiliary head's parameters live under ``params["auxiliary_head"]``.

All ops come from the op registry (:func:`shapley_nas_jax.ops.make_op`) with ``affine=True`` BatchNorm.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp


from shapley_nas_jax.errors import InvalidInputError, UnknownNameError
from shapley_nas_jax.genotypes import DartsGenotype, NB201Genotype
from shapley_nas_jax.models.supernet import ResNetBasicBlock
from shapley_nas_jax.ops import primitives as P
from shapley_nas_jax.ops.layers import (BatchNorm, Conv, FactorizedReduce, ReLUConvBN, classifier, imagenet_stem,
                                        make_op)
from shapley_nas_jax.spaces.nb201 import NB201_EDGES

AUX_HEAD = "auxiliary_head"  # name of the auxiliary head's parameter subtree


def drop_path(x: jax.Array, rate, key: jax.Array) -> jax.Array:
    """Zero whole examples of ``x [B, ...]`` with probability ``rate`` and scale the kept ones by
    ``1 / (1 - rate)`` (DARTS' ``drop_path``); ``rate`` may be a traced scalar in [0, 1)."""
    keep = 1.0 - jnp.asarray(rate, x.dtype)
    mask = jax.random.bernoulli(key, keep, (x.shape[0],) + (1,) * (x.ndim - 1))
    return jnp.where(mask, x / keep, jnp.zeros((), x.dtype))


def _drops(op_name: str, stride: int) -> bool:
    """Drop path is applied to every op except identity (``skip_connect`` at stride 1), as in DARTS."""
    return not (op_name == "skip_connect" and stride == 1)


class EvalCell(nn.Module):
    """A DARTS cell of a genotype: preprocess both inputs to ``C`` channels, two ops per intermediate node,
    output = concat of the ``concat`` nodes.

    ``s0 [B, H0, W0, C0]`` (c_{k-2}; twice the resolution of ``s1`` when the previous cell reduced),
    ``s1 [B, H, W, C1]`` -> ``[B, H/s, W/s, len(concat)*C]`` with ``s = 2`` for a reduction cell.
    """

    pairs: tuple[tuple[str, int], ...]
    concat: tuple[int, ...]
    C: int
    reduction: bool
    reduction_prev: bool

    @nn.compact
    def __call__(self, s0, s1, train: bool = False, drop_path_rate=0.0):
        if self.reduction_prev:
            s0 = FactorizedReduce(self.C, affine=True, name="preprocess0")(s0, train)
        else:
            s0 = ReLUConvBN(self.C, 1, 1, 0, affine=True, name="preprocess0")(s0, train)
        s1 = ReLUConvBN(self.C, 1, 1, 0, affine=True, name="preprocess1")(s1, train)
        apply_drop = train and not (isinstance(drop_path_rate, (int, float)) and drop_path_rate == 0)
        states = [s0, s1]
        for node in range(len(self.pairs) // 2):
            total = None
            for j in (2 * node, 2 * node + 1):
                op_name, src = self.pairs[j]
                stride = 2 if self.reduction and src < 2 else 1
                op = make_op(op_name, self.C, stride, affine=True, module_name=f"op{j}_{op_name}")
                h = op(states[src], train)
                if apply_drop and _drops(op_name, stride):
                    h = drop_path(h, drop_path_rate, self.make_rng("drop_path"))
                total = h if total is None else total + h
            states.append(total)
        return jnp.concatenate([states[i] for i in self.concat], axis=-1)


class AuxiliaryHead(nn.Module):
    """DARTS auxiliary classifier: ReLU, 5x5 average pool (stride 3 on CIFAR, 2 on ImageNet, no padding,
    padded pixels not counted), 1x1 conv to 128 + BN + ReLU, 2x2 conv to 768 (+ BN on CIFAR only, as DARTS)
    + ReLU, dense.

    ``x [B, H, W, C]`` (8x8 for CIFAR at 32x32, 7x7 for ImageNet at 224x224) -> ``[B, num_classes]``.
    For smaller inputs the pool window and conv kernel shrink to the feature map and the final map is
    averaged (at the DARTS resolutions it is 1x1, so this equals DARTS' flatten).
    """

    num_classes: int
    pool_stride: int = 3
    bn_after_conv2: bool = True
    classifier_init: str = "flax"  # classifier initialisation (ops.layers.CLASSIFIER_INITS)

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = nn.relu(x)
        window = min(5, x.shape[1], x.shape[2])
        x = P.avg_pool(x, window, self.pool_stride, 0, count_include_pad=False)
        x = Conv(128, 1, name="conv1")(x)
        x = nn.relu(BatchNorm(affine=True, name="bn1")(x, train))
        x = Conv(768, min(2, x.shape[1], x.shape[2]), name="conv2")(x)
        if self.bn_after_conv2:
            x = BatchNorm(affine=True, name="bn2")(x, train)
        x = nn.relu(x)
        return classifier(P.global_avg_pool(x), self.num_classes, self.classifier_init)


class _DartsNetwork(nn.Module):
    """Shared body of the DARTS evaluation networks; subclasses define the stem."""

    genotype: DartsGenotype
    C: int = 36
    layers: int = 20
    num_classes: int = 10
    auxiliary: bool = True
    aux_pool_stride: int = 3
    aux_bn_after_conv2: bool = True
    classifier_init: str = "flax"  # classifier initialisation (ops.layers.CLASSIFIER_INITS)

    def stem(self, x, train: bool):
        """``x [B, H, W, C_in]`` -> ``(s0, s1, reduction_prev)``: the first cell's two inputs."""
        raise NotImplementedError

    def _check(self):
        if not isinstance(self.genotype, DartsGenotype):
            raise ValueError(f"{type(self).__name__} needs a DARTS genotype, got {type(self.genotype).__name__}")
        if self.layers < 3:
            raise ValueError(f"{type(self).__name__} needs at least 3 cells (two reductions), got layers={self.layers}")

    @nn.compact
    def __call__(self, x, train: bool = False, drop_path_rate=0.0):
        self._check()
        s0, s1, reduction_prev = self.stem(x, train)
        reduce_at = (self.layers // 3, 2 * self.layers // 3)
        c_curr, aux_logits = self.C, None
        for i in range(self.layers):
            reduction = i in reduce_at
            if reduction:
                c_curr *= 2
            kind = "reduce" if reduction else "normal"
            cell = EvalCell(self.genotype.cell(kind), self.genotype.concat(kind), c_curr, reduction, reduction_prev,
                            name=f"cell{i}")
            s0, s1 = s1, cell(s0, s1, train, drop_path_rate)
            reduction_prev = reduction
            # The head's parameters are created at init even in eval mode, so a later train-mode apply finds them.
            if i == reduce_at[1] and self.auxiliary and (train or self.is_initializing()):
                head = AuxiliaryHead(self.num_classes, self.aux_pool_stride, self.aux_bn_after_conv2, self.classifier_init,
                                     name=AUX_HEAD)
                aux_logits = head(s1, train)
        logits = classifier(P.global_avg_pool(s1), self.num_classes, self.classifier_init)
        return logits, (aux_logits if train else None)


class NetworkCIFAR(_DartsNetwork):
    """DARTS' CIFAR evaluation network for a DARTS genotype.

    Stem: 3x3 conv to ``3*C`` + BN. ``layers`` cells, cells ``layers//3`` and ``2*layers//3`` reduce (channels
    double, resolution halves). Auxiliary head (training only) on the output of cell ``2*layers//3``.
    ``x [B, 32, 32, 3]`` -> logits ``[B, num_classes]``, 8x8 maps after the second reduction.
    """

    stem_multiplier: int = 3

    def stem(self, x, train):
        s = Conv(self.stem_multiplier * self.C, 3, 1, 1, name="stem_conv")(x)
        s = BatchNorm(affine=True, name="stem_bn")(s, train)
        return s, s, False


class NetworkImageNet(_DartsNetwork):
    """DARTS' ImageNet (mobile setting) evaluation network for a DARTS genotype.

    Stem0: 3x3 stride-2 conv to ``C/2`` + BN + ReLU + 3x3 stride-2 conv to ``C`` + BN (1/4 resolution);
    stem1: ReLU + 3x3 stride-2 conv + BN (1/8). The first cell treats its input as reduced
    (FactorizedReduce on ``s0``). ``x [B, 224, 224, 3]`` -> logits ``[B, 1000]``, 7x7 maps at the end.
    The auxiliary head has no BN after its 2x2 conv (as in DARTS' experiments).
    """

    C: int = 48
    layers: int = 14
    num_classes: int = 1000
    aux_pool_stride: int = 2
    aux_bn_after_conv2: bool = False

    def stem(self, x, train):
        return (*imagenet_stem(x, self.C, train), True)


class NB201Cell(nn.Module):
    """A NAS-Bench-201 cell of an arch: node i = sum over j < i of op(i<-j)(node j); output node 3.
    ``x [B, H, W, C]`` -> ``[B, H, W, C]``."""

    ops: tuple[str, ...]

    @nn.compact
    def __call__(self, x, train: bool = False):
        C = x.shape[-1]
        nodes = {0: x}
        for e, (node, src) in enumerate(NB201_EDGES):
            y = make_op(self.ops[e], C, 1, affine=True, module_name=f"edge{e}_{self.ops[e]}")(nodes[src], train)
            nodes[node] = y if node not in nodes else nodes[node] + y
        return nodes[3]


class NB201Network(nn.Module):
    """NAS-Bench-201's network for one arch: 3x3 conv stem + BN, three stages of ``N`` cells (C, 2C, 4C)
    joined by residual stride-2 blocks, then BN-ReLU-global pool-dense. ``x [B, H, W, C_in]`` -> logits.

    No auxiliary head and no drop path (``drop_path_rate`` is accepted and ignored); returns ``(logits, None)``.
    """

    genotype: NB201Genotype
    C: int = 16
    N: int = 5
    num_classes: int = 10
    classifier_init: str = "flax"  # classifier initialisation (ops.layers.CLASSIFIER_INITS)

    @nn.compact
    def __call__(self, x, train: bool = False, drop_path_rate=0.0):
        if not isinstance(self.genotype, NB201Genotype):
            raise ValueError(f"NB201Network needs an NB201 genotype, got {type(self.genotype).__name__}")
        x = Conv(self.C, 3, 1, 1, name="stem_conv")(x)
        x = BatchNorm(affine=True, name="stem_bn")(x, train)
        for stage in range(3):
            if stage > 0:
                x = ResNetBasicBlock(self.C * 2**stage, 2, name=f"reduce{stage}")(x, train)
            for n in range(self.N):
                x = NB201Cell(self.genotype.ops, name=f"stage{stage}_cell{n}")(x, train)
        x = nn.relu(BatchNorm(affine=True, name="last_bn")(x, train))
        return classifier(P.global_avg_pool(x), self.num_classes, self.classifier_init), None


NETWORKS = ("cifar", "imagenet", "nb201")


def build_network(genotype: DartsGenotype | NB201Genotype, network: str = "auto", *, num_classes: int,
                  channels: int | None = None, layers: int | None = None, auxiliary: bool = True,
                  cells_per_stage: int | None = None, classifier_init: str = "flax") -> nn.Module:
    """The evaluation network for ``genotype``.

    Args:
      genotype: a DARTS genotype (``cifar`` / ``imagenet`` networks) or an NB201 genotype (``nb201``).
      network: ``cifar``, ``imagenet``, ``nb201`` or ``auto`` (``nb201`` for NB201 genotypes, else ``cifar``).
      num_classes: classifier outputs.
      channels: initial channels C (None: 36 cifar, 48 imagenet, 16 nb201).
      layers: DARTS cells (None: 20 cifar, 14 imagenet); unused for nb201.
      auxiliary: DARTS auxiliary head (training only); unused for nb201.
      cells_per_stage: NB201 cells per stage N (None: 5).
      classifier_init: classifier initialisation, ``flax`` or ``torch`` (``nn.Linear``'s).

    Raises:
      ValueError: an unknown network, or a genotype of the wrong family for it (one line).
    """
    is_nb201 = isinstance(genotype, NB201Genotype)
    if network == "auto":
        network = "nb201" if is_nb201 else "cifar"
    if network not in NETWORKS:
        raise UnknownNameError(f"unknown network {network!r}; choose one of auto, {', '.join(NETWORKS)}")
    if is_nb201 != (network == "nb201"):
        family = "an NB201 arch string" if is_nb201 else "a DARTS genotype"
        raise InvalidInputError(f"network {network!r} cannot be built from {family}; "
                         f"use {'nb201' if is_nb201 else 'cifar or imagenet'}")
    if network == "nb201":
        return NB201Network(genotype, C=channels or 16, N=cells_per_stage or 5, num_classes=num_classes, classifier_init=classifier_init)
    if network == "imagenet":
        return NetworkImageNet(genotype, C=channels or 48, layers=layers or 14, num_classes=num_classes,
                               auxiliary=auxiliary, classifier_init=classifier_init)
    return NetworkCIFAR(genotype, C=channels or 36, layers=layers or 20, num_classes=num_classes, auxiliary=auxiliary,
                        classifier_init=classifier_init)
