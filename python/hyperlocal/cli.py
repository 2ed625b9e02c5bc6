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
        description="Crosswalk areas (one point per area) to H3 cells and apportion values onto them. "
        "Example: hyperlocal grid --areas A.parquet --values V.parquet --code LSOA21CD --easting x "
        "--northing y --extensive very_good,bad --resolution 8 --out grid.parquet",
    )
    g.add_argument("--areas", required=True, help="areas file (.parquet or .csv): code + point columns")
    g.add_argument("--values", help="values file keyed by the same code (default: the areas file)")
    g.add_argument("--code", required=True, help="area code column, in both files")
    g.add_argument("--easting", help="BNG easting column (EPSG:27700 metres); with --northing")
    g.add_argument("--northing", help="BNG northing column")
    g.add_argument("--lat", default="lat", help="WGS84 latitude column, if no --easting (default: lat)")
    g.add_argument("--lng", default="lng", help="WGS84 longitude column (default: lng)")
    g.add_argument("--extensive", help="comma-separated count columns (summed)")
    g.add_argument("--intensive", help="comma-separated rate/score columns (weighted means)")
    g.add_argument("--weight", help="column weighting the intensive means (e.g. population)")
    g.add_argument("--method", default="centroid", choices=["centroid"], help="crosswalk method")
    g.add_argument("--resolution", type=int, required=True, help="H3 resolution, 0..15")
    g.add_argument(
        "--on-invalid",
        choices=["raise", "skip"],
        default="raise",
        help="bad coordinates: fail (default) or skip them and report how many",
    )
    g.add_argument("--out", required=True, help="output .parquet (GeoParquet) or .csv, written atomically")
    g.add_argument("--crosswalk-out", help="also write the crosswalk (code, cell, weight) to this .parquet")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
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
            areas = _read(args.areas)
            values = _read(args.values) if args.values else areas
            grid, xw = pipeline.build_grid(
                areas,
                values,
                resolution=args.resolution,
                code=args.code,
                extensive=_list(args.extensive),
                intensive=_list(args.intensive),
                weight=args.weight,
                easting=args.easting,
                northing=args.northing,
                lat=args.lat,
                lng=args.lng,
                on_invalid=args.on_invalid,
                progress=not args.quiet,
            )
            write(grid, args.out)
            print(f"wrote {grid.height:,} cells to {args.out}")
            if args.crosswalk_out:
                with atomic_path(args.crosswalk_out) as tmp:
                    xw.write_parquet(tmp)
                print(f"wrote crosswalk ({xw.height:,} rows) to {args.crosswalk_out}")
    except HyperlocalError as e:
        print(f"hyperlocal: error: {e}", file=sys.stderr)
        return 2
    print(f"done in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
