"""Shapley values of a weighted voting game: exact enumeration and Monte-Carlo vs the closed form.

A weighted voting game gives a coalition value 1 if its members' weights reach the quota, else 0; a
player's Shapley value is its Shapley-Shubik power index. The game is written as a plain jnp function of
a coalition mask, and `shapley_values` scores it exactly (all 2^n coalitions, vmapped in chunks) and by
permutation sampling (uniform, antithetic, stratified); `games.voting_shapley` counts the true values
without enumerating coalitions.

    python examples/voting_game.py [--permutations 400] [--seed 0]

Prints one row per player and the largest errors, e.g. ``max |exact - closed form| = 0.0e+00``; `main`
returns the values (closed form, exact, and each sampling's estimate) as lists.
"""

import argparse

import jax.numpy as jnp
import numpy as np

from shapley_nas_jax import shapley_values
from shapley_nas_jax.shapley import games

WEIGHTS = (9, 7, 5, 4, 3, 2, 1, 1)  # votes held by each of 8 players
QUOTA = 17  # votes needed to pass


def passes(mask):
    """Coalition value: 1.0 if the present players' votes reach the quota. ``mask`` float32 [8]."""
    return (mask @ jnp.asarray(WEIGHTS, jnp.float32) >= QUOTA).astype(jnp.float32)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--permutations", type=int, default=400, help="Monte-Carlo permutations M (even)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    n = len(WEIGHTS)
    truth = games.voting_shapley(WEIGHTS, QUOTA)
    exact = np.asarray(shapley_values(passes, n))  # 2^8 = 256 coalitions
    estimates = {
        sampling: np.asarray(shapley_values(passes, n, key=args.seed, method="permutation",
                                            num_permutations=args.permutations, sampling=sampling))
        for sampling in ("uniform", "antithetic", "stratified")
    }

    print(f"weighted voting game: weights {list(WEIGHTS)}, quota {QUOTA}, M = {args.permutations} permutations")
    print(f"{'player':>6} {'weight':>6} {'closed':>8} {'exact':>8} " + " ".join(f"{s:>10}" for s in estimates))
    for i in range(n):
        row = " ".join(f"{estimates[s][i]:10.4f}" for s in estimates)
        print(f"{i:6d} {WEIGHTS[i]:6d} {truth[i]:8.4f} {exact[i]:8.4f} {row}")
    print(f"sum of exact values = {exact.sum():.6f} (v(all) - v(none) = 1)")
    print(f"max |exact - closed form| = {np.abs(exact - truth).max():.1e}")
    for sampling, est in estimates.items():
        print(f"max |{sampling} - closed form| = {np.abs(est - truth).max():.4f}")
    return {"closed_form": np.asarray(truth).tolist(), "exact": exact.tolist(),
            "estimates": {sampling: est.tolist() for sampling, est in estimates.items()}}


if __name__ == "__main__":
    main()
