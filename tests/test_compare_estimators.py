"""shapley_nas_jax.analysis.estimator_comparison (scripts/compare_estimators.py, scripts/truncation_bias.py) and
shapley_nas_jax.interop.shapiq_games: shapiq's approximators on this library's games (evaluations counted, exact
at a budget of 2^n), the comparison's rows and metrics, the truncation bias."""

import math
import sys

import jax.numpy as jnp
import numpy as np
import pytest

from shapley_nas_jax.analysis import estimator_comparison as comparison
from shapley_nas_jax.errors import UnknownNameError
from shapley_nas_jax.shapley import games as G
from shapley_nas_jax.shapley import shapley_from_coalition_values

REQUIRED = {"game", "players", "estimator", "library", "evaluations", "mse", "mse_se", "top_op_accuracy",
            "evals_per_s"}


# ---------------------------------------------------------------------------------------------------------
# the adapter


def test_counting_game_counts_rows_and_matches_the_value_function():
    from shapley_nas_jax.interop.shapiq_games import CountingGame

    game = G.random_table_game(5, seed=3)
    counting = CountingGame(game)
    masks = np.random.default_rng(0).integers(0, 2, size=(7, 5)).astype(bool)
    values = counting(masks)
    expect = [float(game.value_fn(game.shared, jnp.asarray(m, jnp.float32), None)) for m in masks]
    assert values.shape == (7,) and values.dtype == np.float64
    np.testing.assert_allclose(values, expect, rtol=1e-6)
    assert counting(masks[0]).shape == (1,)  # one coalition, as Owen / stratified sampling ask
    assert (counting.evaluations, counting.calls) == (8, 2)
    counting.reset()
    assert (counting.evaluations, counting.calls) == (0, 0)
    with pytest.raises(ValueError, match=r"\[k, 5\]"):
        counting(np.zeros((2, 4), bool))


def test_shapiq_missing_is_one_line_naming_the_extra(monkeypatch):
    from shapley_nas_jax.interop import shapiq_games

    monkeypatch.setitem(sys.modules, "shapiq", None)  # import shapiq -> ImportError
    with pytest.raises(ImportError) as info:
        shapiq_games.sv_approximators()
    assert str(info.value) == "shapiq is not installed: pip install 'shapley-nas-jax[compare]'"


def test_shapiq_counts_its_evaluations_and_is_exact_at_the_full_budget():
    pytest.importorskip("shapiq")
    from shapley_nas_jax.interop.shapiq_games import CountingGame, shapiq_estimate, sv_approximators

    table = sv_approximators()
    for name in ("shapiq_PermutationSamplingSV", "shapiq_KernelSHAP", "shapiq_KernelSHAP_paired",
                 "shapiq_UnbiasedKernelSHAP", "shapiq_SVARM", "shapiq_StratifiedSamplingSV",
                 "shapiq_OwenSamplingSV", "shapiq_kADDSHAP", "shapiq_SPEX", "shapiq_ProxySPEX"):
        assert name in table
    assert {k for k, a in table.items() if a.opt_in} == {"shapiq_SPEX", "shapiq_ProxySPEX"}

    game = G.glove_game(2, 3)
    n = game.num_players
    counting = CountingGame(game)
    calls = []
    inner = counting._values

    def spy(masks):  # the rows the adapter really evaluates (padded to a power of two)
        calls.append(masks.shape[0])
        return inner(masks)

    counting._values = spy
    for name, approximator in table.items():
        if approximator.opt_in:
            continue
        calls.clear()
        est = shapiq_estimate(approximator, game, 20, seed=1, counting=counting)
        assert est.values.shape == (n,)
        assert 0 < est.evaluations <= 20 and est.evaluations == est.reported_budget, name
        assert counting.calls == len(calls) and est.evaluations <= sum(calls) < 2 * est.evaluations + len(calls)
    # regression and Monte-Carlo approximators enumerate every coalition at a budget of 2^n: exact values
    for name in ("KernelSHAP", "UnbiasedKernelSHAP", "SVARM", "kADDSHAP"):
        est = shapiq_estimate(name, game, 1 << n, seed=0, counting=counting)
        assert est.evaluations == 1 << n
        np.testing.assert_allclose(est.values, game.shapley_values, atol=1e-5, err_msg=name)
    with pytest.raises(ValueError, match="unknown shapiq approximator"):
        shapiq_estimate("NoSuchSHAP", game, 8, seed=0)


