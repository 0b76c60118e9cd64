"""The run loop's progress bar: what it says while a run waits on an architecture update or a compile."""

import dataclasses

import numpy as np
import tqdm

from shapley_nas_jax import driver
from shapley_nas_jax.driver import Hook, drive


class RecordingBar(tqdm.tqdm):
    """The driver's bar, kept where the test's schedule can read its postfix."""

    last = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        RecordingBar.last = self


@dataclasses.dataclass
class CountingState:
    step: int = 0
    alpha_updates: int = 0
    epoch_sums: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(3))
    diverged_at: int = -1


class TwoUpdateSchedule:
    """4 weight steps, 2 per epoch; a Shapley update before steps 2 and 3; the last batch smaller (a new
    shape: its weight step compiles anew)."""

    steps_per_epoch, total_steps = 2, 4
    points = (2, 3)

    def __init__(self, bar_texts):
        self.bar_texts = bar_texts

    def train_batches(self, start):
        for step in range(start, self.total_steps):
            yield {"image": np.zeros((3 if step == 3 else 4, 2))}

    def weight_step(self, state, batch):
        self.bar_texts.append(("weight", self.postfix()))
        return dataclasses.replace(state, step=state.step + 1)

    def arch_update_due(self, state):
        return state.alpha_updates < sum(p <= state.step for p in self.points)

    def arch_step(self, state):
        self.bar_texts.append(("arch", self.postfix()))
        return dataclasses.replace(state, alpha_updates=state.alpha_updates + 1), {}

    def arch_step_label(self, state):
        return f"Shapley update {state.alpha_updates + 1}/2"

    def compile_key(self, state):
        return "running"

    def start_epoch(self, state):
        return state

    @staticmethod
    def postfix():
        return RecordingBar.last.postfix


class Agreement(Hook):
    def arch_update(self, state, step, metrics):
        return {"agreement": f"+0.{state.alpha_updates}0"}


def test_the_bar_names_the_running_update_and_each_compile_then_shows_the_hooks_entries(monkeypatch):
    monkeypatch.setattr(driver.tqdm, "tqdm", RecordingBar)
    texts = []
    drive(TwoUpdateSchedule(texts), CountingState(), [Agreement()], progress="search")
    weight = [postfix for kind, postfix in texts if kind == "weight"]
    arch = [postfix for kind, postfix in texts if kind == "arch"]
    assert "now=compiling weight step" in weight[0]
    assert "now" not in (weight[1] or "")  # the same shape again: no compile
    assert "now" not in weight[2] and "agreement=+0.10" in weight[2]  # after update 1: its agreement
    assert "now=compiling weight step" in weight[3]  # the smaller last batch
    assert arch[0].endswith("now=Shapley update 1/2 running compiling Shapley update 1/2")
    assert "now=Shapley update 2/2 running" in arch[1] and "compiling" not in arch[1]
    assert "agreement=+0.10" in arch[1]
