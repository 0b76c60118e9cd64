"""The search config schema: every option, its default, and validation with one-line errors.

Experiment files in ``configs/`` hold the experiments' values: each starts from :func:`base_config` (or
from another experiment file, loaded with :func:`load_config_file`) and overrides what it changes, so the
set of keys is defined in one place and a mistyped ``--config.x.y=...`` override is refused by
:func:`override` before anything runs.
"""

from __future__ import annotations

import ast
import difflib
import importlib.util
import os
import re
from collections.abc import Mapping

import ml_collections

from shapley_nas_jax.errors import ConfigError

ALPHA_CADENCES = ("epoch", "steps")


def base_config() -> ml_collections.ConfigDict:
    """Defaults: the reference code's CIFAR-10 search (train_search.py), on the embedded digits data."""
    c = ml_collections.ConfigDict()
    c.seed = 2
    c.space = "darts_reference"

    c.data = ml_collections.ConfigDict()
    c.data.name = "digits"  # digits | cifar10 | cifar100 | svhn_cropped | imagenet2012 | imagenet16_120 | folder:<root>
    c.data.data_dir = ""  # tfds data_dir ("" = tfds default)
    c.data.split = "train"
    c.data.image_size = 0  # 0 = native size; otherwise resize (folders, ImageNet, digits)
    c.data.train_fraction = 0.5  # share of the split that trains the weights
    c.data.value_fraction = 0.0  # share that scores coalitions (0 = the rest)
    c.data.split_order = "random"  # random: a seeded permutation | ordered: the first part trains, the next scores
    c.data.crop_padding = 4  # random crop with this padding (0 = off)
    c.data.flip = True  # random horizontal flip
    c.data.cutout = 0  # cutout length (0 = off)
    c.data.resized_crop = False  # RandomResizedCrop (8-100% of the area) instead of the padded crop (ImageNet)
    c.data.augment_value_batches = True  # the reference scores coalitions on augmented images
    c.data.drop_remainder = True  # drop each epoch's last partial weight-step batch (reference: kept)

    c.model = ml_collections.ConfigDict()
    c.model.channels = 16
    c.model.layers = 8  # DARTS cells (reductions at 1/3 and 2/3)
    c.model.cells_per_stage = 5  # NB201 cells per stage
    c.model.partial_channels = 4  # PC-DARTS K (1 = off)
    c.model.edge_normalization = False  # PC-DARTS edge betas
    c.model.pool_bn = False  # BN after pooling ops (DARTS: True, reference: False)
    c.model.renormalize = False  # renormalise mixing weights over the surviving ops of a coalition
    c.model.stem = "cifar"  # cifar | imagenet
    c.model.remat = False  # rematerialise each cell in the backward pass (less activation memory, more compute)
    c.model.scan_edges = True  # training runs like edges by nn.scan (faster compiles); False: one module per edge
    c.model.formulation = "auto"  # op arithmetic of training steps: lax | shifted | auto (per backend, topology, ISA)
    c.model.init = "flax"  # classifier init: flax (Dense default) | torch (nn.Linear's; convs are torch-like either way)

    c.train = ml_collections.ConfigDict()
    c.train.epochs = 50
    c.train.batch_size = 256
    c.train.learning_rate = 0.1
    c.train.learning_rate_min = 0.0
    c.train.momentum = 0.9
    c.train.weight_decay = 3e-4
    c.train.grad_clip = 5.0
    c.train.clip_with_alpha_grad = False  # reference: alpha's never-zeroed gradient sum counts in the clipping
    c.train.lr_warmup_epochs = 0  # linear LR warm-up (the ImageNet search uses 5)
    c.train.lr_epoch_offset = 0  # epoch e trains at the cosine rate of epoch e + offset (reference code: 1)
    c.train.lr_schedule = "cosine"  # cosine (per epoch, to learning_rate_min) | linear (PC-DARTS ImageNet)
    c.train.nesterov = False
    c.train.eval_batches = 2  # value-split batches scored each epoch to report value accuracy

    c.search = ml_collections.ConfigDict()
    c.search.method = "shapley"  # shapley | darts_1st | darts_2nd | rsps (random search, weight sharing) | random
    c.search.warmup_epochs = 25  # alpha frozen while the weights warm up
    c.search.alpha_cadence = "epoch"  # epoch: one update at the start of each epoch; steps: every N weight steps
    c.search.alpha_every_steps = 0  # N for alpha_cadence="steps"
    c.search.freeze_alpha = False  # never move alpha (DARTS+Shapley* ablation)
    c.search.final_shapley = False  # estimate Shapley values at the end and derive the genotype from them
    c.search.derive_from = "alpha"  # alpha | shapley (op strengths used for the genotype)
    c.search.random_samples = 100  # cells drawn by the random-search baselines (rsps: scored on the supernet)
    c.search.plot_every_epochs = 0  # draw the run's figures (<workdir>/plots) every N epochs and at the end; 0 = off
    c.search.benchmark = ""  # NB201 table or nats_bench file: log the benchmark accuracy every epoch
    c.search.population = 1  # seeds seed, seed+1, ... searched as one vmapped program (search/population.py)
    c.search.population_grid = ""  # with them, every point of e.g. "alpha_rule.momentum=0.5,0.8;train.learning_rate=0.05,0.1"

    c.shapley = ml_collections.ConfigDict()
    c.shapley.estimator = "permutation"  # a registered estimator: permutation (M truncated chains) | stratified_neyman | kernelshap_paired | ... (shapley.available_estimators())
    c.shapley.budget = 0  # estimators at a budget (not permutation): value evaluations per update; 0 = what M whole chains cost, 2 + M(n-1)
    c.shapley.samples = 10  # M permutations per estimate (permutation: chains; budgeted: sets the default budget)
    c.shapley.truncation = 0.5  # eta: a chain stops once v < eta * v(full); 1.0 = stop at the first drop
    c.shapley.truncated = "zero"  # zero: truncated players count as 0 (reference) | exclude
    c.shapley.aggregate = "mean_minus_std"  # mean (paper) | mean_minus_std (reference)
    c.shapley.sampling = "uniform"  # uniform | antithetic | stratified (every player at every position)
    c.shapley.scoring = "auto"  # batched (vmapped chunks) | sequential (one coalition at a time) | auto (CPU: sequential)
    c.shapley.chunk_size = 8  # batched scoring: most prefixes per chain per call (fewer if over budget); 0 = as many as fit
    c.shapley.memory_budget_mb = 0  # per-device budget sizing batched chunks (0 = 60% of GPU memory, min(4 GiB, RAM/2) on CPU)
    c.shapley.value_batch_size = 1024  # images per permutation (a fresh batch each)
    c.shapley.metric = "accuracy"  # accuracy | neg_cross_entropy | a registered metric
    c.shapley.metric_kwargs = ml_collections.ConfigDict()  # the metric's own parameters (its keyword arguments)
    c.shapley.bn_mode = "running"  # running | batch (each coalition's own statistics) | reference_cifar | reference_imagenet
    c.shapley.keep_last_op = False  # never remove an edge's last remaining op (reference ImageNet search)
    c.shapley.players = "all"  # all | normal | reduce (restrict the game to one cell type)
    c.shapley.formulation = "auto"  # op arithmetic while scoring: lax | shifted | auto (CPU: shifted, else lax)

    c.alpha_rule = ml_collections.ConfigDict()
    c.alpha_rule.name = "reference"  # reference (z-score, noisy momentum) | paper (eqs. 6-7)
    c.alpha_rule.momentum = 0.8
    c.alpha_rule.step_size = 0.1
    c.alpha_rule.init_scale = 1e-3  # reference: momentum buffer starts at init_scale * N(0, 1)
    c.alpha_rule.kwargs = ml_collections.ConfigDict()  # the rule factory's own parameters (its keyword arguments)

    c.darts = ml_collections.ConfigDict()
    c.darts.learning_rate = 3e-4
    c.darts.b1 = 0.5
    c.darts.b2 = 0.999
    c.darts.weight_decay = 1e-3

    c.checkpoint = ml_collections.ConfigDict()
    c.checkpoint.keep = 3

    c.mesh = ml_collections.ConfigDict()
    c.mesh.devices = 0  # devices of the 1-D ('data',) mesh: 0 = all (every host's after jax.distributed), 1 = single device
    c.mesh.shard_coalitions = True  # Shapley scoring: split coalitions over devices (else split the value batches)
    return c


