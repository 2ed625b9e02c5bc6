"""Slope and relative index of inequality (SII, RII) across deprivation quantiles, as Public Health England
computes them for Fingertips (``PHEindicatormethods::phe_sii``, version 2.1.0).

References
----------
* A. Low, A. Low (2004), "Measuring the gap: quantifying and comparing local health inequalities", *Journal of
  Public Health* 26(4):388–395 (the SII as the slope of a population-weighted regression on relative rank).
* Public Health England (2018), *Technical Guide: Slope Index of Inequality (SII)* and *Confidence intervals
  for the SII by simulation* (Fingertips technical guidance; the method of ``phe_sii``).
* PHEindicatormethods 2.1.0, ``R/SII.R`` and ``R/utils.R`` (``FindXValues``, ``SimulationFunc``).
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import NormalDist
from typing import Literal

import numpy as np
import polars as pl

from ._convert import KEEP, FrameLike, as_frame, require_columns, rows_text
from .exceptions import InvalidInputError
from .smoothing import numeric_column

__all__ = ["sii"]

ValueType = Literal["normal", "rate", "proportion"]

#: Repetitions simulated per block (bounds memory at ~CHUNK × quantiles doubles).
CHUNK = 1 << 15
#: The z that PHE uses to turn 95% limits into a standard error, whatever the output confidence.
Z95 = NormalDist().inv_cdf(0.975)


def _link(x: np.ndarray, value_type: str) -> np.ndarray:
    """The scale on which values are simulated: identity (normal), log (rate), logit (proportion)."""
    if value_type == "rate":
        return np.log(x)
    if value_type == "proportion":
        return np.log(x / (1.0 - x))
    return x


def _inverse_link(x: np.ndarray, value_type: str) -> np.ndarray:
    if value_type == "rate":
        return np.exp(x)
    if value_type == "proportion":
        return 1.0 / (1.0 + np.exp(-x))
    return x


def relative_ranks(pop: np.ndarray) -> np.ndarray:
    """Midpoints of each quantile's share of the cumulative population (PHE ``FindXValues``): quantile i gets
    Σ_{j<i} a_j + a_i/2 with a = pop/Σpop, so the ranks lie in (0, 1)."""
    a = pop / pop.sum()
    return np.cumsum(a) - a / 2.0


def wls_coefficients(pop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vectors (c, d) with slope = y·c and intercept = y·d for the regression of y on relative rank weighted
    by population share a (PHE: ``lm(√a·y ~ √a + b√a − 1)``, the same fit).

    With Σa = 1, x̄ = Σ a·b and Sxx = Σ a(b − x̄)²: c = a(b − x̄)/Sxx and d = a − x̄·c. Because the fit is linear
    in y, every simulated repetition costs one dot product.
    """
    a = pop / pop.sum()
    b = relative_ranks(pop)
    xbar = np.sum(a * b)
    c = a * (b - xbar) / np.sum(a * (b - xbar) ** 2)
    return c, a - xbar * c


def order_positions(repetitions: int, confidence: float) -> tuple[int, int]:
    """0-based positions of the limits among the sorted simulations, as PHE: round(R·(1 − p)) and round(R·p)
    (1-based) with p = confidence + (1 − confidence)/2."""
    p = confidence + (1.0 - confidence) / 2.0
    lo = int(np.clip(np.round(repetitions * (1.0 - p)), 1, repetitions))
    hi = int(np.clip(np.round(repetitions * p), 1, repetitions))
    return lo - 1, hi - 1


