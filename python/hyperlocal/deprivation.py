"""Deprivation: the IMD 2019 composite, Townsend and Carstairs scores, quantiles, and hex surfaces.

References
----------
* Ministry of Housing, Communities & Local Government (2019), *The English Indices of Deprivation 2019:
  Technical report*, sections 3.6–3.8 (exponential transformation of domain ranks and domain weights).
* P. Townsend, P. Phillimore, A. Beattie (1988), *Health and Deprivation: Inequality and the North*.
* V. Carstairs, R. Morris (1991), *Deprivation and Health in Scotland*.
* Public Health England (2018), *Technical Guide: Assigning Deprivation Quintiles / Deciles* (Fingertips;
  the rule implemented by ``PHEindicatormethods::phe_quantile``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import polars as pl

from ._convert import KEEP, FrameLike, as_frame, require_columns, rows_text
from .exceptions import InvalidInputError

__all__ = ["IMD2019_WEIGHTS", "imd_score", "deciles", "townsend", "carstairs", "deprivation_surface"]

#: IMD 2019 domain weights (percent), technical report table 3.1. They sum to 99.9 (the published figures are
#: rounded); the IMD uses them as they stand, w = % / 100, so the composite is Σ (%/100)·X, not renormalised.
IMD2019_WEIGHTS = {
    "income": 22.5,
    "employment": 22.5,
    "education": 13.5,
    "health": 13.5,
    "crime": 9.3,
    "barriers": 9.3,
    "living_environment": 9.3,
}


def _exp_transform(rank_most_deprived_first: np.ndarray, n: int) -> np.ndarray:
    """X = −23 ln(1 − R(1 − e^(−100/23))) with R = (N + 1 − rank)/N in (0, 1]: 100 for the most deprived."""
    r = (n + 1 - rank_most_deprived_first) / n
    return -23.0 * np.log(1.0 - r * (1.0 - np.exp(-100.0 / 23.0)))


def imd_score(
    df: FrameLike,
    *,
    domains: Mapping[str, str],
    weights: str | Mapping[str, float] = "imd2019",
    kind: str = "rank",
    name: str = "imd",
) -> pl.DataFrame:
    """Combine deprivation domains the way the English Indices of Deprivation 2019 do.

    Each domain is ranked (1 = most deprived; with ``kind="rank"`` the columns already are such ranks, with
    ``kind="score"`` higher scores are more deprived and are ranked here, ties by row order), the rank is
    scaled to R = (N + 1 − rank)/N in (0, 1] and transformed exponentially, X = −23·ln(1 − R·(1 − e^(−100/23))),
    so that the most deprived area scores 100 on every domain. The composite is Σ wᵢ·Xᵢ with wᵢ the published
    domain weight as a fraction (IMD 2019: income 0.225, employment 0.225, education 0.135, health 0.135,
    crime 0.093, barriers 0.093, living environment 0.093; they sum to 0.999 and are used as published, not
    renormalised, which reproduces the published scores to their 3-decimal rounding). It is then ranked
    (1 = most deprived) and cut into deciles by rank (decile = ⌈rank / (N/10)⌉), as published.

    Parameters
    ----------
    domains
        Domain name → column. With ``weights="imd2019"`` the names must be the seven IMD domains
        (``income, employment, education, health, crime, barriers, living_environment``); with custom weights
        any set of domains (e.g. a local index).
    weights
        ``"imd2019"`` (the published fractions, used as they stand) or a mapping domain → weight (any
        positive numbers; a custom set is normalised to sum to 1, so ``{"a": 3, "b": 1}`` means 0.75/0.25).

    Returns
    -------
    pl.DataFrame
        ``df`` plus ``<name>_score``, ``<name>_rank`` (1 = most deprived) and ``<name>_decile`` (1 = most
        deprived). Rows with a null domain value raise an error naming them.
    """
    df = as_frame(df, "df")
    if kind not in ("rank", "score"):
        raise InvalidInputError(f"kind: got {kind!r}, expected 'rank' or 'score'")
    w = dict(IMD2019_WEIGHTS) if weights == "imd2019" else dict(weights)  # type: ignore[arg-type]
    if set(w) != set(domains):
        raise InvalidInputError(
            f"domains: got {sorted(domains)}, but the weights cover {sorted(w)}; give a weight for every domain"
        )
    if any(v <= 0 for v in w.values()):
        raise InvalidInputError("weights: expected positive weights")
    require_columns(df, list(domains.values()), "df")
    n = df.height
    if n == 0:
        return df.with_columns(
            pl.Series(f"{name}_score", [], dtype=pl.Float64),
            pl.Series(f"{name}_rank", [], dtype=pl.Int64),
            pl.Series(f"{name}_decile", [], dtype=pl.Int8),
        )
    # The published IMD 2019 weights are fractions used as they stand (Σ = 0.999); custom weights are relative.
    total_w = 100.0 if weights == "imd2019" else sum(w.values())
    score = np.zeros(n)
    for d, col in domains.items():
        s = df[col]
        nulls = s.is_null() | (s.cast(pl.Float64).is_nan() if s.dtype.is_float() else pl.Series([False] * n))
        if nulls.any():
            raise InvalidInputError(
                f"{col}: {rows_text(int(nulls.sum()), nulls.arg_true().head(KEEP).to_list())} are null; "
                "expected a value for every area"
            )
        v = s.cast(pl.Float64).to_numpy()
        if kind == "score":
            rank = pl.Series(-v).rank("ordinal").to_numpy().astype(np.float64)
        else:
            rank = v
            if rank.min() < 1 or rank.max() > n:
                raise InvalidInputError(f"{col}: expected domain ranks in 1..{n} (1 = most deprived)")
        score += w[d] / total_w * _exp_transform(rank, n)
    rank = pl.Series(-score).rank("ordinal").to_numpy()
    decile = np.ceil(rank / (n / 10)).astype(np.int64)
    return df.with_columns(
        pl.Series(f"{name}_score", score),
        pl.Series(f"{name}_rank", rank.astype(np.int64)),
        pl.Series(f"{name}_decile", np.clip(decile, 1, 10).astype(np.int8)),
    )


def deciles(
    df: FrameLike,
    score: str,
    *,
    weight: str | None = None,
    n: int = 10,
    most_deprived: str = "high",
    name: str = "decile",
) -> pl.DataFrame:
    """Add quantile groups (1 = most deprived) of ``score``: ``n`` groups, deciles by default.

    * ``weight`` given (e.g. population): **population-weighted** quantiles. Units are ordered from most to
      least deprived (ties by row order) and each goes to the group holding the midpoint of its cumulative
      weight, so every group holds 1/n of the weight — of the people, not of the areas — to within the largest
      single unit's weight. Use these for cells, whose populations differ widely.
    * ``weight=None``: **count-based** quantiles by the Fingertips/PHE rule (``phe_quantile``): units are ranked
      from most deprived (rank 1; ties share the lowest rank) and group = ⌊(n + 1) − ⌈(N + 1 − rank)/(N/n)⌉⌋
      (0 becomes 1). Each group holds about N/n areas. With fewer than n units no group is assigned (null).

    ``most_deprived="high"`` when higher scores are more deprived (IMD scores, Townsend), ``"low"`` for ranks
    (rank 1 = most deprived). Null scores stay null.
    """
    df = as_frame(df, "df")
    if most_deprived not in ("high", "low"):
        raise InvalidInputError(f"most_deprived: got {most_deprived!r}, expected 'high' or 'low'")
    if n < 1:
        raise InvalidInputError(f"n: got {n}, expected a positive number of groups")
    require_columns(df, [score] + ([weight] if weight else []), "df")
    s = df[score].cast(pl.Float64)
    valid = (s.is_not_null() & ~s.is_nan()).fill_null(False)
    idx = np.flatnonzero(valid.to_numpy())
    v = s.to_numpy()[idx]
    groups = np.zeros(len(idx), dtype=np.int64)
    if weight is None:
        big_n = len(idx)
        adj = (v.max() - v) if (most_deprived == "high" and big_n) else v
        rank = pl.Series(adj).rank("min").to_numpy().astype(np.float64)
        if big_n >= n:
            groups = np.floor((n + 1) - np.ceil(((big_n + 1) - rank) / (big_n / n))).astype(np.int64)
            groups[groups == 0] = 1
        else:
            valid = pl.Series([False] * df.height, dtype=pl.Boolean)
    else:
        w = df[weight].cast(pl.Float64).to_numpy()[idx]
        if np.isnan(w).any() or (w < 0).any():
            raise InvalidInputError(f"{weight}: expected non-negative weights")
        key = -v if most_deprived == "high" else v
        order = np.lexsort((idx, key))
        cum = np.cumsum(w[order])
        total = cum[-1] if len(cum) else 0.0
        mid = cum - w[order] / 2
        g = np.floor(mid / total * n).astype(np.int64) + 1 if total > 0 else np.ones(len(order), np.int64)
        groups[order] = g
    out = np.zeros(df.height, dtype=np.int16)
    out[idx] = np.clip(groups, 1, n)
    col = pl.when(valid).then(pl.Series(name, out)).otherwise(None).alias(name)
    return df.with_columns(col)


def _pct(df: pl.DataFrame, num: str, den: str) -> np.ndarray:
    """100·num/den; NaN where den is 0 (no base: the score is null there); errors for impossible counts."""
    require_columns(df, [num, den], "df")
    a = df[num].cast(pl.Float64).fill_null(np.nan).to_numpy()
    b = df[den].cast(pl.Float64).fill_null(np.nan).to_numpy()
    bad = ~np.isfinite(a) | ~np.isfinite(b) | (a < 0) | (b < 0) | (a > b * (1 + 1e-9) + 1e-9)
    if bad.any():
        i = np.flatnonzero(bad)
        raise InvalidInputError(
            f"{num}/{den}: {rows_text(len(i), i[:KEEP].tolist())} invalid; expected 0 <= {num} <= {den}"
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(b > 0, 100.0 * a / b, np.nan)


def _z(x: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    """z-scores over the finite values (NaN stays NaN). No finite value at all (an empty table, or no base
    anywhere) gives all NaN: there is nothing to standardise."""
    ok = np.isfinite(x)
    if not ok.any():
        return np.full(len(x), np.nan)
    if weights is None:
        mean, sd = x[ok].mean(), x[ok].std(ddof=0)
    else:
        mean = np.average(x[ok], weights=weights[ok])
        sd = np.sqrt(np.average((x[ok] - mean) ** 2, weights=weights[ok]))
    if not sd > 0:
        raise InvalidInputError(
            "z-score: the indicator does not vary between areas; it cannot be standardised"
        )
    return (x - mean) / sd


def _score_frame(df: pl.DataFrame, cols: dict[str, np.ndarray]) -> pl.DataFrame:
    return df.with_columns(pl.Series(k, v).fill_nan(None) for k, v in cols.items())


def townsend(
    df: FrameLike,
    *,
    unemployed: str,
    economically_active: str,
    no_car: str,
    households: str,
    not_owner_occupied: str,
    overcrowded: str,
    z_weight: str | None = None,
    name: str = "townsend",
) -> pl.DataFrame:
    """Townsend material deprivation score (Townsend et al. 1988): z(ln(U+1)) + z(ln(O+1)) + z(C) + z(H).

    From counts: U = % of economically active residents unemployed, C = % of households with no car or van,
    H = % of households not owner-occupied, O = % of households overcrowded (each over ``households``). U and O
    are log-transformed because they are skewed. Works on areas, or on cells after the counts were apportioned
    (:func:`hyperlocal.apportion`), so the totals behind the score are conserved.

    z-scores: by default **unweighted** (each area counts once: mean and population SD across the areas), as in
    Townsend's original and most published tables, so the score ranks places rather than people and does not
    depend on how many people live in each area. Pass ``z_weight`` (e.g. the households column) to standardise
    with weighted means and SDs instead, which is preferable on cells of very unequal size.

    Overcrowding changed measure in 2021: 2011 used persons per room (> 1 per room, QS409EW), but the 2021
    Census publishes occupancy ratings, and counts rooms differently; the bedroom-based rating of −1 or less
    (TS052) is the usual 2021 stand-in. Scores from the two censuses are therefore not strictly comparable.

    Adds ``<name>_unemployed_pct``, ``<name>_no_car_pct``, ``<name>_not_owner_pct``, ``<name>_overcrowded_pct``
    and ``<name>`` (the score; higher = more deprived). Where a base is 0 (a cell with no households) the
    percentages and score are null, and the z-scores are taken over the other rows.
    """
    df = as_frame(df, "df")
    u = _pct(df, unemployed, economically_active)
    c = _pct(df, no_car, households)
    h = _pct(df, not_owner_occupied, households)
    o = _pct(df, overcrowded, households)
    wts = df[z_weight].cast(pl.Float64).to_numpy() if z_weight else None
    score = _z(np.log(u + 1), wts) + _z(np.log(o + 1), wts) + _z(c, wts) + _z(h, wts)
    cols = {f"{name}_unemployed_pct": u, f"{name}_no_car_pct": c, f"{name}_not_owner_pct": h}
    return _score_frame(df, cols | {f"{name}_overcrowded_pct": o, name: score})


def carstairs(
    df: FrameLike,
    *,
    unemployed: str,
    economically_active: str,
    no_car: str,
    households: str,
    overcrowded: str,
    overcrowded_base: str | None = None,
    low_social_class: str,
    social_class_base: str,
    z_weight: str | None = None,
    name: str = "carstairs",
) -> pl.DataFrame:
    """Carstairs deprivation score (Carstairs & Morris 1991): z(U) + z(O) + z(C) + z(S), no logs.

    U = % unemployed among the economically active (originally men), O = % overcrowded (originally persons in
    households with more than one person per room; give ``overcrowded_base``, else ``households`` is the
    base), C = % of households with no car, S = % in low social class (originally Registrar General's classes
    IV and V; NS-SeC 6–7, routine and semi-routine occupations, since 2001). z-scores as in :func:`townsend`
    (unweighted unless ``z_weight``).

    Car access differs from the original: Carstairs & Morris measured C per *person* (% of residents in private
    households with no car), whereas here, as in the Townsend score and in the Census tables usually at hand
    (TS045 / KS404EW), C is per *household* (``no_car`` / ``households``). Households without a car are smaller
    on average, so per-household C runs higher than per-person C; scores are not interchangeable with published
    Carstairs scores computed per person. Give person counts as ``no_car`` and ``households`` to follow the
    original.
    """
    df = as_frame(df, "df")
    u = _pct(df, unemployed, economically_active)
    o = _pct(df, overcrowded, overcrowded_base or households)
    c = _pct(df, no_car, households)
    s = _pct(df, low_social_class, social_class_base)
    wts = df[z_weight].cast(pl.Float64).to_numpy() if z_weight else None
    return _score_frame(df, {name: _z(u, wts) + _z(o, wts) + _z(c, wts) + _z(s, wts)})


def deprivation_surface(
    scores: FrameLike,
    crosswalk: FrameLike,
    *,
    code: str = "code",
    score: str = "imd_score",
    population: str = "population",
    resolutions: Sequence[int] = (8, 7),
    most_deprived: str = "high",
) -> dict[int, pl.DataFrame]:
    """A hex deprivation surface from area scores (e.g. LSOA 2011 IMD 2019 scores).

    Scores are intensive: each cell gets the population-weighted mean of the scores of the areas it holds
    (:func:`hyperlocal.apportion` with ``weight=population``), at the crosswalk's (finest) resolution; coarser
    ``resolutions`` are rolled up from it (:func:`hyperlocal.rollup`, consistent by construction). Each
    resolution's cells get **population-weighted deciles** (``decile``, 1 = most deprived; each holds a tenth
    of the people). Returns {resolution: cell table with ``cell``, ``population``, ``score``, ``decile``}.
    """
    from . import _core
    from .aggregate import apportion, rollup

    scores, crosswalk = as_frame(scores, "scores"), as_frame(crosswalk, "crosswalk")
    require_columns(scores, [code, score, population], "scores")
    finest = apportion(scores, crosswalk, code=code, intensive=score, weight=population)
    if finest.height == 0:
        empty = deciles(finest, score, weight=population, most_deprived=most_deprived)
        return {r: empty for r in resolutions}
    res0 = int(_core.cell_resolutions(np.ascontiguousarray(finest["cell"].head(1).to_numpy()))[0])
    out: dict[int, pl.DataFrame] = {}
    for res in sorted(set(resolutions) | {res0}, reverse=True):
        if res > res0:
            raise InvalidInputError(f"resolutions: {res} is finer than the crosswalk's resolution {res0}")
        t = finest if res == res0 else rollup(finest, resolution=res, intensive=score, weight=population)
        out[res] = deciles(t, score, weight=population, most_deprived=most_deprived)
    return {r: out[r] for r in resolutions}
