"""``run_search``: the search's schedule (``search/schedule.py``) driven with its files.

The driver (``shapley_nas_jax/driver.py``) runs the schedule; the hooks here write what a search leaves in its
workdir: ``metrics.jsonl`` (one record per epoch and per architecture update), checkpoints after every
architecture update and epoch end, and ``results.json`` at the end. A rerun in the same workdir restores the
last checkpoint and ends with the same alpha and genotype as an uninterrupted run.
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from shapley_nas_jax import config as config_lib
from shapley_nas_jax.analysis.ranking import estimate_agreement
from shapley_nas_jax import sharding as sharding_lib
from shapley_nas_jax.checkpointing import Checkpointer
from shapley_nas_jax.compilation_cache import enable_compilation_cache
from shapley_nas_jax.driver import Callback, Checkpoints, Hook, drive
from shapley_nas_jax.errors import ConfigError
from shapley_nas_jax.genotypes import count_ops
from shapley_nas_jax.runs import MetricsLog, RunDir
from shapley_nas_jax.search.methods import get_method
from shapley_nas_jax.search.schedule import Search
from shapley_nas_jax.search.state import SearchState
from shapley_nas_jax.spaces import SearchSpace, get_space


__all__ = ["Plots", "SearchInterrupted", "SearchResult", "run_search", "space_info"]


class SearchInterrupted(Exception):
    """Raised when the `interrupt` hook asks the loop to stop (tests use it to simulate a kill)."""


@dataclasses.dataclass
class SearchResult:
    genotype: object
    alpha: np.ndarray
    shapley: np.ndarray | None
    workdir: str
    state: SearchState

    @property
    def genotype_str(self) -> str:
        return str(self.genotype)


class _SearchLog(Hook):
    """Writes a search's records to metrics.jsonl: one per architecture update (DARTS steps: once per epoch's
    worth) and one per epoch, with the value split's accuracy and the genotype of that moment.

    A Shapley update's record carries its estimate (``shapley``), the estimate's own diagnostics
    (``shapley_se``, ``chain_players_mean``, ``value_full``: ``steps.shapley_metrics``) and
    ``estimate_agreement``: its agreement with the mean of the run's earlier estimates
    (``analysis.ranking.estimate_agreement``), read back from the log when a run resumes."""

    def __init__(self, search: Search, log: MetricsLog, benchmark):
        self.search = search
        self.config = search.config
        self.log = log
        self.benchmark = benchmark
        self.estimates = [r["shapley"] for r in log.records()
                          if r.get("kind") == "alpha_update" and r.get("shapley") is not None]
        self.players = search.program.game.player_mask

    def arch_update(self, state: SearchState, step: int, metrics: dict) -> dict | None:
        spe, method = self.search.steps_per_epoch, self.search.method
        if not method.logs_update(int(state.alpha_updates), spe):
            return None  # e.g. DARTS: one record per epoch's worth of steps
        record = {"kind": "alpha_update", "epoch": step // spe, "step": step,
                  "alpha_updates": int(state.alpha_updates), "method": self.config.search.method}
        record.update(_jsonable(metrics))
        if not method.estimates_shapley:
            self.log.write(record)
            return {key: f"{value:.3f}" for key, value in record.items()
                    if key in metrics and isinstance(value, float)}
        estimate = np.asarray(state.arch.shapley)
        agreement = estimate_agreement(np.asarray(self.estimates).reshape(-1, *estimate.shape), estimate,
                                       self.players)
        record.update(shapley=estimate.tolist(), **_jsonable({"estimate_agreement": agreement}))
        self.estimates.append(record["shapley"])
        self.log.write(record, scalars=("estimate_agreement", "value_full", "chain_players_mean"))
        return {"agreement": "none yet" if np.isnan(agreement) else f"{agreement:+.2f}"}

    def epoch_end(self, state: SearchState, epoch: int, seconds: dict) -> dict:
        t_eval = time.perf_counter()
        record = self.epoch_record(state, epoch, seconds)
        record["seconds"]["eval"] = time.perf_counter() - t_eval
        self.log.write(record, scalars=("train_loss", "train_accuracy", "value_accuracy", "skip_count"))
        return {"epoch": epoch, "loss": f"{record['train_loss']:.3f}", "value_acc": f"{record['value_accuracy']:.3f}",
                "skips": record["skip_count"]}

    def epoch_record(self, state: SearchState, epoch: int, seconds: dict) -> dict:
        search, c = self.search, self.config
        loss_sum, correct, count = (float(x) for x in state.epoch_sums)
        eval_loss = eval_correct = eval_count = 0.0
        for i in range(c.train.eval_batches):
            batch = search.data.eval_stream.batch(epoch * c.train.eval_batches + i)
            loss, right = search.program.evaluate(state, search.program.put_eval_batch(batch))
            eval_loss += float(loss) * len(batch["label"])
            eval_correct += float(right)
            eval_count += len(batch["label"])
        genotype = search.genotype(state)
        has_shapley = bool(int(state.alpha_updates) > 0 and search.method.estimates_shapley)
        record = {
            "kind": "epoch",
            "epoch": epoch,
            "step": int(state.step),
            "alpha_updates": int(state.alpha_updates),
            "learning_rate": search.learning_rate(max(int(state.step) - 1, 0)),
            "train_loss": loss_sum / max(count, 1),
            "train_accuracy": correct / max(count, 1),
            "value_loss": eval_loss / max(eval_count, 1),
            "value_accuracy": eval_correct / max(eval_count, 1),
            "alpha": np.asarray(state.arch.alpha).tolist(),
            "weights": np.asarray(jax.nn.softmax(state.arch.alpha, -1)).tolist(),
            "beta": None if state.arch.beta is None else np.asarray(state.arch.beta).tolist(),
            "shapley": np.asarray(state.arch.shapley).tolist() if has_shapley else None,
            "genotype": genotype.to_json(),
            "genotype_str": str(genotype),
            "skip_count": count_ops(genotype, "skip_connect"),
            # RSPS has no current cell before its final choice
            "benchmark": (self.benchmark.query(str(genotype))
                          if self.benchmark is not None and search.method.current_cell else None),
            "seconds": seconds,
        }
        if state.reference is not None:  # train.clip_with_alpha_grad: how much alpha's gradient sum clipped
            factor_sum, factor_min, steps = (float(x) for x in state.reference.clip_factors)
            record.update(clip_factor_mean=factor_sum / max(steps, 1), clip_factor_min=factor_min,
                          alpha_grad_norm=float(jnp.linalg.norm(state.reference.alpha_grad)))
        return record


def _jsonable(metrics: dict) -> dict:
    """A step's metrics as JSON values: scalars as floats, arrays as nested lists, NaN (no value) as null."""
    def plain(v):
        if isinstance(v, list):
            return [plain(x) for x in v]
        return None if np.isnan(v) else float(v)

    return {k: plain(np.asarray(v, np.float64).tolist()) for k, v in metrics.items()}


