"""Every script in examples/ runs with small settings, prints what its docstring promises, and returns values
that are checked here against independent computations (Shapley values from their definition, genotypes
derived again from the op strengths)."""

import importlib.util
import json
import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from shapley_nas_jax.registry import registrations_undone

pytestmark = pytest.mark.slow  # the examples run in a subprocess (and search: they compile supernets)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")
# One Shapley update; lax arithmetic (its steps compile faster at 8x8 than the CPU default's shifted custom VJPs,
# which test_formulations.py checks; 131 -> 115 s for the six searches on a 2-core AVX2 EPYC).
SEARCH_ARGS = ["--epochs", "2", "--warmup", "1", "--formulation", "lax", "--fast-compile"]
GENOTYPE = re.compile(r"^genotype: (Genotype\(normal=.*\))$", re.M)


# Runs every example's main(argv) as its script would (examples/ first on sys.path), one after the other in one
# process so they share one Python and JAX start-up, and writes what each printed and returned (or its traceback).
RUN_MAINS = """
import contextlib, io, json, sys, traceback
out, runs = sys.argv[1], json.loads(sys.argv[2])
sys.path.insert(0, {examples!r})
outcomes = {{}}
for name, argv in runs.items():
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            result = __import__(name).main(argv)
        outcomes[name] = {{"stdout": printed.getvalue(), "result": result}}
    except Exception:
        outcomes[name] = {{"stdout": printed.getvalue(), "error": traceback.format_exc()}}
with open(out, "w") as f:
    json.dump(outcomes, f)
"""
# The command line of each example, in the order they run. The last two have no --fast-compile option; they run
# after the search examples, whose --fast-compile (a process-wide JAX setting) then holds for them too.
EXAMPLE_ARGS = {
    "toy_space": SEARCH_ARGS,
    "latency_value": SEARCH_ARGS,
    "custom_alpha_rule": SEARCH_ARGS,
    "custom_estimator": SEARCH_ARGS,
    "custom_method": SEARCH_ARGS,
    "step_by_step": SEARCH_ARGS,
    "voting_game": ["--permutations", "200"],
    "data_valuation": ["--permutations", "60"],
}


@pytest.fixture(scope="module")
def example_outcomes(tmp_path_factory) -> dict:
    """What every example printed and returned (or its traceback), from one fresh process."""
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = tmp_path_factory.mktemp("examples") / "outcomes.json"
    command = [sys.executable, "-c", RUN_MAINS.format(examples=EXAMPLES), str(out), json.dumps(EXAMPLE_ARGS)]
    proc = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env, timeout=1200)
    assert proc.returncode == 0, f"running the examples failed:\n{proc.stdout}\n{proc.stderr[-4000:]}"
    return json.loads(out.read_text())


def run_example(outcomes: dict, name: str) -> tuple[str, dict]:
    """The stdout of ``examples/<name>.py`` run with EXAMPLE_ARGS[name] and what its main returned."""
    outcome = outcomes[name]
    assert "error" not in outcome, f"{name} failed:\n{outcome['stdout']}\n{outcome.get('error')}"
    return outcome["stdout"], outcome["result"]


