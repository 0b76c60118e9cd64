"""The protocol of a search method: how alpha starts, when and how it is updated, which cell a weight step
trains, and how the cell is chosen at the end.

A method is an object; the search asks it at each of those points and never compares method names. The
defaults describe the simplest method: a supernet trained with alpha fixed at its initial value, no
architecture updates, the cell derived from alpha at the end. A new method subclasses :class:`SearchMethod`,
overrides what differs and is registered with :func:`shapley_nas_jax.register_method`; ``shapley-nas search
--config.search.method=NAME`` then runs it.

Methods run inside a :class:`~shapley_nas_jax.search.steps.SearchProgram` (``program``: the supernet, its
loss, its Shapley steps and shardings) and are driven by a :class:`~shapley_nas_jax.search.schedule.Search`
(``search``: the config, the data streams and the schedule). Functions marked *traced* run inside ``jax.jit``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import jax
import ml_collections
import numpy as np
import optax

if TYPE_CHECKING:
    from shapley_nas_jax.search.schedule import Search
    from shapley_nas_jax.search.state import Hyperparameters, SearchState
    from shapley_nas_jax.search.steps import SearchProgram


class SearchMethod:
    """A search method (see the module docstring). Class attributes say what the method's runs hold."""

    supernet: bool = True  # False: the method searches without a supernet (:meth:`run_without_supernet`)
    estimates_shapley: bool = False  # its updates are Shapley estimates (logged with their diagnostics)
    current_cell: bool = True  # alpha names a cell during the search (RSPS: only after its final choice)
    chooses_at_end: bool = False  # :meth:`final_choice` picks the cell on the value split after the last epoch

    ranks_ops_by_alpha: bool = False  # softmax(alpha) is a learned ranking of each edge's ops (DARTS)
    title: str | None = None  # the method's name in tables (default: its search.method name)

    # ------------------------------------------------------------------------------------- config
    def validate(self, config: ml_collections.ConfigDict) -> None:
        """Raise ConfigError (one line) for options this method cannot run with."""

    def label(self, config: ml_collections.ConfigDict) -> str:
        """The method's name in tables and figures, saying what ran (a complete config)."""
        return self.title or config.search.method

    # ------------------------------------------------------------------------- how alpha starts
    def arch_optimizer(self, program: "SearchProgram", key: jax.Array | None) -> optax.GradientTransformation:
        """The transformation of architecture updates (default: the config's alpha rule, whose state every
        search holds). ``key`` seeds its initial state only (None where only ``update`` is used)."""
        return program.alpha_rule(key)

    def arch_params(self, alpha: jax.Array, beta: jax.Array | None) -> Any:
        """What :meth:`arch_optimizer` updates (default: alpha)."""
        return alpha

    # ------------------------------------------------------------------------ when and how it moves
    def update_points(self, config: ml_collections.ConfigDict, steps_per_epoch: int) -> np.ndarray:
        """Weight-step indices before which one architecture update runs (sorted, repeats allowed)."""
        return np.zeros(0, np.int64)

    def arch_inputs(self, search: "Search", state: "SearchState") -> tuple:
        """The placed batches the next update reads (host side; default: none)."""
        return ()

    def arch_input_shardings(self, program: "SearchProgram") -> tuple:
        """Shardings of :meth:`arch_inputs`' entries on the program's mesh (only called with a mesh)."""
        return ()

    def arch_step(self, program: "SearchProgram", state: "SearchState", *inputs, hyper: "Hyperparameters",
                  bn_mode: str) -> tuple["SearchState", dict]:
        """*Traced.* One architecture update: the new state (``alpha_updates`` + 1) and its metrics."""
        raise NotImplementedError(f"{type(self).__name__} has update points but no arch_step")

    def arch_step_label(self, search: "Search", state: "SearchState") -> str | None:
        """The progress bar's name for the next update (None: not announced)."""
        return None

    def logs_update(self, alpha_updates: int, steps_per_epoch: int) -> bool:
        """Whether the run's log gets a record of update number ``alpha_updates`` (counted from 1)."""
        return True

    # ----------------------------------------------------------------------- what a weight step trains
    def weight_step_cell(self, program: "SearchProgram", state: "SearchState", key: jax.Array
                         ) -> tuple[jax.Array, jax.Array | None]:
        """*Traced.* ``(alpha, mask)`` the weight step's supernet runs with (default: the state's alpha, every
        op). ``key`` is the step's own."""
        return state.arch.alpha, None

    # ------------------------------------------------------------------------ how the cell is chosen
    def final_choice(self, program: "SearchProgram", state: "SearchState", value_batches: dict, *, bn_mode: str
                     ) -> tuple["SearchState", dict]:
        """*Traced*, with ``chooses_at_end``: the state holding the chosen cell as alpha, and the choice's
        metrics (arrays)."""
        raise NotImplementedError(f"{type(self).__name__} sets chooses_at_end but has no final_choice")

    def final_choice_results(self, program: "SearchProgram", metrics: dict, benchmark) -> dict:
        """Entries for results.json describing :meth:`final_choice` (default: none)."""
        return {}

    def run_without_supernet(self, config: ml_collections.ConfigDict, space, benchmark) -> tuple[Any, dict]:
        """For methods without a supernet: the search itself; returns the found genotype and further entries
        for results.json."""
        raise NotImplementedError(f"{type(self).__name__} has no supernet-free search")


def every_epoch_after_warmup(config: ml_collections.ConfigDict, steps_per_epoch: int) -> np.ndarray:
    """Update points of ``search.alpha_cadence``: the start of each epoch after ``search.warmup_epochs``
    (``epoch``) or every ``search.alpha_every_steps`` weight steps from the warm-up's end (``steps``)."""
    s, total = config.search, config.train.epochs * steps_per_epoch
    start = s.warmup_epochs * steps_per_epoch
    if s.alpha_cadence == "epoch":
        return np.arange(start, total, steps_per_epoch)  # at the start of each epoch, before its training
    every = s.alpha_every_steps
    points = np.arange(every, total, every)
    return points[points >= start]
