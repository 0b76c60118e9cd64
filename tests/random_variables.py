"""Supernet variables for equivalence tests, drawn with NumPy in the shapes ``model.init`` gives.

Compiling ``jax.jit(model.init)`` of a three-cell DARTS supernet takes half a minute on CPU (one threefry
computation per parameter). Tests that compare two computations on the same variables need well-scaled
values, not Flax's initialisers: these cost no compile, and their running statistics are not the trivial
mean 0, variance 1, so BN in eval mode does something.
"""

import jax
import jax.numpy as jnp
import numpy as np

INIT_RNGS = ("params", "noise")


def random_variables(model, *init_args, seed: int = 0, **init_kwargs):
    """Variables with the tree, shapes and dtypes of ``model.init(rngs, *init_args, **init_kwargs)``:
    normal weights with standard deviation 1/sqrt(fan-in), running variances in [0.5, 1.5]."""
    rngs = {name: jax.random.key(i) for i, name in enumerate(INIT_RNGS)}
    shapes = jax.eval_shape(model.init, rngs, *init_args, **init_kwargs)
    rng = np.random.default_rng(seed)

    def draw(path, leaf):
        if jax.tree_util.keystr(path[-1:]) == "['var']":
            values = rng.uniform(0.5, 1.5, leaf.shape)
        else:
            values = rng.normal(0.0, 1.0 / np.sqrt(max(1, np.prod(leaf.shape[:-1]))), leaf.shape)
        return jnp.asarray(values, leaf.dtype)

    return jax.tree_util.tree_map_with_path(draw, shapes)
