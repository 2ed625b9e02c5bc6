"""Indirect age standardisation of general-health categories, per area or per cell.

For each category c (a group of the five census categories) and each row (an area, or a cell after the
counts and populations have been apportioned to cells):

* expected E_c = Σ_b population_b × rate_{b,c}, with rate_{b,c} the reference rate of category c in age band
  b (e.g. England and Wales, Census 2011, LC3409EW). Expected counts are extensive, like the observed ones and
  the band populations: apportion the inputs to cells (or sum them over areas) first, then standardise;
* the standardised ratio O_c / E_c (the SMR of the category), with Poisson limits on O (exact below 10, Byar's
  from 10: Breslow & Day 1987, as in :func:`hyperlocal.rates.isr` and the Fingertips methods) divided by E;
* the indirectly standardised share = ratio × the reference's crude share of c (in %), with the same limits:
  the reference share scaled by how much more (or less) of c the row has than its age structure predicts.

Which categories can be standardised with the public inputs: the reference rates by age that exist for England
and Wales are LC3409EW (Census 2011, general health by age, by local authority), which gives three groups,
**very good or good**, **fair** and **bad or very bad**, for the bands 0–15, 16–49, 50–64 and 65+. So those three
are standardised; *very good* alone (or good alone) cannot be yet: no public table gives it by age at a
geography that sums to a national reference. Any other reference (any bands, any categories) can be supplied.

References: N. E. Breslow, N. E. Day (1987), *Statistical Methods in Cancer Research II*, IARC (indirect
standardisation, Byar's limits, p. 69); UKHSA Fingertips technical guidance / PHEindicatormethods
``calculate_ISRatio``; ONS (2023), "Age-standardised general health, Census 2021" (the direct standardisation
to the European Standard Population 2013 behind TS037ASP, a different estimator used as a check value).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np
import polars as pl

from ._convert import KEEP, FrameLike, as_frame, require_columns, rows_text
from .exceptions import InvalidInputError
from .rates import SMALL_COUNT, poisson_limits

__all__ = ["age_standardise", "standardised_change", "band_column", "parse_band", "HEALTH_GROUPS"]

#: The groups of the five census categories that the public reference (LC3409EW) gives by age.
HEALTH_GROUPS: dict[str, tuple[str, ...]] = {
    "good_or_very_good": ("very_good", "good"),
    "fair": ("fair",),
    "bad_or_very_bad": ("bad", "very_bad"),
}

_BAND = re.compile(r"^\s*(?:age_)?(\d+)\s*(?:[-_]|to)\s*(\d+|plus)\s*$|^\s*(?:age_)?(\d+)\s*\+\s*$")


def parse_band(label: str) -> tuple[int, int | None]:
    """(lowest age, highest age or None for open-ended) of a band label: "16-49", "16_49", "16 to 49", "65+",
    "65_plus", "age_16_49", "age_65_plus"."""
    m = _BAND.match(str(label))
    if not m:
        raise InvalidInputError(
            f"age band {label!r}: expected 'LO-HI' or 'LO+' (e.g. '16-49', '65+', 'age_16_49', 'age_65_plus')"
        )
    if m.group(3) is not None:
        return int(m.group(3)), None
    lo, hi = int(m.group(1)), m.group(2)
    if hi == "plus":
        return lo, None
    if int(hi) < lo:
        raise InvalidInputError(f"age band {label!r}: the upper age is below the lower age")
    return lo, int(hi)


def band_column(label: str) -> str:
    """The column name of an age band's population: "16-49" → "age_16_49", "65+" → "age_65_plus"."""
    lo, hi = parse_band(label)
    return f"age_{lo}_plus" if hi is None else f"age_{lo}_{hi}"


