"""Funnel plots: control limits around a target for proportions, rates and ratios, per unit and as curves.

A funnel plot draws each unit's indicator (y) against its precision (x: the denominator, or the expected
events of a ratio) with control limits around the target that narrow as x grows. A unit outside the 95%
limits ("2 sigma") is a possible outlier, outside the 99.8% limits ("3 sigma") an outlier (Spiegelhalter 2005).

Methods, as in the Fingertips technical guidance and ``PHEindicatormethods`` 2.1.0 (``calculate_funnel_limits``,
``assign_funnel_significance``, ``calculate_funnel_points``):

* **proportion** (target p₀ = Σ numerator / Σ denominator): the limits of the score (Wilson) test at n,
  p₀ ± z·√(p₀(1 − p₀)/n), clipped to [0, 1]. These are PHE's ``sigma_adjustment`` limits, written in closed
  form: the proportion whose Wilson interval at n just reaches p₀.
* **rate** (target θ₀ = Σ events / Σ denominator) and **ratio** (observed / expected, target 1): exact Poisson
  limits for the expected count E = θ₀·n (rates) or E (ratios). A unit is above the 95% limit when the lower
  limit of its exact 95% interval exceeds E, i.e. P(X ≥ O | E) < 0.025, and below it when P(X ≤ O | E) < 0.025.
  The limit curves continue the exact interval to real counts through the incomplete gamma function: the
  upper count limit solves P(O, E) = α/2 and the lower solves Q(O + 1, E) = α/2 (P, Q the regularised
  incomplete gamma functions), so a point is outside a curve exactly when its exact test says so.
* Rates may be given as a rate column (e.g. a directly standardised rate, DSR), as in PHE: the denominator of
  a unit with events is then the equivalent population multiplier·events/rate; units without events use the
  denominator column (crude rates) or are left out (DSRs); DSRs on fewer than 10 events get no position.
* ``overdispersion="dl"``: Spiegelhalter's (2005, QSHC) random-effects limits (see :func:`funnel_limits`).

The curves of :func:`funnel_curves` reproduce PHE's output tables (their axis rule, their grid of 100 points
and, for Poisson statistics, their bisection for the expected count on a limit) to their printed precision.

Positions (``funnel_position``) and PHE's ``significance`` labels, at the default confidence levels:

============== =====================
position       PHE label
============== =====================
"above 99.8"   "High (0.001)"
"above 95"     "High (0.025)"
"within"       "Not significant"
"below 95"     "Low (0.025)"
"below 99.8"   "Low (0.001)"
null           "Not applicable for events less than 10 for dsrs" (and units with a zero denominator)
============== =====================

PHE's significance uses Byars' approximation from 10 events, ours the exact Poisson test at every count; the
two can differ only for a unit lying within Byars' error of a limit (none in PHE's test data).

References
----------
* D. J. Spiegelhalter (2005), "Funnel plots for comparing institutional performance", Statistics in Medicine
  24:1185–1202.
* D. J. Spiegelhalter (2005), "Handling over-dispersion of performance indicators", Quality and Safety in
  Health Care 14:347–351.
* R. DerSimonian, N. Laird (1986), "Meta-analysis in clinical trials", Controlled Clinical Trials 7:177–188.
* Public Health England (2018), *Technical Guide: Funnel plots* (Fingertips, Public Health Data Science),
  and the UKHSA R package ``PHEindicatormethods`` 2.1.0, ``R/Funnels.R``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from ._convert import KEEP, FrameLike, as_f64, as_frame, require_columns, rows_text
from .exceptions import InvalidInputError
from .io import atomic_path

__all__ = ["FUNNEL_STATISTICS", "funnel_limits", "funnel_curves", "funnel_plot"]


class _Special:
    """``scipy.special``, imported on first use (so that ``import hyperlocal`` does not load scipy)."""

    def __getattr__(self, name: str) -> Any:
        from scipy import special as module

        return getattr(module, name)


special = _Special()

#: The statistics a funnel can be drawn for.
FUNNEL_STATISTICS = ("proportion", "rate", "ratio")

_RATE_TYPES = ("crude", "dsr")
_DSR_MIN_EVENTS = 10  # PHE: DSRs on fewer events are not assessed
_WINSOR = 0.1  # Spiegelhalter (2005, QSHC): 10% of the z-scores winsorised at each end


# ---------------------------------------------------------------------------------------------- validation


def _check_statistic(statistic: str) -> str:
    if statistic not in FUNNEL_STATISTICS:
        raise InvalidInputError(f"statistic: got {statistic!r}, expected one of {list(FUNNEL_STATISTICS)}")
    return statistic


def _check_confidence(confidence: Sequence[float]) -> tuple[float, float]:
    """The (inner, outer) confidence levels, each strictly between 0 and 1, inner < outer."""
    try:
        inner, outer = (float(c) for c in confidence)
    except (TypeError, ValueError) as e:
        raise InvalidInputError(
            f"confidence: got {confidence!r}, expected two levels such as (0.95, 0.998)"
        ) from e
    for c in (inner, outer):
        if not 0 < c < 1:
            raise InvalidInputError(f"confidence: got {c!r}, expected a number strictly between 0 and 1")
    if not inner < outer:
        raise InvalidInputError(
            f"confidence: got {confidence!r}, expected the inner level first (inner < outer)"
        )
    return inner, outer


def _level_name(c: float) -> str:
    """'95' for 0.95, '998' for 0.998: the suffix of the limit columns."""
    return f"{100 * c:g}".replace(".", "")


def _level_label(c: float) -> str:
    """'95' for 0.95, '99.8' for 0.998: the number in the position labels."""
    return f"{100 * c:g}"


def _positive_scalar(x: Any, name: str) -> float:
    if (
        isinstance(x, bool)
        or not isinstance(x, (int, float, np.integer, np.floating))
        or not (math.isfinite(float(x)) and float(x) > 0)
    ):
        raise InvalidInputError(f"{name}: got {x!r}, expected a finite number > 0")
    return float(x)


def _bad_rows(mask: np.ndarray, name: str, what: str) -> None:
    """Raise naming ``name``, the number of rows in ``mask`` and the first few of them, if any."""
    if mask.any():
        first = np.flatnonzero(mask)[:KEEP].tolist()
        raise InvalidInputError(f"{name}: {rows_text(int(mask.sum()), first)} {what}")


def _column(df: pl.DataFrame, col: str, *, needed: np.ndarray | None = None) -> np.ndarray:
    """A count-like column as float64: finite and ≥ 0 (null/NaN allowed only outside ``needed``)."""
    x = as_f64(df.get_column(col), col, nulls_as_nan=needed is not None)
    missing = np.isnan(x) if needed is None else np.isnan(x) & needed
    _bad_rows(missing, col, "are null or NaN; expected numbers")
    _bad_rows(np.isinf(x), col, "are infinite; expected finite numbers")
    _bad_rows(x < 0, col, "are negative; expected numbers ≥ 0")
    return x


# ---------------------------------------------------------------------------------------------- the units


@dataclass(frozen=True)
class _Units:
    """The units of a funnel on one scale: counts O, denominators n (NaN: not assessed), target θ₀."""

    statistic: str
    observed: np.ndarray
    denominator: np.ndarray
    target: float
    multiplier: float
    assessed: np.ndarray  # rows given a position (n > 0, and ≥ 10 events for DSRs)

    @property
    def expected(self) -> np.ndarray:
        """Expected counts under the target (Poisson statistics): θ₀·n for rates, n for ratios."""
        return self.denominator * self.target

    @property
    def value(self) -> np.ndarray:
        """Each unit's indicator on the unit scale (proportion, rate per 1, ratio)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.denominator > 0, self.observed / self.denominator, np.nan)