def _search_point(state: SearchState) -> dict[str, int]:
    """Where a search is: its checkpoint's meta (the checkpoint id is their sum)."""
    return {"step": int(state.step), "alpha_updates": int(state.alpha_updates)}


def _load_benchmark(config: ml_collections.ConfigDict, space: SearchSpace):
    if not config.search.benchmark:
        return None
    from shapley_nas_jax.benchmarks import nb201

    if space.topology != "nb201":
        raise ConfigError(f"search.benchmark is only available for the nb201 space, not {space.name!r}")
    return nb201.load_benchmark(config.search.benchmark)


def _drive_search(search: Search, rundir: RunDir, log: MetricsLog, benchmark, progress: bool,
                  interrupt: Callable[[str, SearchState], bool] | None) -> SearchResult:
    config = search.config
    checkpointer = Checkpointer(rundir.checkpoint_dir, keep=config.checkpoint.keep)
    try:
        if checkpointer.latest_id() is None:
            state = search.init_state()
        else:  # resume: only the structure of a fresh state is needed, not its values
            state, meta = checkpointer.restore(jax.eval_shape(search.init_state))
            state = search.program.place_state(state)  # replicated on the mesh (no-op on one device)
            log.truncate_after(meta["step"], meta["alpha_updates"])
        hooks = [_SearchLog(search, log, benchmark), Checkpoints(checkpointer, rundir.checkpoint_dir, _search_point)]
        every = config.search.plot_every_epochs
        plots = Plots(rundir.path, every, space_info(search.space)) if every else None
        hooks += [plots] if plots is not None else []
        if interrupt is not None:
            hooks.append(Callback(interrupt, stop=SearchInterrupted))
        state = drive(search, state, hooks, progress=f"search {search.space.name}" if progress else None)
        result = _finish(search, state, rundir, log, benchmark)
        if plots is not None:
            plots.draw()  # the final figures, with results.json's genotype and alpha
        return result
    finally:
        checkpointer.close()


class Plots(Hook):
    """Draws the run's figures into ``<workdir>/plots`` (what ``shapley-nas plot`` draws) at the end of every
    ``every``-th epoch, after that epoch's record is written. ``space``: :func:`space_info` of the run's space,
    which names the figures' cell types and ops before results.json holds it."""

    def __init__(self, workdir: str, every: int, space: dict):
        self.workdir = workdir
        self.every = every
        self.space = space

    def epoch_end(self, state: SearchState, epoch: int, seconds: dict) -> None:
        if (epoch + 1) % self.every == 0:
            self.draw()

    def draw(self) -> None:
        from shapley_nas_jax.analysis.plots import plot_run

        plot_run(self.workdir, self.space)


