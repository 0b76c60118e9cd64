"""rank_agreement: within-group rank correlation and top-k agreement of an estimate with exact values."""

import numpy as np
import pytest

from shapley_nas_jax.analysis.ranking import rank_agreement


def test_perfect_and_reversed_orders():
    exact = np.array([0.1, 0.5, 0.3, 2.0, 1.0, 3.0])
    groups = np.array([0, 0, 0, 1, 1, 1])
    assert rank_agreement(exact, exact, groups) == {"spearman": 1.0, "top_accuracy": 1.0}
    reversed_within = -exact
    result = rank_agreement(reversed_within, exact, groups)
    assert result["spearman"] == pytest.approx(-1.0)
    assert result["top_accuracy"] == 0.0


def test_top_two_is_judged_as_a_set_and_ignored_players_are_skipped():
    exact = np.array([4.0, 3.0, 1.0, 0.0, 9.0])
    estimate = np.array([3.0, 4.0, 0.0, 1.0, -9.0])  # same top two {0, 1}, swapped; player 4 is in no group
    groups = np.array([0, 0, 0, 0, -1])
    result = rank_agreement(estimate, exact, groups, top=2)
    assert result["top_accuracy"] == 1.0
    assert result["spearman"] == pytest.approx(0.6)  # ranks (2,1,4,3) vs (1,2,3,4): 1 - 6*4/60


def test_one_group_by_default_and_constant_estimates_rank_nothing():
    exact = np.array([1.0, 2.0, 3.0])
    assert rank_agreement(np.zeros(3), exact)["spearman"] == 0.0


def test_a_tie_among_the_exact_best_accepts_either_player():
    exact = np.array([1.0, 1.0, 0.0])
    assert rank_agreement(np.array([0.2, 0.9, 0.1]), exact)["top_accuracy"] == 1.0
    assert rank_agreement(np.array([0.2, 0.1, 0.9]), exact)["top_accuracy"] == 0.0
