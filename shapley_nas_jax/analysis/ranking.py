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


def update_signal(updates, players=None) -> dict[str, float]:
    """How much a search's successive estimates ``[updates, ..., ops]`` agree, beyond what noise would give.

    Only the order of the ops on an edge decides a cell, so each estimate is first centred over the last axis
    (the ops of one edge), among the ``players`` (a boolean mask ``[..., ops]`` that broadcasts against one
    estimate, e.g. over the ops axis alone; default all). Modelling every estimate as one steady signal plus
    independent noise of the same size each time, the squared *consistency*
    ``|mean of the estimates|^2 / mean |estimate|^2`` is ``(s + 1/T) / (s + 1)`` for ``T`` estimates and a
    signal-to-noise power ratio ``s``; pure noise gives ``1/T``.

    Returns ``consistency``, ``noise_level`` (``1/sqrt(T)``: its value for pure noise) and
    ``signal_to_noise`` (``sqrt(s)``: the steady part's size over the noise's in one estimate; 0 when the
    estimates agree no more than noise would, ``inf`` when they are identical).
    """
    updates = np.asarray(updates, np.float64)
    if updates.ndim < 2 or updates.shape[0] < 2:
        raise ValueError(f"update_signal needs at least 2 estimates [updates, ..., ops], got shape {updates.shape}")
    centred = _centred_over_ops(updates, players)
    count = centred.shape[0]
    power = np.mean(np.sum(centred.reshape(count, -1) ** 2, axis=1))
    if power == 0:
        raise ValueError("update_signal: every estimate is constant over the ops of each edge (no order to compare)")
    consistency_sq = np.sum(centred.mean(axis=0) ** 2) / power
    ratio = np.inf if consistency_sq >= 1 else max(consistency_sq - 1 / count, 0.0) / (1 - consistency_sq)
    return {"consistency": float(np.sqrt(consistency_sq)), "noise_level": float(1 / np.sqrt(count)),
            "signal_to_noise": float(np.sqrt(ratio))}


def _centred_over_ops(estimates, players=None) -> np.ndarray:
    """``estimates [..., ops]`` centred over the ops of each edge among ``players`` (0 at non-players)."""
    estimates = np.asarray(estimates, np.float64)
    weight = np.broadcast_to(np.ones(1) if players is None else np.asarray(players, np.float64), estimates.shape)
    per_edge = np.maximum(weight.sum(axis=-1, keepdims=True), 1)
    return (estimates - (estimates * weight).sum(axis=-1, keepdims=True) / per_edge) * weight


def estimate_agreement(previous, estimate, players=None) -> float:
    """How far one estimate ``[..., ops]`` agrees with the mean of a run's ``previous`` estimates
    ``[updates, ..., ops]``: the cosine between the two after centring each over the ops of every edge (as
    :func:`update_signal` centres them). 1: the same order of ops everywhere, 0: unrelated (what independent
    noise gives on average), -1: reversed. NaN with no previous estimate or when either side is flat."""
    previous = np.asarray(previous, np.float64)
    if previous.shape[0] == 0:
        return float("nan")
    a = _centred_over_ops(estimate, players).ravel()
    b = _centred_over_ops(previous.mean(axis=0), players).ravel()
    norm = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / norm) if norm > 0 else float("nan")


__all__ = ["estimate_agreement", "rank_agreement", "update_signal"]


def estimate_size_and_error(estimates, standard_errors) -> tuple[np.ndarray, np.ndarray]:
    """Per update, the estimate's size against its noise, over the players: the mean of |estimate - its edge's
    mean over ops| (what ordering an edge's ops needs) and the mean standard error (NaN entries, as
    budgeted estimators log, are skipped). Both inputs are ``[updates, cell_types, edges, ops]`` as the
    metrics log holds them (0 at non-players); players are the entries that ever had an error or a value."""
    phi = np.asarray(estimates, np.float64)
    se = np.asarray(standard_errors, np.float64)
    players = np.any((se > 0) | (phi != 0), axis=0)
    size = np.abs(phi - phi.mean(axis=-1, keepdims=True))[:, players].mean(axis=1)
    return size, np.nanmean(se[:, players], axis=1)
