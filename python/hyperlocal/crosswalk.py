"""Crosswalks: each area's share of each H3 cell, the central object of hyperlocal.

A crosswalk is a table ``(code, cell, weight)`` for one set of areas at one resolution, in which every area's
weights sum to 1. It is built once and reused for every variable on that geography, so what goes in comes out
(see :func:`hyperlocal.apportion`). Every crosswalk can come with an audit: for each area, the number of cells,
the weight sum and the method actually used.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

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
    check_resolution,
    check_unique,
    report_skipped,
    require_columns,
    rows_text,
    series_from_numpy,
    with_codes,
)
from ._wkb import wkb_views
from .exceptions import InvalidInputError, SkippedRowsWarning

__all__ = ["crosswalk", "normalise_crs", "METHODS"]

METHODS = ("centroid", "area", "population")
_METHOD_NAMES = dict(_core.area_method_names())  # from the core: Python mirrors no codes
_AREA_CODE = next(k for k, v in _METHOD_NAMES.items() if v == "area")


def normalise_crs(crs: object) -> str:
    """'EPSG:4326' or 'EPSG:27700' for anything naming WGS84 or the British National Grid, else an error.

    Accepts EPSG codes (``27700``, ``"EPSG:27700"``), ``"OGC:CRS84"``, PROJJSON/WKT text of either (as GDAL
    writes them for ONS shapefiles, e.g. a ``Transverse_Mercator`` on ``OSGB 1936``), or a pyproj CRS.
    """
    if crs is None:
        raise InvalidInputError(
            "crs: not given and the areas carry none; expected 'EPSG:4326' or 'EPSG:27700'"
        )
    if hasattr(crs, "to_wkt"):
        crs = crs.to_wkt()  # pyproj.CRS
    text = str(crs).strip()
    compact = text.upper().replace(" ", "").replace("_", "")
    if compact in ("4326", "EPSG:4326", "OGC:CRS84", "CRS84", "WGS84") or compact.endswith("EPSG::4326"):
        return "EPSG:4326"
    if compact in ("27700", "EPSG:27700") or compact.endswith("EPSG::27700"):
        return "EPSG:27700"
    if '"EPSG",27700' in compact or "BRITISHNATIONALGRID" in compact:
        return "EPSG:27700"
    osgb = "OSGB1936" in compact or "OSGB36" in compact or "AIRY1830" in compact
    if osgb and "TRANSVERSEMERCATOR" in compact and "400000" in compact and "-100000" in compact:
        return "EPSG:27700"
    if ("WGS84" in compact or "WGS1984" in compact) and "PROJCS" not in compact and "PROJCRS" not in compact:
        return "EPSG:4326"
    raise InvalidInputError(
        f"crs: unknown coordinate reference system {text[:80]!r}; expected WGS84 (EPSG:4326) or British National "
        "Grid (EPSG:27700)"
    )


def _coordinate_columns(
    df: pl.DataFrame, lat: str, lng: str, easting: str | None, northing: str | None, what: str
) -> tuple[np.ndarray, np.ndarray, bool]:
    """The two coordinate columns as float64 arrays, and whether they are BNG (easting/northing)."""
    if (easting is None) != (northing is None):
        raise InvalidInputError(f"{what}: give both easting and northing column names, or neither (lat/lng)")
    bng = easting is not None and northing is not None
    xy = (easting, northing) if bng else (lat, lng)
    require_columns(df, [str(c) for c in xy], what)
    cols = []
    for c in xy:
        s = df.get_column(str(c))
        if not (s.dtype.is_numeric() or s.dtype == pl.Null):
            raise InvalidInputError(f"{c}: expected a numeric column, got {s.dtype}")
        # Null coordinates are invalid points like NaN: named with them, or skipped with them.
        cols.append(np.ascontiguousarray(s.cast(pl.Float64).fill_null(float("nan")).to_numpy()))
    return cols[0], cols[1], bng


def _points_latlng(
    df: pl.DataFrame, lat: str, lng: str, easting: str | None, northing: str | None, what: str, skip: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """WGS84 lat/lng of the points and a mask of the valid ones; invalid points (null, NaN, out of range) are an
    error naming them, or with ``skip`` reported and masked out."""
    a, b, bng = _coordinate_columns(df, lat, lng, easting, northing, what)
    if bng:
        la, ln, bad = _core.bng_to_latlng(a, b, skip)
    else:
        la, ln = a, b
        bad = _core.latlng_to_cell(a, b, 0, skip)[1]  # validates, naming bad rows
    report_skipped(f"{what} ({easting}/{northing})" if bng else f"{what} ({lat}/{lng})", bad, stacklevel=5)
    ok = np.isfinite(la) & np.isfinite(ln) & (np.abs(la) <= 90) & (np.abs(ln) <= 180)
    return la, ln, ok


def _cells(lat: np.ndarray, lng: np.ndarray, res: int, nested: bool, skip: bool) -> tuple[np.ndarray, int]:
    """Cells of the points (0 for skipped ones): nested = the res-15 cell's ancestor, in one pass."""
    convert = _core.latlng_to_cell_nested if nested else _core.latlng_to_cell
    cells, bad = convert(lat, lng, res, skip)
    return cells, bad[0]