def simulate_fits(
    centre: np.ndarray,
    se: np.ndarray,
    c: np.ndarray,
    d: np.ndarray,
    *,
    value_type: str,
    back_transform: bool,
    repetitions: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """(slopes, intercepts) of ``repetitions`` refits on values drawn from Normal(centre, se) on the link scale
    (back-transformed before the fit if ``back_transform``), in blocks of :data:`CHUNK` repetitions."""
    slopes = np.empty(repetitions)
    intercepts = np.empty(repetitions)
    for start in range(0, repetitions, CHUNK):
        size = min(CHUNK, repetitions - start)
        y = centre + se * rng.standard_normal((size, centre.size))
        if back_transform:
            y = _inverse_link(y, value_type)
        slopes[start : start + size] = y @ c
        intercepts[start : start + size] = y @ d
    return slopes, intercepts


def _order_stats(x: np.ndarray, pos: tuple[int, int]) -> tuple[float, float]:
    part = np.partition(x, pos)
    return float(part[pos[0]]), float(part[pos[1]])


def sii_group(
    value: np.ndarray,
    se: np.ndarray,
    pop: np.ndarray,
    *,
    value_type: str,
    transform: bool,
    multiplier: float,
    confidence: float,
    repetitions: int,
    rng: np.random.Generator,
) -> dict[str, float]:
    """SII, RII, intercept and their simulated limits for one group (quantiles in order, value on the
    natural scale, se on the link scale)."""
    c, d = wls_coefficients(pop)
    centre = _link(value, value_type)
    pos = order_positions(repetitions, confidence)
    neg = multiplier < 0
    if not transform:
        slope, icpt = float(value @ c), float(value @ d)
        sims, sim_icpt = simulate_fits(
            centre, se, c, d, value_type=value_type, back_transform=True, repetitions=repetitions, rng=rng
        )
        rii_sims = (sim_icpt + sims) / sim_icpt
        if neg:
            rii_sims = 1.0 / rii_sims
        sii_lo, sii_hi = _order_stats(multiplier * sims, pos)
        rii_lo, rii_hi = _order_stats(rii_sims, pos)
        rii = (icpt + slope) / icpt
        return {
            "sii": multiplier * slope,
            "sii_lo": sii_lo,
            "sii_hi": sii_hi,
            "rii": 1.0 / rii if neg else rii,
            "rii_lo": rii_lo,
            "rii_hi": rii_hi,
            "intercept": abs(multiplier) * icpt,
        }
    # Fit on the link scale; SII = g⁻¹(fit at 1) − g⁻¹(fit at 0). The limits of the link-scale slope are
    # moved to the natural scale around the fitted value at rank ½ (PHE 2.1.0, transform = TRUE).
    slope, icpt = float(centre @ c), float(centre @ d)
    sims, _ = simulate_fits(
        centre, se, c, d, value_type=value_type, back_transform=False, repetitions=repetitions, rng=rng
    )
    half = icpt + slope / 2.0
    at0 = _inverse_link(np.array([icpt, *(half - s / 2.0 for s in _order_stats(sims, pos))]), value_type)
    at1 = _inverse_link(
        np.array([icpt + slope, *(half + s / 2.0 for s in _order_stats(sims, pos))]), value_type
    )
    siis = (at1 - at0) * multiplier
    riis = at1 / at0
    if neg:
        riis = 1.0 / riis
    lo, hi = (2, 1) if neg else (1, 2)
    return {
        "sii": float(siis[0]),
        "sii_lo": float(siis[lo]),
        "sii_hi": float(siis[hi]),
        "rii": float(riis[0]),
        "rii_lo": float(riis[lo]),
        "rii_hi": float(riis[hi]),
        "intercept": abs(multiplier) * float(at0[0]),
    }


def _check_options(
    value_type: str, transform: bool, confidence: float, repetitions: int, multiplier: float, seed: int
) -> None:
    if value_type not in ("normal", "rate", "proportion"):
        raise InvalidInputError(f"value_type: got {value_type!r}, expected 'normal', 'rate' or 'proportion'")
    if transform and value_type == "normal":
        raise InvalidInputError("transform: only rates (log) and proportions (logit) can be transformed")
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0 < confidence < 1:
        raise InvalidInputError(f"confidence: got {confidence!r}, expected a number strictly between 0 and 1")
    if isinstance(repetitions, bool) or not isinstance(repetitions, (int, np.integer)) or repetitions < 1000:
        raise InvalidInputError(f"repetitions: got {repetitions!r}, expected an integer >= 1000")
    if (
        isinstance(multiplier, bool)
        or not isinstance(multiplier, (int, float))
        or not np.isfinite(multiplier)
    ):
        raise InvalidInputError(f"multiplier: got {multiplier!r}, expected a finite non-zero number")
    if multiplier == 0:
        raise InvalidInputError("multiplier: got 0, expected a finite non-zero number")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidInputError(f"seed: got {seed!r}, expected an integer >= 0")


def _check_domain(df: pl.DataFrame, cols: list[str], value_type: str) -> None:
    """Values and limits must lie where the link is defined: > 0 for rates, in (0, 1) for proportions."""
    if value_type == "normal":
        return
    for col in cols:
        x = df[col].cast(pl.Float64).to_numpy()
        bad = ~(x > 0) if value_type == "rate" else ~((x > 0) & (x < 1))
        if bad.any():
            rows = np.flatnonzero(bad)
            want = "rates > 0 (they are logged)" if value_type == "rate" else "proportions in (0, 1) (logit)"
            raise InvalidInputError(
                f"{col}: {rows_text(rows.size, rows[:KEEP].tolist())} invalid; expected {want}"
            )


def _standard_errors(
    df: pl.DataFrame, se: str | None, lower: str | None, upper: str | None, value_type: str
) -> np.ndarray:
    """The standard error on the link scale: the ``se`` column as given, or (g(upper) − g(lower)) / (2·1.96)
    from 95% limits (PHE: the limits are taken to be 95% ones whatever ``confidence`` is)."""
    if se is not None:
        return numeric_column(df, se, nonnegative=True)
    if lower is None or upper is None:
        raise InvalidInputError("se: give either an se column, or both lower and upper (95% limit) columns")
    lo = numeric_column(df, lower)
    hi = numeric_column(df, upper)
    _check_domain(df, [lower, upper], value_type)
    out = (_link(hi, value_type) - _link(lo, value_type)) / (2.0 * Z95)
    bad = ~(out >= 0)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise InvalidInputError(
            f"{lower}/{upper}: {rows_text(rows.size, rows[:KEEP].tolist())} have lower > upper; expected lower <= upper"
        )
    return out


def _group_bounds(df: pl.DataFrame, by: list[str], quantile: str) -> np.ndarray:
    """Start of each group in ``df`` (sorted by ``by`` then ``quantile``) plus the end; errors for duplicate
    quantiles and groups of fewer than 2 quantiles, naming rows of the input (column ``__row``)."""
    n = df.height
    if by:
        key = df.select(pl.struct(by).rle_id().alias("g"))["g"].to_numpy()
        starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    else:
        key = np.zeros(n, dtype=np.int64)
        starts = np.array([0])
    bounds = np.r_[starts, n]
    q = df[quantile]
    dup = np.r_[False, (q[1:] == q[:-1]).fill_null(False).to_numpy() & (key[1:] == key[:-1])]
    if dup.any():
        rows = np.sort(df["__row"].to_numpy()[dup])
        raise InvalidInputError(
            f"{quantile}: {rows_text(rows.size, rows[:KEEP].tolist())} repeat a quantile of their group; "
            "expected each quantile once per group"
        )
    sizes = np.diff(bounds)
    small = np.flatnonzero(sizes < 2)
    if small.size:
        rows = np.sort(df["__row"].to_numpy()[bounds[small]])
        raise InvalidInputError(
            f"{quantile}: {rows_text(rows.size, rows[:KEEP].tolist())} are the only quantile of their group; "
            "expected at least 2 quantiles per group"
        )
    return bounds


def sii(
    table: FrameLike,
    *,
    value: str,
    population: str,
    quantile: str,
    se: str | None = None,
    lower: str | None = None,
    upper: str | None = None,
    value_type: ValueType = "normal",
    transform: bool = False,
    multiplier: float = 1,
    confidence: float = 0.95,
    repetitions: int = 100_000,
    seed: int = 0,
    by: str | Sequence[str] | None = None,
    rii: bool = True,
) -> pl.DataFrame:
    """Slope index of inequality (SII) and relative index of inequality (RII), with Monte-Carlo limits, exactly
    as ``PHEindicatormethods::phe_sii`` 2.1.0 (Low & Low 2004; PHE technical guidance).

    Within each group (``by``) the quantiles (e.g. deprivation deciles, ordered so that quantile 1 comes first:
    most deprived first, as PHE orders them) get population shares aᵢ and relative ranks bᵢ = Σ_{j<i} aⱼ + aᵢ/2,
    the midpoints of their slices of the cumulative population. The values yᵢ are regressed on bᵢ by weighted
    least squares with weights aᵢ (PHE's ``lm(√a·y ~ √a + b√a − 1)``):

    * SII = the slope: the modelled gap between the top (rank 1) and the bottom (rank 0) of the social scale, in
      the units of the value, times ``multiplier``. Its sign is that of the data: with deciles ordered most
      deprived first, an indicator that rises with affluence (life expectancy) has SII > 0.
    * RII = (intercept + slope)/intercept: the fitted value at rank 1 over the fitted value at rank 0
      (inverted when ``multiplier`` < 0, as PHE does, to follow the change of polarity).
    * intercept = the fitted value at rank 0 (times |multiplier|).

    Confidence limits are simulated: each quantile's value is drawn ``repetitions`` times from Normal(value, se)
    (on the log scale for rates and the logit scale for proportions, then back-transformed), the regression is
    refitted, and the limits are the order statistics at positions round(R·(1 − p)) and round(R·p) of the sorted
    simulations, p = confidence + (1 − confidence)/2 (PHE's positions). The fit is linear in the values, so all
    repetitions are one matrix product (no loop per repetition). The draws come from numpy's PCG64 seeded with
    (``seed``, group number), groups numbered in sorted order: results are identical for a seed, whatever the
    thread count or the row order of the input.

    With ``transform=True`` (rates and proportions only) the regression itself is fitted on the log / logit
    scale and SII = g⁻¹(intercept + slope) − g⁻¹(intercept) (PHE 2.1.0 ``transform = TRUE``); the limits of the
    simulated link-scale slope are mapped back around the fitted value at rank ½, as PHE does.

    Parameters
    ----------
    table
        One row per (group, quantile).
    value
        Indicator value of each quantile (a rate or proportion on its natural scale for those types).
    population
        Population of each quantile (> 0).
    quantile
        Quantile label (sortable; sorted ascending within each group, each at most once per group).
    se, lower, upper
        The standard error of ``value`` (on the log scale for rates, the logit scale for proportions, as PHE), or
        its 95% confidence limits, from which se = (g(upper) − g(lower)) / (2·1.959964) on that scale (PHE
        treats the limits as 95% ones whatever ``confidence`` is).
    value_type
        ``"normal"`` (PHE value_type 0, e.g. life expectancy), ``"rate"`` (1) or ``"proportion"`` (2).
    transform
        Fit on the log / logit scale (PHE ``transform = TRUE``).
    multiplier
        Scale of the SII (e.g. 100 for percentages; negative to reverse the polarity, which also inverts the RII).
    confidence
        Level of the limits, strictly between 0 and 1 (PHE also accepts percentages; here, fractions only).
    repetitions
        Simulations per group (>= 1000, as PHE).
    seed
        Seed of the simulation.
    by
        Column(s) defining groups (e.g. areas); one SII per group.
    rii
        Also return ``rii``, ``rii_lo``, ``rii_hi``.

    Returns
    -------
    pl.DataFrame
        One row per group, sorted by ``by``: the ``by`` columns, ``n_quantiles``, ``sii``, ``sii_lo``, ``sii_hi``,
        (``rii``, ``rii_lo``, ``rii_hi``), ``intercept``.

    Raises
    ------
    InvalidInputError
        Missing columns; null or non-finite values, populations <= 0, negative se, missing limits (rows named);
        rates <= 0 or proportions outside (0, 1) where logged; duplicate quantiles in a group, fewer than 2
        quantiles in a group (rows named); ``confidence`` outside (0, 1); ``repetitions`` < 1000.

    Notes
    -----
    Differences from ``phe_sii``: PHE drops groups with missing data with a warning and requires 5–100
    quantiles; here missing data is an error naming the rows and any group of 2 or more quantiles is accepted.
    PHE's rate branch with ``transform = TRUE`` swaps the limits for any multiplier < 1 (a slip for < 0); here
    they are swapped for negative multipliers only. The intercept is scaled by |multiplier| in both modes (PHE
    scales it only with ``transform = TRUE``). The PHE seed (R's Mersenne Twister) is not reproduced: limits
    agree with PHE's published figures within Monte-Carlo error.

    Examples
    --------
    >>> import polars as pl
    >>> from hyperlocal.inequality import sii
    >>> t = pl.DataFrame({"decile": [1, 2, 3, 4, 5], "pop": [100.0] * 5,
    ...                   "le": [76.0, 77.0, 78.0, 79.0, 80.0], "se": [0.5] * 5})
    >>> out = sii(t, value="le", population="pop", quantile="decile", se="se", repetitions=1000)
    >>> round(out["sii"][0], 6), round(out["rii"][0], 6)
    (5.0, 1.066225)
    """
    df = as_frame(table, "table")
    _check_options(value_type, transform, confidence, repetitions, multiplier, seed)
    groups = [by] if isinstance(by, str) else list(by or [])
    require_columns(
        df, [value, population, quantile, *groups] + [c for c in (se, lower, upper) if c], "table"
    )
    if not df[quantile].dtype.is_numeric():
        raise InvalidInputError(
            f"{quantile}: expected numeric quantiles (1 = most deprived, ordered as numbers), got "
            f"{df[quantile].dtype}; text labels would sort '10' before '2'"
        )
    if df[quantile].null_count():
        nulls = df[quantile].is_null().arg_true()
        raise InvalidInputError(f"{quantile}: {rows_text(nulls.len(), nulls.head(KEEP).to_list())} are null")
    df = df.with_row_index("__row").sort([*groups, quantile], maintain_order=True)
    pop = numeric_column(df, population, positive=True)
    val = numeric_column(df, value)
    _check_domain(df, [value], value_type)
    err = _standard_errors(df, se, lower, upper, value_type)
    bounds = _group_bounds(df, groups, quantile) if df.height else np.array([0])
    rows: list[dict[str, float]] = []
    for g, (s, e) in enumerate(zip(bounds[:-1], bounds[1:])):
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), g])))
        res = sii_group(
            val[s:e],
            err[s:e],
            pop[s:e],
            value_type=value_type,
            transform=transform,
            multiplier=float(multiplier),
            confidence=float(confidence),
            repetitions=int(repetitions),
            rng=rng,
        )
        rows.append({"n_quantiles": int(e - s), **res})
    keys = df.select(groups).gather(bounds[:-1].tolist()) if groups else pl.DataFrame()
    stats = ["sii", "sii_lo", "sii_hi", *(["rii", "rii_lo", "rii_hi"] if rii else []), "intercept"]
    out = pl.DataFrame(
        {"n_quantiles": pl.Series([r["n_quantiles"] for r in rows], dtype=pl.Int64)}
        | {k: pl.Series([r[k] for r in rows], dtype=pl.Float64) for k in stats}
    )
    return pl.concat([keys, out], how="horizontal") if groups else out