def load_example(name: str):
    """The module ``examples/<name>.py`` (for its data helpers and constants). What it registers on import (an
    estimator, an op) is undone, so later tests in this process never see it."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", os.path.join(EXAMPLES, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    with registrations_undone():
        spec.loader.exec_module(module)
    return module


def shapley_from_values(values: np.ndarray, n: int) -> np.ndarray:
    """Shapley values from their definition: ``values[m]`` is the value of the coalition whose members are the
    set bits of ``m``; phi_i = sum over coalitions S without i of |S|! (n-|S|-1)! / n! (v(S + i) - v(S))."""
    masks = np.arange(2**n)
    sizes = np.array([bin(m).count("1") for m in masks])
    weight = np.array([math.factorial(s) * math.factorial(n - s - 1) / math.factorial(n) for s in range(n)])
    phi = np.zeros(n)
    for i in range(n):
        without = masks[(masks >> i) & 1 == 0]
        phi[i] = np.sum(weight[sizes[without]] * (values[without | (1 << i)] - values[without]))
    return phi


def derive_darts_cells(strengths, ops) -> dict:
    """The DARTS genotype of op strengths ``[2, 14, ops]`` (no op excluded), derived here: per intermediate node
    the two incoming edges whose strongest op weighs most (strongest first), each with its strongest op."""
    strengths = np.asarray(strengths)
    genotype = {"type": "darts"}
    for c, cell in enumerate(("normal", "reduce")):
        pairs, edge = [], 0
        for node in range(4):
            inputs = list(range(node + 2))  # c_{k-2}, c_{k-1} and the earlier intermediate nodes
            edges = list(range(edge, edge + len(inputs)))
            edge += len(inputs)
            top2 = sorted(range(len(edges)), key=lambda k: -strengths[c, edges[k]].max())[:2]
            pairs += [[ops[int(np.argmax(strengths[c, edges[k]]))], inputs[k]] for k in top2]
        genotype[cell], genotype[f"{cell}_concat"] = pairs, [2, 3, 4, 5]
    return genotype


def assert_valid_darts_genotype(genotype: dict, ops, strengths) -> None:
    """``genotype`` is a valid DARTS cell pair of the space's ``ops`` and the one its op strengths give."""
    assert genotype["type"] == "darts"
    for cell in ("normal", "reduce"):
        pairs = genotype[cell]
        assert len(pairs) == 8 and genotype[f"{cell}_concat"] == [2, 3, 4, 5]
        assert {op for op, _ in pairs} <= set(ops)
        for i, (_, source) in enumerate(pairs):
            assert 0 <= source < i // 2 + 2  # node i // 2 reads c_{k-2}, c_{k-1} or an earlier node
        for node in range(4):
            assert pairs[2 * node][1] != pairs[2 * node + 1][1]  # two different inputs per node
    strengths = np.asarray(strengths)
    assert strengths.shape == (2, 14, len(ops))
    # derived from softmax(alpha): positive weights summing to 1 on every edge
    assert np.all(strengths > 0) and np.allclose(strengths.sum(-1), 1.0, atol=1e-5)
    assert genotype == derive_darts_cells(strengths, ops)


def number(pattern: str, text: str) -> float:
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not in output:\n{text}"
    return float(match.group(1))


def genotype_ops(text: str) -> set[str]:
    match = GENOTYPE.search(text)
    assert match, f"no genotype line in output:\n{text}"
    return set(re.findall(r"\('(\w+)', \d\)", match.group(1)))


def test_every_example_is_tested():
    scripts = {f[:-3] for f in os.listdir(EXAMPLES) if f.endswith(".py") and not f.startswith("_")}
    tested = {name[len("test_"):] for name in globals() if name.startswith("test_")}
    assert scripts <= tested, f"untested examples: {sorted(scripts - tested)}"
    assert scripts <= set(EXAMPLE_ARGS), f"examples never run: {sorted(scripts - set(EXAMPLE_ARGS))}"


def test_search_examples_share_one_command_line_that_sets_the_arithmetic():
    """examples/_search_args.py: --epochs, --warmup and --formulation reach the config (the tests above pass
    --formulation lax); by default the config keeps "auto"."""
    from shapley_nas_jax.config import small_cpu_config

    module = load_example("_search_args")
    parser = module.search_parser("A search.\n")
    config = module.with_search_args(small_cpu_config("s2"), parser.parse_args(["--epochs", "5", "--formulation", "lax"]))
    assert (config.train.epochs, config.search.warmup_epochs) == (5, 1)
    assert config.model.formulation == config.shapley.formulation == "lax"
    config = module.with_search_args(small_cpu_config("s2"), parser.parse_args([]))
    assert config.model.formulation == config.shapley.formulation == "auto"
    with pytest.raises(SystemExit):
        parser.parse_args(["--formulation", "fast"])


