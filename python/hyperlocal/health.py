"""Health-change surfaces (Census 2011 → 2021 general health) on a stable hex geography, and the
programme-versus-comparator evaluation.

Each year is put onto the same H3 cells through its own crosswalk (:func:`hyperlocal.crosswalk`,
:func:`hyperlocal.apportion`); the cells are then a geography shared by both years, on which change is measured.

Statistics (see :mod:`hyperlocal.stats`): Wilson score intervals for every share (Wilson 1927) and Newcombe's
hybrid score interval, method 10, for every change (Newcombe 1998).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from . import _core
from ._convert import (
    KEEP,
    FrameLike,
    OnInvalid,
    as_frame,
    check_no_nulls,
    check_on_invalid,
    is_table_like,
    require_columns,
    rows_text,
)
from .categories import COMBINED, HEALTH_CATEGORIES
from .exceptions import InvalidInputError, SkippedRowsWarning
from .stats import newcombe, wilson, z_value

__all__ = ["CATEGORIES", "COMBINED", "health_change", "compare_groups", "comparison_chart"]

#: The five Census general-health categories, in order (defined in :mod:`hyperlocal.categories`).
CATEGORIES = HEALTH_CATEGORIES
ALL = (*CATEGORIES, *COMBINED)


def _category_map(categories: Mapping[str, str] | Sequence[str] | None) -> dict[str, str]:
    if categories is None:
        return {c: c for c in CATEGORIES}
    if isinstance(categories, Mapping):
        missing = [c for c in CATEGORIES if c not in categories]
        if missing:
            raise InvalidInputError(
                f"categories: missing {missing}; expected a mapping of {list(CATEGORIES)}"
            )
        return {c: categories[c] for c in CATEGORIES}
    cols = list(categories)
    if len(cols) != 5:
        raise InvalidInputError(f"categories: expected 5 column names (very good … very bad), got {cols}")
    return dict(zip(CATEGORIES, cols))


def _counts(table: pl.DataFrame, cols: dict[str, str], cell: str, what: str) -> pl.DataFrame:
    require_columns(table, [cell, *cols.values()], what)
    check_no_nulls(table[cell], f"{what}[{cell!r}]")
    dup = table[cell].is_duplicated()
    if dup.any():
        raise InvalidInputError(
            f"{what}[{cell!r}]: {rows_text(int(dup.sum()), dup.arg_true().head(KEEP).to_list())} repeat a cell; "
            "expected one row per cell"
        )
    out = table.select(
        pl.col(cell).alias("cell"), *[pl.col(v).cast(pl.Float64).alias(k) for k, v in cols.items()]
    )
    for k, v in cols.items():
        s = out[k]
        check_no_nulls(s, f"{what}[{v!r}]")
        bad = (s < 0) | s.is_nan() | s.is_infinite()
        if bad.any():
            raise InvalidInputError(
                f"{what}[{v!r}]: {rows_text(int(bad.sum()), bad.arg_true().head(KEEP).to_list())} invalid; "
                "expected non-negative counts"
            )
    return out


def _shares(x: np.ndarray, n: np.ndarray, z: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return wilson(x, n, z)


def health_change(
    before: FrameLike,
    after: FrameLike,
    *,
    categories: Mapping[str, str] | Sequence[str] | None = None,
    categories_after: Mapping[str, str] | Sequence[str] | None = None,
    labels: tuple[str, str] = ("2011", "2021"),
    min_population: float = 100,
    confidence: float = 0.95,
    cell: str = "cell",
    standardise: FrameLike | None = None,
) -> pl.DataFrame:
    """Per-cell change in self-reported general health between two censuses.

    Parameters
    ----------
    before, after
        Cell tables at the same resolution (from :func:`hyperlocal.apportion`), one row per cell, each with the
        five general-health counts (very good, good, fair, bad, very bad). Counts may be fractional.
    categories, categories_after
        Column names of the five counts in ``before`` (and ``after``, default the same): a mapping from
        ``very_good, good, fair, bad, very_bad`` or a list of five names in that order. Default: those names.
    labels
        Suffixes for the two years' columns.
    min_population
        Cells with fewer residents than this in either year are flagged ``small``. Their shares are still
        computed (and their intervals are wide); nothing is dropped.
    confidence
        Level of every interval.
    standardise
        A reference of rates by age band (``band``, ``population`` and count columns ``good_or_very_good``,
        ``fair``, ``bad_or_very_bad``, as :func:`hyperlocal.ons.lc3409ew_reference` gives for England and Wales
        2011): the indirectly age-standardised shares are reported beside the crude ones. Both tables then need
        the population by age band (``age_LO_HI`` / ``age_LO_plus`` columns, apportioned like the counts), in
        bands that tile the reference bands. See :func:`hyperlocal.age_standardise`.

    Returns
    -------
    pl.DataFrame
        One row per cell present in either year (ascending), with:

        * ``present``: ``"both"``, or ``"<label> only"`` for a cell with residents in one year's table only
          (kept, with the other year's population 0);
        * ``population_<label>`` for each year (the sum of the five counts) and ``small``;
        * for each category and the combined ``very_good_or_good`` and ``bad_or_very_bad``:
          ``<cat>_pct_<label>`` with ``_lo``/``_hi`` (Wilson score interval, percent), ``<cat>_change_pp`` with
          ``_lo``/``_hi`` (after − before, percentage points, Newcombe method 10), ``<cat>_national_pp`` (the
          change over all cells together), and ``<cat>_excess_pp`` with ``_lo``/``_hi`` = cell change − national
          change. The national change is a fixed reference here: the excess interval is the cell's Newcombe
          interval shifted by it (the national interval is far narrower than any cell's).

        A share where the population is 0 is null (never NaN), as are the changes that need it; national
        figures are computed from the summed counts, so such cells cannot distort them.

        With ``standardise``, for ``very_good_or_good``, ``fair`` and ``bad_or_very_bad``: ``<cat>_std_pct_<label>``
        with ``_lo``/``_hi`` (95 % Poisson limits: exact below 10, Byar's from 10), ``<cat>_std_change_pp``
        (after − before; no interval: the censuses are not independent samples) and
        ``<cat>_std_national_pp`` (the change of the summed cells).

    Notes
    -----
    What the intervals assume, on census counts:

    * Census counts are (near) complete counts of residents, not samples. The Wilson and Newcombe intervals treat
      each cell's residents as a binomial sample of an underlying share, so they describe the random variation of
      a rate among populations of that size (the usual public-health reading, as in Fingertips), not survey error.
    * The two years' populations overlap: most residents are counted in both censuses. Newcombe's method 10 is
      for independent samples and ignores that positive correlation, so the change intervals are conservative
      (too wide), never too narrow.
    * Apportioned counts are fractional and are used as they are (``n`` is the apportioned population, not a
      count of people); on cells built from the centroid crosswalk they are whole numbers.
    """
    z = z_value(confidence)
    ca = _category_map(categories)
    cb = _category_map(categories_after) if categories_after is not None else ca
    b = _counts(as_frame(before, "before"), ca, cell, "before")
    a = _counts(as_frame(after, "after"), cb, cell, "after")
    if b.height and a.height:
        rb = set(_core.cell_resolutions(np.ascontiguousarray(b["cell"].cast(pl.UInt64).to_numpy())).tolist())
        ra = set(_core.cell_resolutions(np.ascontiguousarray(a["cell"].cast(pl.UInt64).to_numpy())).tolist())
        if len(rb | ra) != 1:
            raise InvalidInputError(
                f"cells: before has resolutions {sorted(rb)}, after {sorted(ra)}; expected one"
            )
    y0, y1 = labels
    j = b.join(a, on="cell", how="full", coalesce=True, suffix="__a").sort("cell")
    in_b = j[CATEGORIES[0]].is_not_null().to_numpy()
    in_a = j[f"{CATEGORIES[0]}__a"].is_not_null().to_numpy()
    j = j.with_columns(pl.exclude("cell").fill_null(0.0))
    xb = {k: j[k].to_numpy() for k in CATEGORIES}
    xa = {k: j[f"{k}__a"].to_numpy() for k in CATEGORIES}
    for name, parts in COMBINED.items():
        xb[name] = np.sum([xb[p] for p in parts], axis=0)
        xa[name] = np.sum([xa[p] for p in parts], axis=0)
    nb = np.sum([xb[k] for k in CATEGORIES], axis=0)
    na = np.sum([xa[k] for k in CATEGORIES], axis=0)
    present = np.where(in_b & in_a, "both", np.where(in_b, f"{y0} only", f"{y1} only"))
    cols: dict[str, Any] = {
        "cell": j["cell"],
        "present": present,
        f"population_{y0}": nb,
        f"population_{y1}": na,
        "small": (nb < min_population) | (na < min_population),
    }
    for k in ALL:
        pb, lb, ub = _shares(xb[k], nb, z)
        pa, la, ua = _shares(xa[k], na, z)
        d, dlo, dhi = newcombe(pa, la, ua, pb, lb, ub)
        nat_b = xb[k].sum() / nb.sum() if nb.sum() > 0 else np.nan
        nat_a = xa[k].sum() / na.sum() if na.sum() > 0 else np.nan
        nat = nat_a - nat_b
        cols |= {
            f"{k}_pct_{y0}": 100 * pb, f"{k}_pct_{y0}_lo": 100 * lb, f"{k}_pct_{y0}_hi": 100 * ub,
            f"{k}_pct_{y1}": 100 * pa, f"{k}_pct_{y1}_lo": 100 * la, f"{k}_pct_{y1}_hi": 100 * ua,
            f"{k}_change_pp": 100 * d, f"{k}_change_lo": 100 * dlo, f"{k}_change_hi": 100 * dhi,
            f"{k}_national_pp": np.full(len(d), 100 * nat),
            f"{k}_excess_pp": 100 * (d - nat), f"{k}_excess_lo": 100 * (dlo - nat),
            f"{k}_excess_hi": 100 * (dhi - nat),
        }  # fmt: skip
    out = pl.DataFrame(cols)
    if standardise is not None:
        out = out.with_columns(_age_standardised(before, after, standardise, cell, out["cell"], labels))
    return out.with_columns(pl.col(pl.Float64).fill_nan(None))


#: health_change's names of the groups age_standardise reports.
_STD_NAMES = {"good_or_very_good": "very_good_or_good", "fair": "fair", "bad_or_very_bad": "bad_or_very_bad"}


def _age_standardised(
    before: FrameLike, after: FrameLike, reference: FrameLike, cell: str, cells: pl.Series, labels: tuple[str, str]
) -> list[pl.Series]:
    """Age-standardised shares of both years on ``cells`` (their order), their change and the national change."""
    from .standardise import age_standardise

    y0, y1 = labels
    out: list[pl.Series] = []
    std, nat = {}, {}
    for y, t in ((y0, before), (y1, after)):
        t = as_frame(t, f"standardise ({y})")
        s = age_standardise(t, reference, code=cell)
        std[y] = pl.DataFrame({"cell": cells}).join(
            s.rename({cell: "cell"}), on="cell", how="left", maintain_order="left"
        )
        used = [c for c in t.columns if c.startswith("age_")] + list(CATEGORIES)
        whole = t.select(pl.col(used).cast(pl.Float64).sum()).with_columns(pl.lit("all").alias(cell))
        nat[y] = age_standardise(whole, reference, code=cell)
    for src, name in _STD_NAMES.items():
        for y in labels:
            t = std[y]
            out += [
                t[f"{src}_std_pct"].alias(f"{name}_std_pct_{y}"),
                t[f"{src}_std_pct_lo95"].alias(f"{name}_std_pct_{y}_lo"),
                t[f"{src}_std_pct_hi95"].alias(f"{name}_std_pct_{y}_hi"),
            ]
        out.append((std[y1][f"{src}_std_pct"] - std[y0][f"{src}_std_pct"]).alias(f"{name}_std_change_pp"))
        change = nat[y1][f"{src}_std_pct"][0] - nat[y0][f"{src}_std_pct"][0]
        out.append(pl.Series(f"{name}_std_national_pp", [change] * len(cells), dtype=pl.Float64))
    return out


def _programme_cells(
    programme: Any, resolution: int, crosswalk: pl.DataFrame | None, code: str, crs: object
) -> set[int]:
    """Programme cells from cells, a frame with ``cell``, area codes (+ crosswalk) or polygons."""
    if is_table_like(programme):
        programme = as_frame(programme, "programme")
    if crosswalk is not None:
        crosswalk = as_frame(crosswalk, "crosswalk")
    if isinstance(programme, pl.DataFrame):
        if "cell" in programme.columns:
            return set(programme["cell"].cast(pl.UInt64).to_list())
        if "geometry" in programme.columns:
            return _cells_of_polygons(programme, resolution, code, crs)
        if code in programme.columns and crosswalk is not None:
            programme = programme[code]
        else:
            raise InvalidInputError(
                "programme: a DataFrame needs a 'cell' or 'geometry' column, or codes + crosswalk"
            )
    if not isinstance(programme, pl.Series):
        programme = list(programme)  # any iterable: list, set, numpy array, pandas or pyarrow column
        if programme and isinstance(programme[0], str):
            programme = pl.Series(programme, dtype=pl.String)
    if isinstance(programme, pl.Series) and programme.dtype in (pl.String, pl.Categorical):
        if crosswalk is None:
            raise InvalidInputError(
                "programme: area codes need the crosswalk that put those areas on the cells"
            )
        codes = pl.Series(list(programme), dtype=pl.String)
        xw_code = crosswalk.columns[0]
        hit = crosswalk.filter(pl.col(xw_code).cast(pl.String).is_in(codes.implode()))
        unknown = codes.filter(~codes.is_in(crosswalk[xw_code].cast(pl.String).implode()))
        if unknown.len():
            raise InvalidInputError(
                f"programme: {unknown.len()} code(s) not in the crosswalk (e.g. {unknown.head(KEEP).to_list()})"
            )
        return set(hit["cell"].to_list())
    return {int(c) for c in programme}


def _cells_of_polygons(areas: pl.DataFrame, resolution: int, code: str, crs: object) -> set[int]:
    """Cells whose centre lies in a programme polygon, plus each polygon's largest-share cell (so small
    polygons are represented)."""
    from ._wkb import wkb_views
    from .crosswalk import crosswalk, normalise_crs

    if crs is None and "crs" in areas.columns:
        crs = areas["crs"][0]
    crs_name = normalise_crs(crs)
    codes = areas[code] if code in areas.columns else pl.Series("code", [str(i) for i in range(areas.height)])
    frame = pl.DataFrame([codes.alias("code"), areas["geometry"]])
    xw = crosswalk(frame, resolution=resolution, method="area", crs=crs_name)
    assert isinstance(xw, pl.DataFrame)
    main = (
        xw.sort("weight", descending=True).unique("code", keep="first", maintain_order=True)["cell"].to_list()
    )
    cand = np.ascontiguousarray(xw["cell"].unique().to_numpy())
    lat, lng = _core.cell_to_latlng(cand)
    data, views = wkb_views(areas["geometry"], "geometry")
    inside = _core.locate_points(data, views, crs_name, lat, lng) != np.iinfo(np.uint32).max
    return set(cand[inside].tolist()) | set(main)


def _totals(t: pl.DataFrame, cells: pl.Series | None) -> dict[str, float]:
    """Summed counts of each category (five and combined) over ``cells`` (all rows when None)."""
    if cells is not None:
        t = t.filter(pl.col("cell").is_in(cells.implode()))
    tot = {k: float(t[k].sum()) for k in CATEGORIES}
    return tot | {k: sum(tot[p] for p in ps) for k, ps in COMBINED.items()}


def _usable_deciles(
    deprivation: pl.DataFrame, decile: str, b: pl.DataFrame, known: pl.Series, prog: pl.Series, skip: bool
) -> pl.DataFrame:
    """``cell, d`` for the cells with residents whose decile is usable (an integer 1..10).

    Cells with residents whose decile is null, outside 1..10 or missing from ``deprivation`` cannot be matched:
    an error naming them, or (``skip``) dropped from the standardisation with the residents they hold reported.
    """
    require_columns(deprivation, ["cell", decile], "deprivation")
    dcol = deprivation.get_column(decile)
    if not (dcol.dtype.is_numeric() or dcol.dtype == pl.Null):
        raise InvalidInputError(f"deprivation[{decile!r}]: expected integer deciles 1..10, got {dcol.dtype}")
    dec = deprivation.select(pl.col("cell").cast(pl.UInt64), pl.col(decile).cast(pl.Float64).alias("d"))
    check_no_nulls(dec["cell"], "deprivation['cell']")
    dup = dec["cell"].is_duplicated()
    if dup.any():
        raise InvalidInputError(
            f"deprivation['cell']: {rows_text(int(dup.sum()), dup.arg_true().head(KEEP).to_list())} repeat a "
            "cell; expected one decile per cell"
        )
    cells = pl.DataFrame({"cell": known}).join(dec, on="cell", how="left")
    ok = pl.col("d").is_not_null() & pl.col("d").is_in([float(d) for d in range(1, 11)])
    bad = cells.filter(~ok)
    if bad.height:
        pop = b.join(bad.select("cell"), on="cell").select(pl.sum_horizontal(CATEGORIES).sum()).item() or 0.0
        in_prog = int(bad["cell"].is_in(prog.implode()).sum())
        what = (
            f"deprivation[{decile!r}]: {bad.height} cell(s) with residents have a null or out-of-range decile "
            f"or no row (e.g. {[hex(c)[2:] for c in bad['cell'].head(KEEP).to_list()]}; decile values "
            f"{bad['d'].head(KEEP).to_list()}), {in_prog} of them in the programme, holding {pop:,.1f} "
            "residents in the first year"
        )
        if not skip:
            raise InvalidInputError(
                f"{what}; expected a decile 1..10 for every cell (on_invalid='skip' leaves them out of the "
                "deprivation standardisation)"
            )
        warnings.warn(
            f"{what}: left out of the deprivation mix and the comparator (on_invalid='skip')",
            SkippedRowsWarning,
            stacklevel=3,
        )
    return cells.filter(ok).with_columns(pl.col("d").cast(pl.Int64))


def _decile_mix(b: pl.DataFrame, dec: pl.DataFrame, cells: pl.Series | None) -> dict[int, float]:
    """Share of first-year residents in each decile 1..10 over ``cells`` that have a usable decile."""
    t = b.join(dec, on="cell", how="inner")
    if cells is not None:
        t = t.filter(pl.col("cell").is_in(cells.implode()))
    pop = t.with_columns(n=pl.sum_horizontal(CATEGORIES)).group_by("d").agg(pl.col("n").sum())
    total = float(pop["n"].sum())
    by = dict(zip(pop["d"].to_list(), pop["n"].to_list()))
    return {d: (by.get(d, 0.0) / total if total > 0 else float("nan")) for d in range(1, 11)}


def _standardised(
    t: pl.DataFrame, comp: pl.DataFrame, mix: dict[int, float]
) -> dict[str, tuple[float, float]]:
    """Direct standardisation of the comparator to the programme's decile ``mix``, for one year's table.

    Returns {category: (p, n_eff)}: p = Σ_d π_d p_d and Kish's effective size n_eff = p(1 − p) / V with
    V = Σ_d π_d² p_d(1 − p_d) / N_d (the variance of p when each decile's share is a binomial proportion).
    """
    g = (
        t.join(comp, on="cell", how="inner")
        .group_by("d")
        .agg(*[pl.col(k).sum() for k in CATEGORIES])
        .with_columns(n=pl.sum_horizontal(CATEGORIES))
    )
    per_decile = {int(r["d"]): r for r in g.iter_rows(named=True)}
    out: dict[str, tuple[float, float]] = {}
    for k in ALL:
        parts = COMBINED.get(k, (k,))
        p_std, var = 0.0, 0.0
        for d, pi in mix.items():
            if not pi > 0:
                continue
            r = per_decile.get(d)
            if r is None or r["n"] <= 0:
                raise InvalidInputError(
                    f"comparator: no comparator residents in decile {d}, which holds {100 * pi:.1f}% of the "
                    "programme's; cannot match it"
                )
            p_d = sum(r[p] for p in parts) / r["n"]
            p_std += pi * p_d
            var += pi * pi * p_d * (1 - p_d) / r["n"]
        n_eff = p_std * (1 - p_std) / var if var > 0 else float(sum(v["n"] for v in per_decile.values()))
        out[k] = (p_std, n_eff)
    return out


def _group_rows(
    group: str,
    before: dict[str, tuple[float, float]],
    after: dict[str, tuple[float, float]],
    n_cells: int,
    mix: dict[int, float],
    labels: tuple[str, str],
    z: float,
) -> list[dict[str, Any]]:
    """One output row per category: Wilson intervals of each year's share p at size n (given as (p, n)),
    Newcombe's method 10 for the change."""
    y0, y1 = labels
    rows = []
    for k in ALL:
        (pb, nb), (pa, na) = before[k], after[k]
        _, lb, ub = (float(v) for v in wilson(np.array(pb * nb), np.array(nb), z))
        _, la, ua = (float(v) for v in wilson(np.array(pa * na), np.array(na), z))
        d, dlo, dhi = (float(v) for v in newcombe(pa, la, ua, pb, lb, ub))
        rows.append(
            {"group": group, "category": k, f"pct_{y0}": 100 * pb, f"pct_{y0}_lo": 100 * lb,
             f"pct_{y0}_hi": 100 * ub, f"pct_{y1}": 100 * pa, f"pct_{y1}_lo": 100 * la,
             f"pct_{y1}_hi": 100 * ua, "change_pp": 100 * d, "change_lo": 100 * dlo, "change_hi": 100 * dhi,
             f"population_{y0}": nb, f"population_{y1}": na, "n_cells": n_cells,
             **{f"mix_d{d}": (v if v == v else None) for d, v in mix.items()}}
        )  # fmt: skip
    return rows


def _crude(tot: dict[str, float]) -> dict[str, tuple[float, float]]:
    """(share, population) of each category from summed counts (share NaN when there are no residents)."""
    n = sum(tot[k] for k in CATEGORIES)
    return {k: (tot[k] / n if n > 0 else float("nan"), n) for k in ALL}


def compare_groups(
    before: FrameLike,
    after: FrameLike,
    programme: Any,
    *,
    deprivation: FrameLike | None = None,
    decile: str = "decile",
    categories: Mapping[str, str] | Sequence[str] | None = None,
    categories_after: Mapping[str, str] | Sequence[str] | None = None,
    labels: tuple[str, str] = ("2011", "2021"),
    confidence: float = 0.95,
    crosswalk: FrameLike | None = None,
    code: str = "code",
    crs: object = None,
    on_invalid: OnInvalid = "raise",
    chart: str | os.PathLike[str] | None = None,
    title: str | None = None,
    standardise: FrameLike | None = None,
) -> pl.DataFrame:
    """Percentage-point change in self-reported health for a programme, the whole input, and a comparator of
    similarly deprived places.

    Parameters
    ----------
    before, after
        The two cell tables (as for :func:`health_change`).
    programme
        The programme's cells: an iterable of cells, a DataFrame with a ``cell`` column, area codes with the
        ``crosswalk`` that placed them (all cells of those areas), or polygons (a DataFrame with ``geometry``,
        e.g. from :func:`hyperlocal.read_areas`): cells whose centre lies in a polygon, plus each polygon's
        largest-share cell.
    deprivation
        ``cell`` and ``decile`` (1 = most deprived), e.g. population-weighted IMD 2019 deciles of the cells
        (:func:`deciles`). Without it there is no comparator group.
    on_invalid
        Cells with residents whose decile is null (as :func:`hyperlocal.deciles` leaves cells without
        population), outside 1..10, or missing from ``deprivation`` cannot be matched. ``"raise"`` (default):
        an :class:`~hyperlocal.exceptions.InvalidInputError` naming them. ``"skip"``: they are left out of the
        deprivation mix (which is renormalised over the programme's other cells) and of the comparator pool,
        and a :class:`~hyperlocal.exceptions.SkippedRowsWarning` reports how many cells and residents that is.
        The ``programme`` and ``all`` groups always count every cell.
    standardise
        A reference of rates by age band (as for :func:`health_change`; e.g.
        :func:`hyperlocal.ons.lc3409ew_reference`): both tables then need ``age_LO_HI`` / ``age_LO_plus``
        population columns, and the rows of ``very_good_or_good``, ``fair`` and ``bad_or_very_bad`` get the
        indirectly age-standardised shares ``std_pct_<label>`` (``_lo``/``_hi``) and ``std_change_pp`` (null for
        the other categories). Programme and all: the standardisation of the summed counts and age bands, with
        Poisson limits (exact below 10, Byar's from 10). Comparator: Σ_d π_d · S_d, the standardised shares S_d
        of its cells in each decile weighted by the programme's decile mix, with a normal interval from
        Var = Σ_d π_d² S_d² / O_d (Poisson variance of each decile's observed count).

    Groups
    ------
    * ``programme``: the programme cells, summed.
    * ``all``: every cell of the input (e.g. England and Wales).
    * ``comparator``: cells outside the programme, matched on deprivation decile and re-weighted to the
      programme's decile mix (direct standardisation): share = Σ_d π_d · p_d, with π_d the programme's share of
      ``before``-year residents in decile d (over its cells with a usable decile) and p_d the share among
      comparator cells of decile d. Its interval is a Wilson interval at Kish's effective sample size
      n_eff = p(1 − p) / Σ_d π_d² p_d(1 − p_d)/N_d, and changes use Newcombe's method 10 like the other
      groups.

    Intervals treat each group's residents as a binomial sample of its share. Census counts are (near)
    complete counts, not samples, so the intervals describe the random variation of a rate among populations of
    this size (the usual public-health reading, as in Fingertips), not survey error; the two years' populations
    overlap (most residents are counted twice), which Newcombe's method for independent samples ignores and
    which makes the change intervals conservative; and apportioned counts are fractional, used as they are.

    Returns
    -------
    pl.DataFrame
        Tidy: one row per (group, category) with ``pct_<label>`` and ``_lo``/``_hi``, ``change_pp`` with
        ``change_lo``/``change_hi``, ``population_<label>`` (effective sizes for the comparator), ``n_cells`` and
        the decile mix ``mix_d1`` … ``mix_d10`` (shares of ``before`` residents by decile, over cells with a
        usable decile; the comparator is standardised to the programme's). With ``chart``, a grouped bar chart
        PNG is written there too.
    """
    skip = check_on_invalid(on_invalid)
    z = z_value(confidence)
    ca = _category_map(categories)
    cb = _category_map(categories_after) if categories_after is not None else ca
    b = _counts(as_frame(before, "before"), ca, "cell", "before")
    a = _counts(as_frame(after, "after"), cb, "cell", "after")
    res_set = set(_core.cell_resolutions(np.ascontiguousarray(b["cell"].cast(pl.UInt64).to_numpy())).tolist())
    pcells = _programme_cells(programme, min(res_set) if res_set else 8, crosswalk, code, crs)
    known_set = set(b["cell"].to_list()) | set(a["cell"].to_list())
    pcells &= known_set
    if not pcells:
        raise InvalidInputError("programme: none of its cells hold residents in either table")
    prog = pl.Series("cell", sorted(pcells), dtype=pl.UInt64)
    # Cells with residents in either year: a cell with none (whose decile hl.deciles leaves null) cannot bias
    # the mix or the comparator, so only these need a usable decile.
    peopled = (
        pl.concat([t.select("cell", n=pl.sum_horizontal(CATEGORIES)) for t in (b, a)])
        .group_by("cell")
        .agg(pl.col("n").sum())
        .filter(pl.col("n") > 0)["cell"]
        .sort()
    )

    dec = None
    if deprivation is not None:
        dec = _usable_deciles(as_frame(deprivation, "deprivation"), decile, b, peopled, prog, skip)
    mix_prog = _decile_mix(b, dec, prog) if dec is not None else {}
    rows = _group_rows("programme", _crude(_totals(b, prog)), _crude(_totals(a, prog)), len(pcells), mix_prog,
                       labels, z)  # fmt: skip
    mix_all = _decile_mix(b, dec, None) if dec is not None else {}
    rows += _group_rows("all", _crude(_totals(b, None)), _crude(_totals(a, None)), len(known_set), mix_all,
                        labels, z)  # fmt: skip
    if dec is not None:
        if not any(v > 0 for v in mix_prog.values()):
            raise InvalidInputError("deprivation: no programme cell with residents has a usable decile")
        comp = dec.filter(~pl.col("cell").is_in(prog.implode()))
        rows += _group_rows("comparator", _standardised(b, comp, mix_prog), _standardised(a, comp, mix_prog),
                            comp.height, mix_prog, labels, z)  # fmt: skip
    table = pl.DataFrame(rows)
    if standardise is not None:
        tables = (as_frame(before, "before"), as_frame(after, "after"))
        groups: dict[str, tuple[pl.Series | None, dict[int, float] | None]] = {"programme": (prog, None),
                                                                              "all": (None, None)}
        if dec is not None:
            groups["comparator"] = (None, mix_prog)
        std_rows = []
        comp_dec = dec.filter(~pl.col("cell").is_in(prog.implode())) if dec is not None else None
        for g, (cells, mix) in groups.items():
            per_year = [_group_std(t, standardise, cells, comp_dec, mix, z) for t in tables]
            for src, name in _STD_NAMES.items():
                (pb, lb, ub), (pa, la, ua) = per_year[0][src], per_year[1][src]
                std_rows.append({"group": g, "category": name, f"std_pct_{labels[0]}": pb,
                                 f"std_pct_{labels[0]}_lo": lb, f"std_pct_{labels[0]}_hi": ub,
                                 f"std_pct_{labels[1]}": pa, f"std_pct_{labels[1]}_lo": la,
                                 f"std_pct_{labels[1]}_hi": ua, "std_change_pp": pa - pb})  # fmt: skip
        table = table.join(pl.DataFrame(std_rows), on=["group", "category"], how="left", maintain_order="left")
    if chart is not None:
        comparison_chart(table, chart, title=title, labels=labels, confidence=confidence)
    return table


def _group_std(
    t: pl.DataFrame,
    reference: FrameLike,
    cells: pl.Series | None,
    dec: pl.DataFrame | None,
    mix: dict[int, float] | None,
    z: float,
) -> dict[str, tuple[float, float, float]]:
    """{group of age_standardise: (standardised %, lo, hi)} of one year's table: of the summed ``cells`` (all
    when None), or — with ``mix`` — the comparator's decile-weighted standardised share (cells outside the
    programme with a usable decile, ``dec``)."""
    from .standardise import age_standardise

    used = [c for c in t.columns if c.startswith("age_")] + list(CATEGORIES)
    if not [c for c in used if c.startswith("age_")]:
        raise InvalidInputError(
            "compare_groups(standardise=...): no population columns: expected age_LO_HI / age_LO_plus columns "
            "in both tables"
        )
    t = t.with_columns(pl.col("cell").cast(pl.UInt64))
    if mix is None:
        if cells is not None:
            t = t.filter(pl.col("cell").is_in(cells.implode()))
        whole = t.select(pl.col(used).cast(pl.Float64).sum()).with_columns(pl.lit("g").alias("cell"))
        s = age_standardise(whole, reference, code="cell")
        return {src: (s[f"{src}_std_pct"][0], s[f"{src}_std_pct_lo95"][0], s[f"{src}_std_pct_hi95"][0])
                for src in _STD_NAMES}  # fmt: skip
    assert dec is not None
    g = t.join(dec, on="cell", how="inner").group_by("d").agg(pl.col(used).cast(pl.Float64).sum())
    s = age_standardise(g.with_columns(pl.col("d").cast(pl.Int64).cast(pl.String).alias("cell")).drop("d"),
                        reference, code="cell")  # fmt: skip
    rows = {int(r["cell"]): r for r in s.iter_rows(named=True)}
    out = {}
    for src in _STD_NAMES:
        p, var = 0.0, 0.0
        for d, pi in mix.items():
            if not pi > 0:
                continue
            r = rows.get(d)
            if r is None or r[f"{src}_std_pct"] is None:
                raise InvalidInputError(f"comparator: no residents in decile {d} to standardise")
            sd, o = r[f"{src}_std_pct"], r[f"{src}_observed"]
            p += pi * sd
            var += pi * pi * (sd * sd / o if o > 0 else 0.0)
        half = z * var**0.5
        out[src] = (p, p - half, p + half)
    return out


def comparison_chart(
    table: pl.DataFrame,
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
    labels: tuple[str, str] = ("2011", "2021"),
    confidence: float = 0.95,
    categories: Iterable[str] = CATEGORIES,
) -> Path:
    """Grouped bar chart of :func:`compare_groups` output: pp change per category, one bar per group, with
    Newcombe intervals as error bars. Written atomically as PNG."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from .io import atomic_path

    cats = list(categories)
    groups = table["group"].unique(maintain_order=True).to_list()
    names = {
        "programme": "Programme areas",
        "all": "All areas",
        "comparator": "Similarly deprived comparator",
    }
    colours = {"programme": "#1b7837", "all": "#5e5e5e", "comparator": "#762a83"}
    fig, ax = plt.subplots(figsize=(9, 5), dpi=120)
    width = 0.8 / max(len(groups), 1)
    x = np.arange(len(cats))
    for i, g in enumerate(groups):
        t = table.filter(pl.col("group") == g).join(
            pl.DataFrame({"category": cats}), on="category", how="right"
        )
        v = t["change_pp"].to_numpy()
        err = np.vstack([v - t["change_lo"].to_numpy(), t["change_hi"].to_numpy() - v])
        ax.bar(x + (i - (len(groups) - 1) / 2) * width, v, width, yerr=err, capsize=3, label=names.get(g, g),
               color=colours.get(g))  # fmt: skip
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(x, [c.replace("_", " ").capitalize() for c in cats])
    ax.set_ylabel("Percentage point change")
    ax.set_title(
        title or f"Percentage point change in self-reported health of residents, {labels[0]}–{labels[1]}"
    )
    ax.legend(frameon=False)
    ax.text(1.0, -0.12, f"Error bars: {round(100 * confidence)}% Newcombe intervals", transform=ax.transAxes,
            ha="right", fontsize=8)  # fmt: skip
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return Path(path)
