"""Crosswalks: each area's share of each H3 cell, the central object of hyperlocal.

A crosswalk is a table ``(code, cell, weight)`` for one set of areas at one resolution, in which every area's
weights sum to exactly 1. It is built once and reused for every variable on that geography, so what goes in
comes out (see :func:`hyperlocal.apportion`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from . import _core
from ._convert import (
    OnInvalid,
    check_no_nulls,
    check_on_invalid,
    check_resolution,
    check_unique,
    report_skipped,
    require_columns,
    series_from_numpy,
)
from .exceptions import InvalidInputError

__all__ = ["crosswalk", "METHODS"]

METHODS = ("centroid",)
PLANNED = ("area", "population")


def crosswalk(
    areas: pl.DataFrame,
    *,
    resolution: int,
    code: str = "code",
    method: str = "centroid",
    lat: str = "lat",
    lng: str = "lng",
    easting: str | None = None,
    northing: str | None = None,
    nested: bool = True,
    on_invalid: OnInvalid = "raise",
    **options: Any,
) -> pl.DataFrame:
    """Build the crosswalk from areas to H3 cells at ``resolution``.

    Parameters
    ----------
    areas
        One row per area: a unique, non-null ``code`` and its point (population-weighted centroid) either as
        WGS84 ``lat``/``lng`` columns or, when ``easting`` and ``northing`` name columns, as British National
        Grid metres (EPSG:27700, converted in the core; see :func:`hyperlocal.bng_to_latlng`).
    resolution
        H3 resolution, 0..=15.
    method
        ``"centroid"``: the whole area goes to the cell holding its point (weight 1). Right when areas are much
        smaller than cells (OAs and LSOAs at res ≤ 8); for larger areas use a polygon method.
    nested
        ``True`` (default): each point is indexed at resolution 15 and assigned to that cell's ancestor at
        ``resolution``. H3 cells do not nest exactly (a hexagon's children overhang its edges), so this is what
        makes every resolution consistent: rolling a res-9 grid up to res 7 (:func:`hyperlocal.rollup`) gives
        exactly the res-7 grid, area for area. A point within roughly one child-cell width of a hexagon edge
        may then sit in the neighbouring hexagon's family (6.6% of the 2021 LSOA centroids at res 7).
        ``False``: the cell geometrically containing the point at ``resolution`` (``latlng_to_cell``), which
        does not nest across resolutions.
    on_invalid
        ``"raise"`` (default) or ``"skip"``: areas with invalid coordinates are left out of the crosswalk and
        reported by a :class:`~hyperlocal.exceptions.SkippedRowsWarning` (so :func:`apportion` will then name
        them as missing).

    Returns
    -------
    pl.DataFrame
        Columns ``code`` (named as the input's code column), ``cell`` (UInt64), ``weight`` (Float64); the
        weights of each area sum to 1.
    """
    if method not in METHODS:
        hint = " (planned, not yet available)" if method in PLANNED else ""
        raise InvalidInputError(f"method: got {method!r}{hint}; expected one of {list(METHODS)}")
    if options:
        raise InvalidInputError(f"unexpected option(s) for method {method!r}: {sorted(options)}")
    skip = check_on_invalid(on_invalid)
    res = check_resolution(resolution)
    if not isinstance(areas, pl.DataFrame):
        raise InvalidInputError(f"areas: expected a polars DataFrame, got {type(areas).__name__}")
    if (easting is None) != (northing is None):
        raise InvalidInputError("easting/northing: give both column names, or neither (to use lat/lng)")
    xy = (easting, northing) if easting is not None and northing is not None else (lat, lng)
    require_columns(areas, [code, *xy], "areas")
    codes = areas.get_column(code)
    check_no_nulls(codes, code)
    check_unique(codes, f"areas[{code!r}]")
    for col in xy:
        check_no_nulls(areas.get_column(col), col)
        if not areas.schema[col].is_numeric():
            raise InvalidInputError(f"{col}: expected a numeric column, got {areas.schema[col]}")
    a = areas.get_column(xy[0]).cast(pl.Float64).to_numpy()
    b = areas.get_column(xy[1]).cast(pl.Float64).to_numpy()
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    index_res = 15 if nested else res
    if easting is not None:
        a, b, bad = _core.bng_to_latlng(a, b, skip)
        report_skipped(f"crosswalk({easting}/{northing})", bad)
        cells, _ = _core.latlng_to_cell(a, b, index_res, True)
    else:
        cells, bad = _core.latlng_to_cell(a, b, index_res, skip)
        report_skipped(f"crosswalk({lat}/{lng})", bad)
    if nested and res < 15:
        if bad[0]:
            ok = cells != 0
            parents = np.zeros_like(cells)
            parents[ok] = _core.cell_to_parent(np.ascontiguousarray(cells[ok]), res)
            cells = parents
        else:
            cells = _core.cell_to_parent(cells, res)
    out = pl.DataFrame(
        [codes, series_from_numpy("cell", cells), pl.Series("weight", np.ones(len(cells), dtype=np.float64))]
    )
    if bad[0]:
        out = out.filter(pl.col("cell") != 0)
    return out
