"""Does an estimate rank players as the exact values do, where it decides an architecture?

A cell keeps the top op of each edge (and, in DARTS, the top two edges of each node), so what matters about
a Shapley estimate is its order within those groups, not its error overall.
"""

from __future__ import annotations

import numpy as np


def _groups(groups, n: int) -> list[np.ndarray]:
    groups = np.zeros(n, np.int64) if groups is None else np.asarray(groups)
    return [np.flatnonzero(groups == g) for g in np.unique(groups) if g >= 0]


def rank_agreement(estimate, exact, groups=None, top: int = 1) -> dict[str, float]:
    """How the estimate ``[n]`` ranks the players of each group (``groups`` ``[n]``: a group id per player,
    -1 for none; None: one group of all players) against the exact values ``[n]``.

    Returns ``spearman``: Spearman's rank correlation within a group, averaged over groups with at least
    three players whose exact values are not all equal; ``top_accuracy``: the fraction of groups whose
    ``top`` best players by the estimate are ``top`` best players by the exact values (as sets; where exact
    values tie, any of the tied players is right).
    """
    from scipy import stats

    estimate, exact = np.asarray(estimate, np.float64), np.asarray(exact, np.float64)
    correlations, hits, total = [], 0, 0
    for members in _groups(groups, exact.shape[0]):
        if len(members) >= 3 and np.ptp(exact[members]) > 0:
            rho = stats.spearmanr(estimate[members], exact[members]).statistic
            correlations.append(0.0 if np.isnan(rho) else rho)  # a constant estimate ranks nothing
        if len(members) > top:
            chosen = members[np.argsort(-estimate[members], kind="stable")[:top]]
            kth_best = np.sort(exact[members])[::-1][top - 1]
            hits += bool(np.all(exact[chosen] >= kth_best - 1e-9 * max(1.0, abs(kth_best))))  # ties: any is right
            total += 1
    return {"spearman": float(np.mean(correlations)) if correlations else float("nan"),
            "top_accuracy": hits / total if total else float("nan")}


__all__ = ["rank_agreement"]
