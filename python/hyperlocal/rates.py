"""Crude rates, proportions and standardised rates with the confidence limits Fingertips publishes.

The methods are those of UKHSA's R package PHEindicatormethods 2.1.0 (the statistics behind Fingertips),
reproduced to its published test figures (``tests/test_rates.py``):

* Crude rates (:func:`rate`): exact Poisson limits from chi-square quantiles below 10 events (Ulm 1990;
  Armitage & Berry 2002), Byar's approximation from 10 events (Breslow & Day 1987).
* Proportions (:func:`proportion`): Wilson score limits (Wilson 1927; Newcombe & Altman 2000).
* Indirect standardisation (:func:`reference_rates`, :func:`isr`): expected events from reference rates per
  stratum; the ratio O/E (SMR) and the indirectly standardised rate, with the same Poisson limits on O.
* Direct standardisation (:func:`dsr`): Dobson et al. (1991) limits (Byar's limits on the total count,
  scaled by the variance of the weighted sum), the European Standard Population 2013 built in; PHE's
  variant for non-independent events (Fingertips technical guidance, DSR chapter) with ``event_frequency``.

Both confidence levels Fingertips shows are always given: 95% (``_lo95``, ``_hi95``) and 99.8% (``_lo998``,
``_hi998``), the two- and three-sigma limits of its funnel plots and benchmarking.

References
----------
Breslow NE, Day NE (1987). Statistical methods in cancer research, volume II: the design and analysis of
cohort studies. Lyon: IARC. (Byar's method, p. 69.)

Ulm K (1990). A simple method to calculate the confidence interval of a standardized mortality ratio.
American Journal of Epidemiology 131:373–375. (Exact Poisson limits from chi-square quantiles.)

Wilson EB (1927). Probable inference, the law of succession, and statistical inference. JASA 22:209–212.

Dobson AJ, Kuulasmaa K, Eberle E, Scherer J (1991). Confidence intervals for weighted sums of Poisson
parameters. Statistics in Medicine 10:457–462.

Eurostat (2013). Revision of the European Standard Population: report of Eurostat's task force.

Public Health England / UKHSA. Fingertips public health technical guidance; PHEindicatormethods 2.1.0.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from ._convert import KEEP, FrameLike, as_frame, require_columns, rows_text
from .exceptions import InvalidInputError
from .stats import z_value

__all__ = [
    "ESP2013",
    "rate",
    "proportion",
    "reference_rates",
    "isr",
    "dsr",
    "byars_limits",
    "exact_poisson_limits",
    "poisson_limits",
    "wilson_limits",
]

#: The two confidence levels Fingertips publishes, with their column suffixes.
LEVELS: tuple[tuple[float, str], ...] = ((0.95, "95"), (0.998, "998"))

#: Below this many events, exact Poisson limits (rates, ISRs); a DSR is not calculated at all.
SMALL_COUNT = 10

#: European Standard Population 2013 (Eurostat 2013): 19 five-year bands 0-4, 5-9, …, 85-89, 90+,
#: keyed by the lower age of the band. PHEindicatormethods' ``esp2013``.
ESP2013: dict[int, float] = dict(
    zip(
        range(0, 95, 5),
        (
            5000,
            5500,
            5500,
            5500,
            6000,
            6000,
            6500,
            7000,
            7000,
            7000,
            7000,
            6500,
            6000,
            5500,
            5000,
            4000,
            2500,
            1500,
            1000,
        ),
    )
)
_STANDARDS = {"esp2013": ESP2013}
NONINDEPENDENT = "Dobson, with confidence adjusted for non-independent events"
_LOWER_AGE = re.compile(r"^\s*(\d+)")


# ----------------------------------------------------------------------------------------------------------
# Interval kernels (numpy, vectorised)
# ----------------------------------------------------------------------------------------------------------


def byars_limits(x: Any, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Byar's approximate Poisson limits for observed counts ``x`` (Breslow & Day 1987).

    lower = x (1 − 1/(9x) − z/(3√x))³, upper = (x+1) (1 − 1/(9(x+1)) + z/(3√(x+1)))³, with z the two-sided
    normal quantile. A negative lower limit (tiny counts at high confidence) is NaN, as in PHE.
    """
    x = np.asarray(x, dtype=np.float64)
    z = z_value(confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        lo = x * (1 - 1 / (9 * x) - z / (3 * np.sqrt(x))) ** 3
        x1 = x + 1
        hi = x1 * (1 - 1 / (9 * x1) + z / (3 * np.sqrt(x1))) ** 3
    lo = np.where(lo < 0, np.nan, lo)
    return lo, hi


def exact_poisson_limits(x: Any, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Exact Poisson limits for observed counts ``x`` from chi-square quantiles (Ulm 1990).

    lower = χ²(α/2; 2x)/2 (0 for x = 0), upper = χ²(1 − α/2; 2x + 2)/2, with α = 1 − confidence.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.size > 1024:  # counts repeat (whole numbers, mostly small): one quantile per distinct count
        u, inv = np.unique(x, return_inverse=True)
        if u.size < x.size // 4:
            lo_u, hi_u = exact_poisson_limits(u, confidence)
            return lo_u[inv], hi_u[inv]
    from scipy import special  # imported on first use: `import hyperlocal` stays light

    alpha = 1 - confidence
    # χ²(q; 2k)/2 is the inverse regularised incomplete gamma P⁻¹(k, q) (what scipy's chi2.ppf computes).
    with np.errstate(invalid="ignore"):
        lo = np.where(x > 0, special.gammaincinv(np.where(x > 0, x, 1.0), alpha / 2), 0.0)
        hi = special.gammaincinv(x + 1, confidence + alpha / 2)
    lo = np.where(np.isnan(x), np.nan, lo)
    return lo, hi


def poisson_limits(x: Any, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """PHE's Poisson limits for counts: exact below 10 events, Byar's from 10 (see :func:`poisson_method`)."""
    x = np.asarray(x, dtype=np.float64)
    lo, hi = byars_limits(x, confidence)
    small = x < SMALL_COUNT  # the chi-square quantiles only where they are used (they cost ~1 µs each)
    if small.any():
        elo, ehi = exact_poisson_limits(x[small], confidence)
        lo, hi = lo.copy(), hi.copy()
        lo[small], hi[small] = elo, ehi
    return lo, hi


def poisson_method(x: np.ndarray) -> pl.Series:
    """ "Exact" below 10 events, "Byars" from 10, null where the count is unknown."""
    small = pl.Series(x < SMALL_COUNT)
    return _label(~np.isnan(x), pl.when(small).then(pl.lit("Exact")).otherwise(pl.lit("Byars")))


def _label(mask: np.ndarray, text: pl.Expr | str) -> pl.Series:
    """A String column: ``text`` where ``mask``, null elsewhere."""
    value = pl.lit(text) if isinstance(text, str) else text
    return pl.select(pl.when(pl.Series(mask, dtype=pl.Boolean)).then(value).otherwise(None)).to_series()


def wilson_limits(x: Any, n: Any, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score limits for x successes out of n (Wilson 1927), in PHE's closed form:

    (2x + z² ∓ z √(z² + 4x(1 − x/n))) / (2(n + z²)). Counts may be fractional.
    """
    x = np.asarray(x, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    z = z_value(confidence)
    z2 = z * z
    with np.errstate(divide="ignore", invalid="ignore"):
        root = z * np.sqrt(z2 + 4 * x * (1 - x / n))
        lo = (2 * x + z2 - root) / 2 / (n + z2)
        hi = (2 * x + z2 + root) / 2 / (n + z2)
    bad = ~(n > 0)
    return np.where(bad, np.nan, lo), np.where(bad, np.nan, hi)


# ----------------------------------------------------------------------------------------------------------
# Validation helpers (the boundary: every bad value named by column and rows)
# ----------------------------------------------------------------------------------------------------------


def _raise_rows(mask: np.ndarray, where: str, problem: str) -> None:
    if mask.any():
        idx = np.flatnonzero(mask)
        raise InvalidInputError(f"{where}: {rows_text(len(idx), idx[:KEEP].tolist())} {problem}")


def _as_list(cols: str | Sequence[str] | None) -> list[str]:
    if cols is None:
        return []
    return [cols] if isinstance(cols, str) else list(cols)


def _values(df: pl.DataFrame, col: str, what: str, *, nulls: str) -> np.ndarray:
    """A numeric column as float64 with NaN for null; NaN/±inf/negative values are errors.

    ``nulls``: "keep" (NaN in the result), "zero" (counted as 0, as PHE's ``na.zero``) or "error".
    """
    s = df[col]
    where = f"{what}[{col!r}]"
    if not (s.dtype.is_numeric() or s.dtype == pl.Null):
        raise InvalidInputError(f"{where}: expected a numeric column, got {s.dtype}")
    s = s.cast(pl.Float64)
    null = s.is_null().to_numpy()
    if nulls == "error":
        _raise_rows(null, where, "are null; expected no nulls")
    a = s.to_numpy().astype(np.float64, copy=True)
    _raise_rows(~null & ~np.isfinite(a), where, "are NaN or infinite; expected finite numbers")
    _raise_rows(~null & (a < 0), where, "are negative; expected values ≥ 0")
    a[null] = 0.0 if nulls == "zero" else np.nan
    return a


def _require_not_null(df: pl.DataFrame, cols: Sequence[str], what: str) -> None:
    for c in cols:
        _raise_rows(df[c].is_null().to_numpy(), f"{what}[{c!r}]", "are null; expected no nulls")


def _f64(name: str, a: np.ndarray) -> pl.Series:
    """A float column with NaN as null (never NaN in output)."""
    return pl.Series(name, a, dtype=pl.Float64, nan_to_null=True)


def _group_sums(df: pl.DataFrame, by: list[str], cols: Sequence[str]) -> pl.DataFrame:
    """Sums per group in order of first appearance; a group with a null in a column sums to null (as R)."""
    out = df.group_by(by, maintain_order=True).agg(
        *[pl.col(c).sum() for c in cols], *[pl.col(c).null_count().alias(f"__nulls_{c}") for c in cols]
    )
    return out.with_columns(
        pl.when(pl.col(f"__nulls_{c}") > 0).then(None).otherwise(pl.col(c)).alias(c) for c in cols
    ).drop(f"__nulls_{c}" for c in cols)


def _check_multiplier(multiplier: float) -> float:
    if isinstance(multiplier, bool) or not isinstance(multiplier, (int, float)) or not multiplier > 0:
        raise InvalidInputError(f"multiplier: got {multiplier!r}, expected a positive number")
    if not np.isfinite(multiplier):
        raise InvalidInputError(f"multiplier: got {multiplier!r}, expected a finite number")
    return float(multiplier)


def _check_names(*groups: Sequence[str], what: str) -> None:
    seen: set[str] = set()
    for g in groups:
        for c in g:
            if c in seen:
                raise InvalidInputError(f"{what}: column {c!r} is given twice; expected distinct columns")
            seen.add(c)


# ----------------------------------------------------------------------------------------------------------
# Crude rates and proportions
# ----------------------------------------------------------------------------------------------------------


def rate(
    table: FrameLike,
    *,
    count: str,
    population: str,
    multiplier: float = 100_000,
    by: str | Sequence[str] | None = None,
) -> pl.DataFrame:
    """Crude rates with exact Poisson (below 10 events) or Byar's limits, as Fingertips.

    Parameters
    ----------
    table
        Any table (Polars, pandas, Arrow) with a count and a population column.
    count, population
        Column names: numbers of events (may be fractional) and the population at risk.
    multiplier
        Rates are per this many people (default per 100,000).
    by
        Optional grouping columns: counts and populations are summed per group first (PHE's grouped
        ``calculate_rate``); a group holding a null count or population sums to null.

    Returns
    -------
    pl.DataFrame
        ``table`` (or, with ``by``, one row per group in order of first appearance: the ``by`` columns and the
        summed ``count`` and ``population``) plus ``rate`` = count / population × multiplier, ``rate_lo95``,
        ``rate_hi95``, ``rate_lo998``, ``rate_hi998`` and ``rate_method``: ``"Exact"`` below 10 events
        (limits χ²(α/2; 2x)/2 and χ²(1 − α/2; 2x + 2)/2, Ulm 1990), ``"Byars"`` from 10 (Breslow & Day 1987).
        A null count or population, or a population of 0 with no events, gives null values (the method is
        null only where the count is null, as PHE).

    Raises
    ------
    InvalidInputError
        A missing or non-numeric column, negative, NaN or infinite values, or a population of 0 with events
        (naming the column and the first rows, or groups with ``by``).

    References
    ----------
    Breslow & Day (1987); Ulm (1990); PHEindicatormethods ``calculate_rate`` (PHE technical guidance).

    Examples
    --------
    >>> import polars as pl
    >>> from hyperlocal.rates import rate
    >>> out = rate(pl.DataFrame({"x": [65], "n": [100]}), count="x", population="n", multiplier=100)
    >>> out.select(pl.col("rate", "rate_lo95", "rate_hi95").round(3), "rate_method").row(0)
    (65.0, 50.163, 82.849, 'Byars')
    """
    what = "rate"
    df = as_frame(table, what)
    groups = _as_list(by)
    _check_names([count, population], groups, what=what)
    require_columns(df, [count, population, *groups], what)
    m = _check_multiplier(multiplier)
    _values(df, count, what, nulls="keep")
    _values(df, population, what, nulls="keep")
    if groups:
        df = _group_sums(df, groups, [count, population])
        what = f"rate (groups by {groups})"
    x = _values(df, count, what, nulls="keep")
    n = _values(df, population, what, nulls="keep")
    _raise_rows((n == 0) & (x > 0), f"{what}[{population!r}]", "are 0 with events; expected a population > 0")
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(n > 0, m / n, np.nan)
    cols = [_f64("rate", x * scale)]
    for conf, tag in LEVELS:
        lo, hi = poisson_limits(x, conf)
        cols += [_f64(f"rate_lo{tag}", lo * scale), _f64(f"rate_hi{tag}", hi * scale)]
    method = poisson_method(x).alias("rate_method")
    return df.with_columns(*cols, method)


def proportion(
    table: FrameLike,
    *,
    count: str,
    population: str,
    multiplier: float = 100,
    by: str | Sequence[str] | None = None,
) -> pl.DataFrame:
    """Proportions with Wilson score limits at 95% and 99.8%, as Fingertips.

    Parameters
    ----------
    table
        Any table with a count and a population column.
    count, population
        Column names: cases meeting the condition and the number in the sample (both may be fractional).
    multiplier
        100 (default) for percentages, 1 for proportions of 1.
    by
        Optional grouping columns: counts and populations are summed per group first (a null sums to null).

    Returns
    -------
    pl.DataFrame
        ``table`` (or one row per group, in order of first appearance) plus ``proportion`` =
        count / population × multiplier, ``proportion_lo95``, ``proportion_hi95``, ``proportion_lo998``,
        ``proportion_hi998`` (Wilson score limits, (2x + z² ∓ z√(z² + 4x(1 − x/n))) / 2(n + z²)) and
        ``proportion_method`` = ``"Wilson"``. A null count or population, or a population of 0, gives null
        values.

    Raises
    ------
    InvalidInputError
        A missing or non-numeric column, negative, NaN or infinite values, or a count above its population.

    References
    ----------
    Wilson (1927); Newcombe & Altman (2000), in Statistics with confidence, 2nd edn, pp. 46–48;
    PHEindicatormethods ``calculate_proportion``.
    """
    what = "proportion"
    df = as_frame(table, what)
    groups = _as_list(by)
    _check_names([count, population], groups, what=what)
    require_columns(df, [count, population, *groups], what)
    m = _check_multiplier(multiplier)
    _values(df, count, what, nulls="keep")
    _values(df, population, what, nulls="keep")
    if groups:
        df = _group_sums(df, groups, [count, population])
        what = f"proportion (groups by {groups})"
    x = _values(df, count, what, nulls="keep")
    n = _values(df, population, what, nulls="keep")
    _raise_rows(x > n, f"{what}[{count!r}]", f"exceed {population!r}; expected a count ≤ its population")
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(n > 0, x / n, np.nan)
    cols = [_f64("proportion", p * m)]
    for conf, tag in LEVELS:
        lo, hi = wilson_limits(x, n, conf)
        cols += [_f64(f"proportion_lo{tag}", lo * m), _f64(f"proportion_hi{tag}", hi * m)]
    method = _label(~np.isnan(p), "Wilson").alias("proportion_method")
    return df.with_columns(*cols, method)


# ----------------------------------------------------------------------------------------------------------
# Indirect standardisation
# ----------------------------------------------------------------------------------------------------------


def reference_rates(
    table: FrameLike, *, count: str, population: str, strata: str | Sequence[str]
) -> pl.DataFrame:
    """Reference rates per stratum, summed over the whole table (the input of :func:`isr`).

    Parameters
    ----------
    table
        Events and populations by stratum (and anything else: areas, years, … are summed over).
    count, population
        Column names of events and population.
    strata
        The standardisation column(s): age band, sex, deprivation decile, or a combination.

    Returns
    -------
    pl.DataFrame
        One row per stratum, in order of first appearance: the ``strata`` columns, ``ref_count``,
        ``ref_population`` and ``ref_rate`` = ref_count / ref_population (per person, not per 100,000; null
        where the stratum has no population and no events).

    Raises
    ------
    InvalidInputError
        Missing columns, null strata, null, negative, NaN or infinite counts or populations, or a stratum with
        events but no population.
    """
    what = "reference_rates"
    df = as_frame(table, what)
    keys = _as_list(strata)
    if not keys:
        raise InvalidInputError(f"{what}: strata: expected at least one column")
    _check_names([count, population], keys, what=what)
    require_columns(df, [count, population, *keys], what)
    _require_not_null(df, keys, what)
    _values(df, count, what, nulls="error")
    _values(df, population, what, nulls="error")
    out = df.group_by(keys, maintain_order=True).agg(
        pl.col(count).cast(pl.Float64).sum().alias("ref_count"),
        pl.col(population).cast(pl.Float64).sum().alias("ref_population"),
    )
    x, n = out["ref_count"].to_numpy(), out["ref_population"].to_numpy()
    _raise_rows((n == 0) & (x > 0), f"{what} (strata by {keys})", "have events but no population")
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(n > 0, x / n, np.nan)
    return out.with_columns(_f64("ref_rate", r))


def _reference(reference: FrameLike, keys: list[str]) -> tuple[pl.DataFrame, float]:
    """The reference as (strata…, __ref_rate) and its crude rate Σ ref_count / Σ ref_population (NaN if the
    reference gives rates only)."""
    what = "isr: reference"
    ref = as_frame(reference, what)
    require_columns(ref, keys, what)
    _require_not_null(ref, keys, what)
    dup = ref.select(keys).is_duplicated().to_numpy()
    _raise_rows(dup, f"{what}[{keys}]", "repeat a stratum; expected each stratum once")
    if "ref_count" in ref.columns and "ref_population" in ref.columns:
        x = _values(ref, "ref_count", what, nulls="error")
        n = _values(ref, "ref_population", what, nulls="error")
        _raise_rows(n <= 0, f"{what}['ref_population']", "are 0; expected a reference population > 0")
        r = x / n
        crude = float(x.sum() / n.sum())
    elif "ref_rate" in ref.columns:
        r = _values(ref, "ref_rate", what, nulls="error")
        crude = float("nan")
    else:
        raise InvalidInputError(
            f"{what}: expected a 'ref_rate' column, or 'ref_count' and 'ref_population'; got {ref.columns}"
        )
    return ref.select(keys).with_columns(pl.Series("__ref_rate", r)), crude


def isr(
    table: FrameLike,
    *,
    observed: str,
    population: str,
    strata: str | Sequence[str],
    reference: FrameLike,
    by: str | Sequence[str] | None = None,
    multiplier: float = 100_000,
    allow_zero_population: bool = False,
) -> pl.DataFrame:
    """Indirectly standardised ratios (SMR) and rates, as Fingertips (``calculate_ISRatio``/``ISRate``).

    Expected events E = Σ_s population_s × ref_rate_s over the strata of each ``by`` group (or the whole
    table); the ratio O/E has the Poisson limits of O (exact below 10 events, Byar's from 10) divided by E;
    the indirectly standardised rate is the ratio × the reference's crude rate × multiplier.

    Parameters
    ----------
    table
        Observed events and population by stratum (and ``by`` group).
    observed, population
        Column names. Nulls count as 0 (as PHE).
    strata
        The standardisation column(s), present in both ``table`` and ``reference``.
    reference
        The strata columns and either ``ref_rate`` (per person), or ``ref_count`` and ``ref_population`` (as
        :func:`reference_rates` returns), each stratum once.
    by
        Optional grouping columns (areas, cells, years, …): one result per group, in order of first
        appearance.
    multiplier
        The ISR is per this many people (default 100,000).
    allow_zero_population
        Accept stratum rows with events but a population of 0, as PHE's ``calculate_ISRatio`` does (their
        events count as observed, with nothing expected). By default they are an error naming the rows: such
        a row means the numerator and denominator do not describe the same people.

    Returns
    -------
    pl.DataFrame
        The ``by`` columns, ``observed``, ``expected``, ``ratio`` (O/E) with ``ratio_lo95``, ``ratio_hi95``,
        ``ratio_lo998``, ``ratio_hi998``; ``ref_crude_rate`` = Σ ref_count / Σ ref_population × multiplier
        over the whole reference (PHE's ``ref_rate``); ``isr`` = ratio × ref_crude_rate with ``isr_lo95`` …
        ``isr_hi998``; ``isr_method`` (``"Exact"`` below 10 observed events, else ``"Byars"``). ISR columns
        are null when the reference gives ``ref_rate`` only (no crude rate); everything but ``observed`` and
        ``expected`` is null where E = 0.

    Raises
    ------
    InvalidInputError
        Missing columns, negative, NaN or infinite values, a stratum row with events but a population of 0
        (unless ``allow_zero_population``), strata of
        ``table`` missing from ``reference`` (named), a reference stratum repeated, or a reference population
        of 0.

    References
    ----------
    Breslow & Day (1987); Ulm (1990); PHEindicatormethods ``calculate_ISRate`` and ``calculate_ISRatio``.
    """
    what = "isr"
    df = as_frame(table, what)
    keys, groups = _as_list(strata), _as_list(by)
    if not keys:
        raise InvalidInputError(f"{what}: strata: expected at least one column")
    _check_names([observed, population], keys, groups, what=what)
    require_columns(df, [observed, population, *keys, *groups], what)
    m = _check_multiplier(multiplier)
    _require_not_null(df, keys, what)
    o = _values(df, observed, what, nulls="zero")
    n = _values(df, population, what, nulls="zero")
    # A stratum with events but nobody in it contributes observed events and no expected ones: a numerator /
    # denominator mismatch that would inflate the ratio unseen (PHE's calculate_ISRatio accepts it silently).
    if not allow_zero_population:
        _raise_rows(
            (n == 0) & (o > 0),
            f"{what}[{population!r}]",
            "are 0 with events; expected a population > 0 (or allow_zero_population=True, as PHE)",
        )
    ref, crude = _reference(reference, keys)
    rows = df.select(*groups, *keys).with_columns(pl.Series("__o", o), pl.Series("__n", n))
    try:
        joined = rows.join(ref, on=keys, how="left", maintain_order="left")
    except pl.exceptions.PolarsError as e:
        raise InvalidInputError(f"{what}: strata {keys} of table and reference cannot be matched: {e}") from e
    missing = joined["__ref_rate"].is_null().to_numpy()
    if missing.any():
        idx = np.flatnonzero(missing)
        absent = joined.filter(pl.col("__ref_rate").is_null()).select(keys).unique(maintain_order=True)
        raise InvalidInputError(
            f"{what}: {rows_text(len(idx), idx[:KEEP].tolist())} hold strata missing from the reference "
            f"(e.g. {absent.head(KEEP).rows()}); expected every stratum of {keys} in the reference"
        )
    joined = joined.with_columns((pl.col("__n") * pl.col("__ref_rate")).alias("__e"))
    agg = [pl.col("__o").sum().alias("observed"), pl.col("__e").sum().alias("expected")]
    out = joined.group_by(groups, maintain_order=True).agg(agg) if groups else joined.select(agg)
    return out.with_columns(*_isr_columns(out["observed"].to_numpy(), out["expected"].to_numpy(), crude * m))


def _isr_columns(o: np.ndarray, e: np.ndarray, crude: float) -> list[pl.Series]:
    with np.errstate(divide="ignore", invalid="ignore"):
        inv_e = np.where(e > 0, 1 / e, np.nan)
    ratio = [_f64("ratio", o * inv_e)]
    rate_ = [_f64("ref_crude_rate", np.full(len(o), crude)), _f64("isr", o * inv_e * crude)]
    for conf, tag in LEVELS:
        lo, hi = poisson_limits(o, conf)
        ratio += [_f64(f"ratio_lo{tag}", lo * inv_e), _f64(f"ratio_hi{tag}", hi * inv_e)]
        rate_ += [_f64(f"isr_lo{tag}", lo * inv_e * crude), _f64(f"isr_hi{tag}", hi * inv_e * crude)]
    method = poisson_method(np.where(np.isnan(inv_e), np.nan, o)).alias("isr_method")
    return [*ratio, *rate_, method]


# ----------------------------------------------------------------------------------------------------------
# Direct standardisation
# ----------------------------------------------------------------------------------------------------------


def _lower_ages(s: pl.Series, what: str) -> pl.Series:
    """The lower age of each band: integers as they are, labels by their leading digits ("0-4", "05-09",
    "90+")."""
    if s.dtype.is_integer():
        return s.cast(pl.Int64)
    if s.dtype.is_float():
        bad = (s != s.round(0)).to_numpy()
        _raise_rows(bad, what, "are not whole ages; expected the lower age of each band")
        return s.cast(pl.Int64)
    if s.dtype in (pl.String, pl.Categorical, pl.Enum):
        ages = s.cast(pl.String).str.extract(_LOWER_AGE.pattern, 1).cast(pl.Int64)
        no_age = ages.is_null().to_numpy()
        _raise_rows(no_age, what, "have no leading age; expected labels like '0-4' or '90+'")
        return ages
    raise InvalidInputError(f"{what}: expected age band labels or lower ages, got {s.dtype}")


def _band_weights(
    df: pl.DataFrame, age_band: str, standard: str | FrameLike | Sequence[float], what: str
) -> tuple[pl.Series, pl.Series, list[Any]]:
    """(the band key of each row of ``df``, its weight, the list of band keys every group must hold)."""
    where = f"{what}[{age_band!r}]"
    if isinstance(standard, str):
        if standard not in _STANDARDS:
            raise InvalidInputError(
                f"standard: got {standard!r}, expected one of {list(_STANDARDS)}, "
                "a table of (age band, weight) or a sequence of weights"
            )
        table = _STANDARDS[standard]
        ages = _lower_ages(df[age_band], where)
        known = ages.is_in(list(table)).to_numpy()
        _raise_rows(~known, where, f"are not bands of {standard} (lower ages {list(table)})")
        return ages, ages.replace_strict(table, return_dtype=pl.Float64), list(table)
    if isinstance(standard, (list, tuple, np.ndarray, pl.Series)):
        bands = df[age_band].unique(maintain_order=True)
        w = np.asarray(standard, dtype=np.float64)
        if w.ndim != 1 or len(w) != bands.len():
            raise InvalidInputError(
                f"standard: got {len(w)} weights, expected one per age band of {age_band!r} "
                f"({bands.len()}, in order of first appearance: {bands.head(KEEP).to_list()}…)"
            )
        _raise_rows(~np.isfinite(w) | (w < 0), "standard", "are negative or not finite; expected weights ≥ 0")
        key = pl.DataFrame({age_band: bands, "__w": w})
        weights = df.select(age_band).join(key, on=age_band, how="left", maintain_order="left")["__w"]
        return df[age_band], weights, bands.to_list()
    std = as_frame(standard, "standard")
    col = age_band if age_band in std.columns else "age_band"
    require_columns(std, [col, "weight"], "standard")
    _require_not_null(std, [col], "standard")
    dup = std[col].is_duplicated().to_numpy()
    _raise_rows(dup, f"standard[{col!r}]", "repeat a band; expected each once")
    w = _values(std, "weight", "standard", nulls="error")
    key = pl.DataFrame({age_band: std[col], "__w": w})
    try:
        joined = df.select(age_band).join(key, on=age_band, how="left", maintain_order="left")["__w"]
    except pl.exceptions.PolarsError as e:
        raise InvalidInputError(f"standard[{col!r}]: cannot be matched with {where}: {e}") from e
    absent = joined.is_null().to_numpy()
    _raise_rows(absent, where, f"are bands missing from the standard ({std[col].head(KEEP).to_list()}…)")
    return df[age_band], joined, std[col].to_list()


def _check_bands(
    work: pl.DataFrame, groups: list[str], band: str, n_bands: int, extra: bool, what: str
) -> None:
    """Every group holds every band of the standard (once per frequency), like PHE's per-group check."""
    dup = work.select(*groups, "__band", *(["__f"] if extra else [])).is_duplicated().to_numpy()
    _raise_rows(dup, f"{what}[{band!r}]", f"repeat a band within a group{' and frequency' if extra else ''}")
    per_group = work.group_by(groups or pl.lit(0), maintain_order=True)
    counts = per_group.agg(pl.col("__band").n_unique().alias("__bands"))
    short = counts.filter(pl.col("__bands") != n_bands)
    if short.height:
        shown = short.drop("__bands").head(KEEP).rows() if groups else []
        raise InvalidInputError(
            f"{what}[{band!r}]: {short.height} group(s) {shown} hold "
            f"{short['__bands'].head(KEEP).to_list()} of the {n_bands} bands of the standard; "
            "expected every band in every group"
        )


def dsr(
    table: FrameLike,
    *,
    count: str,
    population: str,
    age_band: str,
    standard: str | FrameLike | Sequence[float] = "esp2013",
    by: str | Sequence[str] | None = None,
    multiplier: float = 100_000,
    event_frequency: str | None = None,
) -> pl.DataFrame:
    """Directly standardised rates with Dobson limits at 95% and 99.8%, as Fingertips (``calculate_dsr``).

    DSR = Σ_b w_b x_b / n_b / Σ_b w_b × multiplier over the age bands b of each group, with standard weights
    w_b. Limits (Dobson et al. 1991): DSR + √(V / X) (Byar(X) − X) × multiplier, with X = Σ x_b the total
    count, Byar(X) its Byar's limits (Breslow & Day 1987) and V = Σ_b x_b (w_b / n_b)² / (Σ_b w_b)².
    Where X < 10 the DSR is unreliable and, as in PHE, neither value nor limits are given.

    Parameters
    ----------
    table
        Events and population by age band (and ``by`` group). Every group must hold every band of the
        standard, once (once per frequency with ``event_frequency``).
    count, population
        Column names. A null count is 0 (as PHE); populations must be present and > 0 (as PHE).
    age_band
        The age band column.
    standard
        ``"esp2013"`` (default: the European Standard Population 2013, 19 bands 0-4 … 85-89, 90+, weights
        5000 … 1000, Eurostat 2013), matched on the lower age of each band: integer lower ages, or labels
        whose leading digits are the lower age ("0-4", "05-09", "90+"); a table of (``age_band`` or the
        column named by ``age_band``, ``weight``) matched on the band values; or a sequence of weights, one
        per distinct band in order of first appearance in ``table``.
    by
        Optional grouping columns (areas, cells, years, sexes …): one result per group, in order of first
        appearance.
    multiplier
        The DSR is per this many people (default 100,000).
    event_frequency
        PHE's variant for non-independent events (one person may have several events): the column giving
        the number of events per person; ``count`` is then the number of people with that many events in the
        band. Events are Σ frequency × people; V becomes Σ_f f² Σ_b people_fb (w_b / n_b)² / (Σ_b w_b)².

    Returns
    -------
    pl.DataFrame
        The ``by`` columns, ``total_count``, ``total_population``, ``dsr``, ``dsr_lo95``, ``dsr_hi95``,
        ``dsr_lo998``, ``dsr_hi998`` (null where total_count < 10), ``dsr_method`` (``"Dobson"``, or
        ``"Dobson, with confidence adjusted for non-independent events"``) and ``dsr_note`` (null, or why the
        DSR is not given: ``"total count < 10"``).

    Raises
    ------
    InvalidInputError
        Missing columns; negative, NaN or infinite counts; null, zero or negative populations; an unknown
        standard name; bands missing from the standard; a group missing a band or repeating one; negative
        weights; with ``event_frequency``, populations that differ between frequencies of one band.

    References
    ----------
    Dobson et al. (1991); Breslow & Day (1987); Eurostat (2013); PHE technical guidance, DSR chapter;
    PHEindicatormethods ``calculate_dsr``.
    """
    what = "dsr"
    df = as_frame(table, what)
    groups = _as_list(by)
    extra = [] if event_frequency is None else [event_frequency]
    _check_names([count, population, age_band], groups, extra, what=what)
    require_columns(df, [count, population, age_band, *groups, *extra], what)
    m = _check_multiplier(multiplier)
    _require_not_null(df, [age_band, *groups], what)
    x = _values(df, count, what, nulls="zero")
    n = _values(df, population, what, nulls="error")
    _raise_rows(n <= 0, f"{what}[{population!r}]", "are 0; expected populations > 0 (as PHE)")
    f = np.ones_like(x) if event_frequency is None else _values(df, event_frequency, what, nulls="error")
    key, w, bands = _band_weights(df, age_band, standard, what)
    work = pl.DataFrame(
        [
            *(df[g] for g in groups),
            key.alias("__band"),
            pl.Series("__x", x),
            pl.Series("__n", n),
            pl.Series("__f", f),
            w.alias("__w"),
        ]
    )
    _check_bands(work, groups, age_band, len(bands), event_frequency is not None, what)
    if event_frequency is not None:
        _check_same_population(work, groups, what, population)
    per_band = work.group_by([*groups, "__band"], maintain_order=True).agg(
        (pl.col("__f") * pl.col("__x")).sum().alias("__events"),
        (pl.col("__f") ** 2 * pl.col("__x")).sum().alias("__sqevents"),
        pl.col("__n").first(),
        pl.col("__w").first(),
    )
    ratio = pl.col("__w") / pl.col("__n")
    agg = [
        pl.col("__events").sum().alias("total_count"),
        pl.col("__n").sum().alias("total_population"),
        pl.col("__w").sum().alias("__sw"),
        (pl.col("__events") * ratio).sum().alias("__swr"),
        (pl.col("__sqevents") * ratio**2).sum().alias("__ssq"),
    ]
    out = per_band.group_by(groups, maintain_order=True).agg(agg) if groups else per_band.select(agg)
    method = "Dobson" if event_frequency is None else NONINDEPENDENT
    cols = _dobson(out, m, method)
    return out.with_columns(*cols).drop("__sw", "__swr", "__ssq")


def _check_same_population(work: pl.DataFrame, groups: list[str], what: str, population: str) -> None:
    keys = [*groups, "__band"]
    n_per = work.select(*keys, "__n").unique(maintain_order=True).group_by(keys, maintain_order=True).len()
    bad = n_per.filter(pl.col("len") > 1)
    if bad.height:
        raise InvalidInputError(
            f"{what}[{population!r}]: {bad.height} band(s) {bad.drop('len').head(KEEP).rows()} have "
            "different populations for different event frequencies; "
            "expected one population per band and group"
        )


def _dobson(out: pl.DataFrame, m: float, method: str) -> list[pl.Series]:
    total = out["total_count"].to_numpy()
    sw, swr, ssq = (out[c].to_numpy() for c in ("__sw", "__swr", "__ssq"))
    with np.errstate(divide="ignore", invalid="ignore"):
        value = swr / sw * m
        spread = np.sqrt(ssq / sw**2 / total) * m
    small = total < SMALL_COUNT
    cols = [_f64("dsr", np.where(small, np.nan, value))]
    for conf, tag in LEVELS:
        lo, hi = byars_limits(total, conf)
        for name, lim in ((f"dsr_lo{tag}", lo), (f"dsr_hi{tag}", hi)):
            cols.append(_f64(name, np.where(small, np.nan, value + spread * (lim - total))))
    cols.append(pl.Series("dsr_method", [method] * len(total), dtype=pl.String))
    cols.append(_label(small, "total count < 10").alias("dsr_note"))
    return cols