def _tile(population: Mapping[str, str], reference_bands: Sequence[str]) -> dict[str, list[str]]:
    """Which population columns make up each reference band; error unless every population band lies inside
    one reference band and the population bands inside each reference band tile it exactly."""
    ref = {b: parse_band(b) for b in reference_bands}
    inside: dict[str, list[tuple[int, int | None, str]]] = {b: [] for b in ref}
    for col, label in population.items():
        lo, hi = parse_band(label)
        home = [
            b for b, (rlo, rhi) in ref.items()
            if lo >= rlo and (rhi is None or (hi is not None and hi <= rhi))
        ]  # fmt: skip
        if len(home) != 1:
            raise InvalidInputError(
                f"age_standardise: population band {label!r} (column {col!r}) does not lie inside exactly one "
                f"reference band of {list(ref)}; expected bands that tile the reference bands"
            )
        inside[home[0]].append((lo, hi, col))
    for b, (rlo, rhi) in ref.items():
        parts = sorted(inside[b], key=lambda t: t[0])
        at = rlo
        for lo, hi, _ in parts:
            if lo != at:
                break
            at = -1 if hi is None else hi + 1
        end = -1 if rhi is None else rhi + 1
        if not parts or at != end:
            got = [population[c] for _, _, c in parts]
            raise InvalidInputError(
                f"age_standardise: the population bands {got} do not tile the reference band {b!r} (gaps or "
                "overlaps); expected population bands that cover every reference band exactly"
            )
    return {b: [c for _, _, c in inside[b]] for b in ref}


def _counts(df: pl.DataFrame, col: str, what: str) -> np.ndarray:
    s = df.get_column(col)
    if not s.dtype.is_numeric():
        raise InvalidInputError(f"{what}: {col}: expected a numeric column, got {s.dtype}")
    a = s.cast(pl.Float64).to_numpy().copy()
    bad = np.isnan(a) | ~np.isfinite(a) | (a < 0) | s.is_null().to_numpy()
    if bad.any():
        idx = np.flatnonzero(bad)
        raise InvalidInputError(
            f"{what}: {col}: {rows_text(len(idx), idx[:KEEP].tolist())} null, NaN, infinite or negative; "
            "expected non-negative counts"
        )
    return a


def age_standardise(
    table: FrameLike,
    reference: FrameLike,
    *,
    population: Mapping[str, str] | None = None,
    categories: Mapping[str, Sequence[str]] | None = None,
    code: str = "code",
) -> pl.DataFrame:
    """Indirectly age-standardised shares of general-health categories, per row (area or cell).

    Parameters
    ----------
    table
        One row per area or cell: ``code``, the observed counts (the columns named in ``categories``) and the
        population by age band (the columns of ``population``). Everything in it is extensive: apportion areas
        to cells before calling this, never the results.
    reference
        One row per age band: ``band`` (a label such as ``"16-49"`` or ``"65+"``), ``population`` and one count
        column per category of ``categories`` (as :func:`hyperlocal.ons.lc3409ew_reference` returns for England
        and Wales 2011). Rates are count / population per band; the reference share of a category is its
        total over the total population.
    population
        Population column of ``table`` → its age band label. Default: every column named ``age_LO_HI`` /
        ``age_LO_plus``. The bands must tile the reference bands (each inside one reference band, together
        covering it exactly: e.g. 16–24, 25–34 and 35–49 for 16–49).
    categories
        Category name (a count column of ``reference``) → the columns of ``table`` it sums. Default
        :data:`HEALTH_GROUPS` (very good or good, fair, bad or very bad) over the five census categories.
    code
        The row key, carried to the output.

    Returns
    -------
    pl.DataFrame
        ``code``, ``residents`` (the population over the bands), then per category c: ``c_observed``,
        ``c_expected``, ``c_ratio`` (O/E) with ``c_ratio_lo95``/``c_ratio_hi95``, ``c_crude_pct`` (O / residents
        × 100), ``c_std_pct`` (ratio × reference share, %) with ``c_std_pct_lo95``/``c_std_pct_hi95``, and
        ``c_method`` ("Exact" below 10 observed, "Byars" from 10; the small-count rule of the Fingertips
        methods: below 10 the ratio is shown with exact limits and should be read as unstable). Ratios and
        shares are null where nothing is expected (no residents).

    Raises
    ------
    InvalidInputError
        Missing columns, null/negative/NaN counts, reference bands repeated or with no population, population
        bands that do not tile the reference bands.
    """
    what = "age_standardise"
    df = as_frame(table, what)
    ref = as_frame(reference, f"{what}: reference")
    cats = {k: list(v) for k, v in (categories or HEALTH_GROUPS).items()}
    if not cats:
        raise InvalidInputError(f"{what}: categories: expected at least one category")
    require_columns(ref, ["band", "population", *cats], f"{what}: reference")
    if ref["band"].is_duplicated().any():
        raise InvalidInputError(f"{what}: reference: a band is repeated; expected each band once")
    if population is None:
        population = {c: c for c in df.columns if c.startswith("age_")}
        if not population:
            raise InvalidInputError(
                f"{what}: no population columns: expected columns named age_LO_HI / age_LO_plus, or "
                "population={column: band}"
            )
    require_columns(df, [code, *population, *(c for cols in cats.values() for c in cols)], what)
    bands = [str(b) for b in ref["band"].to_list()]
    tiles = _tile(population, bands)
    ref_pop = _counts(ref, "population", f"{what}: reference")
    empty = np.flatnonzero(ref_pop <= 0)
    if empty.size:
        raise InvalidInputError(f"{what}: reference: bands {[bands[i] for i in empty]} have no population")
    pops = {c: _counts(df, c, what) for c in population}
    band_pop = np.column_stack([sum((pops[c] for c in tiles[b]), np.zeros(df.height)) for b in bands])
    residents = band_pop.sum(axis=1) if bands else np.zeros(df.height)
    out: list[pl.Series] = [df.get_column(code), pl.Series("residents", residents)]
    for cat, cols in cats.items():
        ref_count = _counts(ref, cat, f"{what}: reference")
        rate = ref_count / ref_pop
        share = 100.0 * ref_count.sum() / ref_pop.sum()
        o = sum((_counts(df, c, what) for c in cols), np.zeros(df.height))
        e = band_pop @ rate
        with np.errstate(divide="ignore", invalid="ignore"):
            inv_e = np.where(e > 0, 1.0 / e, np.nan)
            crude = np.where(residents > 0, 100.0 * o / residents, np.nan)
        lo, hi = poisson_limits(o, 0.95)
        out += [
            pl.Series(f"{cat}_observed", o),
            pl.Series(f"{cat}_expected", e),
            pl.Series(f"{cat}_ratio", o * inv_e),
            pl.Series(f"{cat}_ratio_lo95", lo * inv_e),
            pl.Series(f"{cat}_ratio_hi95", hi * inv_e),
            pl.Series(f"{cat}_crude_pct", crude),
            pl.Series(f"{cat}_std_pct", o * inv_e * share),
            pl.Series(f"{cat}_std_pct_lo95", lo * inv_e * share),
            pl.Series(f"{cat}_std_pct_hi95", hi * inv_e * share),
            pl.Series(f"{cat}_method", np.where(o < SMALL_COUNT, "Exact", "Byars")),
        ]
    res = pl.DataFrame(out)
    floats = [c for c in res.columns if res.schema[c] == pl.Float64]
    return res.with_columns(pl.col(floats).fill_nan(None))


