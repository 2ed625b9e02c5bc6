"""Empirical-Bayes smoothing of rates on cells: global (one prior for the whole map) and local (one prior per
cell, from its k-ring neighbourhood on the H3 grid).

Small populations make crude rates r = count/population noisy: a cell with 40 residents and one event shows a
rate of 25 per 1,000. Empirical Bayes shrinks each crude rate towards a prior mean, more strongly the smaller
the population, by the method-of-moments estimators of Marshall (1991); the posterior of the Poisson–gamma
model (Clayton & Kaldor 1987) gives each smoothed rate an interval.

References
----------
* R. J. Marshall (1991), "Mapping disease and mortality rates using empirical Bayes estimators", *Journal of
  the Royal Statistical Society, Series C (Applied Statistics)* 40(2):283–294 (the moment estimators of the
  prior mean and variance, and the shrinkage weight; the "local" version is his section 4).
* D. Clayton, J. Kaldor (1987), "Empirical Bayes estimates of age-standardized relative risks for use in
  disease mapping", *Biometrics* 43(3):671–681 (Poisson counts with a gamma prior on the rate: the posterior
  is gamma(α + count, β + population)).
* S. J. Rey, L. Anselin (2007), "PySAL: A Python Library of Spatial Analytical Methods" (esda's
  ``Empirical_Bayes`` implements Marshall's global estimator without the floor at zero, see :func:`eb_smooth`).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from . import _core
from ._convert import KEEP, FrameLike, as_frame, as_u64_cells, require_columns, rows_text
from .exceptions import InvalidInputError

__all__ = ["eb_smooth"]

OUTPUT = ("eb_rate", "eb_lo", "eb_hi", "eb_prior_mean", "eb_prior_var", "eb_weight")
NOTE_POINT_PRIOR = "prior variance 0: fully shrunk to the prior mean, no interval"
NOTE_ISOLATED = "no neighbour within k: global prior"


def numeric_column(
    df: pl.DataFrame, col: str, *, positive: bool = False, nonnegative: bool = False
) -> np.ndarray:
    """Column ``col`` as float64, with an error naming the rows that are null, NaN, infinite, or (with
    ``positive``/``nonnegative``) not > 0 / not >= 0."""
    s = df[col]
    if not (s.dtype.is_numeric() or s.dtype == pl.Null):
        raise InvalidInputError(f"{col}: expected a numeric column, got {s.dtype}")
    x = s.cast(pl.Float64).fill_null(float("nan")).to_numpy()
    bad = ~np.isfinite(x)
    expected = "finite numbers (no nulls)"
    if positive:
        bad |= ~(x > 0)
        expected = "finite numbers > 0"
    elif nonnegative:
        bad |= ~(x >= 0)
        expected = "finite numbers >= 0"
    if bad.any():
        rows = np.flatnonzero(bad)
        raise InvalidInputError(
            f"{col}: {rows_text(rows.size, rows[:KEEP].tolist())} invalid; expected {expected}"
        )
    return np.ascontiguousarray(x)


def neighbour_graph(cells: np.ndarray, k: int, column: str = "cells") -> tuple[np.ndarray, np.ndarray]:
    """CSR (offsets, neighbour index) of every other cell of the set within grid distance ``k`` (Rust core).

    Cells must be valid, of one resolution and unique; the error names ``column`` and the rows.
    """
    try:
        offsets, index, _ = _core.grid_neighbours(cells, k)
    except InvalidInputError as e:
        msg = str(e)
        raise InvalidInputError(
            f"{column}:{msg[len('cells:') :]}" if msg.startswith("cells:") else msg
        ) from e
    return offsets.astype(np.intp), index.astype(np.intp)


def _global_prior(count: np.ndarray, pop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Marshall's global moments: m = Σy/Σn, s² = Σn(r − m)²/Σn − m/n̄ (unfloored), as length-n arrays."""
    total = pop.sum()
    m = count.sum() / total
    s2 = np.sum(pop * (count / pop - m) ** 2) / total - m / (total / pop.size)
    return np.full(pop.size, m), np.full(pop.size, s2)


