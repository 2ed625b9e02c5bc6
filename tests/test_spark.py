"""hyperlocal.spark in Spark local mode (local[2]) against the single-machine calls: equal tables, floats to the
last bit, the same errors and warnings; the partial formats merge the same in any order and partitioning.

Needs PySpark (the ``test`` extra) and Java 17. Without PySpark the module is skipped, unless ``CI`` is set, where
it fails.
"""

from __future__ import annotations

import importlib.util
import os
import random
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hyperlocal as hl
import hyperlocal.ons
import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from hyperlocal.exceptions import InvalidInputError, SkippedRowsWarning, UnmatchedAreasWarning
from polars.testing import assert_frame_equal

if importlib.util.find_spec("pyspark") is None:
    if os.environ.get("CI"):
        pytest.fail("pyspark is not installed (CI is set): pip install -e '.[test]'", pytrace=False)
    pytest.skip("pyspark is not installed: pip install 'pyspark>=4.0' (and Java 17)", allow_module_level=True)

import hyperlocal.spark as hls  # noqa: E402
from pyspark.errors import PythonException  # noqa: E402
from pyspark.sql import DataFrame as SparkDataFrame  # noqa: E402
from pyspark.sql import SparkSession  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning")

N_EVENTS = 2_000_000
RES = 8
EXT = ["very_good", "good", "fair", "bad", "very_bad", "residents"]


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    old = os.environ.get("PYSPARK_PYTHON")
    os.environ["PYSPARK_PYTHON"] = sys.executable
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        session = (
            SparkSession.builder.master("local[2]")
            .appName("hyperlocal-tests")
            .config("spark.sql.shuffle.partitions", "4")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.files.maxPartitionBytes", str(8 << 20))  # several partitions per file
            .config("spark.driver.memory", "2g")
            .getOrCreate()
        )
    session.sparkContext.setLogLevel("FATAL")
    yield session
    session.stop()
    if old is None:
        os.environ.pop("PYSPARK_PYTHON", None)
    else:
        os.environ["PYSPARK_PYTHON"] = old


def to_spark(spark: SparkSession, df: pl.DataFrame, path: Path) -> SparkDataFrame:
    """A Spark DataFrame read from Parquet (several partitions; row order kept in each)."""
    df.write_parquet(path, row_group_size=100_000)
    return spark.read.parquet(str(path))


def shuffled(sdf: SparkDataFrame, seed: int, n: int) -> SparkDataFrame:
    """The same rows, dealt at random into ``n`` partitions, in a random order inside each."""
    return sdf.repartition(n, F.rand(seed)).sortWithinPartitions(F.rand(seed + 1))


# ------------------------------------------------------------------------------------------------ count_points


@pytest.fixture(scope="module")
def events() -> pl.DataFrame:
    ev = hl.synth.nation(seed=0, n_areas=20_000).events(N_EVENTS, seed=1)
    return ev.select(
        "easting", "northing", pl.col("service").cast(pl.String), pl.col("date").dt.month().alias("month")
    )


@pytest.fixture(scope="module")
def events_sdf(
    spark: SparkSession, events: pl.DataFrame, tmp_path_factory: pytest.TempPathFactory
) -> SparkDataFrame:
    return to_spark(spark, events, tmp_path_factory.mktemp("spark") / "events.parquet")


def test_count_points_equals_in_memory(events: pl.DataFrame, events_sdf: SparkDataFrame) -> None:
    assert events_sdf.rdd.getNumPartitions() > 2
    kw: dict[str, Any] = {"resolution": RES, "easting": "easting", "northing": "northing", "by": "service"}
    got = hls.count_points(events_sdf, **kw)
    assert_frame_equal(got, hl.count_points(events, **kw))
    assert int(got["count"].sum()) == N_EVENTS


def test_count_points_latlng_two_groups_not_nested(
    events: pl.DataFrame, spark: SparkSession, tmp_path: Path
) -> None:
    ev = events.head(500_000)
    ll = hl.bng_to_latlng(ev["easting"], ev["northing"])
    ev = ev.with_columns(lat=ll["lat"], lng=ll["lng"])
    kw: dict[str, Any] = {"resolution": 9, "by": ["month", "service"], "nested": False}
    got = hls.count_points(to_spark(spark, ev, tmp_path / "ll.parquet"), **kw)
    assert got.schema == {"cell": pl.UInt64, "month": pl.Int8, "service": pl.String, "count": pl.UInt32}
    assert_frame_equal(got, hl.count_points(ev, **kw))


