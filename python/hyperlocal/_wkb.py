"""The one WKB reader on the Python side: a WKB column's Arrow buffers for the core (zero-copy), and the rings of
the hexagon polygons the core writes (for bounding boxes and maps). Parsing of arbitrary geometry is done in the
core (``polygon.rs``)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa

from ._convert import KEEP, rows_text
from .exceptions import InvalidInputError

__all__ = ["wkb_buffers", "wkb_views", "string_views", "hexagon_rings"]


def _binary(geom: pl.Series, name: str, compat: pl.CompatLevel | None = None) -> pa.Array:
    """The WKB column as one Arrow binary-like array (no nulls)."""
    n = geom.null_count()
    if n:
        first = geom.is_null().arg_true().head(KEEP).to_list()
        raise InvalidInputError(
            f"{name}: {rows_text(n, first)} have empty (null) geometry; expected polygons"
        )
    arr = geom.to_arrow() if compat is None else geom.to_arrow(compat_level=compat)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if isinstance(arr.type, pa.ExtensionType):  # e.g. geoarrow.wkb
        arr = arr.storage
    if not (
        pa.types.is_binary(arr.type)
        or pa.types.is_large_binary(arr.type)
        or pa.types.is_binary_view(arr.type)
    ):
        raise InvalidInputError(f"{name}: expected WKB (Binary) geometry, got {geom.dtype}")
    return arr


def wkb_views(geom: pl.Series, name: str) -> tuple[list[np.ndarray], np.ndarray]:
    """(data buffers, views) of a WKB column as an Arrow binary-view array, what the core reads: zero-copy
    from Polars, whose Binary columns are views already (Binary/LargeBinary input: views over the same data)."""
    arr = _binary(geom, name, pl.CompatLevel.newest())
    if not pa.types.is_binary_view(arr.type):
        arr = arr.cast(pa.binary_view())
    return _view_buffers(arr)


def string_views(s: pl.Series) -> tuple[list[np.ndarray], np.ndarray]:
    """(data buffers, views) of a String column without nulls as an Arrow string-view array (zero-copy)."""
    arr = s.to_arrow(compat_level=pl.CompatLevel.newest())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if not pa.types.is_string_view(arr.type):
        arr = arr.cast(pa.string_view())
    return _view_buffers(arr)


def _view_buffers(arr: pa.Array) -> tuple[list[np.ndarray], np.ndarray]:
    bufs = arr.buffers()
    views = np.frombuffer(bufs[1], dtype=np.uint8)[16 * arr.offset : 16 * (arr.offset + len(arr))]
    data = [np.frombuffer(b, dtype=np.uint8) if b is not None else np.zeros(0, np.uint8) for b in bufs[2:]]
    return data, np.ascontiguousarray(views)


def wkb_buffers(geom: pl.Series, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Zero-copy (data, offsets) of a WKB column (Binary, LargeBinary, BinaryView or geoarrow.wkb)."""
    arr = _binary(geom, name).cast(pa.large_binary())
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
    data_buf = arr.buffers()[2]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    return np.ascontiguousarray(data), np.ascontiguousarray(offsets)


def hexagon_rings(geom: pl.Series) -> list[np.ndarray]:
    """The exterior ring, as an (n, 2) lng/lat array, of each single-ring little-endian WKB polygon (what
    :func:`hyperlocal.cell_to_boundary` writes). Anything else is an error: this is not a general WKB parser."""
    data, offsets = wkb_buffers(geom, geom.name or "geometry")
    starts = offsets[:-1]
    if len(starts) == 0:
        return []
    header = data[starts[:, None] + np.arange(13)]
    n = header[:, 9:13].copy().view("<u4").ravel().astype(np.int64)
    ok = (
        (header[:, 0] == 1)
        & (header[:, 1:5].copy().view("<u4").ravel() == 3)
        & (header[:, 5:9].copy().view("<u4").ravel() == 1)
        & (offsets[1:] - starts == 13 + 16 * n)
    )
    if not ok.all():
        bad = np.flatnonzero(~ok)
        raise InvalidInputError(
            f"{geom.name}: {rows_text(len(bad), bad[:KEEP].tolist())} are not single-ring little-endian WKB polygons"
        )
    return [
        np.frombuffer(data, dtype="<f8", count=2 * k, offset=int(s) + 13).reshape(k, 2)
        for s, k in zip(starts, n)
    ]
