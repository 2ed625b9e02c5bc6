"""Service demand against need on the hex grid: one surface per cell with the crude rate, the expected count
from reference rates by stratum, the standardised ratio, its funnel position and an empirical-Bayes rate.

The statistics are the standard ones, each in its own module and re-exported here:

* :func:`rate`, :func:`proportion`, :func:`reference_rates`, :func:`isr`, :func:`dsr` (:mod:`hyperlocal.rates`,
  PHEindicatormethods 2.1.0 / Fingertips methods: exact Poisson below 10 events, Byar's method from 10, Wilson,
  Dobson);
* :func:`funnel_limits`, :func:`funnel_plot` (:mod:`hyperlocal.funnel`, exact limits, and Spiegelhalter's
  additive over-dispersion adjustment);
* :func:`eb_smooth` (:mod:`hyperlocal.smoothing`, Marshall 1991, global or H3 k-ring local priors);
* :func:`sii` (:mod:`hyperlocal.inequality`, the slope and relative index of inequality, PHE's method).
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from ._convert import KEEP, FrameLike, as_frame, require_columns
from .exceptions import InvalidInputError
from .funnel import funnel_curves, funnel_limits, funnel_plot
from .inequality import sii
from .rates import dsr, isr, proportion, rate, reference_rates
from .smoothing import eb_smooth

__all__ = [
    "demand_surface",
    "dsr",
    "eb_smooth",
    "funnel_curves",
    "funnel_limits",
    "funnel_plot",
    "isr",
    "proportion",
    "rate",
    "reference_rates",
    "sii",
]


def _strata_frame(
    counts: pl.DataFrame,
    population: pl.DataFrame,
    *,
    cell: str,
    count: str,
    pop: str,
    strata: list[str],
    deprivation: pl.DataFrame | None,
    decile: str,
) -> tuple[pl.DataFrame, list[str]]:
    """One row per (cell, stratum): ``cell``, the strata, ``observed`` and ``population``.

    Strata named in ``strata`` must be columns of both tables (e.g. an age band of the events and of the
    residents); the deprivation decile is a property of the cell, joined onto both. Events in a (cell, stratum)
    with no residents are an error naming the cells: a rate there has no denominator.
    """
    require_columns(counts, [cell, count, *strata], "counts")
    require_columns(population, [cell, pop, *strata], "population")
    keys = [cell, *strata]
    c = counts.group_by(keys).agg(pl.col(count).cast(pl.Float64).sum().alias("observed"))
    p = population.group_by(keys).agg(pl.col(pop).cast(pl.Float64).sum().alias("population"))
    for name, t, col in (("counts", c, "observed"), ("population", p, "population")):
        bad = t.filter(pl.col(col).is_null() | pl.col(col).is_nan() | (pl.col(col) < 0))
        if bad.height:
            raise InvalidInputError(
                f"{name}: {bad.height} (cell, stratum) group(s) with a null, NaN or negative {col} "
                f"(e.g. cells {[hex(v)[2:] for v in bad[cell].head(KEEP).to_list()]}); expected counts >= 0"
            )
    t = p.join(c, on=keys, how="full", coalesce=True).with_columns(
        pl.col("observed").fill_null(0.0), pl.col("population").fill_null(0.0)
    )
    orphan = t.filter((pl.col("observed") > 0) & (pl.col("population") <= 0))
    if orphan.height:
        raise InvalidInputError(
            f"counts: {orphan.height} (cell, stratum) group(s) have events but no residents (e.g. cells "
            f"{[hex(v)[2:] for v in orphan[cell].head(KEEP).to_list()]}, {orphan['observed'].sum():,.1f} events); "
            "expected a population wherever there are events (are events and population on the same cell "
            "convention and resolution?)"
        )
    # (cell, stratum) groups with neither residents nor events carry no information (apportion leaves such
    # cells, and a stratum may be empty everywhere): they are left out, so no reference rate is 0/0.
    t = t.filter((pl.col("population") > 0) | (pl.col("observed") > 0))
    if deprivation is not None:
        require_columns(deprivation, [cell, decile], "deprivation")
        dec = deprivation.select(pl.col(cell), pl.col(decile).alias("decile"))
        dup = dec[cell].is_duplicated()
        if dup.any():
            raise InvalidInputError(
                f"deprivation[{cell!r}]: {int(dup.sum())} rows repeat a cell (e.g. "
                f"{[hex(v)[2:] for v in dec.filter(dup)[cell].unique().head(KEEP).to_list()]}); expected one decile "
                "per cell"
            )
        t = t.join(dec, on=cell, how="left")
        missing = t.filter(pl.col("decile").is_null() & (pl.col("population") > 0))
        if missing.height:
            raise InvalidInputError(
                f"deprivation[{decile!r}]: {missing[cell].n_unique()} cell(s) with residents have no decile "
                f"(e.g. {[hex(v)[2:] for v in missing[cell].unique().head(KEEP).to_list()]}); expected one for "
                "every populated cell (filter the inputs to the deprivation index's coverage first)"
            )
        strata = [*strata, "decile"]
    return t.rename({cell: "cell"}) if cell != "cell" else t, strata


def demand_surface(
    counts: FrameLike,
    population: FrameLike,
    *,
    cell: str = "cell",
    count: str = "count",
    population_column: str = "population",
    strata: str | Sequence[str] = (),
    deprivation: FrameLike | None = None,
    decile: str = "decile",
    reference: FrameLike | None = None,
    multiplier: float = 100_000,
    overdispersion: str | None = None,
    smoothing: str = "global",
    k: int = 1,
    small_count: float = 10,
    min_population: float = 0,
) -> pl.DataFrame:
    """Service demand against need, one row per populated cell.

    Parameters
    ----------
    counts
        Events per cell (e.g. :func:`hyperlocal.count_points`, or area counts put on cells with
        :func:`hyperlocal.apportion`), with ``cell``, ``count`` and the ``strata`` columns if any. Counts over
        several years go with person-years in ``population`` (population × years), so rates are per year.
    population
        Residents per cell (and stratum): ``cell``, ``population_column`` and the ``strata`` columns. Both tables
        must use the same cell convention and resolution (``nested=True`` by default everywhere).
    strata
        Columns present in both tables (age band, sex, ...) for the expected counts.
    deprivation
        ``cell`` and ``decile``: a stratum of the cell itself, so expected counts also reflect deprivation
        (e.g. population-weighted IMD deciles from :func:`hyperlocal.deprivation_surface`).
    reference
        Reference rates by stratum (as :func:`reference_rates` returns: the strata, ``ref_rate`` or
        ``ref_count`` + ``ref_population``). Default: the rates of the whole input (indirect standardisation
        to the input's own overall rates, so Σ expected = Σ observed).
    multiplier
        Rates are per ``multiplier`` people (per year when populations are person-years).
    overdispersion
        ``None``: funnel positions from the exact Poisson tests of O against E (PHE's limits); ``"dl"``:
        Spiegelhalter's (2005) random-effects limits, for maps of many cells where the exact limits flag a
        large share of cells only because of between-cell variation (:func:`funnel_limits`).
    smoothing
        ``"global"`` (default: one prior, and posterior intervals wherever the data are over-dispersed),
        ``"local"`` (each cell's H3 ``k``-ring prior; isolated cells use the global one) or ``"none"``: the
        empirical-Bayes rate (:func:`eb_smooth`, Marshall 1991).
    small_count, min_population
        Cells with fewer expected events than ``small_count`` or fewer residents than ``min_population`` are
        flagged ``small``: their ratios are unstable; nothing is dropped.

    Returns
    -------
    pl.DataFrame
        One row per cell with residents or events (cells with neither are left out): ``cell``, ``observed``,
        ``population``, ``rate`` with 95% and 99.8% limits and ``rate_method`` (exact Poisson below 10 events,
        Byar from 10), ``expected``, ``ratio`` (observed / expected, the indirectly standardised ratio) with
        95% and 99.8% limits, ``funnel_position`` (below 99.8 / below 95 / within / above 95 / above 99.8),
        the empirical-Bayes rate ``eb_rate`` (per ``multiplier``) with ``eb_lo``/``eb_hi`` and ``eb_note``, and
        ``small``.

    Notes
    -----
    What is and is not adjusted for: expected counts reflect only the ``strata`` given and the deprivation
    decile. Without age bands the ratio is not age-standardised, and places with older residents show high
    ratios for age-related events (e.g. stroke). The intervals treat events as Poisson counts of independent
    events; counts apportioned from larger areas are fractional and used as they are.

    References
    ----------
    * PHEindicatormethods 2.1.0 (UKHSA): crude rates, indirectly standardised ratios, funnel limits (the
      Fingertips methods); N. E. Breslow, N. E. Day (1987), *Statistical Methods in Cancer Research II* (Byar's
      approximation); D. J. Spiegelhalter (2005), "Funnel plots for comparing institutional performance",
      *Statistics in Medicine* 24:1185–1202, and "Handling over-dispersion of performance indicators", *Quality
      and Safety in Health Care* 14:347–351; R. J. Marshall (1991), *Applied Statistics* 40:283–294.
    """
    if smoothing not in ("local", "global", "none"):
        raise InvalidInputError(f"smoothing: got {smoothing!r}; expected 'local', 'global' or 'none'")
    strata = [strata] if isinstance(strata, str) else list(strata)
    c, p = as_frame(counts, "counts"), as_frame(population, "population")
    dep = as_frame(deprivation, "deprivation") if deprivation is not None else None
    t, all_strata = _strata_frame(c, p, cell=cell, count=count, pop=population_column, strata=strata,
                                  deprivation=dep, decile=decile)  # fmt: skip
    if t.height == 0:
        raise InvalidInputError("demand_surface: no cell has residents or events")
    if all_strata:
        ref = (
            reference_rates(t, count="observed", population="population", strata=all_strata)
            if reference is None
            else as_frame(reference, "reference")
        )
        ratios = isr(t, observed="observed", population="population", strata=all_strata, reference=ref,
                     by="cell", multiplier=multiplier)  # fmt: skip
    else:
        if reference is None:
            overall = float(t["observed"].sum()) / float(t["population"].sum())
            ref = pl.DataFrame({"ref_rate": [overall]})
        else:
            ref = as_frame(reference, "reference")
            if "ref_rate" not in ref.columns and {"ref_count", "ref_population"} <= set(ref.columns):
                ref = ref.select(
                    (pl.col("ref_count").sum() / pl.col("ref_population").sum()).alias("ref_rate")
                )
            if ref.height != 1 or "ref_rate" not in ref.columns:
                raise InvalidInputError(
                    "reference: without strata, expected one row with 'ref_rate' (or 'ref_count' and "
                    f"'ref_population'); got {ref.height} row(s) with columns {ref.columns}"
                )
            ref = ref.select("ref_rate")
        ratios = isr(t.with_columns(pl.lit(0).alias("__all")), observed="observed", population="population",
                     strata=["__all"], reference=ref.with_columns(pl.lit(0).alias("__all")), by="cell",
                     multiplier=multiplier)  # fmt: skip
    per_cell = t.group_by("cell").agg(pl.col("observed").sum(), pl.col("population").sum()).sort("cell")
    out = rate(per_cell, count="observed", population="population", multiplier=multiplier)
    keep = ["cell", "expected", *[c for c in ratios.columns if c.startswith("ratio")]]
    out = out.join(ratios.select(keep), on="cell", how="left")
    fl = funnel_limits(out, statistic="ratio", numerator="observed", denominator="expected", limits=False,
                       overdispersion=overdispersion)  # fmt: skip
    out = out.with_columns(fl["funnel_position"])
    if smoothing != "none":
        eb = eb_smooth(out.select("cell", "observed", "population"), count="observed", population="population",
                       method=smoothing, k=k, multiplier=multiplier)  # fmt: skip
        out = out.with_columns(eb.select("eb_rate", "eb_lo", "eb_hi", "eb_note"))
    return out.with_columns(
        small=(pl.col("expected") < small_count) | (pl.col("population") < min_population)
    )