def test_count_points_any_partitioning(events: pl.DataFrame, spark: SparkSession, tmp_path: Path) -> None:
    """Random partitionings (several seeds and partition counts) give the very same table."""
    ev = events.head(300_000)
    sdf = to_spark(spark, ev, tmp_path / "ev.parquet")
    kw: dict[str, Any] = {"resolution": 7, "easting": "easting", "northing": "northing", "by": "service"}
    want = hl.count_points(ev, **kw)
    for seed, n in [(1, 1), (2, 3), (3, 7)]:
        assert_frame_equal(hls.count_points(shuffled(sdf, seed, n), **kw), want)


def _count_spec(by: tuple[str, ...], skip: bool = False) -> Any:
    from pyspark.sql import types as T

    schema = T.StructType(
        [T.StructField("cell", T.LongType())]
        + [T.StructField(c, T.StringType()) for c in by]
        + [T.StructField("count", T.LongType()), T.StructField(hls.REPORT, T.StringType())]
    )
    return hls._CountSpec(RES, ("easting", "northing"), True, by, True, skip, hls._arrow_schema(schema))


def _split(df: pl.DataFrame, parts: int, rng: random.Random) -> list[pl.DataFrame]:
    """Rows dealt at random into ``parts`` pieces (some may be empty)."""
    label = pl.Series(np.random.default_rng(rng.randrange(2**32)).integers(0, parts, df.height))
    return [df.filter(label == k) for k in range(parts)]


def test_count_partials_merge_in_any_order(events: pl.DataFrame) -> None:
    """The partial format: partials of any partitioning, merged in any order or as a tree, give the table."""
    ev = events.head(300_000).with_columns(
        easting=pl.when(pl.int_range(pl.len()) % 997 == 5).then(float("nan")).otherwise("easting")
    )
    spec = _count_spec(("service",), skip=True)
    with pytest.warns(SkippedRowsWarning, match="skipped 301 rows"):
        want = hl.count_points(
            ev, resolution=RES, easting="easting", northing="northing", by="service", on_invalid="skip"
        )
    rng = random.Random(0)

    def merge(parts: list[pl.DataFrame]) -> pl.DataFrame:
        return (
            pl.concat(parts)
            .group_by("cell", "service", hls.REPORT)
            .agg(pl.col("count").sum())
            .sample(fraction=1.0, shuffle=True, seed=rng.randrange(2**32))
        )

    for n in (1, 4, 9):
        partials = []
        for pid, piece in enumerate(_split(ev, n, rng)):
            batches = piece.to_arrow().to_batches(max_chunksize=50_000)
            out = list(hls._count_partials(spec, iter(batches), pid))
            partials.append(pl.from_arrow(pa.Table.from_batches(out, schema=spec.schema)))
        rng.shuffle(partials)
        flat = merge(partials)
        tree = merge([merge(partials[::2]), merge(partials[1::2])]) if n > 1 else flat
        for merged in (flat, tree):
            assert isinstance(merged, pl.DataFrame)
            with pytest.warns(SkippedRowsWarning, match=f"skipped 301 rows .* over {min(n, 301)} Spark"):
                got = hls._finish_counts(merged, ["service"], "count_points(easting/northing)")
            assert_frame_equal(got, want)


def _with_bad(df: pl.DataFrame, rows: list[int]) -> pl.DataFrame:
    bad = pl.int_range(pl.len()).is_in(rows)
    return df.with_columns(northing=pl.when(bad).then(None).otherwise("northing"))


