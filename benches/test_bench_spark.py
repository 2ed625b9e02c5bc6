"""hyperlocal.spark.count_points in Spark local[2] against the single-process call, on the same 10M events.

The report's ratio for the Spark row is its overhead: Spark time / single-process time (same machine, same run).
Spark reads the events from Parquet each round (as a job would); the single process counts the frame in memory.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import hyperlocal as hl
import polars as pl
import pytest

if importlib.util.find_spec("pyspark") is None:
    pytest.skip("pyspark is not installed (pip install 'pyspark>=4.0', and Java 17)", allow_module_level=True)

import hyperlocal.spark as hls  # noqa: E402
from pyspark.sql import SparkSession  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning")

RES = 9
GROUP = "count_points 10M res9 by service: Spark local[2] vs one process"


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkSession]:
    os.environ["PYSPARK_PYTHON"] = sys.executable
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        session = (
            SparkSession.builder.master("local[2]")
            .appName("hyperlocal-bench")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", "4")
            .config("spark.driver.memory", "2g")
            .getOrCreate()
        )
    session.sparkContext.setLogLevel("FATAL")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def string_events(events: pl.DataFrame) -> pl.DataFrame:
    """The 10M events with ``service`` as String (Spark has no Enum), for both sides."""
    return events.with_columns(pl.col("service").cast(pl.String))


@pytest.fixture(scope="module")
def events_parquet(string_events: pl.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("spark") / "events.parquet"
    string_events.write_parquet(path)
    return path


@pytest.mark.benchmark(group=GROUP)
def test_hyperlocal_count_points_one_process(benchmark, string_events) -> None:
    out = benchmark.pedantic(
        hl.count_points,
        args=(string_events,),
        kwargs={"resolution": RES, "by": "service"},
        rounds=3,
        iterations=1,
        warmup_rounds=1,
    )
    assert out["count"].sum() == string_events.height


@pytest.mark.benchmark(group=GROUP)
def test_spark_local2_count_points(benchmark, spark, events_parquet, string_events) -> None:
    def run() -> pl.DataFrame:
        return hls.count_points(spark.read.parquet(str(events_parquet)), resolution=RES, by="service")

    out = benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=1)
    assert out.equals(hl.count_points(string_events, resolution=RES, by="service"))
