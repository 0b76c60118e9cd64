"""The one run loop: every search (``run_search``, ``Search.run``) and every training goes through `drive`.

A run is a *schedule* (what happens at a point of the run: a weight step, the architecture updates due
before it, an epoch's end; no I/O) and *hooks* (what the run writes: metrics, checkpoints, results, or a
notebook's callback). `drive` owns the loop over weight steps, the epoch ends, the divergence check,
timing, the progress bar (rate and ETA) and Ctrl-C: the first SIGINT stops the run at the next step
boundary after a checkpoint (rerun the same command to resume), a second one stops it at once.

Everything a schedule does is a pure function of the state's counters, so where a run stops, and whether
it resumes from a checkpoint, never changes its numbers.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from typing import Any, Callable, Iterator, Protocol, Sequence

import jax
import tqdm

from shapley_nas_jax.checkpointing import Checkpointer
from shapley_nas_jax.errors import SearchDivergedError

State = Any
"""A state pytree with ``step``, ``epoch_sums`` and ``diverged_at`` (``SearchState``, ``TrainState``)."""

EVENTS = ("alpha_update", "epoch_end", "step")


class Schedule(Protocol):
    """What a run does at each point; `drive` decides when."""

    steps_per_epoch: int
    total_steps: int

    def train_batches(self, start: int) -> Iterator[dict]:
        """The batches of weight steps ``start``, ``start + 1``, ..., ready for `weight_step`."""

    def weight_step(self, state: State, batch: dict) -> State:
        """One weight step on ``batch`` (``state.step`` advances by one)."""

    def arch_update_due(self, state: State) -> bool:
        """Whether an architecture update must run before the state's next weight step (or the end)."""

    def arch_step(self, state: State) -> tuple[State, dict]:
        """The next architecture update and its metrics."""

    def start_epoch(self, state: State) -> State:
        """The state with its per-epoch sums reset."""

    # Optional: ``arch_step_label(state) -> str | None`` names the update about to run on the progress bar
    # (None: not announced, e.g. one before every weight step), and ``compile_key(state) -> hashable`` tells
    # architecture steps that compile separately apart (e.g. one program per BN mode).


class Hook:
    """What a run does besides its steps, at the driver's points; every method does nothing by default."""

    def arch_update(self, state: State, step: int, metrics: dict) -> dict | None:
        """After an architecture update that ran before weight step ``step``. Returns entries for the progress
        bar (or None)."""

    def epoch_end(self, state: State, epoch: int, seconds: dict[str, float]) -> dict | None:
        """At the end of ``epoch`` (zero-based), before its sums are reset. ``seconds``: time spent in the
        epoch's weight steps (``train``) and architecture updates (``arch``). Returns entries for the
        progress bar (or None)."""

    def save(self, state: State) -> None:
        """Keep ``state`` (a finite one): after each architecture update, at each epoch end and on Ctrl-C."""

    def saved(self) -> str | None:
        """Where the last saved state is kept, for the divergence message (None: this hook saves nothing)."""

    def event(self, name: str, state: State) -> None:
        """After an ``"alpha_update"``, an ``"epoch_end"`` (after `save`) and each weight ``"step"``; raising
        stops the run."""