def standardised_change(
    before: pl.DataFrame, after: pl.DataFrame, *, code: str = "code", how: str = "inner"
) -> pl.DataFrame:
    """Change in crude and standardised shares between two :func:`age_standardise` results (e.g. Census 2011
    → 2021 on the same cells): per category, ``c_crude_change_pp`` and ``c_std_change_pp`` (after − before,
    percentage points), with both years' shares and limits. Rows are matched on ``code`` (``how="inner"``
    keeps rows present in both; ``"full"`` keeps all, with nulls). No interval is given for the change: the
    two censuses count mostly the same people, so their errors are not independent."""
    if how not in ("inner", "full"):
        raise InvalidInputError(f"standardised_change: how={how!r}; expected 'inner' or 'full'")
    cats = [c.removesuffix("_std_pct") for c in before.columns if c.endswith("_std_pct")]
    if not cats or any(f"{c}_std_pct" not in after.columns for c in cats):
        raise InvalidInputError(
            "standardised_change: expected two age_standardise results with the same categories"
        )
    keep = [f"{c}_{s}" for c in cats for s in ("crude_pct", "std_pct", "std_pct_lo95", "std_pct_hi95")]
    b = before.select(code, *keep)
    a = after.select(code, *keep)
    j = b.join(a, on=code, how="inner" if how == "inner" else "full", suffix="_after", coalesce=True)
    j = j.rename({k: f"{k}_before" for k in keep})
    return j.with_columns(
        *[(pl.col(f"{c}_crude_pct_after") - pl.col(f"{c}_crude_pct_before")).alias(f"{c}_crude_change_pp")
          for c in cats],
        *[(pl.col(f"{c}_std_pct_after") - pl.col(f"{c}_std_pct_before")).alias(f"{c}_std_change_pp")
          for c in cats],
    )  # fmt: skip