def crosswalk(
    areas: FrameLike,
    *,
    resolution: int,
    code: str = "code",
    method: str = "centroid",
    lat: str = "lat",
    lng: str = "lng",
    easting: str | None = None,
    northing: str | None = None,
    geometry: str = "geometry",
    crs: object = None,
    points: FrameLike | None = None,
    population: str = "population",
    points_code: str | None = None,
    points_lat: str = "lat",
    points_lng: str = "lng",
    points_easting: str | None = None,
    points_northing: str | None = None,
    nested: bool = True,
    on_invalid: OnInvalid = "raise",
    audit: bool = False,
) -> pl.DataFrame | tuple[pl.DataFrame, pl.DataFrame]:
    """Build the crosswalk from areas to H3 cells at ``resolution``.

    Parameters
    ----------
    areas
        One row per area with a unique, non-null ``code``. For ``method="centroid"``: its point (e.g. the
        population-weighted centroid) as WGS84 ``lat``/``lng`` columns or, when ``easting``/``northing`` name
        columns, British National Grid metres (EPSG:27700). For the polygon methods: a WKB ``geometry`` column
        (Polygon or MultiPolygon), as :func:`hyperlocal.read_areas` returns.
    resolution
        H3 resolution, 0..=15.
    method
        * ``"centroid"``: the whole area goes to the cell holding its point (weight 1). Right when areas are
          much smaller than cells (OAs and LSOAs at res ≤ 8).
        * ``"area"``: weight = area(polygon ∩ hexagon) / area(polygon). Areas are true ellipsoidal (WGS84)
          areas, measured in a Lambert azimuthal equal-area projection through the authalic latitude, centred
          on the centre of the res-3 cell holding the polygon's bounding-box centre; polygon and hexagon edges
          are straight lines between projected vertices. Every cell the polygon touches is found, so no polygon
          gets zero cells however small or thin; boundary cells' intersection areas are exact (Green's theorem
          over the ring pieces inside each cell and the cell's covered boundary, checked, or clipping), interior
          cells are taken whole. WGS84 polygons may cross the antimeridian: longitudes are unwrapped along each
          ring, so an edge whose end longitudes differ by more than 180° is read as crossing the antimeridian the short
          way round (``box(179, 60, -179, 61)`` and ``box(-179, 60, 179, 61)`` are both the 2° sliver over
          ±180°, not a 358° band: a band that wide would be rejected anyway, see next). A polygon reaching
          more than 2,000 km from its projection centre, a ring with an edge from −180° to +180°, or a ring
          that winds around a pole raises :class:`~hyperlocal.exceptions.InvalidInputError` naming its row
          and code.

          Invalid polygons (those ``shapely.is_valid`` rejects, judged in the input coordinates) are flagged in
          the audit's ``repaired`` column and measured as GEOS
          ``shapely.make_valid(geom, method="structure", keep_collapsed=False)`` repairs them, computed
          exactly: each ring covers the points it winds around (both lobes of a figure of eight; a loop winding
          twice counts once; a loop wound the other way inside it is left out); a polygon is its exterior's
          region minus the holes that touch or overlap it, plus the holes lying wholly outside it; the parts of
          a multipolygon are united, so overlaps count once; a part whose exterior encloses no area is dropped
          with its holes. A polygon with nothing left after repair goes wholly to the cell of its first vertex
          (audit method ``"degenerate"``). The population method's containment test uses the same repaired
          polygons.
        * ``"population"`` (dasymetric): each area's weight in a cell is the share of its population, from the
          finer ``points`` layer, that falls in that cell. Points are matched to areas by ``points_code`` (a
          column of area codes) or, when it is None, by containment in the polygons. Areas with no weighting
          population fall back to area shares (audit method ``"fallback"``).
    crs
        CRS of the geometry (``"EPSG:27700"``, ``"EPSG:4326"``, WKT, …). Default: the ``crs`` column that
        :func:`hyperlocal.read_areas` adds. Anything else is an error.
    points, population, points_code, points_lat, points_lng, points_easting, points_northing
        The weighting layer of ``method="population"``: point coordinates (WGS84 or BNG) and a non-negative
        ``population`` column.
    nested
        The cell convention (see "Cell convention" in :mod:`hyperlocal.cells`; the same as
        :func:`hyperlocal.count_points`). Centroid and population points: ``True`` (default) indexes each point
        at resolution 15 and uses that cell's ancestor at ``resolution``. H3 cells do not nest exactly
        (children overhang their parent's edges), so this is what makes resolutions consistent: a res-9 grid
        rolled up to res 7 (:func:`hyperlocal.rollup`) equals the direct res-7 grid. A point within about one
        child-cell width of a hexagon edge may then sit in the neighbour's family (6.6% of the 2021 LSOA
        centroids at res 7).
        ``False``: the cell geometrically containing the point (``latlng_to_cell``). Area shares are geometric
        at ``resolution`` and do not nest.
    on_invalid
        Points with null, NaN or out-of-range coordinates: ``"raise"`` (default, an error naming the rows and
        area codes) or ``"skip"``, reported by a :class:`~hyperlocal.exceptions.SkippedRowsWarning`. Centroid
        method: the area is left out of the crosswalk (:func:`apportion` will then name it as missing; the CLI
        drops its values and says so). Population method: the weighting point is left out. Invalid polygon
        geometry is always an error naming the areas.
    audit
        Also return the audit: one row per area with ``n_cells``, ``weight_sum``, ``method`` (centroid, area,
        population, fallback, degenerate), ``repaired``, ``area_m2`` (polygon area), ``covered_m2`` (summed
        intersection areas; equals ``area_m2`` up to rounding) and ``population`` (weighting population).

    Returns
    -------
    pl.DataFrame, or (crosswalk, audit) with ``audit=True``
        Columns ``code`` (named as the input's code column), ``cell`` (UInt64), ``weight`` (Float64), ordered
        by area then cell; the weights of each area sum to 1.
    """
    if method not in METHODS:
        raise InvalidInputError(f"method: got {method!r}; expected one of {list(METHODS)}")
    skip = check_on_invalid(on_invalid)
    res = check_resolution(resolution)
    areas = as_frame(areas, "areas")
    if points is not None:
        points = as_frame(points, "points")
    require_columns(areas, [code], "areas")
    codes = areas.get_column(code)
    check_no_nulls(codes, code)
    check_unique(codes, f"areas[{code!r}]")
    aud: pl.DataFrame | Callable[[], pl.DataFrame]
    if method == "centroid":
        xw, aud = _centroid(areas, codes, res, lat, lng, easting, northing, nested, skip)
    else:
        require_columns(areas, [geometry], "areas")
        if crs is None and "crs" in areas.columns:
            col = areas.get_column("crs")
            # One CRS (the common case) is one comparison pass; otherwise name what the column holds.
            if not (len(col) and col.null_count() == 0 and bool((col == col[0]).all())):
                found = col.unique().to_list()
                raise InvalidInputError(f"crs: the areas' crs column holds {found}; expected one CRS")
            crs = col[0]
        crs_name = normalise_crs(crs)
        try:
            data, views = wkb_views(areas.get_column(geometry), geometry)
            xw, aud = _area(codes, data, views, crs_name, res)
        except InvalidInputError as e:
            raise with_codes(e, codes) from None
        if method == "population":
            if points is None:
                raise InvalidInputError(
                    "points: method='population' needs a points DataFrame with population"
                )
            area_aud = aud if isinstance(aud, pl.DataFrame) else aud()
            xw, aud = _population(
                xw, area_aud, codes, data, views, crs_name, res, points, population, points_code,
                points_lat, points_lng, points_easting, points_northing, nested, skip,
            )  # fmt: skip
    if not audit:
        return xw
    return xw, _audit(codes, xw, aud if isinstance(aud, pl.DataFrame) else aud())