def test_voting_game(example_outcomes):
    out, result = run_example(example_outcomes, "voting_game")
    assert number(r"max \|exact - closed form\| = (\S+)", out) < 1e-6
    assert number(r"sum of exact values = (\S+)", out) == pytest.approx(1.0, abs=1e-5)
    for sampling in ("uniform", "antithetic", "stratified"):
        assert number(rf"max \|{sampling} - closed form\| = (\S+)", out) < 0.12

    # the Shapley-Shubik index from its definition, over all 2^8 coalitions
    example = load_example("voting_game")
    weights, n = np.asarray(example.WEIGHTS), len(example.WEIGHTS)
    members = (np.arange(2**n)[:, None] >> np.arange(n)) & 1
    truth = shapley_from_values((members @ weights >= example.QUOTA).astype(float), n)
    assert truth.sum() == pytest.approx(1.0) and truth[0] > truth[1] > truth[-1] > 0
    np.testing.assert_allclose(result["closed_form"], truth, atol=1e-9)
    np.testing.assert_allclose(result["exact"], truth, atol=1e-6)
    assert set(result["estimates"]) == {"uniform", "antithetic", "stratified"}
    for sampling, estimate in result["estimates"].items():
        estimate = np.asarray(estimate)
        assert np.abs(estimate - truth).max() < 0.12, sampling
        assert np.all(estimate >= 0), sampling  # a monotone game: no marginal contribution is negative
        assert estimate.sum() == pytest.approx(1.0, abs=1e-5), sampling  # every permutation shares out v(all)


def test_data_valuation(example_outcomes):
    out, result = run_example(example_outcomes, "data_valuation")
    assert "lowest-valued points: [3, 10]" in out  # the two mislabelled points
    assert number(r"max \|permutation - exact\| = (\S+)", out) < 0.06

    # every coalition's 1-NN test accuracy computed here (the empty one guesses: 0.5), then Shapley values
    example = load_example("data_valuation")
    x_train, y_train, x_test, y_test = example.make_data(0)
    assert result["labels"] == y_train.tolist()
    n = len(y_train)
    dist = ((x_test[:, None, :] - x_train[None, :, :]) ** 2).sum(-1)  # [test, train] float32, as the example
    accuracy = np.empty(2**n)
    for start in range(0, 2**n, 2048):
        present = ((np.arange(start, start + 2048)[:, None] >> np.arange(n)) & 1).astype(bool)  # [chunk, n]
        nearest = np.argmin(np.where(present[:, None, :], dist[None], np.inf), axis=-1)  # [chunk, test]
        accuracy[start:start + 2048] = (y_train[nearest] == y_test[None]).mean(-1)
    accuracy[0] = 0.5
    truth = shapley_from_values(accuracy, n)
    np.testing.assert_allclose(result["exact"], truth, atol=1e-5)
    assert result["accuracy_all"] == pytest.approx(accuracy[-1])
    assert truth.sum() == pytest.approx(accuracy[-1] - 0.5)
    assert np.abs(np.asarray(result["permutation"]) - truth).max() < 0.06
    flipped = list(example.FLIPPED)
    assert result["lowest"] == flipped and np.all(truth[flipped] < 0)
    assert np.all(np.delete(truth, flipped) > truth[flipped].max())


def test_toy_space(example_outcomes):
    out, result = run_example(example_outcomes, "toy_space")
    assert "space toy2: topology darts, alpha shape (2, 14, 2)" in out
    assert "alpha updates: 1" in out
    assert genotype_ops(out) <= {"skip_connect", "pw_conv_1x1"}

    assert result["alpha_shape"] == [2, 14, 2] and result["alpha_updates"] == 1
    assert_valid_darts_genotype(result["genotype"], ("skip_connect", "pw_conv_1x1"), result["op_strengths"])
    used = {op for cell in ("normal", "reduce") for op, _ in result["genotype"][cell]}
    assert result["ops_used"] == sorted(used) and set(result["ops_used"]) == genotype_ops(out)


