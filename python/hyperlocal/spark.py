"""``count_points`` and ``apportion`` on Apache Spark DataFrames, with the single-machine results.

``import hyperlocal.spark`` (PySpark ≥ 4.0 on the driver; hyperlocal installed on every executor). Each Spark
partition goes through the Rust core inside ``DataFrame.mapInArrow``; Spark only moves the partial aggregates
below and the driver finishes them into the same Polars frame the single-machine call returns: equal counts, and
float sums equal to the last bit. Nothing is written anywhere: if a Spark task fails, the call raises and there
is no result, partial or otherwise.

Partial format of :func:`count_points`
--------------------------------------
One Arrow batch per partition (per 4M input rows), Spark schema:

=================  ============  ==========================================================================
column             Spark type    meaning
=================  ============  ==========================================================================
``cell``           LongType      the H3 cell: its UInt64 bits reinterpreted as int64. H3 indices keep the
                                 top bit 0, so the number is unchanged and int64 order is cell order. Null
                                 on a report row.
``by`` columns    as the input  the group (null on a report row)
``count``          LongType      events of the partition in (cell, group); on a report row, the rows of the
                                 partition skipped with ``on_invalid="skip"``
``__hl_report``    StringType    null on a count row; on a report row, JSON ``{"partition": p, "first": [..]}``
                                 (the first skipped rows, numbered within partition p)
=================  ============  ==========================================================================

Merge: ``groupBy(cell, *by, __hl_report).agg(sum(count))``: integer sums, so associative and commutative, and
any partitioning, order or tree of merges gives the same table. The driver bit-casts ``cell`` back to UInt64,
sorts by (cell, groups) like the single-machine call, returns ``count`` as UInt32 (UInt64 only if some count
does not fit) and turns the report rows into one ``SkippedRowsWarning`` with the total.

Partial format of :func:`apportion`
-----------------------------------
The crosswalk is small: it travels to the executors inside the task closure (Arrow IPC bytes), with each
crosswalk row's index ``row``. Each values partition becomes one *contribution* per (values row × crosswalk
row of its area):

=================  ==========  ================================================================
column             Spark type  meaning
=================  ==========  ================================================================
``cell``           LongType    the crosswalk row's cell (UInt64 bits as int64, as above)
``row``            LongType    the crosswalk row index: the order of the single-machine sum
``w``              DoubleType  the crosswalk weight
``__e0``, …        DoubleType  the extensive values of the area, as float64
``__i0``, …        DoubleType  the intensive values of the area
``__p``            DoubleType  the ``weight`` value of the area (only when ``weight`` is given)
=================  ==========  ================================================================

Merge: the union of the contributions (a multiset: associative and commutative), shuffled by ``cell`` so that
each cell's contributions meet in one partition. Finish: per partition, contributions sorted by ``row`` go
through the same core routine as the single-machine call (``Σ w·x`` per cell with Neumaier summation, in
ascending crosswalk row order), so each product ``w·x`` and each cell's sequence of additions are those of
:func:`hyperlocal.apportion` and the floats are bit-identical. (The single-machine call sums in the order of its
rows, which is the crosswalk's row order both when the crosswalk lists the values' areas in the same order and
after its join.) Float sums are never added up by Spark, whose order of addition is not fixed.

Row numbers in error messages count from the first row of the Spark partition that holds the bad rows (the
message names the partition): Spark does not number rows globally without an extra pass over the data.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
import pyarrow as pa

from . import _core, exceptions
from ._convert import (
    KEEP,
    FrameLike,
    OnInvalid,
    as_frame,
    check_no_nulls,
    check_on_invalid,
    check_resolution,
    require_columns,
    rows_text,
    series_from_numpy,
)
from .aggregate import _assemble, _check_columns, _names, _numeric, count_dtype
from .aggregate import count_points as _count_points
from .exceptions import InvalidInputError, SkippedRowsWarning, UnmatchedAreasWarning

if TYPE_CHECKING:
    from pyspark.sql import DataFrame as SparkDataFrame
    from pyspark.sql.types import StructType

__all__ = ["count_points", "apportion"]

REPORT = "__hl_report"
# Rows of one partition handed to the core at once (bounds the executor's memory: ~8 bytes per row in the core
# plus the Arrow input).
FLUSH_ROWS = 1 << 22


# --------------------------------------------------------------------------------------------- shared helpers


def _spark_types() -> Any:
    try:
        from pyspark.sql import types
    except ImportError as e:  # pragma: no cover - exercised only without pyspark
        raise ImportError("hyperlocal.spark needs PySpark: pip install 'pyspark>=4.0'") from e
    return types


def _partition_id() -> int:
    from pyspark import TaskContext

    ctx = TaskContext.get()
    return ctx.partitionId() if ctx is not None else -1


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """PySpark warns (FutureWarning) that it does not fully support pandas ≥ 3 whenever it builds an Arrow UDF or
    collects to Arrow; no pandas is involved here, so that one warning is silenced."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
        )
        yield


