"""Points to H3 cells, British National Grid to WGS84, and cell utilities.

Cells are ``UInt64`` H3 indices, identical to the reference H3 library (h3-py 4.5): the core uses the ``h3o``
crate. All heavy work runs in Rust with the GIL released, in parallel, with results independent of the
number of threads.

Cell convention
---------------
H3 cells do not nest exactly: a cell's seven children overhang its edges. So "the res-7 cell of a point" has
two readings, and hyperlocal states which one each function uses, the same everywhere:

* **nested** (the default of :func:`hyperlocal.crosswalk` and :func:`hyperlocal.count_points`,
  ``nested=True``): the point's resolution-15 cell, then its ancestor at the wanted resolution. Results at
  every resolution nest exactly (a res-9 grid rolled up to res 7 equals the direct res-7 grid), and an event
  lands in the same cell as an area centroid at the same place, so events per resident are not biased along
  cell edges. A point within about one child-cell width of an edge may sit in the neighbour's family (6.6% of
  the 2021 LSOA centroids at res 7).
* **geometric** (``nested=False``, and the point functions below, :func:`latlng_to_cell` and
  :func:`bng_to_cell`, which follow h3-py): the cell that contains the point.

Polygon area shares (``crosswalk(method="area")``) are geometric at the requested resolution by nature.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from . import _core
from ._convert import (
    ArrayLike,
    OnInvalid,
    arrow_varlen,
    as_f64,
    as_u64_cells,
    check_no_nulls,
    check_on_invalid,
    check_resolution,
    check_same_length,
    report_skipped,
    rows_text,
    series_from_numpy,
    to_series,
)
from .exceptions import InvalidInputError

__all__ = [
    "latlng_to_cell",
    "bng_to_latlng",
    "bng_to_cell",
    "cell_to_string",
    "string_to_cell",
    "cell_to_parent",
    "cell_to_boundary",
    "cell_to_latlng",
]


def _nullify(cells: np.ndarray, skipped: int) -> pl.Series:
    s = series_from_numpy("cell", cells)
    if skipped:
        s = pl.select(pl.when(s != 0).then(s).otherwise(None).alias("cell")).to_series()
    return s


def latlng_to_cell(
    lat: ArrayLike, lng: ArrayLike, resolution: int, *, on_invalid: OnInvalid = "raise"
) -> pl.Series:
    """WGS84 latitude/longitude (degrees) to H3 cells.

    Parameters
    ----------
    lat, lng
        Polars Series, numpy arrays or any Arrow-exporting array of equal length. Float64 inputs are read
        without copying.
    resolution
        H3 resolution, 0..=15.
    on_invalid
        ``"raise"`` (default): NaN, infinite or out-of-range coordinates raise
        :class:`~hyperlocal.exceptions.InvalidInputError` naming the rows. ``"skip"``: those rows get a null cell
        and a :class:`~hyperlocal.exceptions.SkippedRowsWarning` reports how many.

    Returns
    -------
    pl.Series
        ``UInt64`` named ``cell``, one per input row.

    Examples
    --------
    >>> import hyperlocal as hl
    >>> hl.cell_to_string(hl.latlng_to_cell([51.5007], [-0.1246], 9)).item()
    '89194ad14c3ffff'
    """
    skip = check_on_invalid(on_invalid)
    res = check_resolution(resolution)
    la, ln = as_f64(lat, "lat", nulls_as_nan=True), as_f64(lng, "lng", nulls_as_nan=True)
    check_same_length(lat=la, lng=ln)
    cells, bad = _core.latlng_to_cell(la, ln, res, skip)
    n = report_skipped("latlng_to_cell", bad)
    return _nullify(cells, n)


def bng_to_latlng(
    easting: ArrayLike, northing: ArrayLike, *, on_invalid: OnInvalid = "raise"
) -> pl.DataFrame:
    """British National Grid (EPSG:27700) easting/northing in metres to WGS84 (EPSG:4326) ``lat``, ``lng``.

    Method: inverse Transverse Mercator on the Airy 1830 ellipsoid (Ordnance Survey, *A guide to coordinate
    systems in Great Britain*, Annex C), then the 7-parameter Helmert transformation OSGB36 → WGS84
    (EPSG:1314, position-vector convention). This is the transformation PROJ/pyproj applies to
    EPSG:27700 → 4326 when the OSTN15 grid is not installed; the two agree to millimetres. Its accuracy
    against the definitive OSTN15 transformation is about 2–5 m across Great Britain, which is far below the
    size of any H3 cell used for small-area statistics (res 11 edges are ~25 m).

    Coordinates must be finite and inside the grid's extent, 0 ≤ easting ≤ 700,000 and
    0 ≤ northing ≤ 1,300,000; otherwise :class:`~hyperlocal.exceptions.InvalidInputError` names the rows
    (or, with ``on_invalid="skip"``, they become null and are reported).
    """
    skip = check_on_invalid(on_invalid)
    e, n = as_f64(easting, "easting", nulls_as_nan=True), as_f64(northing, "northing", nulls_as_nan=True)
    check_same_length(easting=e, northing=n)
    lat, lng, bad = _core.bng_to_latlng(e, n, skip)
    report_skipped("bng_to_latlng", bad)
    df = pl.DataFrame([series_from_numpy("lat", lat), series_from_numpy("lng", lng)])
    if bad[0]:
        df = df.with_columns(pl.all().fill_nan(None))
    return df


def bng_to_cell(
    easting: ArrayLike, northing: ArrayLike, resolution: int, *, on_invalid: OnInvalid = "raise"
) -> pl.Series:
    """British National Grid coordinates to H3 cells (see :func:`bng_to_latlng` for the method)."""
    skip = check_on_invalid(on_invalid)
    res = check_resolution(resolution)
    e, n = as_f64(easting, "easting", nulls_as_nan=True), as_f64(northing, "northing", nulls_as_nan=True)
    check_same_length(easting=e, northing=n)
    lat, lng, bad = _core.bng_to_latlng(e, n, skip)
    report_skipped("bng_to_cell", bad)
    cells, _ = _core.latlng_to_cell(lat, lng, res, True)
    return _nullify(cells, bad[0])


def cell_to_string(cells: ArrayLike) -> pl.Series:
    """H3 cells to their lower-case hexadecimal strings (``String`` named ``cell``)."""
    c = as_u64_cells(cells)
    data, offsets = _core.cell_to_string(c)
    return arrow_varlen("cell", data, offsets, binary=False)


def string_to_cell(strings: ArrayLike) -> pl.Series:
    """Hexadecimal H3 strings to ``UInt64`` cells; anything that is not a valid cell raises, naming the rows."""
    s = to_series(strings, "cell")
    if s.dtype == pl.Null and s.len() == 0:  # e.g. an empty list
        s = s.cast(pl.String)
    check_no_nulls(s, "cell")
    if s.dtype != pl.String:
        raise InvalidInputError(f"cell: expected H3 strings, got {s.dtype}")
    ints = s.str.to_integer(base=16, strict=False)
    bad = ints.is_null()
    if bad.any():
        raise InvalidInputError(
            f"cell: {rows_text(int(bad.sum()), bad.arg_true().head(5).to_list())} are not hexadecimal H3 strings"
        )
    cells = ints.cast(pl.UInt64, strict=False).fill_null(0).to_numpy()
    _core.validate_cells(np.ascontiguousarray(cells), "cell")
    return series_from_numpy("cell", cells)


def cell_to_parent(cells: ArrayLike, resolution: int) -> pl.Series:
    """The parent of each cell at a coarser (or equal) ``resolution``."""
    res = check_resolution(resolution)
    c = as_u64_cells(cells)
    return series_from_numpy("cell", _core.cell_to_parent(c, res))


def cell_to_boundary(cells: ArrayLike) -> pl.Series:
    """Cell polygons as WKB (``Binary`` named ``geometry``): lng/lat degrees, closed counter-clockwise ring.

    Cells crossing the antimeridian are not split (irrelevant for Great Britain). Read them with
    ``shapely.from_wkb`` or write them with :func:`hyperlocal.write`.
    """
    c = as_u64_cells(cells)
    data, offsets = _core.cell_to_boundary_wkb(c)
    return arrow_varlen("geometry", data, offsets, binary=True)


def cell_to_latlng(cells: ArrayLike) -> pl.DataFrame:
    """Centre of each cell as WGS84 ``lat``, ``lng`` (degrees), identical to h3-py's ``cell_to_latlng``."""
    c = as_u64_cells(cells)
    lat, lng = _core.cell_to_latlng(c)
    return pl.DataFrame([series_from_numpy("lat", lat), series_from_numpy("lng", lng)])