def test_count_points_bad_rows_raise_like_in_memory(
    events: pl.DataFrame, spark: SparkSession, tmp_path: Path
) -> None:
    ev = _with_bad(events.head(50_000), [7, 40_001])
    kw: dict[str, Any] = {"resolution": RES, "easting": "easting", "northing": "northing"}
    with pytest.raises(InvalidInputError) as local:
        hl.count_points(ev, **kw)
    one = to_spark(spark, ev, tmp_path / "bad.parquet").coalesce(1)
    with pytest.raises(InvalidInputError) as remote:
        hls.count_points(one, **kw)
    # One partition holding the rows in order: the single-machine message, with the partition named.
    assert (
        str(remote.value)
        == f"{local.value} [Spark partition 0; rows are numbered from the partition's first row]"
    )


def test_count_points_skip_sums_over_partitions(
    events: pl.DataFrame, spark: SparkSession, tmp_path: Path
) -> None:
    bad = list(range(3, 400_000, 9_973))
    ev = _with_bad(events.head(400_000), bad)
    kw: dict[str, Any] = {"resolution": RES, "easting": "easting", "northing": "northing", "by": "service"}
    with pytest.warns(SkippedRowsWarning, match=f"skipped {len(bad)} rows"):
        want = hl.count_points(ev, on_invalid="skip", **kw)
    sdf = to_spark(spark, ev, tmp_path / "skip.parquet")
    assert sdf.rdd.getNumPartitions() > 1
    with pytest.warns(
        SkippedRowsWarning, match=rf"skipped {len(bad)} rows \(first at 3, .*\(on_invalid='skip'; over"
    ):
        got = hls.count_points(sdf, on_invalid="skip", **kw)
    assert_frame_equal(got, want)
    with pytest.raises(
        InvalidInputError, match=r"easting/northing: \d+ rows? \(first at .*Spark partition \d+"
    ):
        hls.count_points(sdf, **kw)


def test_count_points_empty(spark: SparkSession, events: pl.DataFrame, tmp_path: Path) -> None:
    empty = events.head(0)
    kw: dict[str, Any] = {
        "resolution": RES,
        "easting": "easting",
        "northing": "northing",
        "by": ["service", "month"],
    }
    got = hls.count_points(to_spark(spark, empty, tmp_path / "empty.parquet"), **kw)
    assert_frame_equal(got, hl.count_points(empty, **kw))
    assert got.schema == {"cell": pl.UInt64, "service": pl.String, "month": pl.Int8, "count": pl.UInt32}


def test_count_points_input_errors(events_sdf: SparkDataFrame, events: pl.DataFrame) -> None:
    with pytest.raises(InvalidInputError, match=r"events: missing column\(s\) \['lat', 'lng'\]"):
        hls.count_points(events_sdf, resolution=RES)
    with pytest.raises(InvalidInputError, match="resolution"):
        hls.count_points(events_sdf, resolution=16, easting="easting", northing="northing")
    with pytest.raises(InvalidInputError, match="expected a PySpark DataFrame"):
        hls.count_points(events, resolution=RES)


