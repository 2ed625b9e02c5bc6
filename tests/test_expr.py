"""hyperlocal.expr: Polars expressions equal to the eager functions, in eager, lazy and streaming queries."""

from __future__ import annotations

from pathlib import Path

import hyperlocal as hl
import hyperlocal.cells
import hyperlocal.expr as hx
import numpy as np
import polars as pl
import pytest
from hyperlocal.exceptions import InvalidInputError, SkippedRowsWarning

N = 400_000


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Points over Great Britain (lat/lng and BNG), with nulls, in a Parquet file of many row groups."""
    rng = np.random.default_rng(7)
    lat = rng.uniform(49.9, 55.8, N)
    lng = rng.uniform(-5.7, 1.8, N)
    ll = pl.Series("lat", lat)
    e = rng.uniform(100_000, 650_000, N)
    n = rng.uniform(10_000, 1_200_000, N)
    df = pl.DataFrame({"lat": ll, "lng": lng, "easting": e, "northing": n,
                       "service": rng.choice(["gp", "ae", "op"], N)})  # fmt: skip
    null_rows = rng.choice(N, 500, replace=False)
    df = df.with_columns(
        pl.when(pl.int_range(pl.len()).is_in(null_rows[:250])).then(None).otherwise(pl.col("lat")).alias("lat"),
        pl.when(pl.int_range(pl.len()).is_in(null_rows[250:])).then(None).otherwise(pl.col("northing")).alias("northing"),
    )  # fmt: skip
    path = tmp_path_factory.mktemp("expr") / "events.parquet"
    df.write_parquet(path, row_group_size=25_000)
    return path


def _eager_cells(df: pl.DataFrame, a: str, b: str, kernel: object, res: int) -> pl.Series:
    """The eager function on the rows where both inputs are present; null elsewhere."""
    ok = df[a].is_not_null() & df[b].is_not_null()
    full = np.zeros(df.height, dtype=np.uint64)
    full[ok.to_numpy()] = kernel(df.filter(ok)[a], df.filter(ok)[b], res).to_numpy()  # type: ignore[operator]
    return pl.select(pl.when(pl.Series(ok)).then(pl.Series(full))).to_series()


@pytest.mark.parametrize("res", [0, 7, 9, 15])
def test_streaming_query_equals_the_eager_functions(events: Path, res: int) -> None:
    df = pl.read_parquet(events)
    out = (
        pl.scan_parquet(events)
        .select(
            hx.latlng_to_cell("lat", "lng", res).alias("ll"),
            hx.bng_to_cell("easting", "northing", res).alias("bng"),
        )
        .collect(engine="streaming")
    )
    expect_ll = _eager_cells(df, "lat", "lng", hl.latlng_to_cell, res)
    expect_bng = _eager_cells(df, "easting", "northing", hl.bng_to_cell, res)
    assert out["ll"].null_count() == 250 and out["bng"].null_count() == 250
    assert out["ll"].equals(expect_ll.alias("ll")) and out["bng"].equals(expect_bng.alias("bng"))
    assert out["ll"].dtype == pl.UInt64
    # the same cells as h3-py, the reference
    h3 = pytest.importorskip("h3")
    sample = df.head(2000).filter(pl.col("lat").is_not_null())
    ref = [h3.str_to_int(h3.latlng_to_cell(a, b, res)) for a, b in sample.select("lat", "lng").iter_rows()]
    got = sample.select(hx.latlng_to_cell("lat", "lng", res)).to_series().to_list()
    assert got == ref


def test_group_by_agg_lazy_and_eager_agree(events: Path) -> None:
    q = (
        pl.scan_parquet(events)
        .filter(pl.col("lat").is_not_null())
        .with_columns(hx.latlng_to_cell("lat", "lng", 9).alias("cell"))
        .group_by(hx.cell_to_parent("cell", 6).alias("parent"), "service")
        .agg(pl.len().alias("n"), hx.cell_to_string(pl.col("cell").first()).alias("first"))
    )
    streamed = q.collect(engine="streaming").sort("parent", "service")
    in_memory = q.collect(engine="in-memory").sort("parent", "service")
    assert streamed.select("parent", "service", "n").equals(in_memory.select("parent", "service", "n"))
    # against count_points with geometric containment (nested=False), then rolled up to res 6
    counts = hl.count_points(pl.read_parquet(events).filter(pl.col("lat").is_not_null()), resolution=9,
                             by="service", nested=False)  # fmt: skip
    rolled = (
        counts.with_columns(hl.cell_to_parent(counts["cell"], 6).alias("parent"))
        .group_by("parent", "service")
        .agg(pl.col("count").sum().cast(pl.UInt32).alias("n"))
        .sort("parent", "service")
    )
    assert streamed.select("parent", "service", "n").equals(rolled)
    assert streamed["n"].sum() == N - 250


def test_strings_round_trip_and_nulls_stay_null() -> None:
    cells = hl.latlng_to_cell([51.5007, 53.48, 50.37], [-0.1246, -2.24, -4.14], 9)
    df = pl.DataFrame({"cell": pl.concat([cells, pl.Series("cell", [None], dtype=pl.UInt64)])})
    out = df.select(
        hx.cell_to_string("cell").alias("s"),
        hx.string_to_cell(hx.cell_to_string("cell")).alias("back"),
        hx.cell_to_parent("cell", 5).alias("p"),
    )
    assert out["s"].to_list()[:1] == ["89194ad14c3ffff"] and out["s"][3] is None
    assert out["back"].equals(df["cell"].alias("back"))
    assert out["p"].head(3).equals(hl.cell_to_parent(cells, 5).alias("p")) and out["p"][3] is None
    # a batch with no valid value at all
    empty = pl.DataFrame({"cell": pl.Series([None, None], dtype=pl.UInt64)})
    assert empty.select(hx.cell_to_string("cell")).to_series().null_count() == 2


def test_the_plan_stays_streaming(events: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Declared element-wise, the expression runs batch by batch inside the stream (not on the gathered column)."""
    sizes: list[int] = []
    real = hyperlocal.cells.latlng_to_cell

    def spy(lat: pl.Series, lng: pl.Series, res: int, **kw: object) -> pl.Series:
        sizes.append(lat.len())
        return real(lat, lng, res, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(hyperlocal.cells, "latlng_to_cell", spy)
    n = (
        pl.scan_parquet(events)
        .select(hx.latlng_to_cell("lat", "lng", 8).alias("cell"))
        .filter(pl.col("cell").is_not_null())
        .select(pl.len())
        .collect(engine="streaming")
        .item()
    )
    assert n == N - 250
    assert len(sizes) > 1 and max(sizes) < N and sum(sizes) == N, (len(sizes), max(sizes))


def test_invalid_values_raise_or_are_skipped_with_a_count() -> None:
    df = pl.DataFrame({"lat": [51.5, 95.0, float("nan")], "lng": [0.0, 0.0, 1.0]})
    with pytest.raises(InvalidInputError, match=r"2 rows \(first at 1, 2\).*within a batch of 3 rows"):
        df.select(hx.latlng_to_cell("lat", "lng", 9))
    with pytest.warns(SkippedRowsWarning, match="2"):
        out = df.select(hx.latlng_to_cell("lat", "lng", 9, on_invalid="skip")).to_series()
    assert out.null_count() == 2 and out[0] is not None
    with pytest.raises(InvalidInputError, match="not hexadecimal H3 strings"):
        pl.DataFrame({"s": ["89194ad14c3ffff", "zz"]}).select(hx.string_to_cell("s"))
    with pytest.raises(InvalidInputError, match="resolution"):
        hx.latlng_to_cell("lat", "lng", 16)
    with pytest.raises(InvalidInputError, match="on_invalid"):
        hx.bng_to_cell("e", "n", 9, on_invalid="drop")  # type: ignore[arg-type]
