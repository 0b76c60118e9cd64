"""One supernet game end to end: train (or reuse) its supernet, enumerate and differentiate it, save it."""

from __future__ import annotations

import dataclasses
import os
import pathlib
import subprocess
import time
from typing import Sequence

import jax
import numpy as np

from shapley_nas_jax.exact_games.files import SupernetGameFile, save_game
from shapley_nas_jax.exact_games.live import LiveGame, enumerate_coalitions, live_game, taylor_at_full
from shapley_nas_jax.exact_games.players import _kind, game_players
from shapley_nas_jax.exact_games.training import (
    TrainedSupernet,
    supernet_config,
    train_supernet,
    value_batch,
)
from shapley_nas_jax.errors import ConfigError
from shapley_nas_jax.runs import package_versions


def dataset_label(dataset: str) -> str:
    """Short dataset name for game names: ``digits``, ``cifar10`` (tfds), or a folder's base name."""
    if dataset.startswith("folder:"):
        return pathlib.Path(dataset[len("folder:"):].rstrip("/")).name.replace("_", "-") or "folder"
    return dataset.replace("_", "-")


def _package_commit() -> str | None:
    root = pathlib.Path(__file__).resolve().parents[3]
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


@dataclasses.dataclass
class BuiltGame:
    path: pathlib.Path | None
    file: SupernetGameFile
    live: LiveGame
    trained: TrainedSupernet
    enumerate_seconds: float


def build_game(kind: str, dataset: str = "digits", *, out: str | os.PathLike | None = None, epochs: int = 4,
               channels: int = 4, cells: int = 1, image_size: int = 0, batch_size: int = 64, seed: int = 0,
               value_batch_size: int = 64, chunk: int = 64, edges: Sequence[int] | None = None,
               partial_channels: int = 1, train_fraction: float = 0.5, learning_rate: float = 0.1,
               trained: TrainedSupernet | None = None, progress: bool = True,
               extra_metadata: dict | None = None) -> BuiltGame:
    """Train (or reuse ``trained``), enumerate and differentiate one game; save it to ``out`` (a ``.npz`` path or a
    directory, where it is named ``<game name without metric>.npz``) unless ``out`` is None."""
    space_name, space_label, kind_label, _ = _kind(kind)
    players = game_players(kind, edges)
    if trained is None:
        config = supernet_config(kind, dataset, epochs=epochs, channels=channels, cells=cells, image_size=image_size,
                                 batch_size=batch_size, seed=seed, partial_channels=partial_channels,
                                 train_fraction=train_fraction, learning_rate=learning_rate)
        trained = train_supernet(config, progress=progress)
    elif trained.space.name != space_name:
        raise ConfigError(f"game {kind!r} needs a {space_name!r} supernet, got {trained.space.name!r}")
    config = trained.config
    batch = value_batch(trained, value_batch_size, seed=seed)
    game = live_game(trained, players, batch)
    t0 = time.perf_counter()
    values = enumerate_coalitions(game, chunk=chunk, progress=progress)
    enumerate_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    taylor = taylor_at_full(game)
    taylor_seconds = time.perf_counter() - t0
    metadata = {
        "space": config.space, "game_space": space_label, "game_kind": kind_label, "kind": kind,
        "dataset": config.data.name, "dataset_label": dataset_label(config.data.name),
        "image_shape": list(np.asarray(batch["image"]).shape[1:]), "channels": int(config.model.channels),
        "cells": int(config.model.cells_per_stage if space_name == "nb201" else config.model.layers),
        "partial_channels": int(config.model.partial_channels), "epochs": int(config.train.epochs),
        "train_batch_size": int(config.train.batch_size), "learning_rate": float(config.train.learning_rate),
        "train_fraction": float(config.data.train_fraction), "value_batch_size": int(value_batch_size),
        "seed": int(config.seed), "train_accuracy": trained.train_accuracy, "bn_mode": "running",
        "num_players": players.num_players, "player_groups": [list(g) for g in players.groups],
        "alpha_shape": list(players.alpha_shape), "alpha": np.asarray(trained.alpha).tolist(),
        "chunk": int(chunk), "commit": _package_commit(), "versions": package_versions(),
        "backend": jax.default_backend(),
        "train_seconds": round(trained.train_seconds, 2), "enumerate_seconds": round(enumerate_seconds, 2),
        "taylor_seconds": round(taylor_seconds, 2), **(extra_metadata or {}),
    }
    path = None
    if out is not None:
        path = pathlib.Path(out)
        if path.suffix != ".npz":
            path = path / f"supernet_{space_label}_{kind_label}_{metadata['dataset_label']}.npz"
        save_game(path, values=values, players=players, taylor=taylor, metadata=metadata)
    file = SupernetGameFile(
        values_accuracy=values[:, 0].astype(np.float32), values_neg_ce=values[:, 1].astype(np.float32),
        players=np.asarray(players.names, np.str_), edge=players.edge, node=players.node,
        grad_neg_ce=taylor["grad_neg_ce"], hessian_neg_ce=taylor["hessian_neg_ce"],
        grad_true_prob=taylor["grad_true_prob"], hessian_true_prob=taylor["hessian_true_prob"],
        full_values=taylor["full_values"], metadata=metadata)
    return BuiltGame(path, file, game, trained, enumerate_seconds)


def top_op_per_edge(file: SupernetGameFile, metric: str = "accuracy") -> dict[int, str]:
    """For op-player games: the player with the largest exact Shapley value on each edge (its op name)."""
    phi = file.shapley_values(metric)
    best: dict[int, tuple[float, str]] = {}
    for name, e, v in zip(file.players.tolist(), file.edge.tolist(), phi.tolist()):
        if e not in best or v > best[e][0]:
            best[e] = (v, name.rsplit("/", 1)[-1])
    return {e: op for e, (_, op) in sorted(best.items())}