# ---------------------------------------------------------------------------------------------------------
# the comparison


def test_metrics_match_a_hand_computation():
    exact = np.array([1.0, 2.0, 3.0, 0.0, 0.5])
    values = np.array([[1.0, 2.0, 4.0, 0.0, 0.5],     # squared errors 0, 0, 1, 0, 0 -> 0.2
                       [2.0, 1.0, 3.0, 2.5, 0.5]])    # 1, 1, 0, 6.25, 0 -> 1.65
    groups = (np.array([0, 1, 2]), np.array([3, 4]))
    m = comparison.metrics(values, exact, groups=groups, top_k=1)
    assert math.isclose(m["mse"], (0.2 + 1.65) / 2)
    assert math.isclose(m["mse_se"], np.std([0.2, 1.65], ddof=1) / math.sqrt(2))
    # group [0, 1, 2]: rho 1 (seed 0), 1 - 6 * 2 / 24 = 0.5 (seed 1); groups of two players are left out
    assert math.isclose(m["spearman"], (1 + 0.5) / 2)
    # best player: right in group [0, 1, 2] twice, in group [3, 4] for seed 0 only
    assert math.isclose(m["top_op_accuracy"], 3 / 4)
    # top two (edge players of a node): groups of two left out; exact top two of [0, 1, 2] is {1, 2}:
    # seed 0 picks {2, 1}, seed 1 picks {2, 0}
    assert math.isclose(comparison.metrics(values, exact, groups=groups, top_k=2)["top_op_accuracy"], 0.5)
    # ties in the exact values: any of the tied best players counts
    tied = np.array([1.0, 1.0, 0.0])
    assert comparison.metrics(np.array([[0.0, 1.0, 0.5]]), tied)["top_op_accuracy"] == 1.0
    assert comparison.metrics(np.array([[0.0, 0.4, 0.5]]), tied)["top_op_accuracy"] == 0.0


def test_player_groups_of_op_and_edge_players():
    groups, grouping, k = comparison.player_groups([0, 0, 1, 1, 1], [2, 2, 3, 3, 3])
    assert grouping == "edge" and k == 1 and [g.tolist() for g in groups] == [[0, 1], [2, 3, 4]]
    groups, grouping, k = comparison.player_groups([0, 1, 2, 3, 4], [2, 2, 3, 3, 3])
    assert grouping == "node" and k == 2 and [g.tolist() for g in groups] == [[0, 1], [2, 3, 4]]


def test_rows_on_tiny_games(tmp_path):
    specs = comparison.select_games("synthetic", True, tmp_path / "none", "true_prob", quick=False)
    rows, skipped = comparison.run(specs, 3, lambda n: [16, 32], ["permutation_uniform", "stratified_neyman"])
    games = {r["game"] for r in rows}
    assert len(games) == 4 and not any(g.startswith("supernet_") for g in games)
    for row in rows:
        assert REQUIRED <= set(row)
        assert row["library"] == ("shapiq" if row["estimator"].startswith("shapiq_") else "shapley_nas_jax")
        assert row["evaluations"] <= row["budget"] and row["seeds"] == 3
    ours = {(r["estimator"], r["budget"]) for r in rows if r["library"] == "shapley_nas_jax"}
    assert {name for name, _ in ours} == {"permutation_uniform", "stratified_neyman"}
    # stratified_neyman needs 2 + 4(n - 1) = 18 evaluations for 5 players: skipped at 16, and said so
    assert ("stratified_neyman", 16) not in ours and ("stratified_neyman", 32) in ours
    assert ("stratified_neyman", 16) in {(s["estimator"], s["budget"]) for s in skipped}
    try:
        import shapiq  # noqa: F401
    except ImportError:
        assert all(r["library"] == "shapley_nas_jax" for r in rows)
    else:
        theirs = {r["estimator"] for r in rows if r["library"] == "shapiq"}
        assert {"shapiq_KernelSHAP", "shapiq_PermutationSamplingSV", "shapiq_SVARM"} <= theirs
        # n=5: a budget of 32 = 2^n enumerates every coalition, so KernelSHAP is exact
        kernel = next(r for r in rows if r["estimator"] == "shapiq_KernelSHAP" and r["budget"] == 32)
        assert kernel["mse"] < 1e-10 and kernel["top_op_accuracy"] == 1.0
    assert comparison.throughput(rows, out=lambda line: None)["budget"] == 32
    with pytest.raises(UnknownNameError, match="unknown estimator"):
        comparison.run(specs, 3, lambda n: [16], ["no_such_estimator"])


