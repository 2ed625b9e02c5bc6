"""Polars expressions over the hyperlocal kernels: ``import hyperlocal.expr as hx``.

Each function returns a :class:`polars.Expr` usable in ``select``, ``with_columns``, ``filter`` and
``group_by().agg``, in eager, lazy and streaming queries (``collect(engine="streaming")``)::

    import polars as pl
    import hyperlocal.expr as hx

    counts = (
        pl.scan_parquet("events/*.parquet")
        .with_columns(hx.latlng_to_cell("lat", "lng", 9).alias("cell"))
        .group_by("cell", "service")
        .agg(pl.len())
        .collect(engine="streaming")
    )

The expressions are declared element-wise (``map_batches(..., is_elementwise=True)``), so the streaming engine
runs them batch by batch inside the stream, in parallel, without gathering the column. Each batch goes to the
same Rust kernel as the eager function of the same name (:func:`hyperlocal.latlng_to_cell`, ...): the results
are identical, cell for cell. No ``polars`` Rust crate is involved: the batches cross as Arrow buffers.

Nulls: a null input gives a null output (the Polars convention for element-wise functions). Invalid values
(NaN or out-of-range coordinates, invalid cells or strings) raise
:class:`~hyperlocal.exceptions.InvalidInputError` like the eager functions; the row numbers in that message
count from the start of the batch the engine passed, not of the whole table. With ``on_invalid="skip"``
(coordinate functions) invalid coordinates give null and each batch reports its count with a
:class:`~hyperlocal.exceptions.SkippedRowsWarning`.

Column arguments are column names or expressions.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from . import cells as _cells
from ._convert import OnInvalid, check_on_invalid, check_resolution
from .exceptions import InvalidInputError

__all__ = ["latlng_to_cell", "bng_to_cell", "cell_to_parent", "cell_to_string", "string_to_cell"]

IntoExpr = str | pl.Expr


def _col(x: IntoExpr) -> pl.Expr:
    return pl.col(x) if isinstance(x, str) else x


def _batch_rows(kernel: Callable[..., pl.Series], n: int, *args: pl.Series) -> pl.Series:
    """Run the kernel on one batch; an error says that its row numbers count within the batch."""
    try:
        return kernel(*args)
    except InvalidInputError as e:
        raise type(e)(f"{e} (rows numbered within a batch of {n:,} rows passed by Polars)") from e


def _pair(
    a: IntoExpr, b: IntoExpr, kernel: Callable[[pl.Series, pl.Series], pl.Series], dtype: pl.DataType
) -> pl.Expr:
    """Element-wise kernel of two float columns; rows where either input is null stay null."""

    def run(s: pl.Series) -> pl.Series:
        x, y = s.struct.field("a").cast(pl.Float64), s.struct.field("b").cast(pl.Float64)
        valid = x.is_not_null() & y.is_not_null()
        if valid.all():
            return _batch_rows(kernel, s.len(), x, y)
        out = _batch_rows(kernel, s.len(), x.fill_null(0.0), y.fill_null(0.0))  # (0, 0) is valid in both systems
        return pl.select(pl.when(valid).then(out)).to_series().alias(out.name)

    first = _col(a)
    return pl.struct(_col(a).alias("a"), _col(b).alias("b")).map_batches(
        run, return_dtype=dtype, is_elementwise=True
    ).alias(_name(first, "cell"))


def _name(e: pl.Expr, default: str) -> str:
    try:
        return e.meta.output_name()
    except Exception:  # noqa: BLE001 - an expression without a single output name
        return default


def _single(x: IntoExpr, kernel: Callable[[pl.Series], pl.Series], dtype: pl.DataType, fill: object) -> pl.Expr:
    """Element-wise kernel of one column; nulls stay null (``fill`` stands in for them in the kernel call)."""

    def run(s: pl.Series) -> pl.Series:
        if not s.null_count():
            return _batch_rows(kernel, s.len(), s).alias(s.name)
        valid = s.is_not_null()
        stand_in = fill(s) if callable(fill) else fill
        if stand_in is None:  # nothing valid in this batch
            return pl.Series(s.name, [None] * s.len(), dtype=dtype)
        out = _batch_rows(kernel, s.len(), s.fill_null(stand_in))
        return pl.select(pl.when(valid).then(out)).to_series().alias(s.name)

    return _col(x).map_batches(run, return_dtype=dtype, is_elementwise=True)


def latlng_to_cell(lat: IntoExpr, lng: IntoExpr, resolution: int, *, on_invalid: OnInvalid = "raise") -> pl.Expr:
    """WGS84 latitude/longitude (degrees) → ``UInt64`` H3 cell, as :func:`hyperlocal.latlng_to_cell`.

    The cell that geometrically contains the point (h3-py's ``latlng_to_cell``). Named after ``lat``.

    >>> import polars as pl, hyperlocal.expr as hx
    >>> df = pl.DataFrame({"lat": [51.5007, None], "lng": [-0.1246, 0.0]})
    >>> df.select(hx.cell_to_string(hx.latlng_to_cell("lat", "lng", 9))).to_series().to_list()
    ['89194ad14c3ffff', None]
    """
    res = check_resolution(resolution)
    check_on_invalid(on_invalid)
    return _pair(lat, lng, lambda a, b: _cells.latlng_to_cell(a, b, res, on_invalid=on_invalid), pl.UInt64())


def bng_to_cell(easting: IntoExpr, northing: IntoExpr, resolution: int, *, on_invalid: OnInvalid = "raise") -> pl.Expr:
    """British National Grid (EPSG:27700) easting/northing in metres → ``UInt64`` H3 cell, as
    :func:`hyperlocal.bng_to_cell`. Named after ``easting``."""
    res = check_resolution(resolution)
    check_on_invalid(on_invalid)
    return _pair(
        easting, northing, lambda a, b: _cells.bng_to_cell(a, b, res, on_invalid=on_invalid), pl.UInt64()
    )


def _first_valid(s: pl.Series) -> object:
    v = s.drop_nulls()
    return v[0] if v.len() else None


def cell_to_parent(cell: IntoExpr, resolution: int) -> pl.Expr:
    """The parent of each cell at a coarser (or equal) ``resolution``, as :func:`hyperlocal.cell_to_parent`."""
    res = check_resolution(resolution)
    return _single(cell, lambda s: _cells.cell_to_parent(s, res), pl.UInt64(), _first_valid)


def cell_to_string(cell: IntoExpr) -> pl.Expr:
    """``UInt64`` cells → lower-case hexadecimal strings, as :func:`hyperlocal.cell_to_string`."""
    return _single(cell, _cells.cell_to_string, pl.String(), _first_valid)


def string_to_cell(string: IntoExpr) -> pl.Expr:
    """Hexadecimal H3 strings → ``UInt64`` cells, as :func:`hyperlocal.string_to_cell` (invalid strings raise)."""
    return _single(string, _cells.string_to_cell, pl.UInt64(), _first_valid)
