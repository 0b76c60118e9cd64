"""The experiment files of configs/: each loads (by path, as --config loads it, and as a module of the installed
package), validates and shows its own command line in its docstring; removed files name their replacement."""

import ast
import importlib
import pathlib
import re
import sys

import pytest
from shapley_nas_jax import config as config_lib
from shapley_nas_jax.cli.common import load_config
from shapley_nas_jax.errors import UserError
from shapley_nas_jax.evaluation.config import validate_train_config

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONFIGS = sorted(p.stem for p in (ROOT / "configs").glob("*.py") if p.stem != "__init__")
SEARCH_CONFIGS = [name for name in CONFIGS if not name.startswith("train_")]
ROBUST_DARTS = [f"{space},{dataset}" for space in ("s1", "s2", "s3", "s4") for dataset in ("cifar10", "cifar100", "svhn")]
NB201 = ("nb201_cifar10", "nb201_cifar100", "nb201_imagenet16")
ARGUMENTS = {"robust_darts": ROBUST_DARTS,
             "nb201_cifar10_cpu": [None, "/data/cifar10-images", "reference", "/data/cifar10-images,reference"],
             **{name: [None, "reference"] for name in NB201}}
EXPERIMENTS = [(name, arg) for name in CONFIGS for arg in ARGUMENTS.get(name, [None])]


def _path(name: str) -> str:
    return str(ROOT / "configs" / f"{name}.py")


def _docstring(name: str) -> str:
    return ast.get_docstring(ast.parse(pathlib.Path(_path(name)).read_text())) or ""