def complete(config, defaults: ml_collections.ConfigDict | None = None) -> ml_collections.ConfigDict:
    """A copy of ``config`` (a ConfigDict or the plain dict of a stored ``config.json``) with every option of
    the schema (``defaults``, default :func:`base_config`) that it lacks set to its default: the one place a
    config's missing options are filled in, so code reads ``config.a.b`` and never restates a default.
    Options the schema does not know (an extension's ``kwargs``) are kept."""
    merged = (defaults if defaults is not None else base_config()).to_dict()

    def merge(target: dict, source: dict) -> None:
        for key, value in source.items():
            if isinstance(value, dict) and isinstance(target.get(key), dict):
                merge(target[key], value)
            else:
                target[key] = value

    merge(merged, config.to_dict() if isinstance(config, ml_collections.ConfigDict) else dict(config))
    return ml_collections.ConfigDict(merged)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def _one_of(value, choices, key: str) -> None:
    _require(value in choices, f"{key}={value!r} is not valid; choose one of {', '.join(map(str, choices))}")


def validate(config: ml_collections.ConfigDict) -> None:
    """Raise ConfigError (one line: what is wrong, what would be right) for any invalid option (options the
    config lacks are checked at their defaults, :func:`complete`)."""
    config = complete(config)
    from shapley_nas_jax.alpha_rules import available_alpha_rules, check_alpha_rule_kwargs
    from shapley_nas_jax.shapley import SCORINGS
    from shapley_nas_jax.spaces import list_spaces
    from shapley_nas_jax.value import BN_SCHEDULES, available_value_metrics, get_value_metric

    _one_of(config.space, list_spaces(), "space")
    _require(0 < config.data.train_fraction < 1, f"data.train_fraction={config.data.train_fraction} must lie in (0, 1)")
    _require(
        0 <= config.data.value_fraction <= 1 - config.data.train_fraction,
        f"data.value_fraction={config.data.value_fraction} must lie in [0, 1 - train_fraction]",
    )
    _one_of(config.data.split_order, ("random", "ordered"), "data.split_order")
    _require(not (config.data.split_order == "ordered" and str(config.data.name).startswith("folder:")),
             "data.split_order='ordered' keeps the dataset's own order, and an image folder lists its images class "
             "by class (the halves would hold different classes): use data.split_order='random' with folder:<root>")
    _require(config.train.lr_epoch_offset >= 0, f"train.lr_epoch_offset={config.train.lr_epoch_offset} must be >= 0")
    _require(config.model.channels >= 1, f"model.channels={config.model.channels} must be >= 1")
    _require(config.model.layers >= 3, f"model.layers={config.model.layers} must be >= 3 (two reduction cells)")
    _require(config.model.partial_channels >= 1, "model.partial_channels must be >= 1 (1 = off)")
    _require(
        config.model.channels % config.model.partial_channels == 0,
        f"model.channels={config.model.channels} must be divisible by model.partial_channels={config.model.partial_channels}",
    )
    _one_of(config.model.stem, ("cifar", "imagenet"), "model.stem")
    from shapley_nas_jax.ops.layers import CLASSIFIER_INITS

    _one_of(config.model.init, CLASSIFIER_INITS, "model.init")
    _require(config.train.epochs >= 1, f"train.epochs={config.train.epochs} must be >= 1")
    _require(config.train.batch_size >= 1, f"train.batch_size={config.train.batch_size} must be >= 1")
    _require(config.train.learning_rate > 0, "train.learning_rate must be > 0")
    from shapley_nas_jax.search.methods import get_method, list_methods

    _one_of(config.search.method, list_methods(), "search.method")  # built-ins + registered
    method = get_method(config.search.method)
    _require(
        0 <= config.search.warmup_epochs <= config.train.epochs,
        f"search.warmup_epochs={config.search.warmup_epochs} must lie in [0, train.epochs={config.train.epochs}]",
    )
    _one_of(config.search.alpha_cadence, ALPHA_CADENCES, "search.alpha_cadence")
    if config.search.alpha_cadence == "steps":
        _require(config.search.alpha_every_steps >= 1, "search.alpha_every_steps must be >= 1 with alpha_cadence='steps'")
    _one_of(config.search.derive_from, ("alpha", "shapley"), "search.derive_from")
    _require(config.search.plot_every_epochs >= 0,
             f"search.plot_every_epochs={config.search.plot_every_epochs} must be >= 0 (0 = no figures while searching)")
    method.validate(config)
    if config.search.derive_from == "shapley":
        _require(
            method.estimates_shapley or config.search.final_shapley,
            "search.derive_from='shapley' needs Shapley values: use search.method='shapley' or search.final_shapley=True",
        )
    _require(config.shapley.samples >= 1, f"shapley.samples={config.shapley.samples} must be >= 1 (M permutations)")
    _require(
        0 < config.shapley.truncation <= 1,
        f"shapley.truncation={config.shapley.truncation} must lie in (0, 1] (eta, relative to the full supernet's value)",
    )
    _one_of(config.shapley.truncated, ("zero", "exclude"), "shapley.truncated")
    _check_estimator(config.shapley)
    _one_of(config.shapley.aggregate, ("mean", "mean_minus_std"), "shapley.aggregate")
    _one_of(config.shapley.sampling, ("uniform", "antithetic", "stratified"), "shapley.sampling")
    if config.shapley.sampling == "antithetic":
        _require(config.shapley.samples % 2 == 0, "shapley.sampling='antithetic' needs an even shapley.samples")
    _one_of(config.shapley.scoring, ("auto",) + SCORINGS, "shapley.scoring")
    _require(config.shapley.chunk_size >= 0, "shapley.chunk_size must be >= 1, or 0 to size chunks from memory_budget_mb")
    _require(config.shapley.memory_budget_mb >= 0, "shapley.memory_budget_mb must be >= 0 (0 = default per backend)")
    _require(config.shapley.value_batch_size >= 1, "shapley.value_batch_size must be >= 1")
    _one_of(config.shapley.metric, available_value_metrics(), "shapley.metric")  # built-ins + registered
    _check_kwargs("shapley.metric_kwargs", lambda kwargs: get_value_metric(config.shapley.metric, **kwargs),
                  config.shapley.metric_kwargs)
    _one_of(config.shapley.bn_mode, BN_SCHEDULES, "shapley.bn_mode")
    _require(not config.train.clip_with_alpha_grad or method.estimates_shapley,
             f"train.clip_with_alpha_grad reproduces the original Shapley search; search.method="
             f"{config.search.method!r} needs train.clip_with_alpha_grad=False")
    _one_of(config.shapley.players, ("all", "normal", "reduce"), "shapley.players")
    from shapley_nas_jax.ops.primitives import list_formulations

    _one_of(config.shapley.formulation, list_formulations(), "shapley.formulation")
    _one_of(config.model.formulation, list_formulations(), "model.formulation")
    _one_of(config.alpha_rule.name, available_alpha_rules(), "alpha_rule.name")  # built-ins + registered
    _check_kwargs("alpha_rule.kwargs", lambda kwargs: check_alpha_rule_kwargs(config.alpha_rule.name, kwargs),
                  config.alpha_rule.kwargs)
    _require(0 <= config.alpha_rule.momentum < 1, "alpha_rule.momentum must lie in [0, 1)")
    _require(config.alpha_rule.step_size > 0, "alpha_rule.step_size must be > 0")
    _require(config.search.population >= 1, f"search.population={config.search.population} must be >= 1 (seeds)")
    from shapley_nas_jax.search.population import parse_grid

    parse_grid(config.search.population_grid)  # its values are checked member by member (member_configs)
    _require(config.checkpoint.keep >= 1, "checkpoint.keep must be >= 1")
    if "mesh" in config:  # batch divisibility by the resolved device count is checked when the mesh is built
        _require(config.mesh.devices >= 0, f"mesh.devices={config.mesh.devices} must be >= 0 (0 = all devices)")
        if config.mesh.devices > 1:
            _require(config.train.batch_size % config.mesh.devices == 0,
                     f"train.batch_size={config.train.batch_size} is not divisible by mesh.devices={config.mesh.devices}")