def test_latency_value(example_outcomes):
    out, result = run_example(example_outcomes, "latency_value")
    budget = number(r"budget: (\S+) ms", out)
    assert budget == pytest.approx(0.3 * number(r"full supernet: (\S+) ms", out), abs=0.06)
    assert "alpha updates: 1" in out
    assert genotype_ops(out) <= {"skip_connect", "nor_conv_1x1"}
    assert 1.6 <= number(r"latency of the found cells: (\S+) ms", out) <= 16.0
    for op in ("skip_connect", "nor_conv_1x1"):
        number(rf"mean Shapley value of {op}: (\S+)", out)

    ops = ("skip_connect", "nor_conv_1x1")
    latency = {"skip_connect": 0.1, "nor_conv_1x1": 1.0}
    assert result["op_latency_ms"] == pytest.approx(latency)  # the metric's parameters, from the config
    assert result["full_latency_ms"] == pytest.approx(2 * 14 * (0.1 + 1.0))  # every op of both cell types
    assert result["budget_ms"] == pytest.approx(0.3 * result["full_latency_ms"])
    assert result["alpha_updates"] == 1
    assert_valid_darts_genotype(result["genotype"], ops, result["op_strengths"])
    cell_latency = sum(latency[op] for cell in ("normal", "reduce") for op, _ in result["genotype"][cell])
    assert result["cell_latency_ms"] == pytest.approx(cell_latency)
    assert number(r"latency of the found cells: (\S+) ms", out) == pytest.approx(cell_latency, abs=0.05)
    phi = np.asarray(result["shapley"])
    assert phi.shape == (2, 14, 2) and np.all(np.isfinite(phi)) and np.abs(phi).max() <= 1.0  # a score in [0, 1]
    assert np.any(phi != 0)
    for o, op in enumerate(ops):  # the ops sit in this order on every edge
        assert result["mean_shapley"][op] == pytest.approx(phi[..., o].mean())
        assert number(rf"mean Shapley value of {op}: (\S+)", out) == pytest.approx(phi[..., o].mean(), abs=6e-6)


def test_custom_alpha_rule(example_outcomes):
    out, result = run_example(example_outcomes, "custom_alpha_rule")
    assert "first update equals step_size * z / (|z| + eps) of the z-scored phi: True" in out
    assert "alpha rule: shapley_adam {'b2': 0.99, 'eps': 0.1}, alpha updates: 1" in out
    assert genotype_ops(out) <= {"skip_connect", "nor_conv_1x1"}

    assert result["rule_check"] is True and result["alpha_rule"] == "shapley_adam" and result["alpha_updates"] == 1
    assert result["kwargs"] == {"b2": 0.99, "eps": 0.1}  # alpha_rule.kwargs
    before, after = (np.asarray(a) for a in result["alphas"])  # alpha before the search and after its update
    # Adam's first step is g / (|g| + eps): the update moved alpha by step_size * z / (|z| + eps), z = phi
    # z-scored per cell type, with the eps of alpha_rule.kwargs (not Adam's default, 1e-8: nearly sign(z))
    phi = np.asarray(result["shapley"])
    assert phi.shape == (2, 14, 2) and np.any(phi != 0)
    z = (phi - phi.mean(axis=(1, 2), keepdims=True)) / phi.std(axis=(1, 2), ddof=1, keepdims=True)
    np.testing.assert_allclose(after - before, result["step_size"] * z / (np.abs(z) + 0.1), atol=1e-4)
    assert np.abs(after - before - result["step_size"] * np.sign(z)).max() > 1e-3
    derived = derive_darts_cells(np.exp(after) / np.exp(after).sum(-1, keepdims=True), ("skip_connect", "nor_conv_1x1"))
    assert result["genotype"] == derived


