"""Writing cell tables: GeoParquet (with hexagon polygons) or CSV (with H3 strings), always atomically."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from ._convert import FrameLike, as_frame
from ._wkb import hexagon_rings
from .cells import cell_to_boundary, cell_to_string
from .exceptions import InvalidInputError

GEOPARQUET = (".parquet", ".geoparquet")

__all__ = ["write", "atomic_path", "check_output_path", "read_areas", "read_table"]


#: Paths completed by :func:`atomic_path` in this process, in order (the CLI reports them if interrupted).
WRITTEN: list[Path] = []

#: Output file types :func:`write` accepts.
WRITE_SUFFIXES = (".parquet", ".csv")


def _umask() -> int:
    """The process umask (read without changing it, where Linux exposes it; else set and restored at once)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def check_output_path(path: str | os.PathLike[str], suffixes: Sequence[str] | None = None) -> Path:
    """The output path, if its folder exists and (with ``suffixes``) its type is one of them; else a clear
    :class:`InvalidInputError` before any work is done."""
    target = Path(path)
    if target.is_dir():
        raise InvalidInputError(f"{target}: is a folder; expected a file name")
    if suffixes is not None and target.suffix.lower() not in suffixes:
        raise InvalidInputError(
            f"{target}: unsupported output type {target.suffix or '(none)'!r}; expected {' or '.join(suffixes)}"
        )
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise InvalidInputError(f"{target}: the folder {parent} does not exist; create it first")
    return target


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success make it durable and rename it over ``path``; on
    failure (or Ctrl-C) delete it.

    The data is fsynced before the rename and the folder after it, and the rename is atomic on POSIX file
    systems, so readers see either the old file or the complete new one, never a half-written grid, even after
    a crash. The file gets the usual mode for new files (0666 less the umask, e.g. 0644), not the temporary
    file's 0600. The folder must exist.
    """
    target = check_output_path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        WRITTEN.append(target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _bbox(wkb: pl.Series) -> list[float]:
    """Bounding box of the hexagon polygons written by the core."""
    xy = np.concatenate(hexagon_rings(wkb))
    return [float(xy[:, 0].min()), float(xy[:, 1].min()), float(xy[:, 0].max()), float(xy[:, 1].max())]


def _geo_metadata(wkb: pl.Series) -> dict[str, object]:
    col: dict[str, object] = {"encoding": "WKB", "geometry_types": ["Polygon"]}
    if len(wkb):
        col["bbox"] = _bbox(wkb)
    return {"version": "1.1.0", "primary_column": "geometry", "columns": {"geometry": col}}


def write(df: FrameLike, path: str | os.PathLike[str], *, cell: str = "cell") -> Path:
    """Write a cell table atomically (temporary file in the same folder, then rename).

    * ``.parquet``: GeoParquet 1.1. The ``cell`` column stays UInt64 and a ``geometry`` column holds each
      cell's hexagon as WKB (lng/lat, OGC:CRS84); ``geopandas.read_parquet`` opens it as a GeoDataFrame.
    * ``.csv``: CSV with ``cell`` as the H3 hexadecimal string (spreadsheets cannot hold UInt64 exactly).

    Returns the path written.
    """
    df = as_frame(df, "df")
    target = check_output_path(path, WRITE_SUFFIXES)
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


def read_table(path: str | os.PathLike[str], what: str = "table") -> pl.DataFrame:
    """A table from a ``.parquet`` or ``.csv`` file: the one reader behind the CLI and the batch jobs.

    A missing file, another file type or a file that cannot be parsed is an
    :class:`~hyperlocal.exceptions.InvalidInputError` naming ``what`` (e.g. the flag or config key) and the file.
    """
    p = Path(path)
    if not p.is_file():
        raise InvalidInputError(f"{what} {p}: no such file")
    suffix = p.suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise InvalidInputError(
            f"{what} {p}: unsupported file type {p.suffix or '(none)'!r}; expected .parquet or .csv"
        )
    try:
        if suffix == ".parquet":
            return pl.read_parquet(p)
        return pl.read_csv(p, infer_schema_length=10_000)
    except Exception as e:  # noqa: BLE001 - any reader failure is a data error about this file
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        kind = "Parquet" if suffix == ".parquet" else "CSV"
        raise InvalidInputError(f"{what} {p}: not a readable {kind} file ({first})") from e


def _crs_text(crs: object) -> object:
    """PROJJSON dicts (GeoParquet) name their EPSG code in ``id``; other forms pass through."""
    if isinstance(crs, dict):
        ident = crs.get("id") or {}
        if ident.get("authority") in ("EPSG", "OGC"):
            return f"{ident['authority']}:{ident['code']}"
        return json.dumps(crs)
    return crs


def read_areas(
    path: str | os.PathLike[str],
    *,
    code: str,
    layer: str | int | None = None,
    columns: Sequence[str] = (),
    crs: object = None,
) -> pl.DataFrame:
    """Read area polygons from GeoParquet, GeoPackage, GeoJSON or a shapefile.

    Files are read with pyogrio (GDAL) into Arrow, or with pyarrow for GeoParquet; geometry stays WKB.

    Parameters
    ----------
    code
        The column holding the area codes (kept under that name).
    layer
        Layer name or index for multi-layer files (GeoPackage).
    columns
        Other attribute columns to keep.
    crs
        Override the file's CRS (for files that lack one). Must be WGS84 or British National Grid.

    Returns
    -------
    pl.DataFrame
        ``code``, ``geometry`` (Binary, WKB), the extra ``columns``, and ``crs`` (``"EPSG:4326"`` or
        ``"EPSG:27700"``, the same on every row), which :func:`hyperlocal.crosswalk` reads.
    """
    from .crosswalk import normalise_crs

    p = Path(path)
    if not p.exists():
        raise InvalidInputError(f"read_areas: {p} does not exist")
    if p.suffix.lower() in GEOPARQUET:
        table = pq.read_table(p)
        raw = (table.schema.metadata or {}).get(b"geo")
        if raw is None:
            raise InvalidInputError(f"read_areas: {p} has no GeoParquet 'geo' metadata")
        meta = json.loads(raw)
        geom_col = meta["primary_column"]
        col_meta = meta["columns"][geom_col]
        if col_meta.get("encoding", "WKB").upper() != "WKB":
            raise InvalidInputError(
                f"read_areas: {p} geometry encoding {col_meta['encoding']!r}; expected WKB"
            )
        file_crs: object = _crs_text(col_meta.get("crs", "OGC:CRS84")) or "OGC:CRS84"
    else:
        import pyogrio

        meta_o, table = pyogrio.read_arrow(p, layer=layer)
        geom_col = meta_o.get("geometry_name") or "wkb_geometry"
        if geom_col not in table.column_names:
            geom_col = "wkb_geometry" if "wkb_geometry" in table.column_names else "geometry"
        file_crs = meta_o.get("crs")
    missing = [c for c in [code, *columns] if c not in table.column_names]
    if missing:
        raise InvalidInputError(f"read_areas: {p} has no column(s) {missing}; it has {table.column_names}")
    geom = table.column(geom_col)
    if isinstance(geom.type, pa.ExtensionType):
        geom = pa.chunked_array([c.storage for c in geom.chunks], type=geom.type.storage_type)
    crs_name = normalise_crs(crs if crs is not None else _crs_text(file_crs))
    df = pl.from_arrow(table.select([code, *columns]))
    assert isinstance(df, pl.DataFrame)
    g = pl.from_arrow(geom)
    assert isinstance(g, pl.Series)
    return df.with_columns(g.alias("geometry"), pl.lit(crs_name).alias("crs")).select(
        code, "geometry", *columns, "crs"
    )
