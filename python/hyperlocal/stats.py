"""Interval statistics for shares and their changes, vectorised over numpy arrays.

* Wilson score interval for a proportion: E. B. Wilson (1927), "Probable inference, the law of succession,
  and statistical inference", JASA 22:209–212.
* Newcombe's hybrid score interval for a difference of independent proportions ("method 10"): R. G. Newcombe
  (1998), "Interval estimation for the difference between independent proportions: comparison of eleven
  methods", Statistics in Medicine 17:873–890.

Counts may be fractional (they are, after area apportionment); ``n`` is then the apportioned population.
Where ``n == 0`` the share and its interval are NaN, which callers turn into nulls.
"""

from __future__ import annotations

from statistics import NormalDist
from typing import Any

import numpy as np

__all__ = ["z_value", "wilson", "newcombe"]


def z_value(confidence: float) -> float:
    """Two-sided standard normal quantile, e.g. 1.959963984540054 for 0.95."""
    if not 0 < confidence < 1:
        from .exceptions import InvalidInputError

        raise InvalidInputError(f"confidence: got {confidence!r}, expected a number strictly between 0 and 1")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson(x: Any, n: Any, z: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(p, lower, upper) of the Wilson score interval for x successes out of n.

    p = x/n; centre = (p + z²/2n) / (1 + z²/n); half-width = z·√(p(1−p)/n + z²/4n²) / (1 + z²/n).
    """
    x = np.asarray(x, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(n > 0, x / n, np.nan)
        z2 = z * z
        denom = 1 + z2 / n
        centre = (p + z2 / (2 * n)) / denom
        half = z * np.sqrt(np.maximum(p * (1 - p) / n + z2 / (4 * n * n), 0.0)) / denom
    lo = np.where(n > 0, np.clip(centre - half, 0.0, 1.0), np.nan)
    hi = np.where(n > 0, np.clip(centre + half, 0.0, 1.0), np.nan)
    return p, lo, hi


def newcombe(p1: Any, l1: Any, u1: Any, p2: Any, l2: Any, u2: Any) -> tuple[Any, Any, Any]:
    """(d, lower, upper) for d = p1 − p2 from the two Wilson intervals (Newcombe 1998, method 10):

    lower = d − √((p1 − l1)² + (u2 − p2)²),  upper = d + √((u1 − p1)² + (p2 − l2)²).
    """
    d = p1 - p2
    lo = d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    hi = d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return d, lo, hi
