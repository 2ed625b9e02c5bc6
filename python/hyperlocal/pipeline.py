"""The batch jobs behind the CLI: a national grid from files, and the demo on the synthetic nation."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl
from tqdm.auto import tqdm

from ._convert import require_columns
from .aggregate import apportion
from .categories import HEALTH_CATEGORIES
from .crosswalk import crosswalk
from .exceptions import InvalidInputError, SkippedRowsWarning
from .io import read_table, write
from .plot import map_png

__all__ = ["build_grid", "demo", "health_job", "deprivation_job", "demand_job"]


def build_grid(
    areas: pl.DataFrame,
    values: pl.DataFrame,
    *,
    resolution: int,
    code: str,
    extensive: Sequence[str] = (),
    intensive: Sequence[str] = (),
    weight: str | None = None,
    method: str = "centroid",
    progress: bool = True,
    **crosswalk_options: Any,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Crosswalk ``areas`` at ``resolution`` and apportion ``values`` onto it.

    Returns (grid, crosswalk, audit). ``crosswalk_options`` go to :func:`hyperlocal.crosswalk` (coordinates,
    geometry, points, ``on_invalid``, ...). With ``on_invalid="skip"``, areas the crosswalk skipped (invalid
    coordinates) are dropped from ``values`` too, and a :class:`SkippedRowsWarning` says how many.
    """
    with tqdm(total=2, desc="grid", unit="step", disable=not progress, leave=False) as bar:
        bar.set_postfix_str(f"crosswalk ({method})")
        out = crosswalk(
            areas, resolution=resolution, code=code, method=method, audit=True, **crosswalk_options
        )
        assert isinstance(out, tuple)
        xw, audit = out
        if crosswalk_options.get("on_invalid") == "skip" and code in values.columns:
            placed = audit.filter(pl.col("n_cells") > 0).select(code)
            kept = values.join(placed, on=code, how="semi")
            if kept.height < values.height:
                dropped = values.join(placed, on=code, how="anti")
                warnings.warn(
                    f"values: dropped {dropped.height} area(s) skipped by the crosswalk (e.g. "
                    f"{dropped[code].head(5).to_list()}) with their values (on_invalid='skip')",
                    SkippedRowsWarning,
                    stacklevel=2,
                )
                values = kept
        bar.update()
        bar.set_postfix_str("apportion")
        grid = apportion(values, xw, code=code, extensive=extensive, intensive=intensive, weight=weight)
        bar.update()
    return grid, xw, audit


HEALTH = HEALTH_CATEGORIES



def _out_dir(out: Path) -> Path:
    """Check the output folder can be made (nothing is created until the first output is written)."""
    if out.exists() and not out.is_dir():
        raise InvalidInputError(f"out_dir: {out} is a file; expected a folder (it is created if missing)")
    return out


def _make_out_dir(out: Path) -> Path:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InvalidInputError(f"out_dir: cannot create {out} ({e.strerror or e})") from e
    return out


def demo(
    out_dir: str | os.PathLike[str] = "demo",
    *,
    resolution: int = 8,
    seed: int = 0,
    n_areas: int = 188_880,
    progress: bool = True,
) -> dict[str, Path]:
    """Build a national res-8 grid from the synthetic nation and write GeoParquet, CSV and a PNG map.

    The surface mapped is the percentage-point change in the share of residents reporting very good health,
    2011 → 2021 (cells with fewer than 100 residents in either year are left grey).
    """
    from . import synth

    out = Path(out_dir)
    _out_dir(out)
    steps = ["nation", "crosswalk + apportion", "write", "map"]
    with tqdm(total=len(steps), desc="demo", unit="step", disable=not progress) as bar:
        bar.set_postfix_str(steps[0])
        nation = synth.nation(seed=seed, n_areas=n_areas)
        bar.update()
        bar.set_postfix_str(steps[1])
        counts = [f"{c}_{y}" for y in (2011, 2021) for c in HEALTH]
        grid, _, _ = build_grid(
            nation.areas,
            nation.areas,
            resolution=resolution,
            code="code",
            extensive=["population_2011", "population_2021", *counts],
            easting="easting",
            northing="northing",
            progress=False,
        )
        grid = grid.with_columns(
            (100 * pl.col(f"very_good_{y}") / pl.col(f"population_{y}")).alias(f"very_good_{y}_pct")
            for y in (2011, 2021)
        ).with_columns(
            pl.when((pl.col("population_2011") >= 100) & (pl.col("population_2021") >= 100))
            .then(pl.col("very_good_2021_pct") - pl.col("very_good_2011_pct"))
            .otherwise(None)
            .alias("very_good_change_pp")
        )
        bar.update()
        bar.set_postfix_str(steps[2])
        _make_out_dir(out)
        paths = {
            "parquet": write(grid, out / f"nation_res{resolution}.parquet"),
            "csv": write(grid, out / f"nation_res{resolution}.csv"),
        }
        bar.update()
        bar.set_postfix_str(steps[3])
        paths["map"] = map_png(
            grid,
            "very_good_change_pp",
            out / f"very_good_change_res{resolution}.png",
            title=f"Synthetic nation: change in 'very good' health 2011→2021, res {resolution}",
            cmap="RdBu",
            diverging=True,
            label="percentage points",
        )
        bar.update()
    return paths


