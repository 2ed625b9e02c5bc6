"""Health-change surfaces (Census 2011 → 2021 general health) on a stable hex geography, and the
programme-versus-comparator evaluation.

Each year is put onto the same H3 cells through its own crosswalk (:func:`hyperlocal.crosswalk`,
:func:`hyperlocal.apportion`); the cells are then a geography shared by both years, on which change is measured.

Statistics (see :mod:`hyperlocal.stats`): Wilson score intervals for every share (Wilson 1927) and Newcombe's
hybrid score interval, method 10, for every change (Newcombe 1998).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from . import _core
from ._convert import KEEP, check_no_nulls, require_columns, rows_text
from .exceptions import InvalidInputError
from .stats import newcombe, wilson, z_value

__all__ = ["CATEGORIES", "COMBINED", "health_change", "compare_groups", "comparison_chart"]

#: The five Census general-health categories, in order.
CATEGORIES = ("very_good", "good", "fair", "bad", "very_bad")
#: Combined categories reported alongside the five.
COMBINED = {"very_good_or_good": ("very_good", "good"), "bad_or_very_bad": ("bad", "very_bad")}
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
    before: pl.DataFrame,
    after: pl.DataFrame,
    *,
    categories: Mapping[str, str] | Sequence[str] | None = None,
    categories_after: Mapping[str, str] | Sequence[str] | None = None,
    labels: tuple[str, str] = ("2011", "2021"),
    min_population: float = 100,
    confidence: float = 0.95,
    cell: str = "cell",
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
    """
    z = z_value(confidence)
    ca = _category_map(categories)
    cb = _category_map(categories_after) if categories_after is not None else ca
    b = _counts(before, ca, cell, "before")
    a = _counts(after, cb, cell, "after")
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
    return out.with_columns(pl.col(pl.Float64).fill_nan(None))


def _programme_cells(
    programme: Any, resolution: int, crosswalk: pl.DataFrame | None, code: str, crs: object
) -> set[int]:
    """Programme cells from cells, a frame with ``cell``, area codes (+ crosswalk) or polygons."""
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
    if (
        isinstance(programme, pl.Series)
        and programme.dtype == pl.String
        or (
            isinstance(programme, (list, tuple, set)) and programme and isinstance(next(iter(programme)), str)
        )
    ):
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
    from .crosswalk import _wkb_buffers, crosswalk, normalise_crs

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
    data, offsets = _wkb_buffers(areas["geometry"], "geometry")
    inside = _core.locate_points(data, offsets, crs_name, lat, lng) != np.iinfo(np.uint32).max
    return set(cand[inside].tolist()) | set(main)


def _group_totals(b: pl.DataFrame, a: pl.DataFrame, cells: pl.Series | None) -> tuple[dict, dict]:
    def tot(t: pl.DataFrame) -> dict[str, float]:
        if cells is not None:
            t = t.filter(pl.col("cell").is_in(cells.implode()))
        return {k: float(t[k].sum()) for k in CATEGORIES}

    return tot(b), tot(a)


