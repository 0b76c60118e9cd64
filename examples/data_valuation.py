"""Data valuation: the Shapley value of each training point to a 1-nearest-neighbour classifier.

Players are 14 training images of handwritten 0s and 1s (scikit-learn's digits, no download), two of them
with flipped labels. A coalition's value is the test accuracy of a 1-NN classifier that may only use the
present points (the empty coalition guesses, accuracy 0.5). The game is a jnp function of the coalition
mask, so `shapley_values` scores all 2^14 coalitions exactly, and permutation sampling approximates them.
Mislabelled points should come out with the lowest (negative) values.

    python examples/data_valuation.py [--permutations 200]

Prints each point's exact and Monte-Carlo value and the line ``lowest-valued points: [...]``; `main` returns
the training labels (flipped ones included) and both sets of values as lists.
"""

import argparse

import jax.numpy as jnp
import numpy as np
from sklearn.datasets import load_digits

from shapley_nas_jax import shapley_values

PER_CLASS = 7  # training points per class (14 players)
FLIPPED = (3, 10)  # indices of the training points whose label is flipped


def make_data(seed: int = 0):
    digits = load_digits(n_class=2)
    x, y = digits.data.astype(np.float32) / 16.0, digits.target.astype(np.int32)
    rng = np.random.default_rng(seed)
    train = np.concatenate([rng.choice(np.flatnonzero(y == c), PER_CLASS, replace=False) for c in (0, 1)])
    test = np.setdiff1d(np.arange(len(y)), train)
    y_train = y[train].copy()
    y_train[list(FLIPPED)] = 1 - y_train[list(FLIPPED)]
    return x[train], y_train, x[test], y[test]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--permutations", type=int, default=200, help="Monte-Carlo permutations M")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    x_train, y_train, x_test, y_test = make_data(args.seed)
    # Squared distances [test, train], computed once; the game only masks them.
    dist = jnp.asarray(((x_test[:, None, :] - x_train[None, :, :]) ** 2).sum(-1))
    labels, truth = jnp.asarray(y_train), jnp.asarray(y_test)

    def accuracy(mask):
        """Test accuracy of 1-NN on the present training points; ``mask`` float32 [14]."""
        nearest = jnp.argmin(jnp.where(mask[None, :] > 0, dist, jnp.inf), axis=1)
        acc = jnp.mean(labels[nearest] == truth)
        return jnp.where(mask.sum() > 0, acc, 0.5)

    n = len(y_train)
    exact = np.asarray(shapley_values(accuracy, n))
    approx = np.asarray(shapley_values(accuracy, n, key=args.seed, method="permutation",
                                       num_permutations=args.permutations, sampling="antithetic"))
    print(f"1-NN on digits 0/1: {n} training points (flipped labels at {list(FLIPPED)}), {len(y_test)} test points")
    print(f"{'point':>5} {'label':>5} {'exact':>9} {'permutation':>11}")
    for i in range(n):
        flag = "  <- flipped" if i in FLIPPED else ""
        print(f"{i:5d} {int(y_train[i]):5d} {exact[i]:9.4f} {approx[i]:11.4f}{flag}")
    print(f"sum of exact values = {exact.sum():.4f} = accuracy(all) - 0.5 = {float(accuracy(jnp.ones(n))) - 0.5:.4f}")
    print(f"max |permutation - exact| = {np.abs(approx - exact).max():.4f}")
    lowest = sorted(np.argsort(exact)[:len(FLIPPED)].tolist())
    print(f"lowest-valued points: {lowest}")
    return {"labels": y_train.tolist(), "exact": exact.tolist(), "permutation": approx.tolist(),
            "accuracy_all": float(accuracy(jnp.ones(n))), "lowest": lowest}


if __name__ == "__main__":
    main()