def test_every_registered_estimator_is_compared_by_the_name_a_search_takes(tmp_path, monkeypatch):
    from shapley_nas_jax.shapley import available_estimators

    monkeypatch.setattr(comparison, "shapiq_table", lambda names: {})  # this library's rows only
    specs = comparison.select_games("synthetic", True, tmp_path / "none", "true_prob", quick=False)[:1]
    rows, skipped = comparison.run(specs, 3, lambda n: [32])
    ours = {r["estimator"] for r in rows} | {s["estimator"] for s in skipped}
    assert ours == set(available_estimators()) - {"permutation_taylor_cv"}  # no control data on synthetic games
    chains = next(r for r in rows if r["estimator"] == "permutation")  # the search's truncated chains
    assert 0 < chains["evaluations"] <= chains["budget"] == 32


def test_supernet_games_with_their_controls(tmp_path, monkeypatch):
    """A fake supernet game file and loader (the real loader's contract): edge players, node groups, the
    Taylor control chosen by metric; the supernet games only, without the synthetic ones."""
    folder = tmp_path / "games"
    folder.mkdir()
    (folder / "a.npz").write_bytes(b"")
    asked = []

    class Loaded:
        edge = np.arange(5)
        node = np.array([2, 2, 3, 3, 3])
        players = np.array([f"e{i}" for i in range(5)])
        metadata = "{}"

        def table_game(self, metric):
            rng = np.random.default_rng(0 if metric == "accuracy" else 1)
            game = G.table_game(rng.normal(size=32), name=f"supernet_fake_{metric}")
            return game._replace(shapley_values=None)

        def taylor(self, control_metric):
            asked.append(control_metric)
            return 0.0, np.zeros(5), np.zeros((5, 5))

    from shapley_nas_jax import exact_games as supernet_games

    monkeypatch.setattr(supernet_games, "load_game", lambda path: Loaded())
    specs = comparison.select_games("supernet", False, folder, "neg_ce", quick=False)
    rows, skipped = comparison.run(specs, 2, lambda n: [24], ["permutation_uniform", "permutation_taylor_cv"],
                                   ["KernelSHAP"])
    assert asked == ["neg_ce", "neg_ce"]
    assert {r["game"] for r in rows} == {"supernet_fake_accuracy", "supernet_fake_neg_ce"}
    assert all(r["grouping"] == "node" and r["top_k"] == 2 for r in rows)
    ours = {r["estimator"] for r in rows if r["library"] == "shapley_nas_jax"}
    assert ours == {"permutation_uniform", "permutation_taylor_cv"}
    printed = []
    comparison.print_table(rows, skipped, out=printed.append)
    assert any("vs permutation_uniform" in line for line in printed)


def test_truncation_bias_measures_each_setting_against_exact_values():
    table = np.asarray(G.random_table_game(6, seed=2).shared["table"], np.float64)
    table = table - table.min() + 0.1  # positive values: truncation relative to v(full) means what it says
    game = G.table_game(table, "positive")
    game = game._replace(shapley_values=shapley_from_coalition_values(table))
    rows = {r["setting"]: r for r in comparison.truncation_bias(game, np.array([0, 0, 0, 1, 1, 1]), permutations=400,
                                                                 eta=0.9)}
    assert set(rows) == {"unbiased", "truncated", "mean_minus_std", "search_default"}
    assert rows["unbiased"]["evaluations_per_chain"] == 7.0  # every chain runs to the empty coalition
    assert rows["truncated"]["evaluations_per_chain"] < 7.0
    assert rows["unbiased"]["bias_rms"] < 4 * rows["unbiased"]["sampling_se"] + 1e-9
    # mean minus std moves every value by the spread of its marginals: far more than the sampling error
    assert rows["mean_minus_std"]["bias_rms"] > 10 * rows["mean_minus_std"]["sampling_se"]