def _audit(codes: pl.Series, xw: pl.DataFrame, extra: pl.DataFrame) -> pl.DataFrame:
    name = codes.name
    per = xw.group_by(name).agg(n_cells=pl.len().cast(pl.UInt32), weight_sum=pl.col("weight").sum())
    return (
        pl.DataFrame([codes])
        .with_columns(extra)
        .join(per, on=name, how="left", maintain_order="left")
        .with_columns(pl.col("n_cells").fill_null(0), pl.col("weight_sum").fill_null(0.0))
        .select(name, "n_cells", "weight_sum", "method", "repaired", "area_m2", "covered_m2", "population")
    )


def _centroid(
    areas: pl.DataFrame,
    codes: pl.Series,
    res: int,
    lat: str,
    lng: str,
    easting: str | None,
    northing: str | None,
    nested: bool,
    skip: bool,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    a, b, bng = _coordinate_columns(areas, lat, lng, easting, northing, "areas")
    # The core skips invalid points; whether that is an error is decided here, so messages name the areas.
    if bng:
        la, ln, bad = _core.bng_to_latlng(a, b, True)
        cells, _ = _cells(la, ln, res, nested, True)
        what, expected = f"{easting}/{northing}", "British National Grid metres, 0..700000 E, 0..1300000 N"
    else:
        cells, n_bad = _cells(a, b, res, nested, True)
        bad = _core.latlng_to_cell(a, b, 0, True)[1] if n_bad else (0, [])
        what, expected = f"{lat}/{lng}", "WGS84 degrees, -90 <= lat <= 90, -180 <= lng <= 180"
    if bad[0] and not skip:
        named = ", ".join(str(c) for c in codes.gather(bad[1]).to_list())
        raise InvalidInputError(
            f"{what}: {rows_text(bad[0], bad[1])} are null, NaN or out of range [{codes.name}: {named}]; "
            f"expected finite {expected}"
        )
    if bad[0]:
        named = ", ".join(str(c) for c in codes.gather(bad[1]).to_list())
        warnings.warn(
            f"crosswalk({what}): skipped {rows_text(bad[0], bad[1])} with null, NaN or out-of-range coordinates "
            f"[{codes.name}: {named}] (on_invalid='skip')",
            SkippedRowsWarning,
            stacklevel=4,
        )
    n = len(cells)
    xw = pl.DataFrame(
        [codes, series_from_numpy("cell", cells), pl.Series("weight", np.ones(n, dtype=np.float64))]
    )
    xw = xw.filter(pl.col("cell") != 0)
    extra = pl.DataFrame(
        [
            pl.repeat("centroid", n, eager=True).alias("method"),
            pl.repeat(False, n, eager=True).alias("repaired"),
            *[
                pl.repeat(None, n, dtype=pl.Float64, eager=True).alias(c)
                for c in ("area_m2", "covered_m2", "population")
            ],
        ]
    )
    return xw, extra


def _area(
    codes: pl.Series, data: list[np.ndarray], views: np.ndarray, crs: str, res: int
) -> tuple[pl.DataFrame, Callable[[], pl.DataFrame]]:
    """The area crosswalk, and a function building its audit columns (only when they are asked for)."""
    area, cell, weight, covered, area_m2, repaired, method = _core.polygon_crosswalk(data, views, crs, res)
    idx = series_from_numpy("i", area)
    xw = pl.DataFrame(
        [codes.gather(idx), series_from_numpy("cell", cell), series_from_numpy("weight", weight)]
    )

    def extra() -> pl.DataFrame:
        return pl.DataFrame(
            {
                "method": pl.Series(method).replace_strict(_METHOD_NAMES, return_dtype=pl.String),
                "repaired": pl.Series(repaired),
                "area_m2": series_from_numpy("area_m2", area_m2),
                "covered_m2": pl.Series(np.where(method == _AREA_CODE, covered, 0.0)),
                "population": pl.Series([None] * len(area_m2), dtype=pl.Float64),
            }
        )

    return xw, extra


def _population(
    area_xw: pl.DataFrame,
    area_extra: pl.DataFrame,
    codes: pl.Series,
    data: list[np.ndarray],
    views: np.ndarray,
    crs: str,
    res: int,
    points: pl.DataFrame,
    population: str,
    points_code: str | None,
    plat: str,
    plng: str,
    peast: str | None,
    pnorth: str | None,
    nested: bool,
    skip: bool,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    import warnings

    name = codes.name
    require_columns(points, [population] + ([points_code] if points_code else []), "points")
    pop = points.get_column(population)
    check_no_nulls(pop, population)
    popv = np.ascontiguousarray(pop.cast(pl.Float64).to_numpy())
    bad = ~np.isfinite(popv) | (popv < 0)
    if bad.any():
        idx = np.flatnonzero(bad)
        raise InvalidInputError(
            f"{population}: {rows_text(len(idx), idx[:KEEP].tolist())} invalid; expected non-negative finite values"
        )
    la, ln, valid = _points_latlng(points, plat, plng, peast, pnorth, "points", skip)
    cells, _ = _cells(la, ln, res, nested, True)
    if points_code is not None:
        pc = points.get_column(points_code)
        check_no_nulls(pc, points_code)
        area_idx = (
            pl.DataFrame({name: pc.cast(codes.dtype, strict=False)})
            .join(
                pl.DataFrame([codes, pl.int_range(len(codes), dtype=pl.UInt32, eager=True).alias("__a")]),
                on=name,
                how="left",
                maintain_order="left",
            )["__a"]
            .fill_null(np.iinfo(np.uint32).max)
            .to_numpy()
        )
    else:
        area_idx = _core.locate_points(data, views, crs, la, ln)
    area_idx = np.where(valid, area_idx, np.iinfo(np.uint32).max)
    unmatched = (area_idx == np.iinfo(np.uint32).max) & valid
    if unmatched.any():
        idx = np.flatnonzero(unmatched)
        how = f"codes absent from areas[{name!r}]" if points_code else "no area containing them"
        warnings.warn(
            f"population points: {rows_text(len(idx), idx[:KEEP].tolist())} have {how}; they weight no area",
            SkippedRowsWarning,
            stacklevel=4,
        )
    pts = pl.DataFrame({"__a": area_idx, "cell": series_from_numpy("cell", cells), "pop": popv}).filter(
        pl.Series(valid & ~unmatched)
    )
    per_cell = pts.group_by("__a", "cell").agg(pl.col("pop").sum())
    totals = per_cell.group_by("__a").agg(total=pl.col("pop").sum()).filter(pl.col("total") > 0)
    weighted = (
        per_cell.join(totals, on="__a", how="inner")
        .filter(pl.col("pop") > 0)
        .with_columns(weight=pl.col("pop") / pl.col("total"))
        .sort("__a", "cell")
    )
    with_pop = np.zeros(len(codes), dtype=bool)
    with_pop[totals["__a"].to_numpy()] = True
    pop_rows = weighted.select(pl.col("__a"), "cell", "weight")
    area_rows = area_xw.join(
        pl.DataFrame([codes, pl.int_range(len(codes), dtype=pl.UInt32, eager=True).alias("__a")]), on=name
    )
    area_rows = area_rows.filter(pl.Series(~with_pop[area_rows["__a"].to_numpy()]))
    rows = pl.concat([pop_rows, area_rows.select("__a", "cell", "weight")]).sort("__a", "cell")
    xw = pl.DataFrame([codes.gather(rows["__a"]), rows["cell"], rows["weight"]])
    popsum = np.zeros(len(codes))
    popsum[totals["__a"].to_numpy()] = totals["total"].to_numpy()
    extra = area_extra.select(
        method=pl.when(pl.Series(with_pop)).then(pl.lit("population")).otherwise(pl.lit("fallback")),
        repaired="repaired",
        area_m2="area_m2",
        covered_m2="covered_m2",
        population=pl.Series(popsum),
    )
    return xw, extra
