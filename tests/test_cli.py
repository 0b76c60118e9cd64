"""Command-line errors are one line on stderr with exit status 2 (no traceback, nothing run)."""

import pytest

from shapley_nas_jax.cli import main


@pytest.mark.parametrize("argv,message", [
    (["search", "--config.shapley.sampels=3"], "unknown config key 'sampels' Did you mean \"samples\""),
    (["search", "--config.shapley.samples=abc"], "invalid literal for int()"),
    (["search", "--config.shapley.truncation=1.5"], "shapley.truncation=1.5 must lie in (0, 1]"),
    (["search", "--config.space=dartz"], "space='dartz' is not valid"),
    (["search", "--config=/no/such/config.py"], "config file /no/such/config.py not found"),
    (["train", "--config=/no/such/config.py"], "config file /no/such/config.py not found"),
    (["search", "--config.data.name=folder:/no/such/folder"], "image folder /no/such/folder does not exist"),
    (["query", "--best"], "query needs --benchmark FILE"),
    (["plot"], "plot needs exactly one run directory"),
    (["bogus"], "unknown command 'bogus'"),
])
def test_bad_input_gets_one_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["shapley-nas", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("shapley-nas: error: ") and "\n" not in err
    assert message in err