def _check_spark_frame(sdf: Any, what: str) -> None:
    if not (hasattr(sdf, "mapInArrow") and hasattr(sdf, "sparkSession")):
        raise InvalidInputError(
            f"{what}: expected a PySpark DataFrame, got {type(sdf).__name__} (for an in-memory table use "
            "hyperlocal's own functions)"
        )


def _require(sdf: SparkDataFrame, cols: Sequence[str], what: str) -> None:
    missing = [c for c in cols if c not in sdf.columns]
    if missing:
        raise InvalidInputError(f"{what}: missing column(s) {missing}; available: {sdf.columns}")


def _arrow_schema(schema: StructType) -> pa.Schema:
    """The Arrow schema Spark expects from ``mapInArrow`` for a Spark schema."""
    from pyspark.sql.pandas.types import to_arrow_schema

    return to_arrow_schema(schema)


_REMOTE_ERROR = re.compile(r"^hyperlocal\.exceptions\.(\w+): (.*)$", re.M)


def _collect(sdf: SparkDataFrame) -> pa.Table:
    """``sdf.toArrow()``; a hyperlocal error raised inside a Spark task (which Spark wraps in its own exception,
    with the Python traceback as text) is raised again here as itself, with its message."""
    try:
        with _quiet():
            return sdf.toArrow()
    except Exception as e:
        found = _REMOTE_ERROR.findall(str(e))
        if found:
            name, msg = found[-1]
            cls = getattr(exceptions, name, None)
            if isinstance(cls, type) and issubclass(cls, exceptions.HyperlocalError):
                raise cls(msg) from e
        raise


def _blocks(batches: Iterator[pa.RecordBatch], limit: int) -> Iterator[tuple[int, pa.Table]]:
    """The batches of a partition regrouped into tables of about ``limit`` rows: (first row, table)."""
    pending: list[pa.RecordBatch] = []
    n = offset = 0
    for b in batches:
        if b.num_rows == 0:
            continue
        pending.append(b)
        n += b.num_rows
        if n >= limit:
            yield offset, pa.Table.from_batches(pending)
            offset, pending, n = offset + n, [], 0
    if pending:
        yield offset, pa.Table.from_batches(pending)


_FIRST_AT = re.compile(r"\(first at ([\d, ]+?)((?:, …)?)\)")


def _located(msg: str, partition: int, offset: int) -> str:
    """An error message about one block of a partition, with its row numbers counted from the partition's start
    and the partition named."""
    if offset:
        msg = _FIRST_AT.sub(
            lambda m: (
                "(first at "
                + ", ".join(str(int(i) + offset) for i in m.group(1).split(",") if i.strip())
                + m.group(2)
                + ")"
            ),
            msg,
        )
    return f"{msg} [Spark partition {partition}; rows are numbered from the partition's first row]"


# ------------------------------------------------------------------------------------------------ count_points


@dataclass(frozen=True)
class _CountSpec:
    resolution: int
    xy: tuple[str, str]
    bng: bool
    by: tuple[str, ...]
    nested: bool
    skip: bool
    schema: pa.Schema  # the partial format (Arrow)


_SKIPPED = re.compile(r"skipped (\d+) rows? \(first at ([\d, ]+?)(?:, …)?\)")


def _count_block(table: FrameLike, spec: _CountSpec) -> tuple[pl.DataFrame, int, list[int]]:
    """Counts of one block (the single-machine call) and its skipped rows: (counts, how many, first rows)."""
    a, b = spec.xy
    coords: dict[str, Any] = {"easting": a, "northing": b} if spec.bng else {"lat": a, "lng": b}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SkippedRowsWarning)
        out = _count_points(
            table,
            resolution=spec.resolution,
            by=list(spec.by),
            nested=spec.nested,
            on_invalid="skip" if spec.skip else "raise",
            **coords,
        )
    skipped, first = 0, []
    for w in caught:
        m = _SKIPPED.search(str(w.message)) if issubclass(w.category, SkippedRowsWarning) else None
        if m:
            skipped += int(m.group(1))
            first += [int(i) for i in m.group(2).split(",") if i.strip()]
        else:
            warnings.warn(w.message, w.category, stacklevel=2)
    return out, skipped, first