def _grid_for_year(
    spec: dict[str, Any], resolution: int, base: Path
) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """One year's cell table from a config section: a ready ``grid``, or ``areas`` + ``values`` + crosswalk."""
    from .io import read_areas

    def path(key: str) -> Path:
        p = Path(spec[key])
        return p if p.is_absolute() else base / p

    def table(key: str) -> pl.DataFrame:
        return read_table(path(key), f"{key} =")

    if "grid" in spec:
        return table("grid"), None
    for key in ("areas", "values", "code"):
        if key not in spec:
            raise InvalidInputError(
                f"config: a year needs 'grid', or 'areas', 'values' and 'code' (missing {key!r})"
            )
    method = spec.get("method", "centroid")
    if method not in ("centroid", "area", "population"):
        raise InvalidInputError(f"config: method = {method!r}; expected 'centroid', 'area' or 'population'")
    code = spec["code"]
    opts: dict[str, Any] = {"on_invalid": spec.get("on_invalid", "raise")}
    if method == "centroid":
        areas = table("areas")
        for key in ("easting", "northing", "lat", "lng"):
            if key in spec:
                opts[key] = spec[key]
    else:
        areas = read_areas(path("areas"), code=code, crs=spec.get("crs"))
        if method == "population":
            opts |= {"points": table("points"), "population": spec.get("population", "population")}
            for key in ("points_code", "points_lat", "points_lng", "points_easting", "points_northing"):
                if key in spec:
                    opts[key] = spec[key]
    values = table("values")
    cats = spec.get("categories")
    cols = list(cats.values()) if isinstance(cats, dict) else list(cats) if cats else list(HEALTH)
    grid, xw, _ = build_grid(areas, values, resolution=resolution, code=code, extensive=cols, method=method,
                             progress=False, **opts)  # fmt: skip
    return grid, xw


