"""What the search's truncation (eta) and mean-minus-std aggregate do to Shapley estimates on real supernet games.

For each game in exact_games (or --games-dir) and each value metric, estimates the Shapley values
with many permutations (so that the sampling error is small next to the bias) under four settings: the
unbiased estimate (no truncation, mean), truncation only, mean-minus-std only, and both (the search's
default: eta = 0.5, truncated players count 0). Prints and writes, per setting, the bias against the exact
values (RMS over players, relative to the RMS of the exact values), its sampling error, the evaluations per
chain, and what decides an architecture: the rank correlation with the exact values within each edge (edge
players: each node) and how often each edge's top op (each node's top two edges) is right.

    python scripts/truncation_bias.py [--permutations 2000] [--eta 0.5] [--json bias.json]

The work is ``shapley_nas_jax.analysis.estimator_comparison.truncation_bias``.
"""

from __future__ import annotations

import argparse
import json
import pathlib

from shapley_nas_jax.analysis.estimator_comparison import truncation_bias
from shapley_nas_jax.exact_games import load_game, ranking_groups

REPO = pathlib.Path(__file__).resolve().parents[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games-dir", default=str(REPO / "exact_games"))
    parser.add_argument("--permutations", type=int, default=2000, help="chains per estimate (a multiple of 10)")
    parser.add_argument("--eta", type=float, default=0.5)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    if args.permutations % 10:
        parser.error(f"--permutations must be a multiple of 10 (ten blocks measure the sampling error), "
                     f"got {args.permutations}")
    paths = sorted(pathlib.Path(args.games_dir).glob("*.npz"))
    if not paths:
        parser.error(f"no games (*.npz) in {args.games_dir}; make them with scripts/make_supernet_games.py")
    rows = []
    header = (f"{'game':<44} {'setting':<15} {'bias/|phi|':>10} {'bias':>9} {'+-se':>8} {'evals/chain':>11} "
              f"{'spearman':>8} {'top op':>7}")
    print(header)
    print("-" * len(header))
    for path in paths:
        file = load_game(path)
        for metric in ("accuracy", "neg_ce"):
            game = file.table_game(metric)
            groups, top = ranking_groups(file.edge, file.node)
            for row in truncation_bias(game, groups, args.permutations, args.eta, top=top):
                row.update(game=game.name, players=game.num_players)
                rows.append(row)
                print(f"{game.name:<44} {row['setting']:<15} {row['bias_relative']:>10.3f} {row['bias_rms']:>9.5f} "
                      f"{row['sampling_se']:>8.5f} {row['evaluations_per_chain']:>11.1f} "
                      f"{row['spearman_within_groups']:>8.3f} {row['top_accuracy']:>7.2f}")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(rows, indent=1))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
