"""The ``hyperlocal`` command line: ``demo``, ``grid``, ``health-change``, ``deprivation``, ``demand``, ``build``
and ``hotspots``."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
import traceback
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

import polars as pl

from . import __version__
from .exceptions import HyperlocalError, InvalidInputError


class UsageError(HyperlocalError):
    """The command as given cannot run (bad arguments, config, missing input file): exit status 2."""


def _list(s: str | None) -> list[str]:
    return [c.strip() for c in s.split(",") if c.strip()] if s else []


def _existing(path: str | os.PathLike[str], flag: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise UsageError(f"{flag} {p}: no such file")
    if p.is_dir() and p.suffix.lower() not in (".gdb",):
        raise UsageError(f"{flag} {p}: is a folder; expected a file")
    if not os.access(p, os.R_OK):
        raise UsageError(f"{flag} {p}: not readable (permission denied)")
    return p


def _read(path: str | os.PathLike[str], flag: str) -> pl.DataFrame:
    """A table from .parquet or .csv (:func:`hyperlocal.io.read_table`), with errors naming the flag and file."""
    from .io import read_table

    p = _existing(path, flag)
    if p.suffix.lower() not in (".parquet", ".csv"):
        raise UsageError(
            f"{flag} {p}: unsupported file type {p.suffix or '(none)'!r}; expected .parquet or .csv"
        )
    return read_table(p, flag)


def _need(df: pl.DataFrame, cols: list[str | None], flag: str, path: str | os.PathLike[str]) -> None:
    """Every named column is in the table read from ``path``; else an error naming the file and the flag."""
    missing = [c for c in cols if c is not None and c not in df.columns]
    if missing:
        shown = ", ".join(df.columns[:20]) + (", …" if len(df.columns) > 20 else "")
        raise InvalidInputError(f"{flag} {path}: no column(s) {missing}; the file has: {shown}")


def _read_areas(path: str, flag: str, **kwargs: Any) -> pl.DataFrame:
    from .io import read_areas

    p = _existing(path, flag)
    try:
        return read_areas(p, **kwargs)
    except HyperlocalError as e:
        raise type(e)(f"{flag} {e}") from e
    except Exception as e:  # noqa: BLE001 - GDAL / Arrow failures on a corrupt file
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InvalidInputError(f"{flag} {p}: not a readable boundary file ({first})") from e


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``hyperlocal: error: …`` and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"hyperlocal: error: {message} (see '{self.prog} --help')\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="hyperlocal",
        description="Put census areas and service events onto H3 hexagons (hyperlocal).",
        epilog="Errors are one line on stderr; exit status 2 for usage errors, 1 for data errors, 130 when "
        "interrupted. HYPERLOCAL_DEBUG=1 shows the traceback.",
    )
    p.add_argument("--version", action="version", version=f"hyperlocal {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    d = sub.add_parser(
        "demo",
        help="build the national health-change surface from the real demo data shipped in the package",
        description="Build the national change in self-reported health, Census 2011 → 2021, on H3 hexagons "
        "(England and Wales, all 34,753 + 35,672 LSOAs, with an IMD 2019 deprivation layer) from the small real "
        "dataset inside the package, as `hyperlocal build` does: GeoParquet, CSV and PNG maps per surface, "
        "map.html and manifest.json in --out-dir. --synthetic builds the seeded synthetic nation instead.",
    )
    d.add_argument("--out-dir", default="demo", help="output folder (default: demo)")
    d.add_argument("--resolution", type=int, default=None,
                   help="H3 resolution (default: 7, with res 6 for the HTML map; synthetic: 8)")  # fmt: skip
    d.add_argument("--force", action="store_true", help="rebuild even if the outputs are up to date")
    d.add_argument("--synthetic", action="store_true", help="the synthetic nation (tests, benchmarks)")
    d.add_argument("--seed", type=int, default=0, help="synthetic: seed of the nation (default: 0)")
    d.add_argument("--n-areas", type=int, default=188_880, help="synthetic: output areas (default: 188880)")
    d.add_argument("--quiet", action="store_true", help="no progress bar")

    g = sub.add_parser(
        "grid",
        help="build a hex grid from area and value files",
        description="Crosswalk areas to H3 cells and apportion values onto them; write the grid, and its audit "
        "(one row per area: cells, weight sum, method used) beside it as <out>.audit.csv. "
        "Centroid example: hyperlocal grid --areas A.parquet --values V.parquet --code LSOA21CD --easting x "
        "--northing y --extensive very_good,bad --resolution 8 --out grid.parquet. "
        "Polygon example: hyperlocal grid --areas msoa.shp --values V.parquet --code MSOA11CD --method area "
        "--extensive people --resolution 8 --out grid.parquet",
    )
    g.add_argument(
        "--areas",
        required=True,
        help="areas file: .parquet/.csv with a point per area (centroid), or polygons "
        "(.shp, .gpkg, .geojson, GeoParquet) for --method area|population",
    )
    g.add_argument("--values", help="values file keyed by the same code (default: the areas file)")
    g.add_argument("--code", required=True, help="area code column, in both files")
    g.add_argument(
        "--method",
        default="centroid",
        choices=["centroid", "area", "population"],
        help="crosswalk method (default: centroid)",
    )
    g.add_argument("--easting", help="centroid: BNG easting column (EPSG:27700 metres); with --northing")
    g.add_argument("--northing", help="centroid: BNG northing column")
    g.add_argument(
        "--lat", default="lat", help="centroid: WGS84 latitude column, if no --easting (default: lat)"
    )
    g.add_argument("--lng", default="lng", help="centroid: WGS84 longitude column (default: lng)")
    g.add_argument("--crs", help="polygon methods: override the areas file's CRS (EPSG:27700 or EPSG:4326)")
    g.add_argument("--points", help="population method: weighting points file (.parquet/.csv)")
    g.add_argument(
        "--population", default="population", help="population method: population column of --points"
    )
    g.add_argument("--points-code", help="population method: area-code column of --points (else containment)")
    g.add_argument("--points-easting", help="population method: BNG easting column of --points")
    g.add_argument("--points-northing", help="population method: BNG northing column of --points")
    g.add_argument("--points-lat", default="lat", help="population method: latitude column of --points")
    g.add_argument("--points-lng", default="lng", help="population method: longitude column of --points")
    g.add_argument("--extensive", help="comma-separated count columns (summed)")
    g.add_argument("--intensive", help="comma-separated rate/score columns (weighted means)")
    g.add_argument("--weight", help="column weighting the intensive means (e.g. population)")
    g.add_argument("--resolution", type=int, required=True, help="H3 resolution, 0..15")
    g.add_argument(
        "--on-invalid",
        choices=["raise", "skip"],
        default="raise",
        help="centroid: bad coordinates fail (default) or are skipped and reported",
    )
    g.add_argument("--out", required=True, help="output .parquet (GeoParquet) or .csv, written atomically")
    g.add_argument("--crosswalk-out", help="also write the crosswalk (code, cell, weight) to this .parquet")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    h = sub.add_parser(
        "health-change",
        help="health change between two censuses on hexagons, with maps and a programme comparison",
        description="Put each census year's general-health counts onto the same H3 cells, compute per-cell "
        "shares with Wilson intervals, changes with Newcombe intervals, national and excess change, and write "
        "the surface (GeoParquet + CSV), a PNG map of excess change in 'very good' health and, with a programme, "
        "the comparison table and chart. Either give --config (TOML) or --before-grid and --after-grid.",
        epilog="""TOML config keys:
  resolution = 8; out_dir = "out"; labels = ["2011", "2021"]; min_population = 100; confidence = 0.95
  [before] / [after]: grid = "cells.parquet" (a cell table with the five counts), or
      areas = FILE, values = FILE, code = COL, method = "centroid"|"area"|"population",
      easting/northing or lat/lng (centroid), crs (polygons),
      points, population, points_code, points_easting/points_northing (population),
      categories = {very_good = "...", good = "...", fair = "...", bad = "...", very_bad = "..."},
      on_invalid = "raise"|"skip" (areas with invalid coordinates)
  [programme]: cells = FILE (column cell) | codes = FILE (+ column = COL; uses the after crosswalk) |
      areas = polygons FILE (+ code = COL)
  [deprivation]: grid = FILE with cell and decile (1 = most deprived) (+ decile = COL),
      on_invalid = "raise"|"skip" (cells with no usable decile: error, or left out of the standardisation)