def test_failed_task_leaves_nothing(events_sdf: SparkDataFrame, tmp_path: Path) -> None:
    """A task that fails (here: an upstream step on one partition) fails the call: Spark's error, no result,
    nothing written by the caller's next step, nothing left cached."""

    def fail_in_partition_1(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pyspark import TaskContext

        ctx = TaskContext.get()
        for b in batches:
            if ctx is not None and ctx.partitionId() == 1:
                raise RuntimeError("injected executor fault")
            yield b

    faulty = events_sdf.mapInArrow(fail_in_partition_1, events_sdf.schema)
    out = tmp_path / "counts.parquet"
    with pytest.raises(PythonException, match="injected executor fault"):
        hl.write(hls.count_points(faulty, resolution=RES, easting="easting", northing="northing"), out)
    assert not out.exists() and list(tmp_path.iterdir()) == []
    assert events_sdf.sparkSession.sparkContext._jsc.getPersistentRDDs().isEmpty()  # type: ignore[union-attr]


# --------------------------------------------------------------------------------------------------- apportion


@pytest.fixture(scope="module")
def values(data: Path) -> pl.DataFrame:
    """TS037 for the 35,672 LSOAs, with an intensive share (%) to average by residents."""
    v = hl.ons.ts037_lsoa21(data / "census2021" / "ts037_general_health_lsoa21_ew.parquet").drop("name")
    return v.with_columns(pct_bad=(pl.col("bad") + pl.col("very_bad")) / pl.col("residents") * 100)


@pytest.fixture(scope="module")
def xw(lsoa_pwc: pl.DataFrame) -> pl.DataFrame:
    """Centroid crosswalk at res 8 from the population-weighted centroids."""
    return hl.crosswalk(lsoa_pwc, resolution=RES, code="LSOA21CD", easting="x", northing="y")


@pytest.fixture(scope="module")
def xw_split(lsoa_pwc: pl.DataFrame, xw: pl.DataFrame) -> pl.DataFrame:
    """Each area shared 1/3 : 2/3 between its centroid's cell and the cell 600 m east: inexact weights, and
    several areas per cell, so the order of the float sums shows in the last bits."""
    east = hl.crosswalk(
        lsoa_pwc.with_columns(pl.col("x") + 600), resolution=RES, code="LSOA21CD", easting="x", northing="y"
    )
    return pl.concat([xw.with_columns(weight=pl.lit(1 / 3)), east.with_columns(weight=pl.lit(2 / 3))]).sample(
        fraction=1.0, shuffle=True, seed=5
    )


APP: dict[str, Any] = {"code": "LSOA21CD", "extensive": EXT, "intensive": "pct_bad", "weight": "residents"}


@pytest.fixture(scope="module")
def values_sdf(
    spark: SparkSession, values: pl.DataFrame, tmp_path_factory: pytest.TempPathFactory
) -> SparkDataFrame:
    return spark.createDataFrame(values.to_arrow()).repartition(3)


def test_apportion_national_ts037_bit_identical(
    values: pl.DataFrame, values_sdf: SparkDataFrame, xw: pl.DataFrame, xw_split: pl.DataFrame
) -> None:
    for crosswalk in (xw, xw_split):
        want = hl.apportion(values, crosswalk, **APP)
        got = hls.apportion(values_sdf, crosswalk, **APP)
        assert_frame_equal(got, want, check_exact=True)
        assert got.height > 20_000
        assert (got["residents"].to_numpy() == want["residents"].to_numpy()).all()
        assert got["residents"].sum() == pytest.approx(values["residents"].sum(), rel=1e-12)


def test_apportion_sums_in_crosswalk_row_order(spark: SparkSession) -> None:
    """Five areas in one cell whose sum depends on the order of addition (even with compensated summation): the
    Spark result follows the crosswalk's row order, like the single-machine call, however the values are
    partitioned."""
    x = [
        8.937587976957898e-07,
        984895871144072.5,
        7.797434502547135e-05,
        -0.010687773458155981,
        -984895871144072.5,
    ]
    values = pl.DataFrame({"code": list("ABCDE"), "x": x})
    cell = int(hl.latlng_to_cell([51.5], [-0.1], RES)[0])
    xw = pl.DataFrame({"code": list("ABCDE"), "cell": [cell] * 5, "weight": [1.0] * 5}).with_columns(
        pl.col("cell").cast(pl.UInt64)
    )
    # Each crosswalk lists the values' areas in the values' order (the single-machine call then sums in that
    # order without a join).
    forward = hl.apportion(values, xw, intensive="x")
    backward = hl.apportion(values.reverse(), xw.reverse(), intensive="x")
    assert forward["x"][0] != backward["x"][0]  # the order shows in the last bit
    for crosswalk, want in [(xw, forward), (xw.reverse(), backward)]:
        for seed in (1, 2):
            sdf = shuffled(spark.createDataFrame(values.to_arrow()), seed, 5)
            assert_frame_equal(hls.apportion(sdf, crosswalk, intensive="x"), want, check_exact=True)


def test_apportion_any_partitioning(
    values: pl.DataFrame, values_sdf: SparkDataFrame, xw_split: pl.DataFrame
) -> None:
    want = hl.apportion(values, xw_split, **APP)
    for seed, n in [(11, 1), (12, 5)]:
        assert_frame_equal(
            hls.apportion(shuffled(values_sdf, seed, n), xw_split, **APP), want, check_exact=True
        )


def test_apportion_partials_merge_in_any_order(values: pl.DataFrame, xw_split: pl.DataFrame) -> None:
    """The partial format: contributions of any split of the values, pooled in any order and finished in any
    grouping of whole cells, give the single-machine table."""
    want = hl.apportion(values, xw_split, **APP)
    spec = _apportion_spec(xw_split)
    rng = random.Random(1)
    for n_values, n_cells in [(1, 1), (4, 3), (7, 10)]:
        contrib = [hls._contributions(p.to_arrow(), spec) for p in _split(values, n_values, rng)]
        rng.shuffle(contrib)
        pooled = pl.concat(contrib).sample(fraction=1.0, shuffle=True, seed=rng.randrange(2**32))
        group = pooled["cell"].hash(rng.randrange(2**32)) % n_cells
        finished = [hls._finish_cells(pooled.filter(group == k), spec) for k in range(n_cells)]
        finished = [f for f in finished if f.height]
        rng.shuffle(finished)
        got = hls._assemble_cells(pl.concat(finished), spec)
        assert_frame_equal(got, want, check_exact=True)


def _apportion_spec(crosswalk: pl.DataFrame) -> Any:
    xw = crosswalk.select("LSOA21CD", "cell", "weight").with_columns(
        pl.int_range(pl.len(), dtype=pl.Int64).alias("row")
    )
    return hls._ApportionSpec(
        "LSOA21CD", tuple(EXT), ("pct_bad",), "residents", hls._to_ipc(xw), pa.schema([]), pa.schema([])
    )


def test_apportion_errors_like_in_memory(spark: SparkSession, values: pl.DataFrame, xw: pl.DataFrame) -> None:
    def sdf(df: pl.DataFrame) -> SparkDataFrame:
        return spark.createDataFrame(df.to_arrow()).coalesce(1)

    negative = values.with_columns(bad=pl.when(pl.int_range(pl.len()) == 12).then(-1).otherwise("bad"))
    with pytest.raises(InvalidInputError) as local:
        hl.apportion(negative, xw, **APP)
    with pytest.raises(InvalidInputError) as remote:
        hls.apportion(sdf(negative), xw, **APP)
    assert str(remote.value).startswith(str(local.value))

    unknown = values.with_columns(
        LSOA21CD=pl.when(pl.int_range(pl.len()) == 3).then(pl.lit("X1")).otherwise("LSOA21CD")
    )
    with pytest.raises(
        InvalidInputError,
        match=r"1 row \(first at 3\) have codes absent from the crosswalk \(e.g. \['X1'\]\)",
    ):
        hls.apportion(sdf(unknown), xw, **APP)

    dup = pl.concat([values, values.head(2)])
    with pytest.raises(InvalidInputError, match="duplicate codes"):
        hl.apportion(dup, xw, **APP)
    with pytest.raises(InvalidInputError, match=r"duplicate codes \(e.g. \['E0") as err:
        hls.apportion(spark.createDataFrame(dup.to_arrow()).repartition(3), xw, **APP)
    assert any(c in str(err.value) for c in values["LSOA21CD"].head(2))

    with pytest.raises(InvalidInputError, match="at least one extensive or intensive"):
        hls.apportion(sdf(values), xw, code="LSOA21CD")


def test_apportion_unmatched_and_empty(spark: SparkSession, values: pl.DataFrame, xw: pl.DataFrame) -> None:
    part = values.filter(pl.col("LSOA21CD").str.starts_with("W"))
    with pytest.warns(UnmatchedAreasWarning) as local:
        want = hl.apportion(part, xw, **APP)
    with pytest.warns(UnmatchedAreasWarning) as remote:
        got = hls.apportion(spark.createDataFrame(part.to_arrow()).repartition(2), xw, **APP)
    assert_frame_equal(got, want, check_exact=True)
    assert str(remote[0].message) == str(local[0].message)

    empty = values.head(0)
    with pytest.warns(UnmatchedAreasWarning, match=f"{xw.height} area"):
        want = hl.apportion(empty, xw, **APP)
    schema = spark.createDataFrame(values.head(1).to_arrow()).schema
    with pytest.warns(UnmatchedAreasWarning, match=f"{xw.height} area"):
        got = hls.apportion(spark.createDataFrame([], schema), xw, **APP)
    assert got.height == 0
    assert_frame_equal(got, want)