@pytest.fixture
def configs_package(monkeypatch):
    """shapley_nas_jax.configs from this tree's configs/, as an install maps it (pyproject's package-dir)."""
    spec = importlib.util.spec_from_file_location("shapley_nas_jax.configs", _path("__init__"),
                                                  submodule_search_locations=[str(ROOT / "configs")])
    package = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(package)
    for name in [m for m in sys.modules if m.startswith("shapley_nas_jax.configs.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "shapley_nas_jax.configs", package)
    yield package
    for name in [m for m in sys.modules if m.startswith("shapley_nas_jax.configs.")]:
        del sys.modules[name]


@pytest.mark.parametrize("name,arg", EXPERIMENTS, ids=[f"{n}:{a}" if a else n for n, a in EXPERIMENTS])
def test_every_config_file_loads_by_path_and_validates(name, arg, monkeypatch):
    config = config_lib.load_config_file(_path(name), arg)
    if name.startswith("train_"):
        validate_train_config(config)
    else:
        config_lib.validate(config)
    # as the CLI loads it from the repository root (a config building on another finds it beside itself)
    monkeypatch.chdir(ROOT)
    assert load_config(f"configs/{name}.py" + (f":{arg}" if arg else "")).to_dict() == config.to_dict()


def test_every_experiment_config_loads_as_a_module_of_the_installed_package_and_validates(configs_package):
    experiments = [(name, arg) for name, arg in EXPERIMENTS if name in SEARCH_CONFIGS]
    assert len(experiments) >= 19
    for name, arg in experiments:
        module = importlib.import_module(f"shapley_nas_jax.configs.{name}")
        config = module.get_config() if arg is None else module.get_config(arg)
        config_lib.validate(config)
        assert config.to_dict() == config_lib.load_config_file(_path(name), arg).to_dict()
        assert module.__doc__.count("shapley-nas search") >= 1


@pytest.mark.parametrize("name", CONFIGS)
def test_every_config_docstring_shows_a_command_line_that_names_the_file(name):
    command = "train" if name.startswith("train_") else "search"
    assert re.search(rf"^\s*shapley-nas {command} .*--config configs/{name}\.py[:\s]", _docstring(name), re.MULTILINE), (
        f"configs/{name}.py: its docstring has no `shapley-nas {command} ... --config configs/{name}.py` line")


def test_robust_darts_takes_space_and_dataset_and_refuses_anything_else_in_one_line():
    configs = {arg: config_lib.load_config_file(_path("robust_darts"), arg) for arg in ROBUST_DARTS}
    assert {(c.space, c.data.name) for c in configs.values()} == {
        (s, d) for s in ("s1", "s2", "s3", "s4") for d in ("cifar10", "cifar100", "svhn_cropped")}
    assert [arg for arg, c in configs.items() if not c.data.flip] == ["s1,svhn", "s2,svhn", "s3,svhn", "s4,svhn"]
    usage = re.escape("e.g. configs/robust_darts.py:s2,cifar10")
    for bad in ("s5,cifar10", "s2", "s2,imagenet", "cifar10,s2", "s2,cifar10,x"):
        with pytest.raises(UserError, match=rf"^configs/robust_darts.py:{bad} is not a RobustDARTS experiment: .*{usage}"):
            config_lib.load_config_file(_path("robust_darts"), bad)
    with pytest.raises(UserError, match=rf"needs a space and a dataset: .*{usage}") as error:
        config_lib.load_config_file(_path("robust_darts"))
    assert "\n" not in str(error.value)
    # --config path:arg as the CLI loads it (the UserError comes through as is)
    config = load_config(f"{_path('robust_darts')}:s3,cifar100")
    assert (config.space, config.data.name) == ("s3", "cifar100")
    with pytest.raises(UserError, match=r"^configs/robust_darts.py:s3,mnist is not a RobustDARTS experiment"):
        load_config(f"{_path('robust_darts')}:s3,mnist")


@pytest.mark.parametrize("space", ["s1", "s2", "s3", "s4"])
@pytest.mark.parametrize("dataset,data_name", [("cifar10", "cifar10"), ("cifar100", "cifar100"), ("svhn", "svhn_cropped")])
def test_a_removed_robust_darts_file_names_its_replacement(space, dataset, data_name):
    for given in (f"configs/{space}_{dataset}.py", f"{ROOT}/configs/{space}_{dataset}.py:unused"):
        hint = config_lib.moved_config_hint(given)
        assert "\n" not in hint and hint.startswith(f"config file {given.split(':')[0]} was replaced")
        replacement = hint.rsplit("use --config ", 1)[1]
        assert replacement.startswith(given.split(":")[0].replace(f"{space}_{dataset}.py", "robust_darts.py:"))
    path, arg = config_lib.moved_config_hint(f"{ROOT}/configs/{space}_{dataset}.py").rsplit(" ", 1)[1].split(":")
    config = config_lib.load_config_file(path, arg)
    assert (config.space, config.data.name, config.data.flip) == (space, data_name, dataset != "svhn")


@pytest.mark.parametrize("given", ["configs/demo.py", "configs/robust_darts.py:s2,cifar10", "s5_cifar10.py",
                                   "configs/s2_cifar10_x.py", "configs/nb201_cifar10.py", "my_s2_cifar10.py"])
def test_a_config_that_was_not_removed_has_no_hint(given):
    assert config_lib.moved_config_hint(given) is None


@pytest.mark.parametrize("name", [*NB201, "nb201_cifar10_cpu"])
def test_nb201_configs_run_the_papers_algorithm_unless_asked_for_the_originals(name):
    """The original has no NB201 search: the paper (Sec. 3.4, 4.1) is the default, the original's DARTS-space
    settings are the argument ``reference``."""
    paper = config_lib.load_config_file(_path(name))
    reference = config_lib.load_config_file(_path(name), "reference")
    epochs = paper.train.epochs
    assert (paper.shapley.aggregate, paper.alpha_rule.name) == ("mean", "paper")
    assert paper.search.warmup_epochs == round(15 * epochs / 50)  # 15 of the paper's 50, scaled
    assert (reference.shapley.aggregate, reference.alpha_rule.name) == ("mean_minus_std", "reference")
    # the full search warms up like the original (25 of 50); the CPU config as RESULTS.md's reference rows
    assert reference.search.warmup_epochs == (6 if name == "nb201_cifar10_cpu" else 25)
    assert config_lib.algorithm_of(paper) == "paper" and config_lib.algorithm_of(reference) == "reference"
    # nothing else differs between the two
    differing = {k for k, v in _flat(paper.to_dict()).items() if _flat(reference.to_dict())[k] != v}
    assert differing == {"shapley.aggregate", "alpha_rule.name", "search.warmup_epochs"}
    assert ("paper" in _docstring(name)) and ("reference" in _docstring(name))
    if name == "nb201_cifar10_cpu":
        assert paper.search.warmup_epochs == 5
        with_folder = config_lib.load_config_file(_path(name), "/data/x,reference")
        assert with_folder.data.name == "folder:/data/x" and config_lib.algorithm_of(with_folder) == "reference"
    else:
        with pytest.raises(UserError, match=r"^the config argument naming the algorithm='origin' is not valid; "
                                            r"choose one of paper, reference$"):
            config_lib.load_config_file(_path(name), "origin")


def _flat(tree: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


# README's "Paper and reference code" table: the option of each reference-only behaviour
def _readme_reference_options() -> set[str]:
    section = (ROOT / "README.md").read_text().split("## Paper and reference code", 1)[1].split("\n\n`darts_cifar10")[0]
    options = set()
    for row in section.splitlines()[4:]:
        cells = [c.strip() for c in row.strip("|").split("|")]
        if len(cells) >= 4:
            options |= set(re.findall(r"`([a-z_]+\.[a-z_]+)`", cells[3]))
    return options


PAPER_CIFAR10 = {  # darts_cifar10_paper.py: each README option, the value that turns the reference behaviour off
    "shapley.aggregate": "mean", "alpha_rule.name": "paper", "search.warmup_epochs": 15,
    "shapley.bn_mode": "running", "train.clip_with_alpha_grad": False, "model.pool_bn": True,
    "train.lr_epoch_offset": 0, "data.split_order": "random", "data.drop_remainder": True, "model.init": "flax",
    "shapley.keep_last_op": False, "data.resized_crop": False,
}
# options that stay as the original has them, because the paper says nothing that would change them (the
# config's docstring says so)
PAPER_KEEPS = {"shapley.truncated": "zero", "model.renormalize": False}


def test_the_paper_config_turns_off_every_reference_only_behaviour_the_readme_lists():
    paper = _flat(config_lib.load_config_file(_path("darts_cifar10_paper")).to_dict())
    reference = _flat(config_lib.load_config_file(_path("darts_cifar10_reference")).to_dict())
    listed = _readme_reference_options()
    assert listed >= {"shapley.aggregate", "model.pool_bn", "train.clip_with_alpha_grad"}  # the table was read
    assert listed <= set(PAPER_CIFAR10) | set(PAPER_KEEPS), "a README option the paper config does not account for"
    assert {k: paper[k] for k in PAPER_CIFAR10} == PAPER_CIFAR10
    assert {k: paper[k] for k in PAPER_KEEPS} == PAPER_KEEPS
    assert paper["space"] == "darts" and reference["space"] == "darts_reference"
    for key in PAPER_KEEPS:
        assert f"`{key}" in _docstring("darts_cifar10_paper")


# argparse option of the original search scripts -> this project's config key
ORIGINAL_ARGS = {"batch_size": "train.batch_size", "learning_rate": "train.learning_rate",
                 "learning_rate_min": "train.learning_rate_min", "momentum": "train.momentum",
                 "weight_decay": "train.weight_decay", "epochs": "train.epochs", "init_channels": "model.channels",
                 "layers": "model.layers", "grad_clip": "train.grad_clip", "seed": "seed",
                 "shapley_momentum": "alpha_rule.momentum", "step_size": "alpha_rule.step_size",
                 "samples": "shapley.samples", "threshold": "shapley.truncation"}
IMAGENET = {  # darts_imagenet.py against train_search_imagenet.py / model_search_imagenet.py
    "train.clip_with_alpha_grad": False, "train.lr_epoch_offset": 1, "train.lr_warmup_epochs": 5,
    "data.drop_remainder": False, "data.resized_crop": True, "data.augment_value_batches": True,
    "data.train_fraction": 0.1, "data.value_fraction": 0.025, "data.image_size": 224,
    "model.stem": "imagenet", "model.partial_channels": 4, "model.pool_bn": False, "model.init": "torch",
    "search.warmup_epochs": 25, "shapley.value_batch_size": 1024, "shapley.bn_mode": "reference_imagenet",
    "shapley.keep_last_op": True, "shapley.aggregate": "mean_minus_std", "alpha_rule.name": "reference",
}


def test_the_imagenet_config_sets_the_original_imagenet_searchs_options():
    config = _flat(config_lib.load_config_file(_path("darts_imagenet")).to_dict())
    assert {k: config[k] for k in IMAGENET} == IMAGENET
    assert config["space"] == "darts_reference"


def _argparse_defaults(source: str) -> dict:
    defaults = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_argument":
            name = node.args[0].value.lstrip("-")
            for keyword in node.keywords:
                if keyword.arg == "default":
                    defaults[name] = ast.literal_eval(keyword.value)
    return defaults


@pytest.mark.parametrize("script,config_name", [("train_search.py", "darts_cifar10_reference"),
                                                ("train_search_imagenet.py", "darts_imagenet")])
def test_search_configs_match_the_original_scripts_source(script, config_name):
    """Read from a checkout of the original (SHAPLEY_NAS_ORIGINAL; skipped without one): its argparse
    defaults, its value batch, its warm-up and what its gradient clipping spans."""
    import os

    checkout = os.environ.get("SHAPLEY_NAS_ORIGINAL")
    if not checkout or not os.path.isfile(os.path.join(checkout, script)):
        pytest.skip("set SHAPLEY_NAS_ORIGINAL to a checkout of the original code")
    source = pathlib.Path(checkout, script).read_text()
    config = _flat(config_lib.load_config_file(_path(config_name)).to_dict())
    defaults = _argparse_defaults(source)
    for arg, key in ORIGINAL_ARGS.items():
        assert config[key] == pytest.approx(defaults[arg]), f"{config_name}: {key} against --{arg}"
    assert re.search(r"valid_queue = torch\.utils\.data\.DataLoader\(\s*\w+, batch_size=1024", source)
    assert config["shapley.value_batch_size"] == 1024
    # the weight step's clipping spans alpha only where alpha is an nn.Parameter of the model
    model_file = "model_search_imagenet.py" if "imagenet" in script else "model_search.py"
    alphas_are_parameters = "self.alphas_normal = nn.Parameter(" in pathlib.Path(checkout, model_file).read_text()
    assert config["train.clip_with_alpha_grad"] == alphas_are_parameters
    if "imagenet" in script:
        assert "if epoch >= args.epochs // 2:" in source and config["search.warmup_epochs"] == defaults["epochs"] // 2
        assert "if epoch >= 47:" in source and config["shapley.bn_mode"] == "reference_imagenet"
        assert "lr * (epoch + 1) / 5.0" in source and config["train.lr_warmup_epochs"] == 5
    else:
        assert "pretrain_epochs=25" in source and config["search.warmup_epochs"] == 25
    assert source.index("scheduler.step()") < source.index("train(train_queue") and config["train.lr_epoch_offset"] == 1


def _tfds_dataset_exists(name: str) -> bool:
    """``name`` (``builder`` or ``builder/config``) is a dataset tfds can build."""
    import tensorflow_datasets as tfds

    builder, _, variant = name.partition("/")
    if builder not in tfds.list_builders(with_community_datasets=False):
        return False
    return not variant or variant in [c.name for c in tfds.builder_cls(builder).BUILDER_CONFIGS]


def test_every_config_names_a_dataset_the_loader_accepts_and_tfds_datasets_that_exist():
    from shapley_nas_jax.data.tfds_source import TFDS_SPECS

    for name, arg in EXPERIMENTS:
        data = config_lib.load_config_file(_path(name), arg).data.name
        assert (data == "digits" or data.startswith("folder:") or data in TFDS_SPECS
                or data.startswith("tfds:") and _tfds_dataset_exists(data[len("tfds:"):])), (name, arg, data)
    # every tfds dataset the loader's names stand for, and every one a config's docstring names, exists
    named = {spec.tfds_name for spec in TFDS_SPECS.values()}
    for name in CONFIGS:
        named |= set(re.findall(r"tfds\s+(?:build\s+|`+)([\w/]+)", _docstring(name)))
    assert "imagenet_resized/16x16" in named and "imagenet16_120" not in named
    assert [n for n in sorted(named) if not _tfds_dataset_exists(n)] == []


def test_the_imagenet_training_config_crops_as_the_original_imagenet_training():
    config = config_lib.load_config_file(_path("train_imagenet"))
    assert config.data.resized_crop and config.data.image_size == 224 and config.data.flip
    docstring = _docstring("train_imagenet")
    assert "RandomResizedCrop" in docstring and "no RandomResizedCrop" not in docstring


def test_override_reads_each_value_as_the_type_its_key_holds():
    config = config_lib.base_config()
    config.lock()
    assert config_lib.override(config, ["shapley.samples=3", "data.flip=False", "shapley.truncation=1",
                                        "data.name=folder:/a=b", "seed=7", "seed=8"]) is config
    assert (config.shapley.samples, config.data.flip, config.data.name, config.seed) == (3, False, "folder:/a=b", 8)
    assert isinstance(config.shapley.truncation, float) and config.shapley.truncation == 1.0
    assert config_lib.override(config, {"shapley.samples": 5, "data.flip": True}).shapley.samples == 5
    for assignment, message in (
            ("shapley.sampels=3", "unknown config key 'shapley.sampels'; did you mean 'shapley.samples'"),
            ("alpha.rule=x", "unknown config key 'alpha'; did you mean 'alpha_rule'?"),
            ("seed.x=1", "unknown config key 'seed.x': seed is a value, not a section"),
            ("shapley=1", "shapley is a section of the config"),
            ("shapley.samples=abc", "shapley.samples=abc: invalid literal for int()"),
            ("data.flip=maybe", "data.flip=maybe: 'maybe' is no bool"),
            ("no_value", "config override 'no_value' is not KEY=VALUE")):
        with pytest.raises(config_lib.ConfigError, match=re.escape(message)):
            config_lib.override(config, [assignment])
    with pytest.raises(config_lib.ConfigError, match="shapley.samples=1.5: Could not override"):
        config_lib.override(config, {"shapley.samples": 1.5})


def test_benchmark_scripts_size_and_formulation_options_set_the_config():
    import argparse

    parser = argparse.ArgumentParser()
    config_lib.add_size_options(parser)
    config_lib.add_formulation_option(parser)
    args = parser.parse_args(["--channels", "4", "--batch", "8", "--formulation", "lax"])
    config = config_lib.apply_size_options(config_lib.base_config(), args)
    assert (config.model.channels, config.train.batch_size, config.model.formulation) == (4, 8, "lax")
    default = config_lib.base_config()
    unchanged = config_lib.apply_size_options(config_lib.base_config(), parser.parse_args([]))
    assert unchanged.model.channels == default.model.channels
    assert unchanged.model.formulation == default.model.formulation
    # a script's own --formulation (e.g. bench_shapley's scoring one) is not the model's
    other = argparse.Namespace(**{flag.replace("-", "_"): 0 for flag in config_lib.SIZE_OPTIONS}, formulation="lax")
    assert config_lib.apply_size_options(config_lib.base_config(), other).model.formulation == default.model.formulation


def test_override_adds_parameters_of_an_extension_only_inside_its_kwargs_sections():
    config = config_lib.base_config()
    config.lock()
    config_lib.override(config, ["alpha_rule.kwargs.decay=0.5", "shapley.metric_kwargs.budget_ms=12",
                                 "shapley.metric_kwargs.mode=fast", "alpha_rule.kwargs.decay=0.25"])
    assert config.alpha_rule.kwargs.to_dict() == {"decay": 0.25}  # a Python literal where it reads as one
    assert config.shapley.metric_kwargs.to_dict() == {"budget_ms": 12, "mode": "fast"}  # else the text
    for assignment in ("alpha_rule.kwargs.inner.x=1", "alpha_rule.extra=1", "shapley.new_option=2"):
        with pytest.raises(config_lib.ConfigError, match="unknown config key"):
            config_lib.override(config, [assignment])


def test_complete_fills_what_a_config_lacks_from_the_schema_and_keeps_the_rest():
    from shapley_nas_jax.config import base_config, complete

    stored = {"seed": 7, "train": {"epochs": 3}, "alpha_rule": {"name": "paper", "kwargs": {"decay": 0.5}}}
    filled = complete(stored)
    assert filled.seed == 7 and filled.train.epochs == 3 and filled.alpha_rule.name == "paper"
    assert filled.alpha_rule.kwargs.to_dict() == {"decay": 0.5}  # an extension's option, kept
    defaults = base_config()
    assert filled.train.batch_size == defaults.train.batch_size and filled.mesh.devices == defaults.mesh.devices
    assert filled.search.plot_every_epochs == 0 and filled.train.nesterov is False
    assert set(filled.to_dict()) == set(defaults.to_dict())
    assert complete(defaults).to_dict() == defaults.to_dict()  # a full config comes back unchanged
    assert stored == {"seed": 7, "train": {"epochs": 3}, "alpha_rule": {"name": "paper", "kwargs": {"decay": 0.5}}}
