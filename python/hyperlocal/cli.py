"""The ``hyperlocal`` command line: ``hyperlocal demo`` and ``hyperlocal grid``."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from .exceptions import HyperlocalError


def _list(s: str | None) -> list[str]:
    return [c.strip() for c in s.split(",") if c.strip()] if s else []


def _read(path: str) -> pl.DataFrame:
    p = Path(path)
    if p.suffix.lower() == ".parquet":
        return pl.read_parquet(p)
    if p.suffix.lower() == ".csv":
        return pl.read_csv(p, infer_schema_length=10_000)
    raise HyperlocalError(f"{path}: unsupported file type; expected .parquet or .csv")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hyperlocal",
        description="Put census areas and service events onto H3 hexagons (hyperlocal).",
    )
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser(
        "demo",
        help="build a national grid from the seeded synthetic nation, with a map",
        description="Build a national H3 grid from the embedded synthetic nation "
        "(188,880 output areas) and write GeoParquet, CSV and a PNG map to --out-dir.",
    )
    d.add_argument("--out-dir", default="demo", help="output folder (default: demo)")
    d.add_argument("--resolution", type=int, default=8, help="H3 resolution (default: 8)")
    d.add_argument("--seed", type=int, default=0, help="seed of the synthetic nation (default: 0)")
    d.add_argument("--n-areas", type=int, default=188_880, help="number of output areas (default: 188880)")
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
      categories = {very_good = "...", good = "...", fair = "...", bad = "...", very_bad = "..."}
  [programme]: cells = FILE (column cell) | codes = FILE (+ column = COL; uses the after crosswalk) |
      areas = polygons FILE (+ code = COL)
  [deprivation]: grid = FILE with cell and decile (1 = most deprived) (+ decile = COL)
Paths are relative to the config file.""",
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
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from . import pipeline
    from .io import atomic_path, write

    t0 = time.perf_counter()
    try:
        if args.command == "demo":
            paths = pipeline.demo(
                args.out_dir,
                resolution=args.resolution,
                seed=args.seed,
                n_areas=args.n_areas,
                progress=not args.quiet,
            )
            for kind, path in paths.items():
                print(f"wrote {kind}: {path}")
        elif args.command == "grid":
            from .io import read_areas

            if args.method == "centroid":
                areas = _read(args.areas)
                opts = dict(
                    easting=args.easting,
                    northing=args.northing,
                    lat=args.lat,
                    lng=args.lng,
                    on_invalid=args.on_invalid,
                )
            else:
                areas = read_areas(args.areas, code=args.code, crs=args.crs)
                opts = {}
                if args.method == "population":
                    if not args.points:
                        raise HyperlocalError("--method population needs --points")
                    opts = dict(
                        points=_read(args.points),
                        population=args.population,
                        points_code=args.points_code,
                        points_lat=args.points_lat,
                        points_lng=args.points_lng,
                        points_easting=args.points_easting,
                        points_northing=args.points_northing,
                    )
            values = _read(args.values) if args.values else areas.drop("geometry", "crs", strict=False)
            grid, xw, audit = pipeline.build_grid(
                areas, values, resolution=args.resolution, code=args.code, method=args.method,
                extensive=_list(args.extensive), intensive=_list(args.intensive), weight=args.weight,
                progress=not args.quiet, **opts,
            )  # fmt: skip
            write(grid, args.out)
            print(f"wrote {grid.height:,} cells to {args.out}")
            audit_path = Path(args.out).with_suffix(".audit.csv")
            with atomic_path(audit_path) as tmp:
                audit.write_csv(tmp)
            by_method = ", ".join(
                f"{m}: {n}" for m, n in audit["method"].value_counts().sort("method").iter_rows()
            )
            print(
                f"wrote audit of {audit.height:,} areas ({by_method}; repaired: {int(audit['repaired'].sum())}) "
                f"to {audit_path}"
            )
            if args.crosswalk_out:
                with atomic_path(args.crosswalk_out) as tmp:
                    xw.write_parquet(tmp)
                print(f"wrote crosswalk ({xw.height:,} rows) to {args.crosswalk_out}")
        elif args.command == "health-change":
            base = Path.cwd()
            if args.config:
                import tomllib

                cfg_path = Path(args.config)
                config = tomllib.loads(cfg_path.read_text())
                base = cfg_path.resolve().parent
            elif args.before_grid and args.after_grid:
                config = {"before": {"grid": str(Path(args.before_grid).resolve())},
                          "after": {"grid": str(Path(args.after_grid).resolve())}}  # fmt: skip
            else:
                raise HyperlocalError("health-change: give --config, or both --before-grid and --after-grid")
            if args.programme_cells:
                config["programme"] = {"cells": str(Path(args.programme_cells).resolve())}
            if args.deprivation:
                config["deprivation"] = {"grid": str(Path(args.deprivation).resolve())}
            if args.resolution is not None:
                config["resolution"] = args.resolution
            if args.out_dir is not None:
                config["out_dir"] = str(Path(args.out_dir).resolve())
            paths = pipeline.health_job(config, base=base, progress=not args.quiet)
            for kind, path in paths.items():
                print(f"wrote {kind}: {path}")
        elif args.command == "deprivation":
            domains = dict(kv.split("=", 1) for kv in _list(args.domains)) if args.domains else None
            if args.easting or args.northing:
                coords = {"easting": args.easting, "northing": args.northing}
            else:
                coords = {"lat": args.lat, "lng": args.lng}
            paths = pipeline.deprivation_job(
                _read(args.scores), _read(args.centroids), _read(args.population), code=args.code,
                score=args.score, domains=domains, population_col=args.population_column,
                resolutions=[int(r) for r in _list(args.resolutions)], out_dir=Path(args.out_dir), coords=coords,
                progress=not args.quiet,
            )  # fmt: skip
            for kind, path in paths.items():
                print(f"wrote {kind}: {path}")
    except HyperlocalError as e:
        print(f"hyperlocal: error: {e}", file=sys.stderr)
        return 2
    print(f"done in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
