"""The search loop: a pure state pytree threaded through jitted steps, driven by `run_search`."""

from shapley_nas_jax.search.run import SearchInterrupted, SearchResult, run_search
from shapley_nas_jax.search.schedule import arch_update_points
from shapley_nas_jax.search.state import SearchState
from shapley_nas_jax.search.steps import SearchProgram

__all__ = ["SearchInterrupted", "SearchProgram", "SearchResult", "SearchState", "arch_update_points", "run_search"]