def _frame(table: FrameLike | None, numerator: Any, denominator: Any, rate: Any) -> tuple[pl.DataFrame, dict]:
    """The input table and the names of its numerator/denominator/rate columns; array inputs without a
    table become the columns ``numerator``, ``denominator`` (and ``rate``) of a new table."""
    if table is not None:
        df = as_frame(table, "table")
        cols = {"numerator": numerator, "denominator": denominator, "rate": rate}
        for key, col in cols.items():
            if col is not None and not isinstance(col, str):
                raise InvalidInputError(
                    f"{key}: with a table, expected a column name, got {type(col).__name__}"
                )
        require_columns(df, [c for c in cols.values() if c is not None], "table")
        return df, cols
    arrays = {
        k: v
        for k, v in (("numerator", numerator), ("denominator", denominator), ("rate", rate))
        if v is not None
    }
    for k, v in arrays.items():
        if isinstance(v, str):
            raise InvalidInputError(f"{k}: got the column name {v!r} but no table; pass table= or arrays")
    lengths = {k: len(v) for k, v in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise InvalidInputError(f"length mismatch: {lengths}; expected arrays of one length")
    df = pl.DataFrame({k: as_f64(v, k) for k, v in arrays.items()})
    return df, {k: (k if k in arrays else None) for k in ("numerator", "denominator", "rate")}


def _units(
    df: pl.DataFrame,
    cols: dict,
    statistic: str,
    multiplier: float,
    target: float | None,
    rate_type: str,
) -> _Units:
    """Validate the columns and put the units on one scale (see the module docstring for PHE's rules)."""
    num_col, den_col, rate_col = cols["numerator"], cols["denominator"], cols["rate"]
    if num_col is None:
        raise InvalidInputError("numerator: required (the counts: events, or observed events of a ratio)")
    obs = _column(df, num_col)
    dsr = False
    if rate_col is not None:
        if statistic != "rate":
            raise InvalidInputError(f"rate: only for statistic='rate', got statistic={statistic!r}")
        if rate_type not in _RATE_TYPES:
            raise InvalidInputError(f"rate_type: got {rate_type!r}, expected one of {list(_RATE_TYPES)}")
        dsr = rate_type == "dsr"
        rate = _column(df, rate_col, needed=obs > 0)  # PHE: a rate may be missing where there are no events
        _bad_rows((obs > 0) & (rate == 0), rate_col, f"are 0 with {num_col} > 0; expected a positive rate")
        with np.errstate(divide="ignore", invalid="ignore"):
            den = np.where(obs > 0, multiplier * obs / rate, np.nan)
        if den_col is not None:
            given = _column(df, den_col)
            if not dsr:
                den = np.where(obs > 0, den, given)
        elif not dsr:
            _bad_rows(
                obs == 0,
                num_col,
                "have no events and there is no denominator column to place them; "
                "pass denominator= (PHE requires it too)",
            )
    else:
        if den_col is None:
            raise InvalidInputError("denominator: required (population, person-years or expected events)")
        den = _column(df, den_col)
    what = {"proportion": "denominator", "rate": "denominator", "ratio": "expected events"}[statistic]
    _bad_rows((den == 0) & (obs > 0), den_col or num_col, f"have {num_col} > 0 but zero {what}")
    if statistic == "proportion":
        _bad_rows(
            obs > den, num_col, f"exceed {den_col}; a proportion's numerator is at most its denominator"
        )
    usable = np.isfinite(den) & (den > 0)
    theta = _target(statistic, obs, den, usable, target)
    assessed = usable & ((obs >= _DSR_MIN_EVENTS) if dsr else True)
    return _Units(statistic, obs, np.where(usable, den, np.nan), theta, multiplier, assessed)


def _target(
    statistic: str, obs: np.ndarray, den: np.ndarray, usable: np.ndarray, target: float | None
) -> float:
    """θ₀ on the unit scale: the given target, else 1 (ratios) or the pooled average Σ O / Σ n."""
    if target is not None:
        if statistic == "proportion" and not 0 < target < 1:
            raise InvalidInputError(f"target: got {target!r} as a proportion, expected it strictly in (0, 1)")
        return target
    if statistic == "ratio":
        return 1.0
    total = float(den[usable].sum())
    if total <= 0:
        raise InvalidInputError("the table has no rows with a positive denominator; no target can be formed")
    theta = float(obs[usable].sum()) / total
    if statistic == "proportion" and not 0 < theta < 1:
        raise InvalidInputError(f"target: the pooled proportion is {theta!r}; funnel limits need 0 < p < 1")
    if theta <= 0:
        raise InvalidInputError("target: the pooled rate is 0 (no events); funnel limits need events")
    return theta


# ---------------------------------------------------------------------------------------------- limits


def _z(confidence: float) -> float:
    """Two-sided standard normal quantile: 1.959964 for 0.95, 3.090232 for 0.998."""
    return float(special.ndtri(0.5 + confidence / 2))


def _score_limits(p0: float, n: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Proportion limits at n: p₀ ± z·√(p₀(1 − p₀)/n), clipped to [0, 1] (PHE's ``sigma_adjustment``)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        half = _z(confidence) * np.sqrt(p0 * (1 - p0) / n)
    return np.clip(p0 - half, 0.0, 1.0), np.clip(p0 + half, 0.0, 1.0)


def _poisson_count_limits(expected: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Exact Poisson limits in counts for expected E, continued to real counts: the lower solves
    Q(O + 1, E) = α/2, the upper P(O, E) = α/2 (``scipy.special.gdtrib``: the shape of a gamma CDF)."""
    tail = (1 - confidence) / 2
    with np.errstate(invalid="ignore"):
        lo = np.maximum(special.gdtrib(1.0, 1 - tail, expected) - 1.0, 0.0)
        hi = special.gdtrib(1.0, tail, expected)
    return lo, hi


def _poisson_positions(units: _Units, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """(below, above): the exact one-sided Poisson tests P(X ≤ O | E) < α/2 and P(X ≥ O | E) < α/2.

    Both tails are the regularised incomplete gamma functions, continued to fractional counts (apportioned
    cells) exactly as the limit curves are: P(X ≤ O) = Q(O + 1, E), P(X ≥ O) = P(O, E). (``pdtr`` would
    floor O, so a count of 3.999999 would be tested as 3 and contradict its own limits.)"""
    tail = (1 - confidence) / 2
    o, e = units.observed, units.expected
    with np.errstate(invalid="ignore"):
        below = special.gammaincc(o + 1.0, e) < tail
        above = (o > 0) & (special.gammainc(np.maximum(o, 1e-300), e) < tail)
    return below, above


def _exact_limits(units: _Units, confidence: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(lower, upper, below, above) on the unit scale, PHE's methods (exact Poisson; score for proportions)."""
    n = units.denominator
    if units.statistic == "proportion":
        lo, hi = _score_limits(units.target, n, confidence)
        v = units.value
        return lo, hi, v < lo, v > hi
    e = units.expected
    olo, ohi = _poisson_count_limits(e, confidence)
    below, above = _poisson_positions(units, confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        return olo / n, ohi / n, below, above


@dataclass(frozen=True)
class _Dispersion:
    """Spiegelhalter's (2005, QSHC) additive random-effects model on the transformed scale."""

    phi: float  # φ: mean of the squared winsorised z-scores
    tau2: float  # τ²: DerSimonian–Laird between-unit variance on the transformed scale
    units: int


def _transformed(units: _Units) -> tuple[np.ndarray, float, np.ndarray]:
    """(y, θ, s²) on the scale of the z-scores: proportions as they are (the normal approximation with the
    null variance p₀(1 − p₀)/n, PHE's limits); rates and ratios as √(O/E) with target 1 and s² = 1/(4E)
    (the square-root, variance-stabilising transformation of a Poisson count)."""
    n = units.denominator
    with np.errstate(divide="ignore", invalid="ignore"):
        if units.statistic == "proportion":
            p0 = units.target
            return units.value, p0, p0 * (1 - p0) / n
        e = units.expected
        return np.sqrt(units.observed / e), 1.0, 1.0 / (4.0 * e)


def _winsorise(z: np.ndarray, fraction: float) -> np.ndarray:
    """z with values beyond the fraction and 1 − fraction quantiles (linear, as R's default) set to them."""
    lo, hi = np.quantile(z, [fraction, 1 - fraction])
    return np.clip(z, lo, hi)


def _dersimonian_laird(units: _Units, fraction: float = _WINSOR) -> _Dispersion:
    """φ = (1/I)Σ z_w², τ² = max(0, (Iφ − (I − 1)) / (Σw − Σw²/Σw)), w = 1/s² (Spiegelhalter 2005, QSHC)."""
    y, theta, s2 = _transformed(units)
    ok = units.assessed & np.isfinite(s2) & (s2 > 0)
    i = int(ok.sum())
    if i < 2:
        raise InvalidInputError(
            f"overdispersion: needs at least 2 units with a positive denominator, got {i}"
        )
    z = (y[ok] - theta) / np.sqrt(s2[ok])
    phi = float(np.mean(_winsorise(z, fraction) ** 2))
    w = 1.0 / s2[ok]
    tau2 = max(0.0, (i * phi - (i - 1)) / (w.sum() - (w * w).sum() / w.sum()))
    return _Dispersion(phi, float(tau2), i)


def _dl_limits(
    units: _Units, disp: _Dispersion, n: np.ndarray, confidence: float
) -> tuple[np.ndarray, np.ndarray]:
    """θ ± z·√(s² + τ²) on the transformed scale at denominators n, mapped back to the unit scale."""
    z = _z(confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        if units.statistic == "proportion":
            p0 = units.target
            half = z * np.sqrt(p0 * (1 - p0) / n + disp.tau2)
            return np.clip(p0 - half, 0.0, 1.0), np.clip(p0 + half, 0.0, 1.0)
        half = z * np.sqrt(1.0 / (4.0 * n * units.target) + disp.tau2)
    return np.maximum(1.0 - half, 0.0) ** 2 * units.target, (1.0 + half) ** 2 * units.target


def _positions(
    below: list[np.ndarray], above: list[np.ndarray], assessed: np.ndarray, levels: tuple[float, float]
) -> pl.Series:
    """The position labels from the inner/outer tests; null where a unit is not assessed."""
    inner, outer = (_level_label(c) for c in levels)
    labels = np.select(
        [below[1], below[0], above[1], above[0]],
        [f"below {outer}", f"below {inner}", f"above {outer}", f"above {inner}"],
        default="within",
    )
    return pl.Series("funnel_position", labels, dtype=pl.String).set(pl.Series(~assessed), None)


def _prepare(
    table: FrameLike | None,
    statistic: str,
    numerator: Any,
    denominator: Any,
    multiplier: float,
    target: float | None,
    rate: Any,
    rate_type: str,
    confidence: Sequence[float],
    overdispersion: str | None,
) -> tuple[pl.DataFrame, _Units, tuple[float, float], _Dispersion | None]:
    """Validate every argument and the table; the units on one scale and, with "dl", their dispersion."""
    statistic = _check_statistic(statistic)
    levels = _check_confidence(confidence)
    multiplier = _positive_scalar(multiplier, "multiplier")
    if target is not None:
        target = _positive_scalar(target, "target")
    if overdispersion not in (None, "dl"):
        raise InvalidInputError(f"overdispersion: got {overdispersion!r}, expected None or 'dl'")
    df, cols = _frame(table, numerator, denominator, rate)
    units = _units(df, cols, statistic, multiplier, target, rate_type)
    disp = _dersimonian_laird(units) if overdispersion == "dl" else None
    return df, units, levels, disp


def _limits_at(
    units: _Units, disp: _Dispersion | None, confidence: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(lower, upper, below, above) at the units' denominators on the unit scale, exact or random-effects."""
    if disp is None:
        return _exact_limits(units, confidence)
    lo, hi = _dl_limits(units, disp, units.denominator, confidence)
    value = units.value
    return lo, hi, value < lo, value > hi


def funnel_limits(
    table: FrameLike | None = None,
    *,
    statistic: str,
    numerator: Any = "numerator",
    denominator: Any = "denominator",
    multiplier: float = 1.0,
    target: float | None = None,
    rate: Any = None,
    rate_type: str = "crude",
    confidence: Sequence[float] = (0.95, 0.998),
    overdispersion: str | None = None,
    limits: bool = True,
) -> pl.DataFrame:
    """Funnel-plot control limits at each unit's own denominator, and the unit's position against them.

    Parameters
    ----------
    table
        One row per unit (area, cell, provider): a polars/pandas/Arrow table. Without a table, pass arrays as
        ``numerator`` and ``denominator`` (and ``rate``); the result then holds them as columns of those names.
    statistic
        ``"proportion"`` (numerator out of denominator), ``"rate"`` (events per denominator, e.g. population
        or person-years) or ``"ratio"`` (observed over expected events; ``denominator`` holds the expected).
    numerator, denominator
        Column names (or arrays). Counts may be fractional (apportioned to cells); they must be finite and
        ≥ 0, a proportion's numerator at most its denominator, and a zero denominator has no events. Units
        with a zero denominator get null limits and position.
    multiplier
        Scale of the reported values and limits: 100 for a percentage, 1e5 for a rate per 100,000, 100 for an
        indirectly standardised ratio (ISR). With ``rate`` it is also the scale of that column.
    target
        The centre line on the unit scale (a proportion in (0, 1), a rate per 1, a ratio); default the pooled
        average Σ numerator / Σ denominator (proportions, rates) or 1 (ratios).
    rate, rate_type
        Rates only, PHE's way of funnelling a directly standardised rate: ``rate`` is a column of rates per
        ``multiplier``; a unit with events gets the denominator multiplier·events/rate (for a DSR, the
        population a crude rate would need to equal it). With ``rate_type="crude"`` units without events use
        the ``denominator`` column; with ``"dsr"`` they are left out, and DSRs on fewer than 10 events get a
        null position (PHE: "not applicable").
    confidence
        The inner and outer levels, default (0.95, 0.998): PHE's "2 sigma" and "3 sigma" limits (two-sided,
        tails of 0.025 and 0.001).
    overdispersion
        ``None`` (the limits above) or ``"dl"``: Spiegelhalter's (2005, QSHC) random-effects limits. Each unit's
        z-score is taken on a scale where its variance s² is known: proportions as they are (s² = p₀(1 − p₀)/n,
        the normal approximation Fingertips uses, so τ² = 0 gives exactly the limits above), rates and ratios
        on the square-root scale, √(O/E) with target 1 and s² = 1/(4E). The z-scores are winsorised (the
        lowest and highest 10% set to the 10th and 90th percentiles), φ = (1/I)Σz², and the between-unit
        variance by DerSimonian–Laird is τ² = max(0, (Iφ − (I − 1)) / (Σw − Σw²/Σw)) with w = 1/s². The
        limits are θ₀ ± z_α·√(s² + τ²) mapped back (squared for Poisson statistics, lower limits at 0); they
        are wider than the normal limits exactly when Iφ > I − 1. On the square-root scale the limits are
        approximate for small expected counts (E below about 10: e.g. a zero count is below the 95% limit once
        (1 − 1.96/(2√E))² > 0, i.e. E > 0.96, where the exact test needs E > 3.7); for sparse cells prefer
        the exact limits or aggregate first.

    Returns
    -------
    pl.DataFrame
        The table plus ``funnel_value`` (the indicator × multiplier), ``funnel_denominator`` (the denominator
        placed on the x axis: as given, derived from the rate, or the expected events of a ratio),
        ``funnel_target``, ``funnel_lo95``, ``funnel_hi95``, ``funnel_lo998``, ``funnel_hi998`` (named after
        the confidence levels) and ``funnel_position``: ``"below 99.8"``, ``"below 95"``, ``"within"``,
        ``"above 95"`` or ``"above 99.8"`` (null where not assessed). With ``overdispersion="dl"`` also
        ``funnel_phi`` and ``funnel_tau2`` (the same on every row). With ``limits=False`` the limit columns
        are left out: the positions come from the exact tests alone, which is much faster for the Poisson
        statistics on hundreds of thousands of cells (the limits need a root-finding inversion per unit).

    Examples
    --------
    >>> import polars as pl
    >>> t = pl.DataFrame({"deaths": [12, 30, 4], "expected": [10.0, 18.5, 6.2]})
    >>> out = funnel_limits(t, statistic="ratio", numerator="deaths", denominator="expected", multiplier=100)
    >>> out["funnel_position"].to_list()
    ['within', 'above 95', 'within']
    """
    df, units, levels, disp = _prepare(
        table,
        statistic,
        numerator,
        denominator,
        multiplier,
        target,
        rate,
        rate_type,
        confidence,
        overdispersion,
    )
    columns: list[pl.Series] = []
    below, above = [], []
    for c in levels:
        if not limits and disp is None and units.statistic != "proportion":
            b, a = _poisson_positions(units, c)
            below.append(b)
            above.append(a)
            continue
        lo, hi, b, a = _limits_at(units, disp, c)
        below.append(b)
        above.append(a)
        if limits:
            name = _level_name(c)
            columns += [_scaled(f"funnel_lo{name}", lo, units), _scaled(f"funnel_hi{name}", hi, units)]
    value = units.value
    out = [
        _scaled("funnel_value", value, units),
        pl.Series("funnel_denominator", units.denominator).fill_nan(None),
        pl.Series("funnel_target", np.full(df.height, units.target * units.multiplier)),
        *columns,
        _positions(below, above, units.assessed & (units.denominator > 0), levels),
    ]
    if disp is not None:
        out += [
            pl.Series("funnel_phi", np.full(df.height, disp.phi)),
            pl.Series("funnel_tau2", np.full(df.height, disp.tau2)),
        ]
    return df.with_columns(out)


def _scaled(name: str, x: np.ndarray, units: _Units) -> pl.Series:
    """A unit-scale array × multiplier as a Float64 column, null where the unit is not placed."""
    return pl.Series(name, np.where(units.denominator > 0, x * units.multiplier, np.nan)).fill_nan(None)


# ---------------------------------------------------------------------------------------------- curves


def _r_nchar(x: float) -> int:
    """``nchar(x)`` in R for a whole number: the shorter of its fixed and scientific forms ("1e+05")."""
    digits = str(int(x))
    significant = digits.rstrip("0") or "0"
    sci = (1 if len(significant) == 1 else len(significant) + 1) + 4
    return sci if sci < len(digits) else len(digits)


def _signif_floor(x: float) -> float:
    """PHE's axis minimum: 95% of x rounded down to its leading digit."""
    if x == 0:
        return 0.0
    n = _r_nchar(math.floor(x * 0.95)) - 1
    return math.floor(x * 0.95 / 10.0**n) * 10.0**n


def _signif_ceiling(x: float) -> float:
    """PHE's axis maximum: 105% of x rounded up to its two leading digits."""
    if x == 0:
        return 0.0
    n = _r_nchar(math.ceil(x * 1.05)) - 2
    return math.ceil(x * 1.05 / 10.0**n) * 10.0**n


def _phe_grid(axis_min: float, axis_max: float, points: int, statistic: str) -> np.ndarray:
    """PHE's grid: from max(1, min) to max in whole steps that grow geometrically (R's half-even rounding)."""
    grid = [max(1.0, axis_min)]
    for j in range(2, points + 1):
        offset = j - 1 if statistic == "ratio" else j
        prev = grid[-1]
        grid.append(max(float(np.round((axis_max / prev) ** (1 / (points + 1 - offset)) * prev)), prev + 1))
    return np.array(grid)


def _axis(units: _Units, years_of_data: float) -> tuple[float, float]:
    """PHE's x axis range in denominators (per year of data for rates): from 0 when the denominators span
    more than a factor of 2, else from 95% of the smallest (rounded down); to 105% of the largest (rounded up)."""
    n = units.denominator[np.isfinite(units.denominator)]
    if n.size == 0:
        raise InvalidInputError("the table has no rows with a positive denominator; no funnel can be drawn")
    lo, hi = float(n.min()), float(n.max())
    if hi > 2 * lo:
        axis_min = 0.0
    else:
        axis_min = _signif_floor(lo / years_of_data) * years_of_data
    return axis_min, _signif_ceiling(hi / years_of_data) * years_of_data


def _phe_poisson_cdf_above(z: np.ndarray, obs: np.ndarray) -> np.ndarray:
    """P(X ≥ obs | z) for a Poisson count X with mean z."""
    return np.where(obs > 0, special.pdtrc(np.maximum(obs - 1, 0), z), 1.0)


def _phe_poisson_funnel(obs: np.ndarray, tail: float, side: str) -> np.ndarray:
    """PHE's ``poisson_funnel``: the Poisson mean z at which P(X ≥ obs) ("low") or P(X ≤ obs) ("high") equals
    ``tail``, by bisection on v = z/(1 + obs + z) until the step is ≤ 1e-7, as Fingertips' Excel macro
    (vectorised over obs; the same 23 steps, so its figures are reproduced to their printed precision)."""
    v = np.full(obs.shape, 0.5)
    dv = 0.5
    while dv > 1e-7:
        dv /= 2
        z = (1 + obs) * v / (1 - v)
        if side == "low":
            down = _phe_poisson_cdf_above(z, obs) > tail
        else:
            down = special.pdtr(obs, z) < tail
        v = np.where(down, v - dv, v + dv)
    return (1 + obs) * v / (1 - v)


def _curve_frame(
    events: np.ndarray | None,
    xs: list[np.ndarray],
    ys: list[np.ndarray],
    units: _Units,
    levels: tuple[float, float],
    per: float,
) -> pl.DataFrame:
    cols: dict[str, Any] = {
        "events": events if events is not None else pl.Series([None] * len(xs[0]), dtype=pl.Float64)
    }
    names = [f"{side}{_level_name(c)}" for c in levels for side in ("lo", "hi")]
    for name, x, y in zip(names, xs, ys):
        cols[f"{name}_denominator"] = x / per
        cols[name] = y * units.multiplier
    cols["target"] = np.full(len(xs[0]), units.target * units.multiplier)
    return pl.DataFrame(cols).with_columns(pl.col("events").cast(pl.Float64))


def _phe_curves(
    units: _Units, levels: tuple[float, float], years_of_data: float, points: int
) -> pl.DataFrame:
    """PHE's ``calculate_funnel_limits`` table: proportions on a grid of denominators; Poisson statistics on a
    grid of event counts, each limit at the expected count (hence denominator) that puts the count on it."""
    axis_min, axis_max = _axis(units, years_of_data)
    if units.statistic == "proportion":
        x = _phe_grid(axis_min, axis_max, points, "proportion")
        ys = [lim for c in levels for lim in _score_limits(units.target, x, c)]
        return _curve_frame(None, [x] * 4, ys, units, levels, 1.0)
    if units.statistic == "rate":
        axis_min, axis_max = math.floor(axis_min * units.target), math.ceil(axis_max * units.target)
    events = _phe_grid(axis_min, axis_max, points, units.statistic)
    xs, ys = [], []
    for c in levels:
        tail = (1 - c) / 2
        for side in ("high", "low"):  # the lower limit is where the upper exact limit of the count equals E
            e = _phe_poisson_funnel(events, tail, side)
            xs.append(e / units.target)
            ys.append(events / xs[-1])
    per = years_of_data if units.statistic == "rate" else 1.0
    return _curve_frame(events, xs, ys, units, levels, per)


def _dl_curves(units: _Units, disp: _Dispersion, levels: tuple[float, float], points: int) -> pl.DataFrame:
    """The random-effects limits on a geometric grid spanning the denominators."""
    n = units.denominator[units.assessed]
    x = np.geomspace(float(n.min()) * 0.95, float(n.max()) * 1.05, points)
    ys = [lim for c in levels for lim in _dl_limits(units, disp, x, c)]
    return _curve_frame(None, [x] * 4, ys, units, levels, 1.0)


def funnel_curves(
    table: FrameLike | None = None,
    *,
    statistic: str,
    numerator: Any = "numerator",
    denominator: Any = "denominator",
    multiplier: float = 1.0,
    target: float | None = None,
    rate: Any = None,
    rate_type: str = "crude",
    years_of_data: float = 1.0,
    confidence: Sequence[float] = (0.95, 0.998),
    overdispersion: str | None = None,
    points: int = 100,
) -> pl.DataFrame:
    """The funnel's limit curves for drawing: PHE's ``calculate_funnel_limits`` table.

    Same arguments as :func:`funnel_limits`, plus ``years_of_data`` (rates: the denominators of the curves
    are per year, as Fingertips draws them, and the axis is rounded per year) and ``points`` (rows; PHE: 100).

    Without overdispersion the grid and numbers are PHE's: the x axis runs from 0 (or, when the largest
    denominator is at most twice the smallest, from 95% of the smallest, rounded down to its leading digit)
    to 105% of the largest (rounded up to two digits) in whole steps growing geometrically. Proportions are
    evaluated at those denominators. Rates and ratios are built on a grid of whole event counts O (the axis
    times the target, for rates): each limit is the point (E/θ₀, O/E) where the exact Poisson interval of O
    has E as its end, E found by PHE's bisection. With ``overdispersion="dl"`` the random-effects limits are
    evaluated on a geometric grid of ``points`` denominators spanning the units.

    Returns
    -------
    pl.DataFrame
        One row per grid point: ``events`` (the count of the Poisson grid; null for proportions and
        random-effects curves), then for each limit ``lo95_denominator``, ``lo95``, ``hi95_denominator``,
        ``hi95``, ``lo998_denominator``, ``lo998``, ``hi998_denominator``, ``hi998`` (x and y of the curve;
        names after the confidence levels; y × multiplier) and ``target`` (× multiplier).

    Examples
    --------
    >>> import polars as pl
    >>> t = pl.DataFrame({"cases": [30, 50, 12], "pop": [100, 180, 40]})
    >>> c = funnel_curves(t, statistic="proportion", numerator="cases", denominator="pop", multiplier=100)
    >>> c.height, c["lo95_denominator"][0], round(c["target"][0], 3)
    (100, 1.0, 28.75)
    """
    years_of_data = _positive_scalar(years_of_data, "years_of_data")
    if isinstance(points, bool) or not isinstance(points, int) or points < 2:
        raise InvalidInputError(f"points: got {points!r}, expected an integer ≥ 2")
    _, units, levels, disp = _prepare(
        table,
        statistic,
        numerator,
        denominator,
        multiplier,
        target,
        rate,
        rate_type,
        confidence,
        overdispersion,
    )
    if disp is not None:
        return _dl_curves(units, disp, levels, points)
    return _phe_curves(units, levels, years_of_data, points)


# ---------------------------------------------------------------------------------------------- plot

_COLOURS = {  # by position: outer, inner, within (ColorBrewer RdBu, with grey)
    "below_outer": "#2166ac",
    "below_inner": "#67a9cf",
    "within": "#9e9e9e",
    "above_inner": "#ef8a62",
    "above_outer": "#b2182b",
}


def _axis_labels(statistic: str, numerator: str, denominator: str, multiplier: float) -> tuple[str, str]:
    scale = (
        ""
        if multiplier == 1
        else (" (%)" if multiplier == 100 and statistic == "proportion" else f" per {multiplier:,g}")
    )
    if statistic == "ratio":
        return f"expected events ({denominator})", f"ratio {numerator} / {denominator}" + (
            "" if multiplier == 1 else f" × {multiplier:g}"
        )
    x = f"{'population' if statistic == 'proportion' else 'denominator'} ({denominator})"
    return x, f"{statistic} {numerator} / {denominator}{scale}"


def funnel_plot(
    table: FrameLike,
    path: str | os.PathLike[str],
    *,
    statistic: str,
    numerator: str = "numerator",
    denominator: str = "denominator",
    multiplier: float = 1.0,
    target: float | None = None,
    rate: str | None = None,
    rate_type: str = "crude",
    confidence: Sequence[float] = (0.95, 0.998),
    overdispersion: str | None = None,
    label: str | None = None,
    max_labels: int = 20,
    log_x: bool = False,
    title: str | None = None,
) -> Path:
    """Draw a funnel plot and write it (atomically) as PNG.

    The units of ``table`` (any number: 30,000 cells draw in a second, rasterised) are coloured by
    ``funnel_position``; the inner limits are dashed, the outer solid, the target a black line. With
    ``label`` (a column), the units outside the outer limits are labelled: at most ``max_labels``, furthest
    out first (distance from the target relative to the outer limit's), skipping labels that would overlap.
    Other arguments as :func:`funnel_limits`; the curves are smooth: its limits on a fine grid of
    denominators.

    Returns the path written.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    df = as_frame(table, "table")
    if label is not None:
        require_columns(df, [label], "table")
    args = (
        statistic,
        numerator,
        denominator,
        multiplier,
        target,
        rate,
        rate_type,
        confidence,
        overdispersion,
    )
    _, units, levels, disp = _prepare(df, *args)
    units_df = funnel_limits(
        df,
        statistic=statistic,
        numerator=numerator,
        denominator=denominator,
        multiplier=multiplier,
        target=target,
        rate=rate,
        rate_type=rate_type,
        confidence=confidence,
        overdispersion=overdispersion,
    )
    fig, ax = plt.subplots(figsize=(9, 6), dpi=120)
    x = _curve_grid(units.denominator)
    for c, style in zip(levels, ("--", "-")):
        lo, hi = _smooth_limits(units, disp, x, c)
        ax.plot(x, lo * units.multiplier, style, color="#6b6b6b", lw=1.2, label=f"{_level_label(c)}% limits")
        ax.plot(x, hi * units.multiplier, style, color="#6b6b6b", lw=1.2)
    ax.axhline(
        float(units_df["funnel_target"][0]) if units_df.height else 0.0, color="black", lw=1.4, label="target"
    )
    _draw_points(ax, units_df, levels)
    if log_x:
        ax.set_xscale("log")
    xlab, ylab = _axis_labels(statistic, str(numerator), str(denominator), float(multiplier))
    ax.set_xlabel(xlab)
    ax.set_ylabel(ylab)
    xmax = float(np.nanmax(units_df["funnel_denominator"].fill_null(np.nan).to_numpy(), initial=1.0))
    ax.set_xlim(left=None if log_x else 0, right=xmax * 1.05)
    _set_ylim(ax, units_df)
    if label is not None:  # after the axes are fixed: labels are spaced in display coordinates
        _label_outliers(ax, units_df, label, levels, max_labels)
    dl = ""
    if overdispersion == "dl" and units_df.height:
        phi, tau2 = units_df["funnel_phi"][0], units_df["funnel_tau2"][0]
        dl = f" (over-dispersion, DerSimonian–Laird: φ = {phi:.3g}, τ² = {tau2:.3g})"
    ax.set_title(title or f"Funnel plot: {statistic}{dl}")
    ax.legend(loc="upper right", fontsize=8, framealpha=0.9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return Path(path)


def _curve_grid(denominator: np.ndarray) -> np.ndarray:
    """Denominators to draw the limits at: fine near 0 (where they bend) and evenly to 105% of the largest."""
    n = denominator[np.isfinite(denominator) & (denominator > 0)]
    if n.size == 0:
        return np.array([1.0])
    top = float(n.max()) * 1.05
    return np.unique(
        np.concatenate([np.geomspace(float(n.min()) * 0.5, top, 400), np.linspace(top / 400, top, 400)])
    )


def _smooth_limits(
    units: _Units, disp: _Dispersion | None, x: np.ndarray, confidence: float
) -> tuple[np.ndarray, np.ndarray]:
    """The limits (unit scale) a unit with denominator x would have."""
    at = _Units(units.statistic, np.zeros_like(x), x, units.target, units.multiplier, np.ones(x.shape, bool))
    lo, hi, _, _ = _limits_at(at, disp, confidence)
    return lo, hi


def _position_labels(levels: tuple[float, float]) -> dict[str, str]:
    inner, outer = (_level_label(c) for c in levels)
    return {
        f"below {outer}": "below_outer",
        f"below {inner}": "below_inner",
        "within": "within",
        f"above {inner}": "above_inner",
        f"above {outer}": "above_outer",
    }


def _draw_points(ax: Any, units_df: pl.DataFrame, levels: tuple[float, float]) -> None:
    x = units_df["funnel_denominator"].fill_null(np.nan).to_numpy()
    y = units_df["funnel_value"].fill_null(np.nan).to_numpy()
    pos = units_df["funnel_position"]
    size = 6 if units_df.height > 2000 else 18
    for text, key in _position_labels(levels).items():
        m = (pos == text).fill_null(False).to_numpy()
        if m.any():
            ax.scatter(
                x[m],
                y[m],
                s=size,
                color=_COLOURS[key],
                alpha=0.7,
                lw=0,
                rasterized=True,
                label=f"{text} ({int(m.sum()):,})",
                zorder=3 if key != "within" else 2,
            )


def _label_outliers(
    ax: Any, units_df: pl.DataFrame, label: str, levels: tuple[float, float], max_labels: int
) -> None:
    """Label the units outside the outer limits, furthest out (relative to the limits' half-width) first."""
    outer = _level_name(levels[1])
    d = units_df.with_columns(
        _dist=pl.when(pl.col("funnel_value") > pl.col(f"funnel_hi{outer}"))
        .then(
            (pl.col("funnel_value") - pl.col("funnel_target"))
            / (pl.col(f"funnel_hi{outer}") - pl.col("funnel_target"))
        )
        .otherwise(
            (pl.col("funnel_target") - pl.col("funnel_value"))
            / (pl.col("funnel_target") - pl.col(f"funnel_lo{outer}"))
        )
    ).filter(pl.col("funnel_position").str.ends_with(_level_label(levels[1])))
    d = d.sort("_dist", descending=True, nulls_last=True)
    xy = np.column_stack([d["funnel_denominator"].to_numpy(), d["funnel_value"].to_numpy()])
    placed: list[np.ndarray] = []
    for (x, y), text in zip(xy, d[label]):
        if len(placed) >= max_labels:
            break
        at = ax.transData.transform((x, y))
        if placed and np.min(np.hypot(*(np.array(placed) - at).T)) < 14:  # pixels: skip a crowded label
            continue
        placed.append(at)
        ax.annotate(str(text), (x, y), xytext=(3, 3), textcoords="offset points", fontsize=7, zorder=4)


def _set_ylim(ax: Any, units_df: pl.DataFrame) -> None:
    """The y range of the points (0.1–99.9th percentiles) and the target, not the curves' far tails."""
    y = units_df["funnel_value"].drop_nulls().to_numpy()
    if y.size == 0:
        return
    target = float(units_df["funnel_target"][0])
    # every point when they are few; the 0.1–99.9th percentiles of 30,000 cells, not the one extreme cell
    lo, hi = (float(v) for v in np.percentile(y, [0.1, 99.9] if y.size > 1000 else [0, 100]))
    lo, hi = min(lo, target), max(hi, target)
    pad = 0.06 * max(hi - lo, abs(target) * 0.1, 1e-12)
    ax.set_ylim(lo - pad, hi + pad)