def _count_batch(out: pl.DataFrame, spec: _CountSpec) -> pa.RecordBatch:
    cols = [out["cell"].reinterpret(signed=True).to_arrow()]
    cols += [out[c].to_arrow() for c in spec.by]
    cols += [out["count"].cast(pl.Int64).to_arrow(), pa.nulls(out.height, pa.string())]
    return pa.RecordBatch.from_arrays([c.cast(f.type) for c, f in zip(cols, spec.schema)], schema=spec.schema)


def _report_batch(spec: _CountSpec, partition: int, skipped: int, first: list[int]) -> pa.RecordBatch:
    cols = [pa.nulls(1, f.type) for f in spec.schema][:-2]
    cols += [
        pa.array([skipped], pa.int64()),
        pa.array([json.dumps({"partition": partition, "first": first})]),
    ]
    return pa.RecordBatch.from_arrays([c.cast(f.type) for c, f in zip(cols, spec.schema)], schema=spec.schema)


def _count_partials(
    spec: _CountSpec, batches: Iterator[pa.RecordBatch], partition: int
) -> Iterator[pa.RecordBatch]:
    """The partial counts of one partition (see the module docstring)."""
    skipped, first = 0, list[int]()
    for offset, table in _blocks(batches, FLUSH_ROWS):
        try:
            out, k, rows = _count_block(table, spec)
        except InvalidInputError as e:
            raise InvalidInputError(_located(str(e), partition, offset)) from None
        if k:
            skipped += k
            first += [r + offset for r in rows][: KEEP - len(first)]
        if out.height:
            yield _count_batch(out, spec)
    if skipped:
        yield _report_batch(spec, partition, skipped, first)


