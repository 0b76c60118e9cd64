"""Drive a Shapley-NAS search from Python one step at a time (e.g. from a notebook).

`Search.from_config(config)` gives the pure steps of a search (``init_state``, ``weight_step``,
``shapley_step``, ``genotype``) and the data the schedule feeds them (``train_batch(step)``,
``value_batches(update)``); ``updates_due(step)`` says how many Shapley updates must have run before weight
step ``step``. The loop below is what ``run_search`` (the CLI) does, minus checkpoints and logs, so it ends
with the same alpha and genotype; ``Search.run()`` is the same loop, and the script checks they agree.

    python examples/step_by_step.py [--epochs 3] [--fast-compile]

Prints one line per Shapley update and per epoch, then ``hand-driven loop == Search.run(): True``; `main`
returns those numbers, both loops' alpha and the genotype.
"""

import numpy as np

from shapley_nas_jax import Search, register_space, uniform_darts_space
from shapley_nas_jax.config import small_cpu_config


# A small two-op space on the DARTS cell (built-in ops, cheap to compile on a CPU); any registered space works.
register_space("pw2", lambda: uniform_darts_space("pw2", ("skip_connect", "nor_conv_1x1")), overwrite=True)


def get_config():
    c = small_cpu_config("pw2")
    return c


def main(argv=None):
    # Imported here, not at the top, so that this file also loads as a module or config file from elsewhere.
    from _search_args import parse_search_args, search_parser, with_search_args  # examples/_search_args.py

    args = parse_search_args(search_parser(__doc__), argv)
    config = with_search_args(get_config(), args)

    search = Search.from_config(config)
    print(f"{search.total_steps} weight steps ({search.steps_per_epoch} per epoch), "
          f"Shapley updates before steps {search.update_points.tolist()}")
    state = search.init_state()
    updates, epochs = [], []
    for step in range(search.total_steps):
        while int(state.alpha_updates) < search.updates_due(step):
            update = int(state.alpha_updates)
            state, metrics = search.shapley_step(state, search.value_batches(update))
            print(f"update {update} before step {step}: {int(metrics['num_evaluations'])} coalitions scored, "
                  f"full supernet value {float(metrics['value_full']):.3f}, "
                  f"largest |phi| {float(np.abs(state.arch.shapley).max()):.4f}")
            updates.append({"before_step": step, "num_evaluations": int(metrics["num_evaluations"]),
                            "value_full": float(metrics["value_full"]),
                            "shapley": np.asarray(state.arch.shapley).tolist()})
        state = search.weight_step(state, search.train_batch(step))
        if (step + 1) % search.steps_per_epoch == 0:
            loss_sum, correct, count = (float(x) for x in state.epoch_sums)
            genotype = search.genotype(state)
            skips = sum(op == "skip_connect" for cell in ("normal", "reduce") for op, _ in genotype.cell(cell))
            print(f"epoch {step // search.steps_per_epoch}: train loss {loss_sum / count:.3f}, "
                  f"accuracy {correct / count:.3f}, skip_connects in the cell: {skips}")
            epochs.append({"loss": loss_sum / count, "accuracy": correct / count, "skip_connects": skips,
                           "genotype": genotype.to_json()})
            state = search.end_epoch(state)
    state, _ = search.catch_up(state)  # updates due at the very end (none for the epoch cadence)
    hand_alpha, hand_genotype = np.asarray(state.arch.alpha), search.genotype(state)

    again = search.run()  # the same schedule in one call
    same = np.array_equal(np.asarray(again.arch.alpha), hand_alpha) and search.genotype(again) == hand_genotype
    print(f"genotype: {hand_genotype}")
    print(f"hand-driven loop == Search.run(): {same}")
    return {"update_points": search.update_points.tolist(), "updates": updates, "epochs": epochs,
            "hand_alpha": hand_alpha.tolist(), "run_alpha": np.asarray(again.arch.alpha).tolist(), "same": same,
            "genotype": hand_genotype.to_json(), "steps_per_epoch": search.steps_per_epoch}


if __name__ == "__main__":
    main()
