"""Every script in examples/ runs with small settings and prints what its docstring promises."""

import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")
SEARCH_ARGS = ["--epochs", "2", "--warmup", "1", "--fast-compile"]  # one Shapley update
GENOTYPE = re.compile(r"^genotype: (Genotype\(normal=.*\))$", re.M)


def run_example(name: str, *args: str) -> str:
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, os.path.join(EXAMPLES, f"{name}.py"), *args], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=600)
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout}\n{proc.stderr[-4000:]}"
    return proc.stdout


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


def test_voting_game():
    out = run_example("voting_game", "--permutations", "200")
    assert number(r"max \|exact - closed form\| = (\S+)", out) < 1e-6
    assert number(r"sum of exact values = (\S+)", out) == pytest.approx(1.0, abs=1e-5)
    for sampling in ("uniform", "antithetic", "stratified"):
        assert number(rf"max \|{sampling} - closed form\| = (\S+)", out) < 0.12


def test_data_valuation():
    out = run_example("data_valuation", "--permutations", "60")
    assert "lowest-valued points: [3, 10]" in out  # the two mislabelled points
    assert number(r"max \|permutation - exact\| = (\S+)", out) < 0.06


def test_toy_space():
    out = run_example("toy_space", *SEARCH_ARGS)
    assert "space toy2: topology darts, alpha shape (2, 14, 2)" in out
    assert "alpha updates: 1" in out
    assert genotype_ops(out) <= {"skip_connect", "pw_conv_1x1"}


def test_latency_value():
    out = run_example("latency_value", *SEARCH_ARGS)
    budget = number(r"budget: (\S+) ms", out)
    assert budget == pytest.approx(0.3 * number(r"full supernet: (\S+) ms", out), abs=0.06)
    assert "alpha updates: 1" in out
    assert genotype_ops(out) <= {"skip_connect", "nor_conv_1x1"}
    assert 1.6 <= number(r"latency of the found cells: (\S+) ms", out) <= 16.0
    for op in ("skip_connect", "nor_conv_1x1"):
        number(rf"mean Shapley value of {op}: (\S+)", out)


def test_custom_alpha_rule():
    out = run_example("custom_alpha_rule", *SEARCH_ARGS)
    assert "first update equals step_size * sign(z-scored phi): True" in out
    assert "alpha rule: shapley_adam, alpha updates: 1" in out
    assert genotype_ops(out) <= {"skip_connect", "nor_conv_1x1"}


def test_step_by_step():
    out = run_example("step_by_step", *SEARCH_ARGS)
    assert re.search(r"^update 0 before step \d+: \d+ coalitions scored", out, re.M)
    assert len(re.findall(r"^epoch \d: train loss", out, re.M)) == 2
    assert "hand-driven loop == Search.run(): True" in out
