"""Shapley-NAS: alpha moves by the alpha rule applied to Monte-Carlo Shapley values of the ops."""

from __future__ import annotations

from shapley_nas_jax.search.methods.base import SearchMethod, every_epoch_after_warmup

RULE_NAMES = {"paper": "eqs. 6-7", "reference": "z-score rule", "frozen": "alpha frozen"}
AGGREGATE_NAMES = {"mean": "mean", "mean_minus_std": "mean minus std"}


class ShapleyNAS(SearchMethod):
    """One Shapley update per ``search.alpha_cadence`` after the warm-up: an estimate on
    ``shapley.samples`` value batches, then the alpha rule's step (``SearchProgram.shapley_step``)."""

    estimates_shapley = True

    def label(self, config):
        """"Shapley-NAS (paper)" / "(reference)" for exactly one of the two algorithms, else what ran: the
        estimate (aggregate, or a budgeted estimator and its budget) and the alpha rule."""
        from shapley_nas_jax.config import algorithm_of

        algorithm = algorithm_of(config)
        if algorithm is not None:
            return f"Shapley-NAS ({algorithm})"
        s, rule = config.shapley, config.alpha_rule.name
        if s.estimator == "permutation":
            estimate = AGGREGATE_NAMES.get(s.aggregate, s.aggregate)
        else:
            estimate = f"{s.estimator}, {s.budget} evaluations" if s.budget else s.estimator
        return f"Shapley-NAS ({estimate}, {RULE_NAMES.get(rule, f'{rule} rule')})"

    def update_points(self, config, steps_per_epoch):
        return every_epoch_after_warmup(config, steps_per_epoch)

    def arch_inputs(self, search, state):
        return (search.value_batches(int(state.alpha_updates)),)

    def arch_input_shardings(self, program):
        return (program.value_sharding,)

    def arch_step(self, program, state, value_batches, *, hyper, bn_mode):
        return program.shapley_update(state, value_batches, hyper, bn_mode=bn_mode)

    def arch_step_label(self, search, state):
        return f"Shapley update {int(state.alpha_updates) + 1}/{len(search.update_points)}"
