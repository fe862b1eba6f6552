"""Small numeric helpers, so that the profile core does not pay for importing scipy.stats."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["chi_square_uniform_p", "rank_average"]


def rank_average(values: np.ndarray) -> np.ndarray:
    """Ranks from 1, ties sharing their average rank (``scipy.stats.rankdata(method="average")``)."""
    n = values.size
    if n == 0:
        return np.empty(0, dtype=np.float64)
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.concatenate(([0], np.flatnonzero(ordered[1:] != ordered[:-1]) + 1))
    ends = np.concatenate((starts[1:], [n]))
    ranks = np.empty(n, dtype=np.float64)
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return ranks


def _upper_regularized_gamma(a: float, x: float) -> float:
    """Q(a, x) = Gamma(a, x) / Gamma(a): series below a + 1, Lentz continued fraction above."""
    if x <= 0:
        return 1.0
    log_prefix = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1:
        term = total = 1.0 / a
        ap = a
        for _ in range(10_000):
            ap += 1
            term *= x / ap
            total += term
            if abs(term) < abs(total) * 1e-16:
                break
        return max(0.0, 1.0 - total * math.exp(log_prefix))
    tiny = 1e-300
    b = x + 1 - a
    c = 1 / tiny
    d = 1 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-16:
            break
    return min(1.0, math.exp(log_prefix) * h)


def chi_square_uniform_p(counts: np.ndarray) -> float:
    """p-value of Pearson's chi-square test that ``counts`` come from a uniform distribution.

    Same as ``scipy.stats.chisquare(counts).pvalue``.
    """
    counts = np.asarray(counts, dtype=np.float64)
    k = counts.size
    total = counts.sum()
    if k < 2 or total == 0:
        return float("nan")
    expected = total / k
    statistic = float(((counts - expected) ** 2).sum() / expected)
    return _upper_regularized_gamma((k - 1) / 2, statistic / 2)
