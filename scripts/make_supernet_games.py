"""Build real supernet games with exact ground truth (shapley_nas_jax.exact_games).

    python scripts/make_supernet_games.py --games nb201_ops4,darts_ops2,darts_edges --out exact_games
    python scripts/make_supernet_games.py --dataset folder:/data/cifar10 --image-size 8 --games nb201_ops4

For each game: train a small supernet (weights only, alpha at its init: a warm-up-only search), enumerate
all 2^n coalitions on one fixed value batch (accuracy and minus cross-entropy from the same forward pass),
differentiate at the full mask, and write ``<out>/supernet_<space>_<kind>_<dataset>.npz``. Games of the same
space share one trained supernet. Nothing is downloaded with the default dataset (digits).
``--measure-batching`` first times the enumeration at several coalition chunk sizes on the first game,
prints the table, writes ``<out>/batching_<game>.json`` and enumerates that game with the fastest size.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import platform
import sys
import time

import numpy as np


def cpu_isa() -> str:
    try:
        flags = pathlib.Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.machine()
    return "avx512" if "avx512f" in flags else ("avx2" if "avx2" in flags else platform.machine())


def main(argv=None) -> int:
    from shapley_nas_jax import exact_games as sg
    from shapley_nas_jax.compilation_cache import enable_compilation_cache
    from shapley_nas_jax.errors import UserError

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="digits", help="digits | folder:<root> | cifar10 (tfds)")
    p.add_argument("--games", default=",".join(sg.GAME_KINDS), help=f"comma list of {', '.join(sg.GAME_KINDS)}")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--channels", type=int, default=4)
    p.add_argument("--cells", type=int, default=1, help="NB201 cells per stage / DARTS cells (>= 3)")
    p.add_argument("--image-size", type=int, default=0, help="resize images (0 = native: digits 8, CIFAR 32)")
    p.add_argument("--batch-size", type=int, default=64, help="images per weight step")
    p.add_argument("--train-fraction", type=float, default=0.5, help="share of the split that trains the weights")
    p.add_argument("--learning-rate", type=float, default=0.1)
    p.add_argument("--out", default="exact_games")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--value-batch", type=int, default=64, help="images of the one fixed value batch")
    p.add_argument("--chunk", type=int, default=16, help="coalitions per jitted, vmapped call")
    p.add_argument("--measure-batching", action="store_true", help="time chunk sizes on the first game first")
    p.add_argument("--batching-sizes", default="1,4,16,64,256")
    p.add_argument("--batching-seconds", type=float, default=3.0)
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    enable_compilation_cache()
    kinds = [k.strip() for k in args.games.split(",") if k.strip()]
    progress = not args.no_progress
    out = pathlib.Path(args.out)
    trained_by_space = {}
    try:
        for i, kind in enumerate(kinds):
            t0 = time.perf_counter()
            space = sg.players._kind(kind)[0]
            trained = trained_by_space.get(space)
            if trained is None:
                config = sg.supernet_config(kind, args.dataset, epochs=args.epochs, channels=args.channels,
                                            cells=args.cells, image_size=args.image_size, batch_size=args.batch_size,
                                            seed=args.seed, train_fraction=args.train_fraction,
                                            learning_rate=args.learning_rate)
                trained = trained_by_space[space] = sg.train_supernet(config, progress=progress)
                print(f"[{kind}] trained {space} supernet in {trained.train_seconds:.0f} s "
                      f"(last-epoch train accuracy {trained.train_accuracy:.3f})", flush=True)
            chunk, extra = args.chunk, {}
            if args.measure_batching and i == 0:
                players = sg.game_players(kind)
                live = sg.live_game(trained, players, sg.value_batch(trained, args.value_batch, seed=args.seed))
                sizes = [int(s) for s in args.batching_sizes.split(",")]
                rows = sg.measure_batching(live, sizes, seconds=args.batching_seconds)
                print(f"batching ({kind}, n={players.num_players}, value batch {args.value_batch}, "
                      f"CPU ISA {cpu_isa()}):\n" + sg.format_batching_table(rows), flush=True)
                out.mkdir(parents=True, exist_ok=True)
                (out / f"batching_{kind}_{sg.dataset_label(args.dataset)}.json").write_text(json.dumps(
                    {"game": kind, "dataset": args.dataset, "num_players": players.num_players,
                     "value_batch_size": args.value_batch, "cpu_isa": cpu_isa(), "rows": rows}, indent=1) + "\n")
                chunk = max(rows, key=lambda r: r["evals_per_second"])["chunk"]
                extra["batching"] = rows
            built = sg.build_game(kind, args.dataset, out=out, value_batch_size=args.value_batch, chunk=chunk,
                                  seed=args.seed, trained=trained, progress=progress,
                                  extra_metadata={"cpu_isa": cpu_isa(), **extra})
            f = built.file
            if f.metadata["game_kind"] == "edges":
                phi = f.shapley_values("accuracy")
                top = ", ".join(f"{f.players[j].rsplit('/', 1)[-1]}" for j in np.argsort(-phi)[:4])
                best = f"top edges by accuracy Shapley: {top}"
            else:
                best = "top op per edge (accuracy): " + ", ".join(
                    f"e{e}={op}" for e, op in sg.top_op_per_edge(f, "accuracy").items())
            print(f"[{kind}] {f.name('accuracy').rsplit('_', 1)[0]}: n={f.num_players}, full acc "
                  f"{f.full_values['accuracy']:.3f}, neg_ce {f.full_values['neg_ce']:.3f}; {best}; enumerate "
                  f"{built.enumerate_seconds:.0f} s, total {time.perf_counter() - t0:.0f} s -> {built.path}",
                  flush=True)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