Paths are relative to the config file. Unknown keys, wrong types and missing files are errors.""",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    h.add_argument("--config", help="TOML config file (see below)")
    h.add_argument("--before-grid", help="cell table of the first year (five counts)")
    h.add_argument("--after-grid", help="cell table of the second year (five counts)")
    h.add_argument("--programme-cells", help="parquet with the programme's cells (column cell)")
    h.add_argument("--deprivation", help="parquet with cell and decile, for the comparator")
    h.add_argument("--resolution", type=int, default=None, help="H3 resolution (default 8, or the config's)")
    h.add_argument("--out-dir", default=None, help="output folder (default: health_change)")
    h.add_argument("--quiet", action="store_true", help="no progress bar")

    d2 = sub.add_parser(
        "deprivation",
        help="a hex deprivation surface (population-weighted means and deciles) with a decile map",
        description="Put area deprivation scores (e.g. LSOA 2011 IMD 2019 scores, or the seven domain ranks "
        "combined as the IMD does) onto H3 cells as population-weighted means, cut the cells into "
        "population-weighted deciles, roll up to coarser resolutions, and write GeoParquet per resolution and "
        "a PNG decile map. Example: hyperlocal deprivation --scores imd_ranks.parquet --code lsoa11_code "
        "--domains income=Income_rank,employment=Employment_rank,... --centroids c.parquet --lat lat --lng lon "
        "--population pop.parquet --population-column total_population --resolutions 8,7 --out-dir dep",
    )
    d2.add_argument("--scores", required=True, help="file with area codes and a score (or domain ranks)")
    d2.add_argument("--code", required=True, help="area code column (in every file)")
    d2.add_argument("--score", help="score column (higher = more deprived)")
    d2.add_argument("--domains", help="name=column,... of the seven IMD domain ranks (1 = most deprived)")
    d2.add_argument("--centroids", required=True, help="file with a point per area")
    d2.add_argument("--lat", default="lat", help="latitude column of --centroids (default: lat)")
    d2.add_argument("--lng", default="lng", help="longitude column of --centroids (default: lng)")
    d2.add_argument("--easting", help="BNG easting column of --centroids (instead of lat/lng)")
    d2.add_argument("--northing", help="BNG northing column of --centroids")
    d2.add_argument("--population", required=True, help="file with the areas' populations")
    d2.add_argument(
        "--population-column", default="population", help="population column (default: population)"
    )
    d2.add_argument(
        "--resolutions", default="8,7", help="comma-separated resolutions, finest first (default 8,7)"
    )
    d2.add_argument("--out-dir", default="deprivation", help="output folder (default: deprivation)")
    d2.add_argument("--quiet", action="store_true", help="no progress bar")

    dm = sub.add_parser(
        "demand",
        help="service demand against need on hexagons: rates, expected, O/E ratios, funnel plot, EB rates, SII",
        description="Put area event counts and populations on H3 cells, and write one row per cell with the "
        "crude rate (exact/Byar limits), the expected count from reference rates by deprivation decile, the "
        "observed/expected ratio with limits and funnel position, and an empirical-Bayes rate (GeoParquet + CSV), "
        "a map, a funnel plot, rates by decile and the slope index of inequality. "
        "Example: hyperlocal demand --config examples/demand_stroke.toml",
        epilog="""TOML config keys:
  resolution = 7; out_dir = "demand"; years = 1 (the period the counts cover; populations are per year);
  multiplier = 100000; smoothing = "global"|"local"|"none"; k = 1; small_count = 10; seed = 0;
  overdispersion = "dl" (Spiegelhalter's random-effects funnel limits instead of the exact ones)
  [events]: table = FILE, count = COL, code = COL (default: the areas' code), annual_mean = false (true:
      counts are means per year over `years`, multiplied back to totals), lookup = FILE, lookup_from = COL,
      lookup_to = COL (translate the events' codes, e.g. LSOA names to codes)
  [areas]: table = FILE with a point per area, code = COL, lat/lng or easting/northing
  [population]: table = FILE, code = COL, population = COL
  [deprivation]: table = FILE, code = COL, score = COL (higher = more deprived), where = {COL = VALUE}
      (keep only those rows, e.g. one nation's index; areas without a score are left out, with a warning)
Paths are relative to the config file. Unknown keys, wrong types and missing files are errors.""",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    c = sub.add_parser(
        "count",
        help="count point events per cell (and group), streaming Parquet/CSV files of any size",
        description="Count events per H3 cell at --resolution, optionally per --by group, streaming the input "
        "in batches with bounded memory (a year of national GP appointments does not need to fit in memory): "
        "only the coordinate and --by columns are read. --events takes a file, a glob ('events/*.parquet', "
        "quoted) or a folder of Parquet files. The result equals the in-memory count_points. "
        "Example: hyperlocal count --events 'events/*.parquet' --resolution 9 --by service --out counts.parquet",
    )
    c.add_argument("--events", required=True, help="Parquet file, glob or folder (or a CSV file)")
    c.add_argument("--resolution", type=int, required=True, help="H3 resolution, 0..15")
    c.add_argument("--out", required=True, help="output: .parquet (GeoParquet with hexagons) or .csv")
    c.add_argument("--by", default="", help="comma-separated group columns (e.g. service)")
    c.add_argument("--lat", default="lat", help="latitude column (default lat)")
    c.add_argument("--lng", default="lng", help="longitude column (default lng)")
    c.add_argument("--easting", default=None, help="BNG easting column (with --northing, instead of lat/lng)")
    c.add_argument("--northing", default=None, help="BNG northing column")
    c.add_argument("--geometric", action="store_true",
                   help="cell that contains each point (default: nested, the res-15 cell's ancestor)")  # fmt: skip
    c.add_argument("--on-invalid", choices=("raise", "skip"), default="raise",
                   help="bad coordinates: stop (default) or skip them and report how many")  # fmt: skip
    c.add_argument("--batch-rows", type=int, default=2_000_000, help="rows per batch (default 2,000,000)")
    c.add_argument("--quiet", action="store_true", help="no progress bar")

    b = sub.add_parser(
        "build",
        help="run a project file: every surface, at every resolution, with maps, an HTML map and a manifest",
        description="Build the surfaces a project file describes (health change 2011→2021 with a programme "
        "comparison, deprivation, service demand) from the real input files, at each resolution: GeoParquet, "
        "CSV and a PNG map per surface, one interactive map.html, and manifest.json (inputs with SHA-256 and "
        "rows, the mass audit of every count, the resolved project, versions, timings). A rerun skips the steps "
        "whose inputs and config are unchanged; every file is written atomically, so a failed or interrupted "
        "build leaves earlier outputs intact. Example: hyperlocal build examples/health_change_national.toml",
        epilog="Project file: see examples/*.toml and the module hyperlocal.project for every key. Paths are "
        "relative to the project file. Unknown keys, wrong types, unknown input names and missing files are "
        "errors naming the key.",
    )
    b.add_argument("project", help="project file (TOML)")
    b.add_argument("--force", action="store_true", help="rebuild every step, even the unchanged ones")
    b.add_argument("--out-dir", default=None, help="output folder (default: the project's out_dir)")
    b.add_argument("--quiet", action="store_true", help="no progress bars")

    dm.add_argument("--config", required=True, help="TOML config file (see below)")
    dm.add_argument("--resolution", type=int, default=None, help="H3 resolution (default 7, or the config's)")
    dm.add_argument("--out-dir", default=None, help="output folder (default: the config's out_dir)")
    dm.add_argument("--quiet", action="store_true", help="no progress bar")
    hs = sub.add_parser(
        "hotspots",
        help="hot spots (Getis–Ord Gi*) and clusters (local Moran's I) of a cell surface, with a map",
        description="Compute Getis–Ord Gi* hot and cold spots and/or local Moran's I clusters (LISA) of one value "
        "column of a cell table over k-ring neighbourhoods, with conditional-permutation pseudo p-values and "
        "Benjamini–Hochberg FDR classes, and write the table with the statistics (GeoParquet, or CSV) and a PNG "
        "map of the classes (hot/HH red, cold/LL blue, not significant white, isolated cells grey). Results are "
        "identical for any thread count. Example: hyperlocal hotspots --input surface.parquet --value bad_share "
        "--out hotspots.parquet --png hotspots.png",
    )
    hs.add_argument("--input", required=True, help="cell table (.parquet or .csv) with a cell column")
    hs.add_argument("--value", required=True, help="the value column to analyse")
    hs.add_argument("--cell", default="cell", help="cell column: UInt64 or H3 strings (default: cell)")
    hs.add_argument(
        "--statistic", choices=["gi", "moran", "both"], default="gi", help="Gi* (default), local Moran, or both"
    )
    hs.add_argument("--k", type=int, default=1, help="neighbourhood radius in grid steps (default: 1)")
    hs.add_argument("--gi", action="store_true", help="Gi (without the cell itself) instead of Gi*")
    hs.add_argument("--permutations", type=int, default=999, help="conditional permutations (default: 999)")
    hs.add_argument("--seed", type=int, default=0, help="seed of the permutations (default: 0)")
    hs.add_argument("--alpha", type=float, default=0.05, help="false discovery rate (default: 0.05)")
    hs.add_argument(
        "--allow-negative", action="store_true", help="Gi: accept negative values (not recommended)"
    )
    hs.add_argument("--out", required=True, help="output .parquet (GeoParquet) or .csv, written atomically")
    hs.add_argument("--png", help="map of the classes (default: the --out path with .png)")
    return p


#: The keys of a ``health-change`` TOML config, by section, with their types (checked before any work).
_YEAR_KEYS: dict[str, type | tuple[type, ...]] = {
    "grid": str, "areas": str, "values": str, "code": str, "method": str, "easting": str, "northing": str,
    "lat": str, "lng": str, "crs": (str, int), "points": str, "population": str, "points_code": str,
    "points_lat": str, "points_lng": str, "points_easting": str, "points_northing": str,
    "categories": (dict, list), "on_invalid": str,
}  # fmt: skip
_CONFIG_KEYS: dict[str, Any] = {
    "resolution": int, "out_dir": str, "labels": list, "min_population": (int, float), "confidence": float,
    "before": _YEAR_KEYS, "after": _YEAR_KEYS,
    "programme": {"cells": str, "codes": str, "column": str, "areas": str, "code": str},
    "deprivation": {"grid": str, "decile": str, "on_invalid": str},
}  # fmt: skip
_FILE_KEYS = {"grid", "areas", "values", "points", "cells", "codes", "table", "lookup"}
#: The keys of a ``demand`` TOML config.
_DEMAND_KEYS: dict[str, Any] = {
    "resolution": int, "out_dir": str, "years": (int, float), "multiplier": (int, float), "smoothing": str,
    "k": int, "small_count": (int, float), "seed": int, "overdispersion": str,
    "events": {"table": str, "code": str, "count": str, "annual_mean": bool, "lookup": str, "lookup_from": str,
               "lookup_to": str},
    "areas": {"table": str, "code": str, "lat": str, "lng": str, "easting": str, "northing": str},
    "population": {"table": str, "code": str, "population": str},
    "deprivation": {"table": str, "code": str, "score": str, "where": dict},
}  # fmt: skip
_DEMAND_REQUIRED = {"events": ("table", "count"), "areas": ("table", "code"), "population": ("table",)}


def _check_config(config: dict[str, Any], schema: dict[str, Any], path: Path, where: str = "") -> None:
    """Unknown keys, wrong types and missing files are errors naming the key (and listing the valid ones)."""
    for key, value in config.items():
        name = f"{where}{key}"
        if key not in schema:
            valid = ", ".join(sorted(schema))
            raise UsageError(
                f"{path}: unknown key {name!r}; valid keys{f' in [{where[:-1]}]' if where else ''}: {valid}"
            )
        expected = schema[key]
        if isinstance(expected, dict):
            if not isinstance(value, dict):
                raise UsageError(f"{path}: {name!r} must be a [{name}] section")
            _check_config(value, expected, path, f"{name}.")
            continue
        if (isinstance(value, bool) and expected is not bool) or not isinstance(value, expected):
            types = expected if isinstance(expected, tuple) else (expected,)
            raise UsageError(
                f"{path}: {name!r} = {value!r} has the wrong type; expected {' or '.join(t.__name__ for t in types)}"
            )
        if key in _FILE_KEYS and where:
            f = Path(value)
            _existing(f if f.is_absolute() else path.resolve().parent / f, f"{path}: {name}")


def _load_config(path: Path, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    from .project import tomllib

    _existing(path, "--config")
    try:
        config = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"--config {path}: not valid TOML ({e})") from e
    except UnicodeDecodeError as e:
        raise UsageError(f"--config {path}: not a text file ({e})") from e
    _check_config(config, schema if schema is not None else _CONFIG_KEYS, path)
    return config


def _check_resolution(value: int, flag: str = "--resolution") -> int:
    if not 0 <= value <= 15:
        raise UsageError(f"{flag}: got {value}; expected an H3 resolution 0..15")
    return value


def _cmd_demo(args: argparse.Namespace) -> None:
    from . import pipeline

    chosen = args.resolution is not None
    if args.resolution is None:
        args.resolution = 8 if args.synthetic else 7
    _check_resolution(args.resolution)
    if not args.synthetic:
        import dataclasses

        from .build import describe, run_build
        from .project import load_project

        project = load_project(Path(__file__).parent / "data" / "demo" / "demo.toml")
        project = dataclasses.replace(project, out_dir=Path(args.out_dir).resolve())
        if chosen:  # the project's own resolutions (7, and 6 for the map) unless one is asked for
            project = dataclasses.replace(project, resolutions=(args.resolution,), map_resolution=args.resolution)
        result = run_build(project, force=args.force, progress=not args.quiet)
        print(describe(result))
        return
    paths = pipeline.demo(
        args.out_dir,
        resolution=args.resolution,
        seed=args.seed,
        n_areas=args.n_areas,
        progress=not args.quiet,
    )
    for kind, path in paths.items():
        print(f"wrote {kind}: {path}")


def _cmd_grid(args: argparse.Namespace) -> None:
    from . import pipeline
    from .io import WRITE_SUFFIXES, atomic_path, check_output_path, write

    _check_resolution(args.resolution)
    for flag, path, suffixes in (("--out", args.out, WRITE_SUFFIXES), ("--crosswalk-out", args.crosswalk_out,
                                                                       (".parquet",))):  # fmt: skip
        try:
            if path:
                check_output_path(path, suffixes)
        except InvalidInputError as e:
            raise UsageError(f"{flag} {e}") from e
    out = Path(args.out)
    extensive, intensive = _list(args.extensive), _list(args.intensive)
    if not extensive and not intensive:
        raise UsageError("grid: give --extensive and/or --intensive columns to put on the grid")
    for flag, path in (("--areas", args.areas), ("--values", args.values), ("--points", args.points)):
        if path:
            _existing(path, flag)  # every input exists before any is read
    opts: dict[str, Any]
    if args.method == "centroid":
        areas = _read(args.areas, "--areas")
        coords = [args.easting, args.northing] if args.easting or args.northing else [args.lat, args.lng]
        _need(areas, [args.code, *coords], "--areas", args.areas)
        opts = dict(easting=args.easting, northing=args.northing, lat=args.lat, lng=args.lng,
                    on_invalid=args.on_invalid)  # fmt: skip
    else:
        # Without --values the areas file carries the values too: keep those columns.
        keep = [] if args.values else [c for c in dict.fromkeys([*extensive, *intensive, args.weight]) if c]
        areas = _read_areas(args.areas, "--areas", code=args.code, crs=args.crs, columns=keep)
        opts = {"on_invalid": args.on_invalid}
        if args.method == "population":
            if not args.points:
                raise UsageError("--method population needs --points")
            points = _read(args.points, "--points")
            pcoords = (
                [args.points_easting, args.points_northing]
                if args.points_easting or args.points_northing
                else [args.points_lat, args.points_lng]
            )
            _need(points, [args.population, args.points_code, *pcoords], "--points", args.points)
            opts |= dict(points=points, population=args.population, points_code=args.points_code,
                         points_lat=args.points_lat, points_lng=args.points_lng,
                         points_easting=args.points_easting, points_northing=args.points_northing)  # fmt: skip
    if args.values:
        values = _read(args.values, "--values")
        _need(values, [args.code, *extensive, *intensive, args.weight], "--values", args.values)
    else:
        values = areas.drop("geometry", "crs", strict=False)
        _need(values, [*extensive, *intensive, args.weight], "--areas", args.areas)
    grid, xw, audit = pipeline.build_grid(
        areas, values, resolution=args.resolution, code=args.code, method=args.method, extensive=extensive,
        intensive=intensive, weight=args.weight, progress=not args.quiet, **opts,
    )  # fmt: skip
    write(grid, out)
    print(f"wrote {grid.height:,} cells to {out}")
    audit_path = out.with_suffix(".audit.csv")
    with atomic_path(audit_path) as tmp:
        audit.write_csv(tmp)
    by_method = ", ".join(f"{m}: {n}" for m, n in audit["method"].value_counts().sort("method").iter_rows())
    print(
        f"wrote audit of {audit.height:,} areas ({by_method}; repaired: {int(audit['repaired'].sum())}) to {audit_path}"
    )
    if args.crosswalk_out:
        with atomic_path(args.crosswalk_out) as tmp:
            xw.write_parquet(tmp)
        print(f"wrote crosswalk ({xw.height:,} rows) to {args.crosswalk_out}")


def _cmd_health(args: argparse.Namespace) -> None:
    from . import pipeline

    base = Path.cwd()
    if args.config:
        cfg_path = Path(args.config)
        config = _load_config(cfg_path)
        base = cfg_path.resolve().parent
    elif args.before_grid and args.after_grid:
        config = {"before": {"grid": str(_existing(args.before_grid, "--before-grid").resolve())},
                  "after": {"grid": str(_existing(args.after_grid, "--after-grid").resolve())}}  # fmt: skip
    else:
        raise UsageError("health-change: give --config, or both --before-grid and --after-grid")
    if args.programme_cells:
        config["programme"] = {"cells": str(_existing(args.programme_cells, "--programme-cells").resolve())}
    if args.deprivation:
        config["deprivation"] = {"grid": str(_existing(args.deprivation, "--deprivation").resolve())}
    if args.resolution is not None:
        config["resolution"] = args.resolution
    _check_resolution(int(config.get("resolution", 8)), "resolution")
    if args.out_dir is not None:
        config["out_dir"] = str(Path(args.out_dir).resolve())
    for section in ("before", "after"):
        if section not in config:
            raise UsageError(f"{args.config}: missing section [{section}]")
    paths = pipeline.health_job(config, base=base, progress=not args.quiet)
    for kind, path in paths.items():
        print(f"wrote {kind}: {path}")


def _cmd_deprivation(args: argparse.Namespace) -> None:
    from . import pipeline

    try:
        resolutions = [_check_resolution(int(r), "--resolutions") for r in _list(args.resolutions)]
    except ValueError as e:
        raise UsageError(
            f"--resolutions: {args.resolutions!r}; expected comma-separated integers 0..15"
        ) from e
    if not resolutions:
        raise UsageError("--resolutions: expected at least one resolution")
    domains = None
    if args.domains:
        pairs = _list(args.domains)
        if any("=" not in kv for kv in pairs):
            raise UsageError(f"--domains: {args.domains!r}; expected name=column,name=column,...")
        domains = dict(kv.split("=", 1) for kv in pairs)
    if (args.easting is None) != (args.northing is None):
        raise UsageError("give both --easting and --northing, or neither (to use --lat/--lng)")
    coords = (
        {"easting": args.easting, "northing": args.northing}
        if args.easting
        else {"lat": args.lat, "lng": args.lng}
    )
    for flag, path in (
        ("--scores", args.scores),
        ("--centroids", args.centroids),
        ("--population", args.population),
    ):
        _existing(path, flag)  # every input exists before any is read
    scores = _read(args.scores, "--scores")
    _need(scores, [args.code, args.score, *(domains or {}).values()], "--scores", args.scores)
    centroids = _read(args.centroids, "--centroids")
    _need(centroids, [args.code, *coords.values()], "--centroids", args.centroids)
    population = _read(args.population, "--population")
    _need(population, [args.code, args.population_column], "--population", args.population)
    paths = pipeline.deprivation_job(
        scores, centroids, population, code=args.code, score=args.score, domains=domains,
        population_col=args.population_column, resolutions=resolutions, out_dir=Path(args.out_dir),
        coords=coords, progress=not args.quiet,
    )  # fmt: skip
    for kind, path in paths.items():
        print(f"wrote {kind}: {path}")


def _cmd_demand(args: argparse.Namespace) -> None:
    from . import pipeline

    cfg_path = Path(args.config)
    config = _load_config(cfg_path, _DEMAND_KEYS)
    for section, keys in _DEMAND_REQUIRED.items():
        if section not in config:
            raise UsageError(f"{cfg_path}: missing section [{section}]")
        for key in keys:
            if key not in config[section]:
                raise UsageError(f"{cfg_path}: [{section}] needs {key!r}")
    if args.resolution is not None:
        config["resolution"] = args.resolution
    _check_resolution(int(config.get("resolution", 7)), "resolution")
    if config.get("smoothing", "global") not in ("local", "global", "none"):
        raise UsageError(
            f"{cfg_path}: smoothing = {config['smoothing']!r}; expected 'local', 'global' or 'none'"
        )
    if config.get("overdispersion", "dl") != "dl":
        raise UsageError(
            f"{cfg_path}: overdispersion = {config['overdispersion']!r}; expected 'dl' or no key"
        )
    for key in ("years", "multiplier", "k"):
        if key in config and not config[key] > 0:
            raise UsageError(f"{cfg_path}: {key} = {config[key]!r}; expected a number > 0")
    lookup = [key for key in ("lookup", "lookup_from", "lookup_to") if key in config["events"]]
    if lookup and len(lookup) != 3:
        raise UsageError(
            f"{cfg_path}: [events] needs all of lookup, lookup_from and lookup_to (got {lookup})"
        )
    if args.out_dir is not None:
        config["out_dir"] = str(Path(args.out_dir).resolve())
    paths = pipeline.demand_job(config, base=cfg_path.resolve().parent, progress=not args.quiet)
    for kind, path in paths.items():
        print(f"wrote {kind}: {path}")


def _cmd_count(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from .aggregate import count_stream
    from .io import WRITE_SUFFIXES, check_output_path, write

    res = _check_resolution(args.resolution)
    try:
        check_output_path(args.out, WRITE_SUFFIXES)
    except InvalidInputError as e:
        raise UsageError(f"--out {e}") from e
    if args.batch_rows < 1:
        raise UsageError(f"--batch-rows: got {args.batch_rows}, expected a positive number of rows")
    if (args.easting is None) != (args.northing is None):
        raise UsageError("give both --easting and --northing, or neither (to use --lat/--lng)")
    events, total = _scan_events(args.events)
    bng = args.easting is not None
    xy = [args.easting, args.northing] if bng else [args.lat, args.lng]
    with tqdm(total=total, unit="row", unit_scale=True, desc="count", disable=args.quiet) as bar:
        try:
            counts = count_stream(events, xy=xy, by=_list(args.by), res=res, bng=bng, nested=not args.geometric,
                                  skip=args.on_invalid == "skip", batch_rows=args.batch_rows,
                                  progress=bar.update)  # fmt: skip
        except HyperlocalError as e:
            raise type(e)(f"--events {args.events}: {e}") from e
        except pl.exceptions.PolarsError as e:  # a file that turns out unreadable half-way
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise InvalidInputError(f"--events {args.events}: could not be read ({first})") from e
    write(counts, args.out)
    n = int(counts["count"].sum()) if counts.height else 0
    print(f"counted {n:,} events in {counts.height:,} (cell, group) rows; wrote {args.out}")


def _scan_events(spec: str) -> tuple[pl.LazyFrame, int | None]:
    """A LazyFrame over a Parquet file / glob / folder or a CSV file, and its row count when metadata has it."""
    import glob

    path = Path(spec)
    if path.is_dir():
        files = sorted(str(f) for f in path.rglob("*.parquet"))
        if not files:
            raise UsageError(f"--events {spec}: the folder holds no .parquet files")
    elif any(ch in spec for ch in "*?["):
        files = sorted(glob.glob(spec, recursive=True))
        if not files:
            raise UsageError(f"--events {spec}: no file matches this pattern")
    else:
        files = [str(_existing(spec, "--events"))]
    csv = [f for f in files if f.lower().endswith((".csv", ".csv.gz"))]
    try:
        if csv:
            if len(csv) != len(files):
                raise UsageError(f"--events {spec}: mixes CSV and other files")
            return pl.scan_csv(files), None
        lf = pl.scan_parquet(files)
        total = lf.select(pl.len()).collect().item()  # from the Parquet footers, no data read
    except (pl.exceptions.ComputeError, OSError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InvalidInputError(f"--events {spec}: not readable as Parquet ({first})") from e
    return lf, int(total)


def _cmd_build(args: argparse.Namespace) -> None:
    import dataclasses

    from .build import describe, run_build
    from .project import ConfigError, load_project

    try:
        project = load_project(args.project)
    except ConfigError as e:
        raise UsageError(str(e)) from e
    if args.out_dir:
        project = dataclasses.replace(project, out_dir=Path(args.out_dir).resolve())
    result = run_build(project, force=args.force, progress=not args.quiet)
    print(describe(result))


def _cmd_hotspots(args: argparse.Namespace) -> None:
    from . import spatial
    from .cells import string_to_cell
    from .io import WRITE_SUFFIXES, check_output_path, write
    from .plot import map_png

    if args.k < 1:
        raise UsageError(f"--k: got {args.k}; expected an integer >= 1")
    if args.permutations < 0:
        raise UsageError(f"--permutations: got {args.permutations}; expected an integer >= 0")
    if not 0 < args.alpha < 1:
        raise UsageError(f"--alpha: got {args.alpha}; expected a number strictly between 0 and 1")
    if args.seed < 0:
        raise UsageError(f"--seed: got {args.seed}; expected an integer >= 0")
    png = Path(args.png) if args.png else Path(args.out).with_suffix(".png")
    for flag, path, suffixes in (("--out", args.out, WRITE_SUFFIXES), ("--png", png, (".png",))):
        try:
            check_output_path(path, suffixes)
        except InvalidInputError as e:
            raise UsageError(f"{flag} {e}") from e
    df = _read(args.input, "--input")
    _need(df, [args.cell, args.value], "--input", args.input)
    if df.schema[args.cell] == pl.String:
        df = df.with_columns(string_to_cell(df.get_column(args.cell)).alias(args.cell))
    df = df.drop("geometry", strict=False)
    opts = dict(k=args.k, permutations=args.permutations, seed=args.seed, alpha=args.alpha, cell=args.cell)
    label_col = []
    if args.statistic in ("gi", "both"):
        df = spatial.local_gi(df, args.value, star=not args.gi, allow_negative=args.allow_negative, **opts)
        label_col.append("gi_class")
    if args.statistic in ("moran", "both"):
        df = spatial.local_moran(df, args.value, **opts)
        label_col.append("moran_quadrant")
    write(df, args.out, cell=args.cell)
    print(f"wrote {df.height:,} cells to {args.out}")
    col = label_col[0]
    counts = ", ".join(f"{c or 'isolated'}: {n:,}" for c, n in df[col].value_counts().sort(col).iter_rows())
    print(f"{col}: {counts}")
    coded = df.select(args.cell, spatial.class_codes(col).alias("class"))
    name = "Gi*" if col == "gi_class" and not args.gi else ("Gi" if col == "gi_class" else "local Moran's I")
    map_png(
        coded,
        "class",
        png,
        title=f"{name} of {args.value}: FDR {args.alpha:g}, k = {args.k}, {args.permutations} permutations",
        cell=args.cell,
        cmap="RdBu_r",
        classes=spatial.CLASSES[col],
        label=f"{col} (grey: isolated)",
    )
    print(f"wrote map: {png}")


_COMMANDS = {
    "build": _cmd_build,
    "count": _cmd_count,
    "demo": _cmd_demo,
    "grid": _cmd_grid,
    "health-change": _cmd_health,
    "deprivation": _cmd_deprivation,
    "demand": _cmd_demand,
    "hotspots": _cmd_hotspots,
}


@contextlib.contextmanager
def _one_line_warnings() -> Iterator[None]:
    """Warnings print as one line, ``hyperlocal: warning: …``, on stderr."""

    def show(message: Warning | str, category: type[Warning], *_: Any, **__: Any) -> None:
        text = " ".join(str(message).split())
        print(f"hyperlocal: warning: {text}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = show
        yield


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 data error, 2 usage error, 130 interrupted)."""
    from .io import WRITTEN

    args = _parser().parse_args(argv)
    debug = os.environ.get("HYPERLOCAL_DEBUG", "") not in ("", "0")
    written_before = len(WRITTEN)
    t0 = time.perf_counter()

    def fail(message: str, status: int) -> int:
        if debug:
            traceback.print_exc()
        print(f"hyperlocal: {message}", file=sys.stderr)
        return status

    with _one_line_warnings():
        try:
            _COMMANDS[args.command](args)
        except KeyboardInterrupt:
            done = WRITTEN[written_before:]
            if not done:
                return fail("interrupted; no output written", 130)
            return fail(
                f"interrupted; no partial file written, {len(done)} earlier output(s) complete: "
                + ", ".join(str(p) for p in done),
                130,
            )
        except UsageError as e:
            return fail(f"error: {e}", 2)
        except HyperlocalError as e:
            return fail(f"error: {e}", 1)
        except MemoryError:
            return fail("error: out of memory", 1)
        except OSError as e:  # e.g. an output folder without write permission, or a full disk
            where = f"{e.filename}: " if e.filename else ""
            return fail(f"error: {where}{e.strerror or e}", 1)
        except Exception as e:  # noqa: BLE001 - a bug: still one line, the traceback on request
            return fail(
                f"error: internal error ({type(e).__name__}: {' '.join(str(e).split())[:300]}); please report it, "
                "with the traceback from HYPERLOCAL_DEBUG=1",
                1,
            )
    print(f"done in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
