"""GeoParquet that geopandas opens, CSV with H3 strings, and atomic writes."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import h3
import hyperlocal as hl
import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest
import shapely


@pytest.fixture()
def grid() -> pl.DataFrame:
    rng = np.random.default_rng(0)
    areas = pl.DataFrame(
        {
            "code": [f"A{i}" for i in range(2000)],
            "lat": rng.normal(51.5, 0.1, 2000),
            "lng": rng.normal(-0.12, 0.15, 2000),
            "people": rng.integers(100, 500, 2000),
        }
    )
    return hl.apportion(areas, hl.crosswalk(areas, resolution=8), extensive="people")


def test_geoparquet_opens_in_geopandas(grid: pl.DataFrame, tmp_path: Path) -> None:
    path = hl.write(grid, tmp_path / "g.parquet")
    meta = json.loads(pq.read_schema(path).metadata[b"geo"])
    assert meta["version"] == "1.1.0" and meta["primary_column"] == "geometry"
    assert meta["columns"]["geometry"]["encoding"] == "WKB"
    gdf = gpd.read_parquet(path)
    assert len(gdf) == grid.height
    assert gdf.crs is not None and gdf.crs.to_string() == "OGC:CRS84"
    assert gdf["people"].sum() == grid["people"].sum()
    # Hexagons are where h3 says they are.
    first = gdf.iloc[0]
    ref = shapely.Polygon(np.array(h3.cell_to_boundary(h3.int_to_str(int(first["cell"]))))[:, ::-1])
    assert first.geometry.equals_exact(ref, 1e-12)
    bbox = meta["columns"]["geometry"]["bbox"]
    assert np.allclose(bbox, gdf.total_bounds)


def test_csv_has_h3_strings(grid: pl.DataFrame, tmp_path: Path) -> None:
    path = hl.write(grid, tmp_path / "g.csv")
    back = pl.read_csv(path)
    assert back["cell"].dtype == pl.String
    assert back["cell"].to_list() == [h3.int_to_str(int(c)) for c in grid["cell"]]


def test_failed_write_leaves_old_file_and_no_temp(
    grid: pl.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "g.parquet"
    path.write_bytes(b"old")

    def boom(table: object, where: object, **kw: object) -> None:
        Path(str(where)).write_bytes(b"half-writ")
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", boom)
    with pytest.raises(OSError, match="disk full"):
        hl.write(grid, path)
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.parquet"]


def test_unsupported_suffix(grid: pl.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(
        hl.exceptions.InvalidInputError, match=r"unsupported output type ..xlsx.; expected \.parquet or \.csv"
    ):
        hl.write(grid, tmp_path / "g.xlsx")


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_output_mode_follows_the_umask(grid: pl.DataFrame, tmp_path: Path, umask: int, mode: int) -> None:
    import os

    old = os.umask(umask)
    try:
        for name in ("g.parquet", "g.csv"):
            p = hl.write(grid, tmp_path / name)
            assert p.stat().st_mode & 0o777 == mode, (name, oct(p.stat().st_mode))
    finally:
        os.umask(old)


def test_data_is_fsynced_before_the_rename(
    grid: pl.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    calls: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        calls.append("fsync-dir" if os.path.isdir(f"/proc/self/fd/{fd}") else "fsync-file")
        real_fsync(fd)

    def replace(a: str, b: str) -> None:
        calls.append("replace")
        real_replace(a, b)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    hl.write(grid, tmp_path / "g.parquet")
    assert calls == ["fsync-file", "replace", "fsync-dir"]


def test_write_refuses_a_missing_folder_and_creates_nothing(grid: pl.DataFrame, tmp_path: Path) -> None:
    target = tmp_path / "nonexistent" / "deeper" / "g.parquet"
    with pytest.raises(
        hl.exceptions.InvalidInputError, match=r"the folder .*nonexistent/deeper does not exist"
    ):
        hl.write(grid, target)
    assert not (tmp_path / "nonexistent").exists()
    with pytest.raises(hl.exceptions.InvalidInputError, match=r"is a folder"):
        hl.write(grid, tmp_path)  # type: ignore[arg-type]


def test_ons_readers_name_the_file_and_the_missing_columns(tmp_path: Path) -> None:
    from hyperlocal import ons

    invalid = hl.exceptions.InvalidInputError
    with pytest.raises(invalid, match=r"TS037 .*nope\.parquet: no such file"):
        ons.ts037_lsoa21(tmp_path / "nope.parquet")
    wrong = tmp_path / "wrong.csv"
    pl.DataFrame({"GeographyCode": ["E00000001"], "KS301EW0008": [1]}).write_csv(wrong)
    with pytest.raises(invalid, match=r"KS301EW .*wrong\.csv: missing column\(s\) \['KS301EW0009'"):
        ons.ks301ew_oa11(wrong)
    with pytest.raises(invalid, match=r"TS037 .*wrong\.csv: missing column\(s\) \['mnemonic'"):
        ons.ts037_lsoa21(wrong)