# What the paper and the original code run differently in the Shapley search itself (README: "Paper and
# reference code"); the NB201 configs take one of them as an argument, e.g. ``nb201_cifar10.py:reference``.
ALGORITHMS = ("paper", "reference")
PAPER_WARMUP = (15, 50)  # Sec. 4.1: alpha frozen for the first 15 of 50 epochs
REFERENCE_WARMUP = (25, 50)  # train_search.py: pretrain_epochs = 25 of 50


def scaled_warmup(fraction: tuple[int, int], epochs: int) -> int:
    """Warm-up epochs of a search of ``epochs``: ``fraction`` (warm-up, total) scaled and rounded."""
    return int(round(epochs * fraction[0] / fraction[1]))


def set_algorithm(config: ml_collections.ConfigDict, algorithm: str, warmup_epochs: int | None = None) -> None:
    """Set the Shapley search's aggregate, alpha rule and warm-up to the paper's or the original code's.

    ``paper``: the plain Monte-Carlo mean of the marginal contributions, eqs. 6-7, alpha frozen for 15 of 50
    epochs (scaled to ``train.epochs``). ``reference``: mean minus std, the z-score rule with noisy initial
    momentum, 25 of 50 epochs of warm-up (scaled), or ``warmup_epochs`` where given.
    """
    _one_of(algorithm, ALGORITHMS, "the config argument naming the algorithm")
    paper = algorithm == "paper"
    config.shapley.aggregate = "mean" if paper else "mean_minus_std"
    config.alpha_rule.name = algorithm
    if warmup_epochs is None:
        warmup_epochs = scaled_warmup(PAPER_WARMUP if paper else REFERENCE_WARMUP, config.train.epochs)
    config.search.warmup_epochs = warmup_epochs


