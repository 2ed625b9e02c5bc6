"""Writing cell tables: GeoParquet (with hexagon polygons) or CSV (with H3 strings), always atomically."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from .cells import cell_to_boundary, cell_to_string
from .exceptions import InvalidInputError

__all__ = ["write", "atomic_path"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it over ``path``, on failure delete it.

    The rename is atomic on POSIX file systems, so readers see either the old file or the complete new one,
    never a half-written grid.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _bbox(wkb: pl.Series) -> list[float]:
    """Bounding box of single-ring WKB polygons as written by the core (coordinates start at byte 13)."""
    arr = wkb.to_arrow()
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    arr = arr.cast(pa.large_binary())
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)
    starts = offsets[:-1] + 13
    npts = (offsets[1:] - starts) // 16
    first = np.repeat(starts - np.cumsum(np.r_[0, npts[:-1]]) * 16, npts) + np.arange(npts.sum()) * 16
    x = data[first[:, None] + np.arange(8)].copy().view(np.float64).ravel()
    y = data[first[:, None] + 8 + np.arange(8)].copy().view(np.float64).ravel()
    return [float(x.min()), float(y.min()), float(x.max()), float(y.max())]


def _geo_metadata(wkb: pl.Series) -> dict[str, object]:
    col: dict[str, object] = {"encoding": "WKB", "geometry_types": ["Polygon"]}
    if len(wkb):
        col["bbox"] = _bbox(wkb)
    return {"version": "1.1.0", "primary_column": "geometry", "columns": {"geometry": col}}


def write(df: pl.DataFrame, path: str | os.PathLike[str], *, cell: str = "cell") -> Path:
    """Write a cell table atomically (temporary file in the same folder, then rename).

    * ``.parquet``: GeoParquet 1.1. The ``cell`` column stays UInt64 and a ``geometry`` column holds each
      cell's hexagon as WKB (lng/lat, OGC:CRS84); ``geopandas.read_parquet`` opens it as a GeoDataFrame.
    * ``.csv``: CSV with ``cell`` as the H3 hexadecimal string (spreadsheets cannot hold UInt64 exactly).

    Returns the path written.
    """
    target = Path(path)
    suffix = target.suffix.lower()
    if cell not in df.columns:
        raise InvalidInputError(f"write: missing column {cell!r}; expected a cell table")
    if suffix == ".parquet":
        geom = cell_to_boundary(df.get_column(cell))
        table = df.with_columns(geom).to_arrow()
        meta = dict(table.schema.metadata or {})
        meta[b"geo"] = json.dumps(_geo_metadata(geom)).encode()
        table = table.replace_schema_metadata(meta)
        with atomic_path(target) as tmp:
            pq.write_table(table, tmp, compression="zstd")
    elif suffix == ".csv":
        out = df.with_columns(cell_to_string(df.get_column(cell)).alias(cell))
        with atomic_path(target) as tmp:
            out.write_csv(tmp)
    else:
        raise InvalidInputError(f"write: unsupported file type {suffix!r}; expected .parquet or .csv")
    return target