def compare_groups(
    before: pl.DataFrame,
    after: pl.DataFrame,
    programme: Any,
    *,
    deprivation: pl.DataFrame | None = None,
    decile: str = "decile",
    categories: Mapping[str, str] | Sequence[str] | None = None,
    categories_after: Mapping[str, str] | Sequence[str] | None = None,
    labels: tuple[str, str] = ("2011", "2021"),
    confidence: float = 0.95,
    crosswalk: pl.DataFrame | None = None,
    code: str = "code",
    crs: object = None,
    chart: str | os.PathLike[str] | None = None,
    title: str | None = None,
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

    Groups
    ------
    * ``programme``: the programme cells, summed.
    * ``all``: every cell of the input (e.g. England and Wales).
    * ``comparator``: cells outside the programme, matched on deprivation decile and re-weighted to the
      programme's decile mix (direct standardisation): share = Σ_d π_d · p_d, with π_d the programme's share of
      ``before``-year residents in decile d and p_d the share among comparator cells of decile d. Its interval
      is a Wilson interval at the effective sample size n_eff = p(1 − p) / Σ_d π_d² p_d(1 − p_d)/N_d (Kish),
      and changes use Newcombe's method 10 like the other groups.

    Returns
    -------
    pl.DataFrame
        Tidy: one row per (group, category) with ``pct_<label>`` and ``_lo``/``_hi``, ``change_pp`` with
        ``change_lo``/``change_hi``, ``population_<label>`` (effective sizes for the comparator), ``n_cells`` and
        the decile mix ``mix_d1`` … ``mix_d10`` (shares of ``before`` residents by decile; the comparator's is
        the programme's by construction). With ``chart``, a grouped bar chart PNG is written there too.
    """
    z = z_value(confidence)
    ca = _category_map(categories)
    cb = _category_map(categories_after) if categories_after is not None else ca
    b = _counts(before, ca, "cell", "before")
    a = _counts(after, cb, "cell", "after")
    res_set = set(_core.cell_resolutions(np.ascontiguousarray(b["cell"].cast(pl.UInt64).to_numpy())).tolist())
    pcells = _programme_cells(programme, min(res_set) if res_set else 8, crosswalk, code, crs)
    known = set(b["cell"].to_list()) | set(a["cell"].to_list())
    pcells &= known
    if not pcells:
        raise InvalidInputError("programme: none of its cells hold residents in either table")
    prog = pl.Series("cell", sorted(pcells), dtype=pl.UInt64)
    y0, y1 = labels
    rows: list[dict[str, Any]] = []

    dec = None
    if deprivation is not None:
        require_columns(deprivation, ["cell", decile], "deprivation")
        dec = deprivation.select(pl.col("cell").cast(pl.UInt64), pl.col(decile).cast(pl.Int64).alias("d"))

    def mix_of(cells: pl.Series | None) -> dict[str, float | None]:
        if dec is None:
            return {}
        t = b.join(dec, on="cell", how="inner")
        if cells is not None:
            t = t.filter(pl.col("cell").is_in(cells.implode()))
        pop = t.with_columns(n=pl.sum_horizontal(CATEGORIES)).group_by("d").agg(pl.col("n").sum())
        total = float(pop["n"].sum())
        by = dict(zip(pop["d"].to_list(), pop["n"].to_list()))
        return {f"mix_d{d}": (by.get(d, 0.0) / total if total > 0 else None) for d in range(1, 11)}

    def emit(group: str, tb: dict, ta: dict, n_cells: int, mix: dict, neff: tuple | None = None) -> None:
        xb = dict(tb) | {k: sum(tb[p] for p in ps) for k, ps in COMBINED.items()}
        xa = dict(ta) | {k: sum(ta[p] for p in ps) for k, ps in COMBINED.items()}
        nb = sum(tb[k] for k in CATEGORIES)
        na = sum(ta[k] for k in CATEGORIES)
        for k in ALL:
            if neff is None:
                pb, lb, ub = (float(v) for v in wilson(np.array(xb[k]), np.array(nb), z))
                pa, la, ua = (float(v) for v in wilson(np.array(xa[k]), np.array(na), z))
                popb, popa = nb, na
            else:
                (pb, popb), (pa, popa) = neff[0][k], neff[1][k]
                _, lb, ub = (float(v) for v in wilson(np.array(pb * popb), np.array(popb), z))
                _, la, ua = (float(v) for v in wilson(np.array(pa * popa), np.array(popa), z))
            d, dlo, dhi = (float(v) for v in newcombe(pa, la, ua, pb, lb, ub))
            rows.append(
                {"group": group, "category": k, f"pct_{y0}": 100 * pb, f"pct_{y0}_lo": 100 * lb,
                 f"pct_{y0}_hi": 100 * ub, f"pct_{y1}": 100 * pa, f"pct_{y1}_lo": 100 * la,
                 f"pct_{y1}_hi": 100 * ua, "change_pp": 100 * d, "change_lo": 100 * dlo, "change_hi": 100 * dhi,
                 f"population_{y0}": popb, f"population_{y1}": popa, "n_cells": n_cells, **mix}
            )  # fmt: skip

    tb, ta = _group_totals(b, a, prog)
    emit("programme", tb, ta, len(pcells), mix_of(prog))
    tb, ta = _group_totals(b, a, None)
    emit("all", tb, ta, len(known), mix_of(None))
    if dec is not None:
        pmix = mix_of(prog)
        missing = prog.filter(~prog.is_in(dec["cell"].implode()))
        if missing.len():
            raise InvalidInputError(
                f"deprivation: {missing.len()} programme cell(s) have no decile (e.g. {missing.head(KEEP).to_list()})"
            )
        comp = pl.DataFrame({"cell": sorted(known - pcells)}, schema={"cell": pl.UInt64}).join(dec, on="cell")
        per_year = []
        for t in (b, a):
            g = (
                t.join(comp, on="cell", how="inner")
                .group_by("d")
                .agg(*[pl.col(k).sum() for k in CATEGORIES])
                .with_columns(n=pl.sum_horizontal(CATEGORIES))
            )
            per_year.append({int(r["d"]): r for r in g.iter_rows(named=True)})
        stats = []
        for yr in per_year:
            out: dict[str, tuple[float, float]] = {}
            for k in ALL:
                parts = COMBINED.get(k, (k,))
                p_std, var = 0.0, 0.0
                for dd in range(1, 11):
                    pi = pmix.get(f"mix_d{dd}") or 0.0
                    if pi == 0:
                        continue
                    r = yr.get(dd)
                    if r is None or r["n"] <= 0:
                        raise InvalidInputError(
                            f"comparator: no comparator residents in decile {dd}, which holds {100 * pi:.1f}% of "
                            "the programme's; cannot match it"
                        )
                    pd_ = sum(r[p] for p in parts) / r["n"]
                    p_std += pi * pd_
                    var += pi * pi * pd_ * (1 - pd_) / r["n"]
                n_eff = p_std * (1 - p_std) / var if var > 0 else float(sum(v["n"] for v in yr.values()))
                out[k] = (p_std, n_eff)
            stats.append(out)
        emit("comparator", {k: 0.0 for k in CATEGORIES}, {k: 0.0 for k in CATEGORIES}, comp.height, pmix,
             neff=(stats[0], stats[1]))  # fmt: skip
    table = pl.DataFrame(rows)
    if chart is not None:
        comparison_chart(table, chart, title=title, labels=labels, confidence=confidence)
    return table


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