def algorithm_of(config) -> str | None:
    """``paper`` or ``reference`` when a Shapley search's aggregate and alpha rule are exactly one of them, else
    None (a mix, another rule or a budgeted estimator)."""
    config = complete(config)
    if config.shapley.estimator != "permutation":
        return None
    pair = (config.shapley.aggregate, config.alpha_rule.name)
    return {("mean", "paper"): "paper", ("mean_minus_std", "reference"): "reference"}.get(pair)


def split_config_argument(argument: str | None) -> tuple[str | None, str | None]:
    """``"<path>"``, ``"<path>,<algorithm>"`` or ``"<algorithm>"`` (a config file's argument) as
    ``(path or None, algorithm or None)``."""
    if not argument:
        return None, None
    head, _, tail = argument.rpartition(",")
    if tail in ALGORITHMS:
        return head or None, tail
    return argument, None


def small_cpu_config(space: str) -> ml_collections.ConfigDict:
    """A search that runs in well under a minute on 2 CPU cores once compiled, for trying things out:
    8x8 digits, a 3-cell supernet with 4 channels, 3 epochs (1 warm-up), M=2 permutations of 64 images.
    Not an experiment (those are the files in configs/) but the tiny base the examples and tests start
    from; its genotypes mean little."""
    c = base_config()
    c.seed = 0
    c.space = space
    c.data.image_size = 8
    c.data.crop_padding = 1
    c.data.flip = False
    c.data.train_fraction = 0.2
    c.model.channels = 4
    c.model.layers = 3
    c.model.partial_channels = 1
    c.train.epochs = 3
    c.train.batch_size = 64
    c.train.learning_rate = 0.05
    c.search.warmup_epochs = 1
    c.shapley.samples = 2
    c.shapley.value_batch_size = 64
    c.shapley.chunk_size = 16
    return c