def health_job(config: dict[str, Any], *, base: Path | None = None, progress: bool = True) -> dict[str, Path]:
    """The ``hyperlocal health-change`` batch job (see the CLI help for the config keys).

    Writes the cell surface (GeoParquet + CSV), a PNG map of the excess change in 'very good' health, and, when
    a programme is given, the comparison table (CSV) and chart (PNG). Returns the paths written.
    """
    from .health import compare_groups, health_change

    base = base or Path.cwd()
    missing = [k for k in ("before", "after") if not isinstance(config.get(k), dict)]
    if missing:
        raise InvalidInputError(f"config: missing section(s) {missing}; expected [before] and [after]")
    res = int(config.get("resolution", 8))
    out = Path(config.get("out_dir", "health_change"))
    out = out if out.is_absolute() else base / out
    _out_dir(out)
    labels = tuple(config.get("labels", ("2011", "2021")))
    steps = ["before", "after", "change", "write", "compare"]
    paths: dict[str, Path] = {}
    with tqdm(total=len(steps), desc="health-change", unit="step", disable=not progress) as bar:
        bar.set_postfix_str("before")
        before, _ = _grid_for_year(config["before"], res, base)
        bar.update()
        bar.set_postfix_str("after")
        after, xw_after = _grid_for_year(config["after"], res, base)
        bar.update()
        bar.set_postfix_str("change")
        cats = {y: config[y].get("categories") for y in ("before", "after")}
        surface = health_change(
            before, after, categories=cats["before"], categories_after=cats["after"], labels=labels,  # type: ignore[arg-type]
            min_population=float(config.get("min_population", 100)), confidence=float(config.get("confidence", 0.95)),
        )  # fmt: skip
        bar.update()
        bar.set_postfix_str("write")
        _make_out_dir(out)
        paths["surface"] = write(surface, out / f"health_change_res{res}.parquet")
        paths["csv"] = write(surface, out / f"health_change_res{res}.csv")
        shown = surface.with_columns(
            pl.when(pl.col("small"))
            .then(None)
            .otherwise(pl.col("very_good_excess_pp"))
            .alias("very_good_excess_pp")
        )
        paths["map"] = map_png(
            shown, "very_good_excess_pp", out / f"very_good_excess_res{res}.png",
            title=f"Excess change in 'very good' health {labels[0]}–{labels[1]} (cell − all cells), res {res}",
            cmap="RdBu", diverging=True, label="percentage points (grey: small or one year only)",
        )  # fmt: skip
        bar.update()
        prog = config.get("programme")
        if prog:
            bar.set_postfix_str("compare")
            dep = config.get("deprivation")
            dep_table = read_table(base / dep["grid"], "[deprivation] grid =") if dep else None
            if "cells" in prog:
                programme: Any = read_table(base / prog["cells"], "[programme] cells =")
            elif "codes" in prog:
                t = read_table(base / prog["codes"], "[programme] codes =")
                column = prog.get("column", t.columns[0])
                require_columns(t, [column], f"[programme] codes = {prog['codes']}")
                programme = t[column].cast(pl.String)
            else:
                from .io import read_areas

                programme = read_areas(base / prog["areas"], code=prog.get("code", "code"))
            decile = dep.get("decile", "decile") if dep else "decile"
            table = compare_groups(
                before, after, programme, deprivation=dep_table, decile=decile,
                categories=cats["before"], categories_after=cats["after"], labels=labels,  # type: ignore[arg-type]
                crosswalk=xw_after, code=prog.get("code", "code"),
                on_invalid=dep.get("on_invalid", "raise") if dep else "raise",
                chart=out / "comparison.png",
            )  # fmt: skip
            paths["chart"] = out / "comparison.png"
            from .io import atomic_path

            with atomic_path(out / "comparison.csv") as tmp:
                table.drop([c for c in table.columns if c.startswith("mix_")]).write_csv(tmp)
            paths["table"] = out / "comparison.csv"
        bar.update()
    return paths


def deprivation_job(
    scores: pl.DataFrame,
    centroids: pl.DataFrame,
    population: pl.DataFrame,
    *,
    code: str,
    score: str | None,
    domains: dict[str, str] | None,
    population_col: str,
    resolutions: Sequence[int],
    out_dir: Path,
    coords: dict[str, Any],
    progress: bool = True,
) -> dict[str, Path]:
    """The ``hyperlocal deprivation`` batch job: area scores (or IMD domain ranks, combined with
    :func:`hyperlocal.imd_score`) onto cells as population-weighted means, population-weighted deciles, rollups,
    GeoParquet per resolution and a PNG decile map of the finest."""
    from .deprivation import deprivation_surface, imd_score

    paths: dict[str, Path] = {}
    _out_dir(out_dir)
    with tqdm(total=4, desc="deprivation", unit="step", disable=not progress) as bar:
        bar.set_postfix_str("scores")
        if domains:
            scores = imd_score(scores, domains=domains)
            score = "imd_score"
        if score is None:
            raise InvalidInputError("deprivation: give --score, or --domains to combine IMD domain ranks")
        table = scores.select(code, score).join(
            population.select(code, pl.col(population_col).cast(pl.Float64).alias("population")),
            on=code,
            how="left",
        )
        missing = table.filter(pl.col("population").is_null())
        if missing.height:
            raise InvalidInputError(
                f"population: {missing.height} area(s) have no population (e.g. {missing[code].head(5).to_list()})"
            )
        bar.update()
        bar.set_postfix_str("crosswalk")
        xw = crosswalk(
            centroids.join(table.select(code), on=code), resolution=max(resolutions), code=code, **coords
        )
        assert isinstance(xw, pl.DataFrame)
        bar.update()
        bar.set_postfix_str("surface")
        surfaces = deprivation_surface(table, xw, code=code, score=score, population="population",
                                       resolutions=resolutions)  # fmt: skip
        bar.update()
        bar.set_postfix_str("write")
        _make_out_dir(out_dir)
        for res, s in surfaces.items():
            paths[f"res{res}"] = write(s, out_dir / f"deprivation_res{res}.parquet")
        finest = max(resolutions)
        paths["map"] = map_png(
            surfaces[finest], "decile", out_dir / f"deprivation_deciles_res{finest}.png",
            title=f"Population-weighted deprivation deciles of cells (1 = most deprived), res {finest}",
            cmap="RdYlBu", label="decile (1 = most deprived)",
        )  # fmt: skip
        bar.update()
    return paths


