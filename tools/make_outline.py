"""Generate python/hyperlocal/data/outline_ew.json: the England and Wales outline, the England–Wales border and
local authority (LAD 2022) boundaries, simplified, in British National Grid metres, for the maps.

Source: ONS MSOA (Dec 2021) boundaries, super generalised clipped (BSC), from the shared real-data folder,
dissolved to LAD 2022 through the ONS MSOA11 → MSOA21 → LAD22 lookup. See python/hyperlocal/data/OUTLINE.md.

Usage: python tools/make_outline.py [DATA_DIR] [OUT]   (DATA_DIR defaults to ../shared/data beside the repo)

The boundaries are shared lines: every LAD boundary is noded against its neighbours and the coast, split at
the points where three or more areas meet, and each piece is simplified once, so neighbours never open gaps or
overlap after simplification. Coordinates are rounded to whole metres.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pyogrio
import shapely

ROOT = Path(__file__).resolve().parent.parent
TOLERANCE_M = 250.0  # Douglas–Peucker tolerance: ~0.4 px on a 7-inch national map, invisible at region scale
MIN_ISLAND_M2 = 4e6  # land parts smaller than 4 km² (tiny islets, rocks) are left out


def _lines(geom: shapely.Geometry) -> list[np.ndarray]:
    """The parts of a (multi)line as integer-metre coordinate arrays, with consecutive duplicates dropped."""
    out = []
    for part in shapely.get_parts(geom):
        xy = np.rint(shapely.get_coordinates(part)).astype(np.int64)
        keep = np.ones(len(xy), bool)
        keep[1:] = (np.diff(xy, axis=0) != 0).any(axis=1)
        xy = xy[keep]
        if len(xy) >= 2:
            out.append(xy)
    return out


def _flat(parts: list[np.ndarray]) -> list[list[int]]:
    return [xy.ravel().tolist() for xy in parts]


def main(data: Path, out: Path) -> None:
    shp = data / "geography" / "msoa2021_bsc_ew" / "msoa2021_bsc_ew.shp"
    meta, _, geoms, fields = pyogrio.raw.read(shp, columns=["MSOA21CD"])
    msoa = pl.Series("MSOA21CD", fields[0])
    polys = shapely.from_wkb(geoms)
    lookup = (
        pl.read_parquet(data / "lookups" / "msoa11_to_msoa21_lad22_ew.parquet")
        .select("MSOA21CD", "LAD22CD")
        .unique()
    )
    if lookup.get_column("MSOA21CD").is_duplicated().any():
        raise SystemExit("an MSOA21 maps to more than one LAD22 in the lookup")
    lad = pl.DataFrame({"MSOA21CD": msoa}).join(lookup, on="MSOA21CD", how="left").get_column("LAD22CD")
    if lad.null_count():
        raise SystemExit(f"{lad.null_count()} MSOA21s have no LAD22 in the lookup")
    # Snap to a 1 m grid first: the super-generalised polygons share vertices, so this closes sub-metre slivers.
    polys = shapely.set_precision(shapely.make_valid(polys), 1.0)
    codes = lad.to_numpy()
    lads = sorted(set(codes))
    lad_polys = [shapely.union_all(polys[codes == c]) for c in lads]
    land = shapely.union_all(lad_polys)
    england = shapely.union_all([p for c, p in zip(lads, lad_polys) if c.startswith("E")])
    wales = shapely.union_all([p for c, p in zip(lads, lad_polys) if c.startswith("W")])

    # Shared linework: all LAD boundaries, noded, merged between junctions, simplified once per piece.
    rings = shapely.union_all([shapely.boundary(p) for p in lad_polys])
    pieces = shapely.get_parts(shapely.line_merge(rings))
    outline = shapely.boundary(land)  # the coast and the land border with Scotland
    border = shapely.intersection(shapely.boundary(england), shapely.boundary(wales))
    outline_buf = shapely.buffer(outline, 1.0)
    border_buf = shapely.buffer(border, 1.0)

    kinds: dict[str, list[np.ndarray]] = {"outline": [], "border": [], "lad": []}
    for piece in pieces:
        simple = shapely.simplify(piece, TOLERANCE_M, preserve_topology=True)
        if shapely.covered_by(piece, outline_buf):
            kind = "outline"
        elif shapely.covered_by(piece, border_buf):
            kind = "border"
        else:
            kind = "lad"
        kinds[kind].extend(_lines(simple))

    # Land polygons (for a light land fill in the web map): exteriors only, small islets dropped.
    land_parts = [
        p
        for p in shapely.get_parts(shapely.simplify(land, TOLERANCE_M, preserve_topology=True))
        if shapely.area(p) >= MIN_ISLAND_M2
    ]
    land_rings = [
        np.rint(shapely.get_coordinates(shapely.get_exterior_ring(p))).astype(np.int64) for p in land_parts
    ]
    # Outline pieces around dropped islets are dropped too, so the outline and the land fill agree.
    kept = shapely.union_all(land_parts)
    kept_buf = shapely.buffer(kept, TOLERANCE_M * 2)
    kinds["outline"] = [
        xy for xy in kinds["outline"] if shapely.intersects(shapely.linestrings(xy), kept_buf)
    ]

    xmin, ymin, xmax, ymax = (int(v) for v in np.rint(shapely.bounds(land)))
    doc = {
        "crs": "EPSG:27700",
        "units": "metres, rounded",
        "source": (
            "ONS MSOA (Dec 2021) Boundaries EW BSC, dissolved to LAD (2022) with the ONS MSOA11-MSOA21-LAD22 "
            f"lookup; shared boundaries simplified (Douglas-Peucker, {TOLERANCE_M:g} m); islands under "
            f"{MIN_ISLAND_M2 / 1e6:g} km2 omitted from the land fill. See OUTLINE.md."
        ),
        "licence": (
            "Source: Office for National Statistics licensed under the Open Government Licence v.3.0; "
            "Contains OS data © Crown copyright and database right 2022"
        ),
        "bbox": [xmin, ymin, xmax, ymax],
        "lads": len(lads),
        "outline": _flat(kinds["outline"]),
        "border": _flat(kinds["border"]),
        "lad": _flat(kinds["lad"]),
        "land": _flat(land_rings),
    }
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(text + "\n", encoding="utf-8")
    os.replace(tmp, out)
    n = {k: sum(len(xy) for xy in v) for k, v in kinds.items()}
    print(f"{out}: {len(text) / 1024:.0f} kB; {len(lads)} LADs; vertices {n}; land parts {len(land_rings)}; "
          f"bbox {doc['bbox']}")  # fmt: skip


if __name__ == "__main__":
    data_dir = (
        Path(sys.argv[1])
        if len(sys.argv) > 1
        else Path(os.environ.get("HYPERLOCAL_DATA", ROOT.parent / "shared" / "data"))
    )
    target = (
        Path(sys.argv[2])
        if len(sys.argv) > 2
        else ROOT / "python" / "hyperlocal" / "data" / "outline_ew.json"
    )
    main(data_dir, target)
