"""Search configs shared by the tests: tiny ones for the search loop (small enough for 2 CPU cores) and the
experiment files of configs/."""

import os

from shapley_nas_jax.config import load_config_file, override, small_cpu_config

CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")


def experiment_config(name: str, arg: str | None = None):
    """The config of the experiment file configs/<name>.py (with ``:arg`` when ``arg`` is given)."""
    return load_config_file(os.path.join(CONFIGS, f"{name}.py"), arg)


def quick_darts_space() -> str:
    """Registers (if need be) and names a DARTS space quicker to compile than s2 with the same kinds of layers:
    s2's sep_conv_3x3 stacks ReLU, depthwise conv, pointwise conv and BN twice, its dil_conv_3x3 once."""
    from shapley_nas_jax.spaces import list_spaces, register_space, uniform_darts_space

    if "test_quick_darts" not in list_spaces():
        register_space("test_quick_darts",
                       lambda: uniform_darts_space("test_quick_darts", ("skip_connect", "dil_conv_3x3")))
    return "test_quick_darts"


def tiny_config(space: str = "s2", **overrides):
    """small_cpu_config (the tiny base the examples also start from) made smaller still."""
    c = small_cpu_config(space)
    c.data.train_fraction = 0.3
    c.model.cells_per_stage = 1
    c.train.batch_size = 48
    c.train.learning_rate = 0.1
    c.train.eval_batches = 1
    c.shapley.value_batch_size = 32
    c.shapley.chunk_size = 8
    # Training steps with lax: at 8x8 pixels XLA compiles lax's convolutions and their autodiff faster than
    # the shifted formulation's custom VJPs, which test_formulations.py and test_supernet.py check instead.
    c.model.formulation = "lax"
    return override(c, overrides)
