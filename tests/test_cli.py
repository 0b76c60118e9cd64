"""Command-line errors are one line on stderr with exit status 2 (no traceback, nothing run); `--help` lists
a command's flags; anything that is not a `UserError` is a bug and keeps its traceback."""

import subprocess
import sys

import pytest

from shapley_nas_jax.cli import COMMANDS, info, main, plot, query, search, train
from shapley_nas_jax.cli.common import split_overrides
from shapley_nas_jax.errors import UsageError, UserError


@pytest.mark.parametrize("argv,message", [
    (["search", "--config.shapley.sampels=3"], "unknown config key 'shapley.sampels'; did you mean 'shapley.samples'"),
    (["search", "--config.shapley.samples"], "--config.shapley.samples needs a value"),
    (["search", "--config.alpha.rule=nope"], "unknown config key 'alpha'"),
    (["search", "--config.shapley.samples=abc"], "invalid literal for int()"),
    (["search", "--config.shapley.truncation=1.5"], "shapley.truncation=1.5 must lie in (0, 1]"),
    (["search", "--config.space=dartz"], "space='dartz' is not valid"),
    (["search", "--config=/no/such/config.py"], "config file /no/such/config.py not found"),
    (["search", "--config=/no/such/config.py:s2"], "config file /no/such/config.py not found"),
    (["search", "--config=configs/s2_svhn.py"], "use --config configs/robust_darts.py:s2,svhn"),
    (["search", "--no_such_flag"], "Unknown command line flag 'no_such_flag'"),
    (["train", "--config=/no/such/config.py"], "config file /no/such/config.py not found"),
    (["search", "--config.data.name=folder:/no/such/folder"], "image folder /no/such/folder does not exist"),
    (["query", "--best"], "query needs --benchmark FILE"),
    (["query", "--best", "--benchmark=/no/such/table.csv"], "NB201 benchmark not found: /no/such/table.csv"),
    (["info", "--genotype", "darts_v9"], "unknown genotype name 'darts_v9'"),
    (["info", "--genotype", "darts_v2", "extra"], "info takes no positional arguments"),
    (["plot"], "plot needs exactly one run directory"),
    (["plot", "/no/such/run"], "run directory not found: /no/such/run"),
    (["bogus"], "unknown command 'bogus'"),
])
def test_bad_input_gets_one_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["shapley-nas", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("shapley-nas: error: ") and "\n" not in err
    assert message in err


def test_debug_shows_the_traceback(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match="plot needs exactly one run directory"):
        main(["shapley-nas", "plot", "--debug"])


@pytest.mark.parametrize("command,flags", [
    ("search", ["--config:", "--workdir:", "--[no]progress:", "--config.<key>=VALUE"]),
    ("train", ["--config:", "--genotype:", "--workdir:"]),
    ("info", ["--genotype:", "--dataset: <cifar10|cifar100|imagenet>", "--[no]json:", "--channels:", "--layers:"]),
    ("query", ["--arch:", "--benchmark:", "--[no]best:", "--[no]json:"]),
    ("plot", ["--[no]debug:"]),
])
@pytest.mark.parametrize("help_flag", ["--help", "-h"])
def test_help_lists_a_commands_flags(command, flags, help_flag, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["shapley-nas", command, help_flag]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"usage: shapley-nas {command}") and err == ""
    for flag in flags:
        assert f"\n  {flag}" in out, flag
    assert list(tmp_path.iterdir()) == []  # nothing ran


def test_every_command_is_its_modules_entry_point():
    assert COMMANDS == {"search": search.search_command, "query": query.query_command, "train": train.train_command,
                        "info": info.info_command, "plot": plot.plot_command}


def test_config_overrides_are_split_off_by_their_flag():
    argv = ["run", "--config", "c.py", "--config.seed=1", "--train-config.train.epochs=2", "--config.data.name=a=b"]
    assert split_overrides(argv) == (["seed=1", "data.name=a=b"], ["run", "--config", "c.py",
                                                                   "--train-config.train.epochs=2"])
    assert split_overrides(argv, "train-config") == (["train.epochs=2"], [a for a in argv if "train-config" not in a])
    with pytest.raises(UsageError, match="--config.seed needs a value: write --config.seed=VALUE"):
        split_overrides(["--config.seed", "1"])


def test_top_level_usage_names_every_command(capsys):
    assert main(["shapley-nas", "--help"]) == 0
    out = capsys.readouterr().out
    assert all(f"\n  {name} " in out for name in COMMANDS) and "<command> --help" in out
    assert main(["shapley-nas"]) == 2


@pytest.mark.parametrize("bug", [KeyError("params"), ValueError("shapes differ"), AttributeError("no attribute"),
                                 OSError("disk"), RuntimeError("XLA")])
def test_a_bug_is_not_swallowed_into_exit_2(bug, tmp_path, monkeypatch, capsys):
    """Only UserError is a one-line exit 2; any other exception inside a command propagates with its traceback."""
    from shapley_nas_jax.analysis import plots

    def broken(workdir):
        raise bug

    monkeypatch.setattr(plots, "plot_run", broken)
    with pytest.raises(type(bug)) as info:
        main(["shapley-nas", "plot", str(tmp_path)])
    assert info.value is bug and not isinstance(bug, UserError)
    assert capsys.readouterr().err == ""


def test_interrupt_exits_130(tmp_path, monkeypatch, capsys):
    from shapley_nas_jax.analysis import plots

    def interrupted(workdir):
        raise KeyboardInterrupt

    monkeypatch.setattr(plots, "plot_run", interrupted)
    assert main(["shapley-nas", "plot", str(tmp_path)]) == 130
    assert "rerun the same command to resume" in capsys.readouterr().err


@pytest.mark.slow
def test_python_dash_m_runs_the_command():
    done = subprocess.run([sys.executable, "-m", "shapley_nas_jax.cli", "query", "--help"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: shapley-nas query") and "--benchmark:" in done.stdout


def test_a_bug_in_a_config_file_keeps_its_traceback(tmp_path):
    config = tmp_path / "broken.py"
    config.write_text("def get_config():\n    return {}['learning_rate']\n")
    with pytest.raises(KeyError, match="learning_rate"):
        main(["shapley-nas", "search", f"--config={config}", "--config.seed=1"])


def test_a_config_argument_reaches_the_file_and_names_the_default_workdir(monkeypatch):
    import os

    import shapley_nas_jax.search

    seen = {}

    def fake_run_search(config, workdir, progress):
        seen.update(config=config, workdir=workdir)
        raise UsageError("stopped before searching")

    monkeypatch.setattr(shapley_nas_jax.search, "run_search", fake_run_search)
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    monkeypatch.chdir(repo)
    assert main(["shapley-nas", "search", "--config=configs/robust_darts.py:s3,cifar100"]) == 2
    assert seen["config"].space == "s3" and seen["config"].data.name == "cifar100"
    assert seen["workdir"] == os.path.join("runs", f"robust_darts-s3-cifar100-seed{seen['config'].seed}")