def _count_task(spec: _CountSpec, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    yield from _count_partials(spec, batches, _partition_id())


def _finish_counts(merged: pl.DataFrame, by: Sequence[str], what: str, stacklevel: int = 3) -> pl.DataFrame:
    """The merged partials as the single-machine result: report rows become one warning, cells UInt64 again,
    counts UInt32, sorted by cell then groups."""
    report = merged[REPORT].is_not_null()
    reports, counts = merged.filter(report), merged.filter(~report)
    if reports.height:
        info = [
            (json.loads(r), int(k))
            for r, k in zip(reports[REPORT].to_list(), reports["count"].to_list())
            if k
        ]
        info.sort(key=lambda rk: rk[0]["partition"])
        total = sum(k for _, k in info)
        first = info[0][0]
        warnings.warn(
            f"{what}: skipped {rows_text(total, first['first'])} (on_invalid='skip'; over {len(info)} Spark "
            f"partition(s), first rows numbered within partition {first['partition']})",
            SkippedRowsWarning,
            stacklevel=stacklevel,
        )
    n = counts["count"]
    top = n.max()
    dtype = count_dtype(None if top is None else int(top))  # type: ignore[arg-type]
    out = pl.DataFrame([counts["cell"].reinterpret(signed=False), *[counts[c] for c in by], n.cast(dtype)])
    return out.sort(["cell", *by])


def count_points(
    sdf: SparkDataFrame,
    *,
    resolution: int,
    lat: str = "lat",
    lng: str = "lng",
    easting: str | None = None,
    northing: str | None = None,
    by: str | Sequence[str] = (),
    nested: bool = True,
    on_invalid: OnInvalid = "raise",
) -> pl.DataFrame:
    """:func:`hyperlocal.count_points` on a PySpark DataFrame: the same table, computed partition by partition.

    Each partition is counted by the Rust core in a ``mapInArrow`` task; Spark sums the partial counts per
    (cell, group) (``groupBy().sum()``) and the driver collects and sorts them. The parameters are those of
    :func:`hyperlocal.count_points`.

    Differences from the single-machine call: Spark has no Enum type, so groups are ordered by their values
    (as the single-machine call orders String columns); row numbers in errors and in the skipped-rows warning
    count within the Spark partition named by the message; with ``on_invalid="skip"`` the warning gives the
    total skipped over all partitions.

    Returns
    -------
    pl.DataFrame
        ``cell`` (UInt64), the ``by`` columns (their Spark types, via Arrow), ``count`` (UInt32; UInt64 if a
        count exceeds 2³²−1), sorted by cell then group: equal to ``hyperlocal.count_points`` on the same rows.

    Raises
    ------
    InvalidInputError
        As the single-machine call (bad coordinates with ``on_invalid="raise"``, null groups, missing columns),
        raised on the driver. Any other failure of a Spark task raises Spark's error; nothing is returned.

    Examples
    --------
    >>> import hyperlocal.spark as hls
    >>> counts = hls.count_points(spark.read.parquet("events/"), resolution=8, by="service")  # doctest: +SKIP
    """
    _check_spark_frame(sdf, "events")
    skip = check_on_invalid(on_invalid)
    res = check_resolution(resolution)
    by = _names(by)
    if (easting is None) != (northing is None):
        raise InvalidInputError("easting/northing: give both column names, or neither (to use lat/lng)")
    xy = (easting, northing) if easting is not None and northing is not None else (lat, lng)
    _require(sdf, [*xy, *by], "events")
    clash = sorted({"cell", "count", REPORT} & set(by))
    if clash:
        raise InvalidInputError(f"by: {clash} would clash with the output columns; rename them first")
    types = _spark_types()
    schema = types.StructType(
        [
            types.StructField("cell", types.LongType()),
            *[types.StructField(c, sdf.schema[c].dataType) for c in by],
            types.StructField("count", types.LongType()),
            types.StructField(REPORT, types.StringType()),
        ]
    )
    spec = _CountSpec(res, xy, easting is not None, tuple(by), bool(nested), skip, _arrow_schema(schema))
    with _quiet():
        partial = sdf.select(*[sdf[c] for c in (*xy, *by)]).mapInArrow(
            functools.partial(_count_task, spec), schema
        )
        merged = (
            partial.groupBy(*[partial[c] for c in ("cell", *by, REPORT)])
            .agg({"count": "sum"})
            .withColumnRenamed("sum(count)", "count")
        )
    table = pl.from_arrow(_collect(merged))
    assert isinstance(table, pl.DataFrame)
    return _finish_counts(table, by, f"count_points({xy[0]}/{xy[1]})")


# --------------------------------------------------------------------------------------------------- apportion


@dataclass(frozen=True)
class _ApportionSpec:
    code: str
    extensive: tuple[str, ...]
    intensive: tuple[str, ...]
    weight: str | None
    crosswalk: bytes  # Arrow IPC: code, cell (UInt64), weight (Float64), row (Int64)
    contrib_schema: pa.Schema
    cells_schema: pa.Schema


def _to_ipc(df: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.write_ipc(buf)
    return buf.getvalue()


@functools.lru_cache(maxsize=4)
def _from_ipc(data: bytes) -> pl.DataFrame:
    return pl.read_ipc(io.BytesIO(data))


def _contributions(values: FrameLike, spec: _ApportionSpec) -> pl.DataFrame:
    """The contributions of one block of values (see the module docstring), validated as the single-machine
    call validates them."""
    df = as_frame(values, "values")
    code = spec.code
    codes = df.get_column(code)
    check_no_nulls(codes, f"values[{code!r}]")
    ext = [_numeric(df, c, nonneg=True, codes=codes) for c in spec.extensive]
    ints = [_numeric(df, c, nonneg=False, codes=codes) for c in spec.intensive]
    p = _numeric(df, spec.weight, nonneg=True, codes=codes) if spec.weight else None
    index = df.select(pl.col(code), pl.int_range(pl.len(), dtype=pl.UInt32).alias("__area"))
    xw = _from_ipc(spec.crosswalk)
    if xw.schema[code] != index.schema[code]:
        try:
            xw = xw.with_columns(pl.col(code).cast(index.schema[code]))
        except Exception as e:  # noqa: BLE001
            raise InvalidInputError(
                f"{code}: crosswalk codes are {xw.schema[code]}, values codes {index.schema[code]}"
            ) from e
    missing = index.join(xw.select(code).unique(), on=code, how="anti").sort("__area")
    if missing.height:
        raise InvalidInputError(
            f"values[{code!r}]: {rows_text(missing.height, missing['__area'].head(KEEP).to_list())} have codes "
            f"absent from the crosswalk (e.g. {missing[code].head(KEEP).to_list()}); expected every code in it"
        )
    rows = xw.join(index, on=code, how="inner")
    area = rows["__area"].to_numpy()
    cols = [
        rows["cell"].reinterpret(signed=True).alias("cell"),
        rows["row"],
        rows["weight"].alias("w"),
        *[pl.Series(f"__e{k}", a[area]) for k, a in enumerate(ext)],
        *[pl.Series(f"__i{k}", a[area]) for k, a in enumerate(ints)],
    ]
    if p is not None:
        cols.append(pl.Series("__p", p[area]))
    return pl.DataFrame(cols)


def _contrib_task(spec: _ApportionSpec, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    partition = _partition_id()
    for offset, table in _blocks(batches, FLUSH_ROWS):
        try:
            out = _contributions(table, spec)
        except InvalidInputError as e:
            raise InvalidInputError(_located(str(e), partition, offset)) from None
        yield from out.to_arrow().cast(spec.contrib_schema).to_batches()


def _finish_cells(contributions: FrameLike, spec: _ApportionSpec) -> pl.DataFrame:
    """The cells of a set of contributions that holds every contribution of its cells: per cell, the weighted
    sums in crosswalk row order, by the core routine of the single-machine call."""
    df = as_frame(contributions, "contributions").sort("row")
    dup = df["row"].is_duplicated()
    if dup.any():
        xw = _from_ipc(spec.crosswalk)
        rows = df.filter(dup)["row"].unique().sort()
        dup_codes = xw[spec.code].gather(rows).unique(maintain_order=True)
        raise InvalidInputError(
            f"values[{spec.code!r}]: duplicate codes (e.g. {dup_codes.head(KEEP).to_list()}) are on more than "
            "one row of values; expected each code once"
        )
    n = df.height

    def f64(c: str) -> np.ndarray:
        return np.ascontiguousarray(df[c].to_numpy())

    raw = np.ascontiguousarray(df["cell"].reinterpret(signed=False).to_numpy())
    cells, e_out, i_out, wsum = _core.weighted_cell_sums(
        raw,
        np.arange(n, dtype=np.uint32),
        f64("w"),
        n,
        [f64(f"__e{k}") for k in range(len(spec.extensive))],
        [f64(f"__i{k}") for k in range(len(spec.intensive))],
        f64("__p") if spec.weight else None,
    )
    _, per_cell = np.unique(raw, return_counts=True)
    cols = [series_from_numpy("cell", cells).reinterpret(signed=True)]
    cols += [series_from_numpy(f"__e{k}", a) for k, a in enumerate(e_out)]
    cols.append(series_from_numpy("__wsum", wsum))
    cols += [series_from_numpy(f"__i{k}", a) for k, a in enumerate(i_out)]
    cols.append(pl.Series("__rows", per_cell.astype(np.int64)))
    return pl.DataFrame(cols)


def _cells_task(spec: _ApportionSpec, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    parts = [b for b in batches if b.num_rows]
    if parts:
        out = _finish_cells(pa.Table.from_batches(parts), spec)
        yield from out.to_arrow().cast(spec.cells_schema).to_batches()


def _assemble_cells(cells: pl.DataFrame, spec: _ApportionSpec) -> pl.DataFrame:
    """Finished cells (from any number of partitions) as the single-machine result."""
    cells = cells.sort("cell")
    e = [np.ascontiguousarray(cells[f"__e{k}"].to_numpy()) for k in range(len(spec.extensive))]
    i = [np.ascontiguousarray(cells[f"__i{k}"].to_numpy()) for k in range(len(spec.intensive))]
    return _assemble(
        np.ascontiguousarray(cells["cell"].reinterpret(signed=False).to_numpy()),
        e,
        i,
        np.ascontiguousarray(cells["__wsum"].to_numpy()),
        list(spec.extensive),
        list(spec.intensive),
        spec.weight,
    )


def _local_frame(x: Any, what: str) -> pl.DataFrame:
    if hasattr(x, "mapInArrow") and hasattr(x, "toArrow"):
        out = pl.from_arrow(_collect(x))
        assert isinstance(out, pl.DataFrame)
        return out
    return as_frame(x, what)


def apportion(
    sdf: SparkDataFrame,
    crosswalk: FrameLike,
    *,
    code: str = "code",
    extensive: str | Sequence[str] = (),
    intensive: str | Sequence[str] = (),
    weight: str | None = None,
) -> pl.DataFrame:
    """:func:`hyperlocal.apportion` with the values in a PySpark DataFrame: the same table, to the last bit.

    ``sdf`` holds one row per area (distributed); ``crosswalk`` (from :func:`hyperlocal.crosswalk`: ``code``,
    ``cell``, ``weight``) is small and is shipped to every task with it. It may be a Polars, Arrow or pandas
    table, or a Spark DataFrame (collected to the driver first). Each partition's values become per-cell
    contributions; Spark gathers each cell's contributions in one task, which sums them in crosswalk row order
    with the single-machine routine. The other parameters are those of :func:`hyperlocal.apportion`.

    Returns
    -------
    pl.DataFrame
        Equal (``==`` on every float) to ``hyperlocal.apportion(values, crosswalk, ...)`` on the same rows.

    Raises
    ------
    InvalidInputError
        As the single-machine call: codes absent from the crosswalk, nulls, negative counts, duplicate codes
        (row numbers count within the Spark partition that the message names). Any other failure of a Spark
        task raises Spark's error; nothing is returned.

    Examples
    --------
    >>> import hyperlocal as hl, hyperlocal.spark as hls
    >>> xw = hl.crosswalk(centroids, resolution=8, code="LSOA21CD", easting="x", northing="y")  # doctest: +SKIP
    >>> grid = hls.apportion(spark.table("ts037"), xw, code="LSOA21CD", extensive=["bad"])  # doctest: +SKIP
    """
    _check_spark_frame(sdf, "values")
    extensive, intensive = _names(extensive), _names(intensive)
    _check_columns(extensive, intensive, weight)
    if not extensive and not intensive:
        raise InvalidInputError("apportion: name at least one extensive or intensive column")
    need = list(dict.fromkeys([code, *extensive, *intensive] + ([weight] if weight else [])))
    _require(sdf, need, "values")
    xw = _local_frame(crosswalk, "crosswalk")
    require_columns(xw, [code, "cell", "weight"], "crosswalk")
    xw = xw.select(code, "cell", "weight")
    check_no_nulls(xw["cell"], "crosswalk['cell']")
    _numeric(xw, "weight", nonneg=True)
    xw = xw.with_columns(
        pl.col("cell").cast(pl.UInt64),
        pl.col("weight").cast(pl.Float64),
        pl.int_range(pl.len(), dtype=pl.Int64).alias("row"),
    )
    types = _spark_types()
    dbl, lng = types.DoubleType(), types.LongType()
    e_names = [f"__e{k}" for k in range(len(extensive))]
    i_names = [f"__i{k}" for k in range(len(intensive))]
    contrib = types.StructType(
        [types.StructField(c, lng) for c in ("cell", "row")]
        + [types.StructField(c, dbl) for c in ["w", *e_names, *i_names] + (["__p"] if weight else [])]
    )
    cells = types.StructType(
        [types.StructField("cell", lng)]
        + [types.StructField(c, dbl) for c in [*e_names, "__wsum", *i_names]]
        + [types.StructField("__rows", lng)]
    )
    spec = _ApportionSpec(
        code,
        tuple(extensive),
        tuple(intensive),
        weight,
        _to_ipc(xw),
        _arrow_schema(contrib),
        _arrow_schema(cells),
    )
    values = sdf.select(*[sdf[c] for c in need])
    with _quiet():
        parts = values.mapInArrow(functools.partial(_contrib_task, spec), contrib)
        done = parts.repartition(parts["cell"]).mapInArrow(functools.partial(_cells_task, spec), cells)
    table = pl.from_arrow(_collect(done))
    assert isinstance(table, pl.DataFrame)
    covered = int(table["__rows"].sum())
    if covered < xw.height:
        present = pl.from_arrow(_collect(values.select(values[code]).distinct()))
        assert isinstance(present, pl.DataFrame)
        xw_codes = xw.select(code).unique(maintain_order=True)
        if present.schema[code] != xw_codes.schema[code]:
            present = present.with_columns(pl.col(code).cast(xw_codes.schema[code], strict=False))
        extra = xw_codes.join(present, on=code, how="anti")
        warnings.warn(
            f"crosswalk[{code!r}]: {extra.height} area(s) have no row in values (e.g. "
            f"{extra[code].head(KEEP).to_list()}); their cells get nothing from them",
            UnmatchedAreasWarning,
            stacklevel=2,
        )
    return _assemble_cells(table, spec)