def _area_table(spec: dict[str, Any], key: str, base: Path, what: str) -> pl.DataFrame:
    p = Path(spec[key])
    return read_table(p if p.is_absolute() else base / p, what)


def demand_job(config: dict[str, Any], *, base: Path | None = None, progress: bool = True) -> dict[str, Path]:
    """The ``hyperlocal demand`` batch job (see the CLI help for the config keys).

    Area event counts (optionally translated through a lookup, e.g. LSOA names → codes), area populations and
    area deprivation scores are put on the same H3 cells through one centroid crosswalk (nested convention);
    the surface (:func:`hyperlocal.demand_surface`) is written as GeoParquet + CSV with a map of the standardised
    ratio and a funnel plot, and the rates by deprivation decile with the slope index of inequality as CSV.
    Areas without an events row or without a deprivation score are left out, with a warning naming how many.
    """
    from .demand import demand_surface, funnel_plot, rate, sii
    from .deprivation import deprivation_surface

    base = base or Path.cwd()
    res = int(config.get("resolution", 7))
    years = float(config.get("years", 1))
    multiplier = float(config.get("multiplier", 100_000))
    out = Path(config.get("out_dir", "demand"))
    out = out if out.is_absolute() else base / out
    _out_dir(out)
    ev_spec, area_spec, pop_spec = config["events"], config["areas"], config["population"]
    dep_spec = config.get("deprivation")
    code = area_spec["code"]
    paths: dict[str, Path] = {}
    steps = ["read", "crosswalk", "deprivation", "surface", "write"]
    with tqdm(total=len(steps), desc="demand", unit="step", disable=not progress) as bar:
        bar.set_postfix_str("read")
        events = _area_table(ev_spec, "table", base, "[events] table =")
        ev_code, ev_count = ev_spec.get("code", code), ev_spec["count"]
        require_columns(events, [ev_code, ev_count], f"[events] table = {ev_spec['table']}")
        if "lookup" in ev_spec:
            look = _area_table(ev_spec, "lookup", base, "[events] lookup =")
            src, dst = ev_spec["lookup_from"], ev_spec["lookup_to"]
            require_columns(look, [src, dst], f"[events] lookup = {ev_spec['lookup']}")
            joined = events.join(look.select(src, dst).unique(src), left_on=ev_code, right_on=src, how="left")
            unknown = joined.filter(pl.col(dst).is_null())
            if unknown.height:
                raise InvalidInputError(
                    f"[events] {ev_code}: {unknown.height} code(s) not in the lookup's {src!r} "
                    f"(e.g. {unknown[ev_code].head(5).to_list()})"
                )
            events = joined.select(pl.col(dst).alias(code), ev_count)
        else:
            events = events.select(pl.col(ev_code).alias(code), ev_count)
        scale = years if ev_spec.get("annual_mean", False) else 1.0
        events = events.group_by(code).agg((pl.col(ev_count).cast(pl.Float64).sum() * scale).alias("events"))
        if scale != 1.0:  # mean × years is a whole count up to the mean's rounding: make it one exactly
            whole = (pl.col("events") - pl.col("events").round()).abs() < 1e-6
            events = events.with_columns(pl.when(whole).then(pl.col("events").round()).otherwise("events"))
        pop = _area_table(pop_spec, "table", base, "[population] table =")
        pcode, pcol = pop_spec.get("code", code), pop_spec.get("population", "population")
        require_columns(pop, [pcode, pcol], f"[population] table = {pop_spec['table']}")
        pop = pop.select(
            pl.col(pcode).alias(code), (pl.col(pcol).cast(pl.Float64) * years).alias("person_years")
        )
        areas = _area_table(area_spec, "table", base, "[areas] table =")
        coords = {k: area_spec[k] for k in ("lat", "lng", "easting", "northing") if k in area_spec}
        keep = pop.join(events.select(code), on=code, how="semi")
        if keep.height < pop.height:
            gone = pop.join(events.select(code), on=code, how="anti")
            warnings.warn(
                f"population: {gone.height} area(s) have no events row (e.g. {gone[code].head(5).to_list()}); "
                "left out (their events are unknown, not zero)",
                SkippedRowsWarning,
                stacklevel=2,
            )
        orphans = events.join(pop.select(code), on=code, how="anti")
        if orphans.height:
            warnings.warn(
                f"events: {orphans.height} area code(s) are not in the population table (e.g. "
                f"{orphans[code].head(5).to_list()}; {orphans['events'].sum():,.1f} events); left out",
                SkippedRowsWarning,
                stacklevel=2,
            )
        table = keep.join(events, on=code, how="inner")
        bar.update()
        bar.set_postfix_str("crosswalk")
        dep_cells = None
        if dep_spec:
            dep = _area_table(dep_spec, "table", base, "[deprivation] table =")
            dcode, score = dep_spec.get("code", code), dep_spec["score"]
            where = dep_spec.get("where", {})
            require_columns(dep, [dcode, score, *where], f"[deprivation] table = {dep_spec['table']}")
            for col, value in where.items():  # e.g. {nation = "E"}: one index, not a mix of national indices
                dep = dep.filter(pl.col(col) == value)
            dep = dep.select(pl.col(dcode).alias(code), pl.col(score).cast(pl.Float64).alias("score"))
            scored = table.join(dep, on=code, how="inner")
            if scored.height < table.height:
                warnings.warn(
                    f"deprivation: {table.height - scored.height} area(s) have no score (e.g. "
                    f"{table.join(dep, on=code, how='anti')[code].head(5).to_list()}); left out of the surface",
                    SkippedRowsWarning,
                    stacklevel=2,
                )
            table = scored
        xw = crosswalk(
            areas.join(table.select(code), on=code, how="semi"), resolution=res, code=code, **coords
        )
        assert isinstance(xw, pl.DataFrame)
        grid = apportion(table, xw, code=code, extensive=["events", "person_years"])
        bar.update()
        bar.set_postfix_str("deprivation")
        if dep_spec:
            surf = deprivation_surface(table, xw, code=code, score="score", population="person_years",
                                       resolutions=[res])  # fmt: skip
            dep_cells = surf[res].select("cell", "decile")
        bar.update()
        bar.set_postfix_str("surface")
        surface = demand_surface(
            grid.select("cell", pl.col("events").alias("count")),
            grid.select("cell", pl.col("person_years").alias("population")),
            deprivation=dep_cells, multiplier=multiplier, smoothing=config.get("smoothing", "global"),
            overdispersion=config.get("overdispersion"),
            k=int(config.get("k", 1)), small_count=float(config.get("small_count", 10)),
        )  # fmt: skip
        if dep_cells is not None:
            surface = surface.join(dep_cells, on="cell", how="left")
        surface = surface.rename({"population": "person_years"})  # residents × years: rates are per year
        bar.update()
        bar.set_postfix_str("write")
        _make_out_dir(out)
        paths["surface"] = write(surface, out / f"demand_res{res}.parquet")
        paths["csv"] = write(surface, out / f"demand_res{res}.csv")
        shown = surface.with_columns(
            pl.when(pl.col("small")).then(None).otherwise(pl.col("ratio")).alias("ratio")
        )
        basis = "IMD decile" if dep_spec else "the overall rate"
        paths["map"] = map_png(shown, "ratio", out / f"demand_ratio_res{res}.png",
                               title=f"Observed / expected (expected by {basis}; not age-standardised), res {res}",
                               cmap="RdBu_r", diverging=True, center=1.0,
                               label="observed / expected (grey: small, expected < 10)")  # fmt: skip
        paths["funnel"] = funnel_plot(surface, out / "funnel.png", statistic="ratio", numerator="observed",
                                      denominator="expected", overdispersion=config.get("overdispersion"),
                                      title=f"Observed against expected events per cell, res {res}")  # fmt: skip
        if dep_cells is not None:
            by_decile = (
                surface.group_by("decile")
                .agg(pl.col("observed").sum(), pl.col("person_years").sum())
                .sort("decile")
            )
            by_decile = rate(by_decile, count="observed", population="person_years", multiplier=multiplier)
            from .io import atomic_path

            with atomic_path(out / "by_decile.csv") as tmp:
                by_decile.write_csv(tmp)
            paths["by_decile"] = out / "by_decile.csv"
            ineq = sii(by_decile, value="rate", population="person_years", quantile="decile",
                       lower="rate_lo95", upper="rate_hi95", value_type="rate",
                       seed=int(config.get("seed", 0)))  # fmt: skip
            ineq = ineq.with_columns(pl.lit(f"crude rate per {multiplier:,.0f} per year").alias("value"),
                                     pl.lit("IMD decile, 1 = most deprived").alias("quantile"))  # fmt: skip
            with atomic_path(out / "sii.csv") as tmp:
                ineq.write_csv(tmp)
            paths["sii"] = out / "sii.csv"
        bar.update()
    return paths
