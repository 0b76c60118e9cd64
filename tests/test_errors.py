"""Every error that bad input causes derives from `UserError` (the CLI's one-line exit 2) and keeps the
built-in base its callers catch (ValueError, KeyError, FileNotFoundError)."""

import pytest

from shapley_nas_jax.errors import InvalidInputError, PathNotFoundError, UnknownNameError, UserError


def _bad_inputs():
    from shapley_nas_jax.alpha_rules import get_alpha_rule
    from shapley_nas_jax.api import shapley_values
    from shapley_nas_jax.benchmarks.nb201 import UnknownArchError, load_benchmark
    from shapley_nas_jax.data import load_dataset
    from shapley_nas_jax.data.datasets import DataError
    from shapley_nas_jax.evaluation.complexity import genotype_complexity
    from shapley_nas_jax.evaluation.networks import build_network
    from shapley_nas_jax.genotypes import get_genotype
    from shapley_nas_jax.models.supernet import build_supernet
    from shapley_nas_jax.ops.layers import make_op
    from shapley_nas_jax.ops.primitives import formulation
    from shapley_nas_jax.spaces import get_space
    from shapley_nas_jax.value import bn_mode_at_epoch, make_value_fn

    def unknown_arch():
        raise UnknownArchError("arch '|x|' is not in the benchmark")

    return [
        (lambda: get_space("nope"), UnknownNameError, "unknown search space 'nope'"),
        (lambda: get_alpha_rule("nope"), UnknownNameError, "unknown alpha rule 'nope'"),
        (lambda: make_value_fn(None, metric="nope"), UnknownNameError, "unknown metric 'nope'"),
        (lambda: bn_mode_at_epoch("nope", 1, 10), UnknownNameError, "unknown shapley.bn_mode 'nope'"),
        (lambda: formulation("nope").__enter__(), UnknownNameError, "unknown formulation 'nope'"),
        (lambda: make_op("conv_9x9", 4, 1), UnknownNameError, "unknown op 'conv_9x9'"),
        (lambda: build_supernet("darts", layer=3), UnknownNameError, "unknown supernet option 'layer'"),
        (lambda: get_genotype("darts_v9"), UnknownNameError, "unknown genotype name 'darts_v9'"),
        (lambda: get_genotype("Genotype(normal=["), InvalidInputError, "malformed genotype string"),
        (lambda: build_network(get_genotype("darts_v2"), "nope", num_classes=10), UnknownNameError,
         "unknown network 'nope'"),
        (lambda: genotype_complexity(get_genotype("darts_v2"), "mnist"), UnknownNameError, "unknown dataset 'mnist'"),
        (lambda: shapley_values(lambda mask: mask.sum(), 3, method="kernel"), UnknownNameError, "unknown method"),
        (lambda: load_dataset("cifar11"), DataError, "unknown dataset 'cifar11'"),
        (lambda: load_benchmark("/no/such/table.csv"), PathNotFoundError, "NB201 benchmark not found"),
        (unknown_arch, UnknownArchError, "is not in the benchmark"),
    ]


@pytest.mark.parametrize("call,error_type,message", _bad_inputs(), ids=lambda value: value if isinstance(value, str) else "")
def test_bad_input_raises_a_user_error(call, error_type, message):
    with pytest.raises(error_type, match=message.replace("(", r"\(").replace("[", r"\[")) as info:
        call()
    assert isinstance(info.value, UserError)
    assert isinstance(info.value, (ValueError, KeyError, FileNotFoundError))  # what callers caught before
    assert "\n" not in str(info.value)


def test_the_built_in_bases_are_kept():
    from shapley_nas_jax.benchmarks.nb201 import UnknownArchError
    from shapley_nas_jax.data.datasets import DataError, DatasetNotPreparedError
    from shapley_nas_jax.errors import ConfigError, UsageError

    assert issubclass(UnknownNameError, ValueError) and issubclass(InvalidInputError, ValueError)
    assert issubclass(DataError, ValueError) and issubclass(DatasetNotPreparedError, DataError)
    assert issubclass(ConfigError, ValueError) and issubclass(UnknownArchError, KeyError)
    assert issubclass(PathNotFoundError, FileNotFoundError)
    for error in (UnknownNameError, InvalidInputError, DataError, DatasetNotPreparedError, ConfigError,
                  UnknownArchError, PathNotFoundError, UsageError):
        assert issubclass(error, UserError)
    assert str(UnknownArchError("arch 'x' is not in the benchmark")) == "arch 'x' is not in the benchmark"