def _local_prior(
    count: np.ndarray, pop: np.ndarray, offsets: np.ndarray, index: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Marshall's moments over each cell's neighbourhood (the cell itself and its neighbours), unfloored.

    Segment sums over the CSR graph with ``np.bincount`` (no loop per cell); each neighbourhood's variance is
    summed from its own squared deviations, Σ n_j (r_j − m_i)², not from Σ n r² − m²Σn (no cancellation).
    """
    n = pop.size
    row = np.repeat(np.arange(n), np.diff(offsets))
    rate = count / pop
    size = 1.0 + np.diff(offsets)
    tot_c = count + np.bincount(row, weights=count[index], minlength=n)
    tot_p = pop + np.bincount(row, weights=pop[index], minlength=n)
    m = tot_c / tot_p
    dev = pop * (rate - m) ** 2 + np.bincount(
        row, weights=pop[index] * (rate[index] - m[row]) ** 2, minlength=n
    )
    s2 = dev / tot_p - m / (tot_p / size)
    return m, s2


def shrinkage(
    count: np.ndarray, pop: np.ndarray, m: np.ndarray, s2: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(EB rate, weight): w = s²/(s² + m/n) (0 where s² = 0), rate = m + w(r − m) = w·r + (1 − w)·m."""
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(s2 > 0, s2 / (s2 + m / pop), 0.0)
    return m + w * (count / pop - m), w


def posterior_limits(
    count: np.ndarray, pop: np.ndarray, m: np.ndarray, s2: np.ndarray, confidence: float
) -> tuple[np.ndarray, np.ndarray]:
    """Equal-tailed limits of the Poisson–gamma posterior gamma(α + y, β + n), α = m²/s², β = m/s².

    Where s² = 0 the prior is a point mass at m and so is the posterior: both limits are m.
    """
    from scipy import special

    ok = s2 > 0
    lo = m.copy()
    hi = m.copy()
    if ok.any():
        a = m[ok] ** 2 / s2[ok] + count[ok]
        scale = 1.0 / (m[ok] / s2[ok] + pop[ok])
        tail = (1.0 - confidence) / 2.0
        # gamma.ppf / gamma.isf are scale × gammaincinv / gammainccinv of the shape; with a global prior the
        # shapes repeat (α + a whole count), so each distinct shape is inverted once.
        shapes, inv = np.unique(a, return_inverse=True)
        if shapes.size > a.size // 4:
            shapes, inv = a, np.arange(a.size)
        lo[ok] = special.gammaincinv(shapes, tail)[inv] * scale
        hi[ok] = special.gammainccinv(shapes, tail)[inv] * scale
    return lo, hi


def eb_smooth(
    table: FrameLike,
    *,
    count: str,
    population: str,
    method: str = "global",
    k: int = 1,
    cell: str = "cell",
    confidence: float = 0.95,
    multiplier: float = 1,
) -> pl.DataFrame:
    """Empirical-Bayes rates (Marshall 1991) with Poisson–gamma posterior intervals (Clayton & Kaldor 1987).

    With crude rates rᵢ = yᵢ/nᵢ (count over population), the prior has mean and variance estimated by moments,

        m = Σy / Σn,        s² = max(0, Σnᵢ(rᵢ − m)² / Σn − m / n̄)        (n̄ = mean population),

    each cell's rate is shrunk towards m with weight wᵢ = s² / (s² + m/nᵢ) (wᵢ = 0 when s² = 0):

        EBᵢ = m + wᵢ (rᵢ − m),

    so a cell with a large population keeps nearly its own rate and a small one is pulled to the mean. The
    same is the posterior mean of the Poisson–gamma model yᵢ ~ Poisson(nᵢθᵢ), θᵢ ~ gamma(α, β) with α = m²/s²,
    β = m/s²; the posterior is gamma(α + yᵢ, β + nᵢ), whose equal-tailed quantiles at ``confidence`` are the
    limits ``eb_lo``, ``eb_hi``.

    ``method="global"`` uses one prior for the whole table. ``method="local"`` estimates m and s² separately
    for each cell over its neighbourhood: the cell and every cell of the table within grid distance ``k``
    (Marshall's local estimator; the graph comes from the Rust core, correct around pentagons; cells of the
    disk that are not in the table do not count).

    Difference from esda: ``esda.smoothing.Empirical_Bayes`` uses the same estimator but does not floor s² at
    zero. When the data are under-dispersed (the crude rates vary less than Poisson noise alone would make
    them) its s² is negative, the "weights" fall outside [0, 1] and rates are pushed *away* from the mean. Here
    s² < 0 is set to 0, as Marshall prescribes: every rate is then the prior mean (``eb_weight = 0``). Such a
    prior is a point mass, and so is the posterior: it carries no interval worth publishing (it would have zero
    width), so ``eb_lo``/``eb_hi`` are null there and ``eb_note`` says why. The same floor applies to each
    local neighbourhood; with small neighbourhoods (k = 1: at most 7 cells) the moment estimate of s² is noisy
    and often floored, so the local method is for maps of the smoothed rate, and the global one for intervals.

    Isolated cells (``method="local"``: no other cell of the table within ``k``) have no neighbourhood to
    borrow from; their "local" prior would be their own rate. They use the global prior instead, and
    ``eb_note`` says so.

    Parameters
    ----------
    table
        One row per cell (any table: Polars, pandas, Arrow).
    count
        Column of event counts (>= 0; fractional counts from apportionment are fine).
    population
        Column of populations at risk (> 0).
    method
        ``"global"`` or ``"local"``.
    k
        Neighbourhood radius in grid steps for ``method="local"`` (>= 1).
    cell
        Column of UInt64 H3 cells (unique, one resolution), used by ``method="local"`` only.
    confidence
        Level of the posterior interval, strictly between 0 and 1.
    multiplier
        Scale of the output rates, e.g. 1000 for rates per 1,000 (``eb_prior_var`` is scaled by its square).

    Returns
    -------
    pl.DataFrame
        ``table`` plus ``eb_rate``, ``eb_lo``, ``eb_hi`` (null where the prior variance is 0),
        ``eb_prior_mean``, ``eb_prior_var`` (floored), ``eb_weight`` (in [0, 1]; the weight of the cell's own
        crude rate) and ``eb_note`` (null, or why the interval is missing or the prior is global).

    Raises
    ------
    InvalidInputError
        Missing columns; null, negative or non-finite counts; null, zero, negative or non-finite populations
        (rows named); invalid, duplicated or mixed-resolution cells for ``method="local"`` (rows named);
        ``confidence`` outside (0, 1); ``k`` < 1; unknown ``method``.

    Examples
    --------
    >>> import polars as pl
    >>> from hyperlocal.smoothing import eb_smooth
    >>> t = pl.DataFrame({"y": [0, 2, 5, 30], "n": [50, 400, 600, 2000]})
    >>> out = eb_smooth(t, count="y", population="n", multiplier=1000)
    >>> out["eb_rate"].round(2).to_list()
    [12.06, 11.82, 11.88, 12.67]
    >>> bool((out["eb_lo"] <= out["eb_rate"]).all() and (out["eb_rate"] <= out["eb_hi"]).all())
    True
    """
    df = as_frame(table, "table")
    if method not in ("global", "local"):
        raise InvalidInputError(f"method: got {method!r}, expected 'global' or 'local'")
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0 < confidence < 1:
        raise InvalidInputError(f"confidence: got {confidence!r}, expected a number strictly between 0 and 1")
    if (
        isinstance(multiplier, bool)
        or not isinstance(multiplier, (int, float))
        or not 0 < multiplier < np.inf
    ):
        raise InvalidInputError(f"multiplier: got {multiplier!r}, expected a finite number > 0")
    if method == "local" and (isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1):
        raise InvalidInputError(f"k: got {k!r}, expected an integer >= 1")
    require_columns(df, [count, population] + ([cell] if method == "local" else []), "table")
    y = numeric_column(df, count, nonnegative=True)
    n = numeric_column(df, population, positive=True)
    if df.height == 0:
        return df.with_columns(
            *[pl.Series(c, [], dtype=pl.Float64) for c in OUTPUT], pl.Series("eb_note", [], dtype=pl.String)
        )
    isolated = np.zeros(df.height, dtype=bool)
    m, s2 = _global_prior(y, n)
    if method == "local":
        offsets, index = neighbour_graph(as_u64_cells(df[cell], cell), int(k), cell)
        isolated = np.diff(offsets) == 0
        lm, ls2 = _local_prior(y, n, offsets, index)
        m = np.where(isolated, m, lm)
        s2 = np.where(isolated, s2, ls2)
    m, s2 = np.broadcast_to(m, y.shape).astype(np.float64), np.broadcast_to(s2, y.shape).astype(np.float64)
    s2 = np.maximum(s2, 0.0)
    rate, w = shrinkage(y, n, m, s2)
    lo, hi = posterior_limits(y, n, m, s2, float(confidence))
    point = ~(s2 > 0)
    lo, hi = np.where(point, np.nan, lo), np.where(point, np.nan, hi)
    scale = float(multiplier)
    cols = (rate * scale, lo * scale, hi * scale, m * scale, s2 * scale**2, w)
    note = (
        pl.when(pl.Series(point))
        .then(pl.lit(NOTE_POINT_PRIOR))
        .when(pl.Series(isolated))
        .then(pl.lit(NOTE_ISOLATED))
        .otherwise(pl.lit(None, dtype=pl.String))
        .alias("eb_note")
    )
    return df.with_columns(*[pl.Series(name, v).fill_nan(None) for name, v in zip(OUTPUT, cols)], note)
