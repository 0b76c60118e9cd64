"""rank_agreement: within-group rank correlation and top-k agreement of an estimate with exact values."""

import numpy as np
import pytest

from shapley_nas_jax.analysis.ranking import rank_agreement, update_signal


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


def _orthogonal_updates(signal: float, noise: float, count: int) -> np.ndarray:
    """``count`` estimates over one edge: a steady centred signal plus centred noise vectors orthogonal to it
    and to each other, all of one size, so the closed form holds exactly."""
    ops = 2 * count + 2
    columns = np.column_stack([np.ones(ops), np.random.default_rng(0).normal(size=(ops, count + 1))])
    directions = np.linalg.qr(columns)[0][:, 1:].T  # orthonormal, and orthogonal to the all-ones vector
    return signal * directions[0] + noise * directions[1:]


@pytest.mark.parametrize("signal,noise", [(0.0, 1.0), (0.5, 1.0), (2.0, 0.5)])
def test_update_signal_recovers_the_signal_to_noise_ratio_in_closed_form(signal, noise):
    count = 5
    updates = _orthogonal_updates(signal, noise, count)
    result = update_signal(updates[:, None, :])
    assert result["noise_level"] == pytest.approx(1 / np.sqrt(count))
    assert result["signal_to_noise"] == pytest.approx(signal / noise, abs=1e-9)
    expected = np.sqrt((signal**2 + noise**2 / count) / (signal**2 + noise**2))
    assert result["consistency"] == pytest.approx(expected)


def test_update_signal_ignores_per_edge_offsets_and_non_players():
    rng = np.random.default_rng(1)
    updates = rng.normal(size=(6, 3, 4))
    base = update_signal(updates)
    shifted = updates + rng.normal(size=(6, 3, 1)) * 10  # an offset per estimate and edge changes no order
    assert update_signal(shifted) == pytest.approx(base)
    with_null = np.concatenate([np.full((6, 3, 1), 123.0), updates], axis=-1)  # a non-player column
    assert update_signal(with_null, players=[False, True, True, True, True]) == pytest.approx(base)
    assert update_signal(with_null) != pytest.approx(base)
    per_edge = np.array([[1, 1, 0, 1], [1, 1, 1, 1], [0, 1, 1, 1]], bool)  # players differ by edge
    changed = np.where(per_edge, updates, rng.normal(size=updates.shape) * 100)
    assert update_signal(changed, players=per_edge) == pytest.approx(update_signal(updates, players=per_edge))


def test_update_signal_of_identical_estimates_is_infinite_and_bad_input_is_named():
    same = np.tile(np.array([[0.0, 1.0, 3.0]]), (4, 1))
    assert update_signal(same) == {"consistency": 1.0, "noise_level": 0.5, "signal_to_noise": np.inf}
    with pytest.raises(ValueError, match="at least 2 estimates"):
        update_signal(same[:1])
    with pytest.raises(ValueError, match="constant over the ops"):
        update_signal(np.ones((3, 2, 4)))


def test_estimate_agreement_is_the_cosine_of_the_per_edge_centred_estimates():
    from shapley_nas_jax.analysis.ranking import estimate_agreement

    rng = np.random.default_rng(0)
    previous = rng.normal(size=(3, 2, 4, 5))
    estimate = rng.normal(size=(2, 4, 5))
    players = np.ones(5, bool)
    players[0] = False  # a null op: out of every edge's centring and of the cosine

    def centred(x):  # by hand, edge by edge
        out = np.zeros_like(x)
        for index in np.ndindex(x.shape[:-1]):
            row = x[index][1:]
            out[index][1:] = row - row.mean()
        return out.ravel()

    a, b = centred(estimate), centred(previous.mean(axis=0))
    expected = a @ b / np.linalg.norm(a) / np.linalg.norm(b)
    assert estimate_agreement(previous, estimate, players) == pytest.approx(expected, abs=1e-12)
    # the same order of ops (any positive scale, any per-edge offset) agrees fully; the reverse order fully not
    assert estimate_agreement(previous[:1], 3 * previous[0] + 7.0, players) == pytest.approx(1.0)
    assert estimate_agreement(previous[:1], -previous[0], players) == pytest.approx(-1.0)
    assert np.isnan(estimate_agreement(np.zeros((0, 2, 4, 5)), estimate, players))  # nothing earlier
    # independent noise agrees about 0 on average
    noise = [estimate_agreement(rng.normal(size=(4, 30, 5)), rng.normal(size=(30, 5))) for _ in range(200)]
    assert abs(np.mean(noise)) < 0.03


def test_estimate_size_and_error_over_the_players():
    from shapley_nas_jax.analysis.ranking import estimate_size_and_error

    # one cell type, one edge of three ops; the third op is no player (0 value, 0 error in every update)
    phi = np.array([[[[1.0, -1.0, 0.0]]], [[[3.0, 1.0, 0.0]]]])
    se = np.array([[[[0.5, 0.5, 0.0]]], [[[np.nan, 0.25, 0.0]]]])
    size, error = estimate_size_and_error(phi, se)
    # centred over the edge's three ops: [1, -1, 0] - 0 and [3, 1, 0] - 4/3, averaged over the two players
    np.testing.assert_allclose(size, [1.0, (abs(3 - 4 / 3) + abs(1 - 4 / 3)) / 2])
    np.testing.assert_allclose(error, [0.5, 0.25])  # NaN (no error known) skipped
