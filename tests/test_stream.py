"""Streaming count_points over a LazyFrame (batches merged in the core) and `hyperlocal count`."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import hyperlocal as hl
import numpy as np
import polars as pl
import pytest
from hyperlocal import _core
from hyperlocal.exceptions import InvalidInputError, SkippedRowsWarning

N = 600_000


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthetic national events in a folder of four Parquet files of several row groups each."""
    ev = hl.synth.nation(seed=3, n_areas=20_000).events(N)
    ll = hl.bng_to_latlng(ev["easting"], ev["northing"])
    rng = np.random.default_rng(1)
    ev = ev.with_columns(
        ll["lat"], ll["lng"],
        pl.col("service").cast(pl.String).alias("service_str"),
        pl.col("service").cast(pl.String).cast(pl.Categorical).alias("service_cat"),
        pl.Series("age_band", rng.integers(0, 19, N), dtype=pl.Int16),
    )  # fmt: skip
    folder = tmp_path_factory.mktemp("events")
    for i, part in enumerate(ev.iter_slices(N // 4)):
        part.write_parquet(folder / f"part-{i}.parquet", row_group_size=40_000)
    return folder


def _scan(folder: Path) -> pl.LazyFrame:
    return pl.scan_parquet(sorted(folder.glob("*.parquet")))


@pytest.mark.parametrize(
    ("by", "batch_rows"),
    [((), 65_536), ("service", 100_003), ("service_str", 7_919), ("service_cat", 250_000),
     (("service_str", "age_band"), 33_333), (("age_band", "service"), 10**7)],
)  # fmt: skip
def test_streamed_counts_equal_the_in_memory_counts(dataset: Path, by: tuple[str, ...] | str, batch_rows: int) -> None:
    whole = _scan(dataset).collect()
    expect = hl.count_points(whole, resolution=8, by=by)
    got = hl.count_points(_scan(dataset), resolution=8, by=by, batch_rows=batch_rows)
    assert got.schema == expect.schema
    assert got.equals(expect)
    assert int(got["count"].sum()) == N


def test_bng_and_geometric_cells_stream_too(dataset: Path) -> None:
    whole = _scan(dataset).collect()
    kw = dict(resolution=10, easting="easting", northing="northing", by="service", nested=False)
    assert hl.count_points(_scan(dataset), batch_rows=50_000, **kw).equals(hl.count_points(whole, **kw))  # type: ignore[arg-type]


def test_the_core_merge_is_exact_associative_and_commutative() -> None:
    rng = np.random.default_rng(5)
    lat, lng = rng.uniform(51, 52, 50_000), rng.uniform(-1, 0, 50_000)
    grp = rng.integers(0, 4, 50_000).astype(np.uint8)
    parts = []
    for s, e in [(0, 1), (1, 9_000), (9_000, 30_001), (30_001, 50_000)]:
        c, g, n, _ = _core.count_points([lat[s:e]], [lng[s:e]], [grp[s:e]], 4, 7, False, True, False)
        parts.append((c, g, n.astype(np.uint64)))
    empty = (np.zeros(0, np.uint64), np.zeros(0, np.uint32), np.zeros(0, np.uint64))
    results = set()
    for order in ([0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1]):
        acc = empty
        for i in order:
            acc = _core.merge_counts(*acc, *parts[i])
        results.add(tuple(a.tobytes() for a in acc))
    # ((0+1)+(2+3)) pairs first
    left = _core.merge_counts(*parts[0], *parts[1])
    right = _core.merge_counts(*parts[2], *parts[3])
    results.add(tuple(a.tobytes() for a in _core.merge_counts(*right, *left)))
    assert len(results) == 1
    c, g, n, _ = _core.count_points([lat], [lng], [grp], 4, 7, False, True, False)
    assert results.pop() == (c.tobytes(), g.tobytes(), n.astype(np.uint64).tobytes())


def test_bad_rows_are_named_from_the_start_of_the_stream(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    n = 30_000
    df = pl.DataFrame({"lat": rng.uniform(50, 55, n), "lng": rng.uniform(-4, 1, n), "service": ["gp"] * n})
    bad = [12_345, 20_000, 29_999]
    df = df.with_columns(
        pl.when(pl.int_range(pl.len()) == bad[0]).then(float("nan"))
        .when(pl.int_range(pl.len()) == bad[1]).then(None)
        .when(pl.int_range(pl.len()) == bad[2]).then(95.0)
        .otherwise(pl.col("lat")).alias("lat")
    )  # fmt: skip
    path = tmp_path / "ev.parquet"
    df.write_parquet(path, row_group_size=4_000)
    with pytest.raises(InvalidInputError) as in_memory:
        hl.count_points(df, resolution=9)
    with pytest.raises(InvalidInputError) as streamed:
        hl.count_points(pl.scan_parquet(path), resolution=9, batch_rows=10_000)
    # the first bad batch stops the stream: its rows are named with their row numbers in the whole input
    assert "first at 12345" in str(streamed.value)
    assert str(streamed.value).split(";")[1:] == str(in_memory.value).split(";")[1:]
    with pytest.warns(SkippedRowsWarning) as w_mem:
        expect = hl.count_points(df, resolution=9, by="service", on_invalid="skip")
    with pytest.warns(SkippedRowsWarning) as w_stream:
        got = hl.count_points(pl.scan_parquet(path), resolution=9, by="service", on_invalid="skip", batch_rows=7_000)
    assert got.equals(expect) and int(got["count"].sum()) == n - 3
    assert str(w_stream[0].message) == str(w_mem[0].message)
    assert "3 rows (first at 12345, 20000, 29999)" in str(w_stream[0].message)
    # a null group value is named with its row in the stream
    nulls = df.with_columns(pl.when(pl.int_range(pl.len()) == 25_001).then(None).otherwise(pl.col("service"))
                            .alias("service"), pl.col("lat").fill_nan(51.0).fill_null(51.0).clip(50, 55))  # fmt: skip
    with pytest.raises(InvalidInputError, match=r"service.*first at 25001"):
        hl.count_points(nulls.lazy(), resolution=9, by="service", batch_rows=10_000)


def test_empty_and_missing_columns() -> None:
    empty = pl.DataFrame({"lat": [], "lng": [], "service": []}, schema={"lat": pl.Float64, "lng": pl.Float64,
                                                                        "service": pl.String})  # fmt: skip
    for by in ((), "service"):
        got = hl.count_points(empty.lazy(), resolution=9, by=by)
        assert got.height == 0 and got.schema == hl.count_points(empty, resolution=9, by=by).schema
    with pytest.raises(InvalidInputError, match=r"missing column\(s\) \['lon'\]"):
        hl.count_points(empty.lazy(), resolution=9, lng="lon")
    with pytest.raises(InvalidInputError, match="batch_rows"):
        hl.count_points(empty.lazy(), resolution=9, batch_rows=0)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "hyperlocal"
    return subprocess.run([str(exe), *args], capture_output=True, text=True)


def test_count_command_streams_a_glob_and_a_folder(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "counts.parquet"
    r = _cli("count", "--events", str(dataset / "*.parquet"), "--resolution", "9", "--by", "service",
             "--out", str(out), "--batch-rows", "100000")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert f"counted {N:,} events" in r.stdout
    assert re.search(r"count: 100%.*600k/600k", r.stderr), r.stderr[-500:]  # progress in rows, total known
    got = pl.read_parquet(out).drop("geometry")
    expect = hl.count_points(_scan(dataset).collect(), resolution=9, by="service")
    assert got.equals(expect)
    r = _cli("count", "--events", str(dataset), "--resolution", "9", "--out", str(tmp_path / "c.csv"), "--quiet",
             "--easting", "easting", "--northing", "northing")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert pl.read_csv(tmp_path / "c.csv")["count"].sum() == N


def test_count_command_mistakes_are_one_line(dataset: Path, tmp_path: Path) -> None:
    out = str(tmp_path / "x.parquet")
    cases = [
        (["--events", str(dataset / "*.parquet"), "--resolution", "9", "--by", "servce", "--out", out], 1,
         "missing column(s) ['servce']"),
        (["--events", str(tmp_path / "nope.parquet"), "--resolution", "9", "--out", out], 2, "no such file"),
        (["--events", str(tmp_path / "*.parquet"), "--resolution", "9", "--out", out], 2, "no file matches"),
        (["--events", str(dataset / "*.parquet"), "--resolution", "16", "--out", out], 2, "0..15"),
        (["--events", str(dataset / "*.parquet"), "--resolution", "9", "--out", str(tmp_path / "x.txt")], 2,
         "--out"),
    ]  # fmt: skip
    for args, status, fragment in cases:
        r = _cli("count", *args, "--quiet")
        assert r.returncode == status, (args, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("hyperlocal: error:") and fragment in lines[0], r.stderr
    assert not Path(out).exists()
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 not really")
    r = _cli("count", "--events", str(broken), "--resolution", "9", "--out", out, "--quiet")
    assert r.returncode == 1 and "not readable as Parquet" in r.stderr and len(r.stderr.strip().splitlines()) == 1
