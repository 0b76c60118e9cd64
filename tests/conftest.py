"""Test-wide JAX settings: tests use tiny shapes, so XLA compile time dominates and is cut down here."""

import jax

jax.config.update("jax_disable_most_optimizations", True)