def test_custom_method(example_outcomes):
    out, result = run_example(example_outcomes, "custom_method")
    assert "method: shapley_latest, alpha updates: 1" in out
    assert "alpha equals 10 x the last Shapley estimate: True" in out
    phi, alpha = np.asarray(result["shapley"]), np.asarray(result["alpha"])
    assert phi.shape == (2, 14, 2) and np.any(phi != 0)
    np.testing.assert_allclose(alpha, 10.0 * phi, atol=1e-6)  # the method's update, not the alpha rule's
    assert result["genotype"] == derive_darts_cells(np.exp(alpha) / np.exp(alpha).sum(-1, keepdims=True),
                                                    ("skip_connect", "nor_conv_1x1"))


def test_custom_estimator(example_outcomes):
    out, result = run_example(example_outcomes, "custom_estimator")
    assert number(r"max \|marginal_sampling - exact\| = (\S+)", out) < 0.08
    assert "value batches per update: 1" in out and "alpha updates: 1" in out
    assert genotype_ops(out) <= {"skip_connect", "nor_conv_1x1"}

    # the voting game's Shapley values from their definition, over all 2^8 coalitions
    example = load_example("custom_estimator")
    weights, n = np.asarray(example.WEIGHTS), len(example.WEIGHTS)
    members = (np.arange(2**n)[:, None] >> np.arange(n)) & 1
    truth = shapley_from_values((members @ weights >= example.QUOTA).astype(float), n)
    np.testing.assert_allclose(result["exact"], truth, atol=1e-6)
    estimate, se = np.asarray(result["estimate"]), np.asarray(result["standard_errors"])
    assert result["evaluations"] == 2 * n * (4000 // (2 * n)) <= 4000
    assert np.all(se > 0) and np.all(np.abs(estimate - truth) < 5 * se + 1e-3)  # unbiased, its errors honest
    assert result["value_batches"] == 1 and result["alpha_updates"] == 1
    phi = np.asarray(result["shapley"])
    assert phi.shape == (2, 14, 2) and np.all(np.isfinite(phi)) and np.any(phi != 0)
    assert_valid_darts_genotype(result["genotype"], ("skip_connect", "nor_conv_1x1"), result["op_strengths"])


def test_step_by_step(example_outcomes):
    out, result = run_example(example_outcomes, "step_by_step")
    assert re.search(r"^update 0 before step \d+: \d+ coalitions scored", out, re.M)
    assert len(re.findall(r"^epoch \d: train loss", out, re.M)) == 2
    assert "hand-driven loop == Search.run(): True" in out

    # both loops end on the same alpha, bit for bit
    assert result["same"] is True
    np.testing.assert_array_equal(np.asarray(result["hand_alpha"]), np.asarray(result["run_alpha"]))
    # one Shapley update, after the warm-up epoch, before the step the schedule names
    (update,) = result["updates"]
    assert result["update_points"] == [update["before_step"]] == [result["steps_per_epoch"]]
    assert update["num_evaluations"] > 0 and 0.0 <= update["value_full"] <= 1.0
    assert np.abs(np.asarray(update["shapley"])).max() > 0
    assert len(result["epochs"]) == 2
    for epoch in result["epochs"]:
        assert 0.0 < epoch["loss"] < 10.0 and 0.0 <= epoch["accuracy"] <= 1.0
        assert epoch["skip_connects"] == sum(op == "skip_connect" for cell in ("normal", "reduce")
                                             for op, _ in epoch["genotype"][cell])
    alpha = np.asarray(result["hand_alpha"])
    weights = np.exp(alpha) / np.exp(alpha).sum(-1, keepdims=True)
    assert_valid_darts_genotype(result["genotype"], ("skip_connect", "nor_conv_1x1"), weights)
