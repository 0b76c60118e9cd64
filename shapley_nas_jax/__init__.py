"""Shapley-NAS in JAX/Flax: architecture search driven by Shapley values of operations."""

__version__ = "0.1.0"