def drive(schedule: Schedule, state: State, hooks: Sequence[Hook] = (), *, progress: str | None = None) -> State:
    """Continue ``state`` to the end of ``schedule``, calling ``hooks``; returns the final state.

    Before each weight step (and at the end) every architecture update due runs; after the last weight
    step of an epoch the state must be finite (SearchDivergedError otherwise), the hooks see the epoch's end
    and the epoch sums are reset. ``progress``: the progress bar's label (None: no bar).
    """
    spe, total = schedule.steps_per_epoch, schedule.total_steps
    seconds = {"train": 0.0, "arch": 0.0}

    def save(state: State) -> None:
        check_finite(state, spe, hooks)
        for hook in hooks:
            hook.save(state)

    def after(event: str, state: State) -> None:
        for hook in hooks:
            hook.event(event, state)
        if stop_requested.is_set():
            save(state)
            raise KeyboardInterrupt("interrupted; rerun the same command to resume from the last checkpoint")

    bar = tqdm.tqdm(total=total, initial=int(state.step), unit="step", disable=progress is None,
                    dynamic_ncols=True, desc=progress)
    status = _BarStatus(bar)
    batches = schedule.train_batches(int(state.step))
    try:
        with _stop_on_sigint() as stop_requested:
            while True:
                step = int(state.step)
                while schedule.arch_update_due(state):
                    label = getattr(schedule, "arch_step_label", lambda _: None)(state)
                    compile_key = ("arch", getattr(schedule, "compile_key", lambda _: None)(state))
                    status.running(label, compiling=status.first_call(compile_key, label or "architecture step"))
                    t0 = time.perf_counter()
                    state, metrics = schedule.arch_step(state)
                    jax.block_until_ready(state.step)  # the update's compute counts here, not in the next step
                    seconds["arch"] += time.perf_counter() - t0
                    for hook in hooks:
                        status.show(hook.arch_update(state, step, metrics))
                    save(state)
                    after("alpha_update", state)
                status.show({})
                if step >= total:
                    return state
                batch = next(batches)
                shapes = ("weight", tuple(sorted((k, v.shape) for k, v in batch.items())))
                if status.first_call(shapes, "weight step"):
                    status.running(None, compiling="weight step")
                t0 = time.perf_counter()
                state = schedule.weight_step(state, batch)
                bar.update(1)
                if int(state.step) % spe == 0:
                    jax.block_until_ready(state.epoch_sums)
                    seconds["train"] += time.perf_counter() - t0
                    check_finite(state, spe, hooks)
                    for hook in hooks:
                        status.show(hook.epoch_end(state, int(state.step) // spe - 1, dict(seconds)))
                    state = schedule.start_epoch(state)
                    seconds = {"train": 0.0, "arch": 0.0}
                    save(state)
                    after("epoch_end", state)
                else:
                    seconds["train"] += time.perf_counter() - t0
                after("step", state)
    finally:
        batches.close()
        bar.close()


class _BarStatus:
    """The progress bar's postfix: the hooks' latest entries (loss, accuracy, the last estimate's agreement,
    ...) and, while it runs, what the bar is waiting on: an architecture update, or a step compiling (the
    first call of each step and input shape in this process: traced, then compiled or loaded from the
    persistent compilation cache)."""

    def __init__(self, bar: tqdm.tqdm):
        self.bar = bar
        self.entries: dict = {}
        self.seen: set = set()
        self.waiting = False

    def first_call(self, key, name: str) -> str | None:
        """``name`` if ``key`` has not run yet in this process's drive (it will compile), else None."""
        if key in self.seen:
            return None
        self.seen.add(key)
        return name

    def running(self, label: str | None, compiling: str | None = None) -> None:
        now = " ".join(part for part in (label and f"{label} running", compiling and f"compiling {compiling}")
                       if part)
        if now:
            self.waiting = True
            self.bar.set_postfix(dict(self.entries, now=now))

    def show(self, entries: dict | None) -> None:
        self.entries.update(entries or {})
        if entries or self.waiting:
            self.waiting = False
            self.bar.set_postfix(self.entries)


def check_finite(state: State, steps_per_epoch: int, hooks: Sequence[Hook] = ()) -> None:
    """Raise SearchDivergedError (one line) when a weight step of ``state`` had a non-finite loss."""
    diverged = int(state.diverged_at)
    if diverged < 0:
        return
    kept = "".join(f"; {where}" for where in (hook.saved() for hook in hooks) if where)
    raise SearchDivergedError(
        f"training loss became non-finite at weight step {diverged} (epoch {diverged // steps_per_epoch}){kept}; "
        f"lower train.learning_rate, or clip gradients harder (a smaller train.grad_clip; 0 turns clipping off), "
        f"and rerun")


@contextlib.contextmanager
def _stop_on_sigint() -> Iterator[threading.Event]:
    """While open, the first Ctrl-C only sets the yielded event (the loop saves and stops at its next step
    boundary) and a second one raises KeyboardInterrupt at once. Signals reach the main thread only."""
    requested = threading.Event()
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or not callable(previous):
        yield requested  # SIGINT ignored, left to the system, or not ours to handle: nothing changes
        return

    def request_stop(signum, frame):
        requested.set()
        signal.signal(signal.SIGINT, previous)
        sys.stderr.write("\nstopping after this step to save a checkpoint (Ctrl-C again to stop at once)\n")

    signal.signal(signal.SIGINT, request_stop)
    try:
        yield requested
    finally:
        signal.signal(signal.SIGINT, previous)


# ------------------------------------------------------------------------------------------------ hooks


class Checkpoints(Hook):
    """Saves the state at every save point under the id ``sum(point(state).values())``, with ``point(state)``
    (e.g. ``{"step": ..., "alpha_updates": ...}``) as the checkpoint's meta."""

    def __init__(self, checkpointer: Checkpointer, directory: str, point: Callable[[State], dict[str, int]]):
        self.checkpointer = checkpointer
        self.directory = directory
        self.point = point

    def save(self, state: State) -> None:
        meta = self.point(state)
        self.checkpointer.save(sum(meta.values()), state, meta)

    def saved(self) -> str:
        last = self.checkpointer.latest_id()
        return f"the last good checkpoint ({'none yet' if last is None else f'id {last}'}) is kept in {self.directory}"


class Callback(Hook):
    """Calls ``callback(event, state)`` at the given events; a True return raises ``stop(message)``."""

    def __init__(self, callback: Callable[[str, State], Any], events: Sequence[str] = EVENTS,
                 stop: Callable[[str], Exception] | None = None):
        self.callback = callback
        self.events = tuple(events)
        self.stop = stop

    def event(self, name: str, state: State) -> None:
        if name in self.events and self.callback(name, state) and self.stop is not None:
            raise self.stop(_STOP_MESSAGES[name])


_STOP_MESSAGES = {"alpha_update": "interrupted after an alpha update", "epoch_end": "interrupted at the end of an epoch",
                  "step": "interrupted after a weight step"}
