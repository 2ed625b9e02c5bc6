"""20,000 OA-sized polygons for the polygon benchmarks: Voronoi cells of synthetic output areas.

The first 20,000 areas of the synthetic nation are the London-like city, so their Voronoi cells have OA-like
sizes (small where people are dense). Cells are clipped to the points' convex hull buffered by 200 m.
"""

from __future__ import annotations

import geopandas as gpd
import hyperlocal as hl
import numpy as np
import polars as pl
import shapely


def voronoi_areas(n: int = 20_000, seed: int = 0) -> pl.DataFrame:
    """code, geometry (WKB, EPSG:27700), crs, people: n Voronoi polygons of synthetic OAs."""
    areas = hl.synth.nation(seed=seed).areas.head(n)
    pts = shapely.points(areas["easting"].to_numpy(), areas["northing"].to_numpy())
    hull = shapely.buffer(shapely.convex_hull(shapely.multipoints(pts)), 200.0)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=hull))
    # voronoi_polygons returns cells in arbitrary order: match each back to its point.
    tree = shapely.STRtree(cells)
    idx = tree.query(pts, predicate="within")
    order = np.empty(len(pts), dtype=np.int64)
    order[idx[0]] = idx[1]
    polys = shapely.intersection(cells[order], hull)
    return pl.DataFrame(
        {
            "code": areas["code"],
            "geometry": shapely.to_wkb(polys),
            "crs": ["EPSG:27700"] * n,
            "people": areas["population_2021"].cast(pl.Float64),
        }
    )


def as_geodataframe(df: pl.DataFrame) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"code": df["code"].to_list(), "people": df["people"].to_numpy()},
        geometry=shapely.from_wkb(df["geometry"].to_numpy()),
        crs="EPSG:27700",
    )