def _finish(search: Search, state: SearchState, rundir: RunDir, log: MetricsLog, benchmark) -> SearchResult:
    c = search.config
    state, events = search.finish_with_metrics(state)
    for kind, metrics in events.items():
        if kind == "final_choice":  # its arrays go to results.json (final_choice_results), its scalars here
            metrics = {k: v for k, v in metrics.items() if np.ndim(v) == 0}
        log.write({"kind": kind, "step": int(state.step), "alpha_updates": int(state.alpha_updates),
                   **_jsonable(metrics)})
    genotype = search.genotype(state)
    has_shapley = search.method.estimates_shapley or c.search.final_shapley
    entries = {
        "derived_from": c.search.derive_from,
        "alpha": np.asarray(state.arch.alpha).tolist(),
        "weights": np.asarray(jax.nn.softmax(state.arch.alpha, -1)).tolist(),
        "beta": None if state.arch.beta is None else np.asarray(state.arch.beta).tolist(),
        "shapley": np.asarray(state.arch.shapley).tolist() if has_shapley else None,
        "skip_count": count_ops(genotype, "skip_connect"),
        "benchmark": benchmark.query(str(genotype)) if benchmark is not None else None,
        "steps": int(state.step),
        "alpha_updates": int(state.alpha_updates),
    }
    if "final_choice" in events:
        entries.update(search.method.final_choice_results(search.program, events["final_choice"], benchmark))
    _write_results(rundir, genotype, search.space, c, entries)
    return SearchResult(genotype=genotype, alpha=np.asarray(state.arch.alpha),
                        shapley=np.asarray(state.arch.shapley) if has_shapley else None, workdir=rundir.path,
                        state=state)


def _search_without_supernet(config: ml_collections.ConfigDict, space: SearchSpace, rundir: RunDir,
                             benchmark) -> SearchResult:
    """A method without a supernet (random search scored by the benchmark table)."""
    genotype, entries = get_method(config.search.method).run_without_supernet(config, space, benchmark)
    _write_results(rundir, genotype, space, config, entries)
    return SearchResult(genotype=genotype, alpha=np.zeros(space.alpha_shape), shapley=None, workdir=rundir.path,
                        state=None)


def _write_results(rundir: RunDir, genotype, space: SearchSpace, config: ml_collections.ConfigDict,
                   entries: dict) -> None:
    """results.json of every search: the found cell, the method's entries, the space and the resolved config."""
    rundir.write_json("results.json", {"genotype": genotype.to_json(), "genotype_str": str(genotype), **entries,
                                       "space": space_info(space), "config": json.loads(config.to_json_best_effort())})


def space_info(space: SearchSpace) -> dict:
    return {"name": space.name, "topology": space.topology, "cell_types": list(space.cell_types),
            "edge_ops": [[list(ops) for ops in space.edge_ops[c]] for c in range(len(space.cell_types))]}


def run_search(config: ml_collections.ConfigDict, workdir: str, *, progress: bool = True,
               interrupt: Callable[[str, SearchState], bool] | None = None) -> SearchResult:
    """Run (or resume) a search in `workdir`; returns the found genotype and final state.

    Rerunning with the same config and workdir resumes from the last checkpoint (Ctrl-C saves one at the
    next step boundary first). `interrupt(event, state)` is called after each weight step ("step"),
    architecture update ("alpha_update") and epoch end ("epoch_end", after the checkpoint); returning True
    stops the run at once with SearchInterrupted, leaving what a kill would (the checkpoints saved so far).
    Compiled steps are kept in JAX's persistent compilation cache (see `shapley_nas_jax.compilation_cache`).
    """
    sharding_lib.initialize_distributed()  # multi-host runs: join before anything touches a device
    enable_compilation_cache()  # a rerun or resumed run loads its compiled steps instead of compiling them
    config = config_lib.complete(config)
    config_lib.validate(config)
    from shapley_nas_jax.search.population import is_population

    if is_population(config):
        raise ConfigError("search.population and search.population_grid run many searches: use "
                          "shapley_nas_jax.run_population (or shapley-nas search, which does)")
    space = get_space(config.space)
    # the benchmark and the data before the workdir is written, so a missing file leaves no run behind
    benchmark = _load_benchmark(config, space)
    supernet = get_method(config.search.method).supernet
    search = Search.from_config(config, validate=False) if supernet else None
    rundir = RunDir(workdir)
    rundir.prepare(config, defaults=config_lib.base_config())
    log = MetricsLog(rundir)
    if search is None:
        return _search_without_supernet(config, space, rundir, benchmark)
    return _drive_search(search, rundir, log, benchmark, progress, interrupt)