def load_config_file(path: str, arg: str | None = None) -> ml_collections.ConfigDict:
    """``get_config([arg])`` of a config file loaded by path, as ``--config path[:arg]`` loads it.

    An experiment file building on another loads it beside itself:
    ``load_config_file(os.path.join(os.path.dirname(__file__), "darts_cifar10_reference.py"))`` works from a
    checkout, when the CLI loads the file by path, and from the installed package.
    """
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(f"{name}_config", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config() if arg is None else module.get_config(arg)


_ROBUST_DARTS_FILE = re.compile(r"s([1-4])_(cifar10|cifar100|svhn)\.py")


def moved_config_hint(path: str) -> str | None:
    """One line naming the replacement of a removed config file (``--config`` value, ``:arg`` allowed), else None.

    The twelve ``s{1-4}_{cifar10,cifar100,svhn}.py`` files became ``robust_darts.py:<space>,<dataset>``.
    """
    file = path.split(":", 1)[0]
    match = _ROBUST_DARTS_FILE.fullmatch(os.path.basename(file))
    if match is None:
        return None
    replacement = f"{os.path.join(os.path.dirname(file), 'robust_darts.py')}:s{match[1]},{match[2]}"
    return (f"config file {file} was replaced by one file for every RobustDARTS space and dataset: "
            f"use --config {replacement}")


def _check_estimator(shapley) -> None:
    """``shapley.estimator``: a registered estimator a search can run (one needing no control metric)."""
    from shapley_nas_jax.shapley.estimators import available_estimators, get_estimator

    name = shapley.estimator
    usable = tuple(n for n in available_estimators() if not get_estimator(n).needs_control)
    if name in available_estimators() and get_estimator(name).needs_control:
        raise ConfigError(f"shapley.estimator={name} needs a control metric's mask derivatives, which a search does "
                          f"not compute; choose one of {', '.join(usable)}")
    _one_of(name, usable, "shapley.estimator")  # built-ins + registered
    _require(shapley.budget >= 0, f"shapley.budget={shapley.budget} must be >= 0 value evaluations per update "
                                  f"(0 = what shapley.samples whole chains cost)")
    if shapley.keep_last_op and "keep_last" not in (get_estimator(name).options() or ()):
        raise ConfigError(f"shapley.keep_last_op guards removal chains; shapley.estimator={name} has none: set it "
                          f"to False or use shapley.estimator=permutation")


def _check_kwargs(key: str, build, kwargs) -> None:
    """``build(kwargs)`` (a registered factory given its parameters from the config section ``key``) without an
    InvalidInputError, else a ConfigError with its one line."""
    from shapley_nas_jax.errors import InvalidInputError

    try:
        build(kwargs.to_dict() if isinstance(kwargs, ml_collections.ConfigDict) else dict(kwargs))
    except InvalidInputError as error:
        raise ConfigError(f"{key}: {error}") from None


_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


def _parse_value(key: str, text: str, current):
    """``text`` read as the type of the value ``key`` holds now (``current``)."""
    try:
        if isinstance(current, bool):
            if text.lower() not in _TRUE + _FALSE:
                raise ValueError(f"{text!r} is no bool; write true or false")
            return text.lower() in _TRUE
        if isinstance(current, (int, float)):
            return type(current)(text)
        if current is None or isinstance(current, (tuple, list)):
            try:
                return ast.literal_eval(text)
            except (ValueError, SyntaxError):
                return text  # a key holding None may take a string
    except ValueError as error:
        raise ConfigError(f"{key}={text}: {error}") from None
    return text


# The options benchmark scripts shrink a config by (``--channels 4``: tests run the scripts on small setups).
SIZE_OPTIONS = {"channels": "model.channels", "cells-per-stage": "model.cells_per_stage", "layers": "model.layers",
                "batch": "train.batch_size", "value-batch": "shapley.value_batch_size"}


def add_size_options(parser) -> None:
    """Add ``--channels``, ``--cells-per-stage``, ``--layers``, ``--batch`` and ``--value-batch`` to a script's
    argparse parser (0, the default, keeps the config's value); :func:`apply_size_options` applies them."""
    for flag, option in SIZE_OPTIONS.items():
        parser.add_argument(f"--{flag}", type=int, default=0, help=f"{option} (default: the config's)")


def add_formulation_option(parser) -> None:
    """Add ``--formulation auto|lax|shifted`` to a benchmark script's parser: ``model.formulation``, the training
    steps' op arithmetic (default: the config's); :func:`apply_size_options` applies it with the sizes."""
    parser.add_argument("--formulation", dest="model_formulation", default=None, choices=["auto", "lax", "shifted"],
                        help="model.formulation, the training steps' op arithmetic (default: the config's)")


def apply_size_options(config: ml_collections.ConfigDict, args) -> ml_collections.ConfigDict:
    """``config`` with the size options :func:`add_size_options` parsed into ``args`` set (in place), and
    ``--formulation`` where the parser has :func:`add_formulation_option`'s and it was given."""
    overrides = {option: value for flag, option in SIZE_OPTIONS.items()
                 if (value := getattr(args, flag.replace("-", "_")))}
    if getattr(args, "model_formulation", None):  # its own dest: other scripts' --formulation mean other things
        overrides["model.formulation"] = args.model_formulation
    return override(config, overrides)


def override(config: ml_collections.ConfigDict, assignments) -> ml_collections.ConfigDict:
    """Set dotted keys of ``config`` (in place) and return it: ``override(config, ["shapley.samples=3"])``.

    ``assignments`` is a sequence of ``"key=value"`` strings, as ``--config.key=value`` gives them on a command
    line: each value is read as the type the key holds (a bool from true/false/1/0/yes/no, an int, a float, a
    string as written; a key holding None or a tuple takes a Python literal). A mapping ``{"key": value}`` sets
    values as they are. A key the config does not have is a ConfigError naming the closest keys there are.
    """
    parse = not isinstance(assignments, Mapping)
    for key, value in ([_split_assignment(text) for text in assignments] if parse else assignments.items()):
        node, leaf = _section_of(config, key)
        current = node.get(leaf)  # None for a new parameter of an extension section
        if isinstance(current, ml_collections.ConfigDict):
            raise ConfigError(f"{key} is a section of the config; set one of its keys ({key}.KEY=VALUE)")
        if parse:
            value = _parse_value(key, value, current)
        try:
            with node.unlocked():
                node[leaf] = value
        except TypeError as error:  # ml_collections refuses a value of another type
            raise ConfigError(f"{key}={value!r}: {error}") from None
    return config


def _split_assignment(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ConfigError(f"config override {text!r} is not KEY=VALUE (e.g. shapley.samples=3)")
    return key.strip(), value


# Sections holding an extension's own parameters: an override may add keys there (the extension's factory
# checks them, ``validate``); everywhere else a key the config lacks is an error.
EXTENSION_SECTIONS = ("shapley.metric_kwargs", "alpha_rule.kwargs")


def _section_of(config: ml_collections.ConfigDict, key: str):
    """(the section holding the dotted ``key``, its last part); ConfigError where the config has no such key
    (a new key is allowed only directly under one of the ``EXTENSION_SECTIONS``)."""
    node, parts = config, key.split(".")
    for depth, name in enumerate(parts):
        is_new_parameter = depth == len(parts) - 1 and ".".join(parts[:-1]) in EXTENSION_SECTIONS
        if not isinstance(node, ml_collections.ConfigDict) or (name not in node and not is_new_parameter):
            _unknown_key(".".join(parts[:depth + 1]), node)
        if depth == len(parts) - 1:
            return node, name
        node = node[name]


def _unknown_key(key: str, node) -> None:
    parent, _, name = key.rpartition(".")
    if not isinstance(node, ml_collections.ConfigDict):
        raise ConfigError(f"unknown config key {key!r}: {parent} is a value, not a section")
    close = difflib.get_close_matches(name, list(node.keys()), n=3)
    hint = f"; did you mean {' or '.join(repr('.'.join(filter(None, [parent, c]))) for c in close)}?" if close else ""
    raise ConfigError(f"unknown config key {key!r}{hint}")
