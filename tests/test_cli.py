"""The installed `hyperlocal` command: grid on real files, demo on a small synthetic nation, --help."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import polars as pl
from conftest import HEALTH


def _cli() -> str:
    beside = Path(sys.executable).parent / "hyperlocal"
    exe = str(beside) if beside.exists() else shutil.which("hyperlocal")
    assert exe, "the hyperlocal entry point is not installed"
    return exe


def test_help_explains_itself() -> None:
    out = subprocess.run([_cli(), "--help"], capture_output=True, text=True, check=True).stdout
    assert "demo" in out and "grid" in out
    out = subprocess.run([_cli(), "grid", "--help"], capture_output=True, text=True, check=True).stdout
    for flag in (
        "--areas",
        "--values",
        "--code",
        "--easting",
        "--northing",
        "--extensive",
        "--resolution",
        "--out",
    ):
        assert flag in out


def test_grid_from_real_files(tmp_path: Path, lsoa_pwc: pl.DataFrame, ts037: pl.DataFrame) -> None:
    areas, values = tmp_path / "areas.parquet", tmp_path / "values.parquet"
    lsoa_pwc.write_parquet(areas)
    ts037.write_parquet(values)
    out = tmp_path / "out" / "grid.parquet"
    out.parent.mkdir()
    cols = ",".join(["residents", *HEALTH.values()])
    r = subprocess.run(
        [
            _cli(),
            "grid",
            "--areas",
            str(areas),
            "--values",
            str(values),
            "--code",
            "LSOA21CD",
            "--easting",
            "x",
            "--northing",
            "y",
            "--extensive",
            cols,
            "--resolution",
            "8",
            "--out",
            str(out),
            "--crosswalk-out",
            str(tmp_path / "xw.parquet"),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    gdf = gpd.read_parquet(out)
    assert gdf["residents"].sum() == ts037["residents"].sum()
    assert gdf["very_good"].sum() == ts037["very_good"].sum()
    assert pl.read_parquet(tmp_path / "xw.parquet").height == 35_672
    assert sorted(p.name for p in out.parent.iterdir()) == ["grid.audit.csv", "grid.parquet"]  # no temp left


def test_grid_bad_input_fails_cleanly(tmp_path: Path) -> None:
    areas = tmp_path / "a.parquet"
    pl.DataFrame(
        {"code": ["a", "b"], "x": [530000.0, -50.0], "y": [180000.0, 180000.0], "n": [1, 2]}
    ).write_parquet(areas)
    out = tmp_path / "g.parquet"
    r = subprocess.run(
        [
            _cli(),
            "grid",
            "--areas",
            str(areas),
            "--code",
            "code",
            "--easting",
            "x",
            "--northing",
            "y",
            "--extensive",
            "n",
            "--resolution",
            "8",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 1  # a data error
    assert "x/y: 1 row (first at 1) are null, NaN or out of range [code: b]" in r.stderr
    assert not out.exists()


def test_demo_writes_grid_csv_and_map(tmp_path: Path) -> None:
    r = subprocess.run(
        [_cli(), "demo", "--synthetic", "--out-dir", str(tmp_path), "--n-areas", "20000", "--quiet"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["nation_res8.csv", "nation_res8.parquet", "very_good_change_res8.png"]
    gdf = gpd.read_parquet(tmp_path / "nation_res8.parquet")
    assert gdf["population_2021"].sum() > 20000 * 100
    assert (tmp_path / "very_good_change_res8.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_grid_area_and_population_methods_write_audit(
    tmp_path: Path, data: Path, ts037: pl.DataFrame, lsoa_pwc: pl.DataFrame
) -> None:
    shp = data / "geography" / "msoa2011_bsc_ew" / "msoa2011_bsc_ew.shp"
    pts = lsoa_pwc.join(ts037.select("LSOA21CD", "residents"), on="LSOA21CD")
    pts_path = tmp_path / "pts.parquet"
    pts.write_parquet(pts_path)
    values = tmp_path / "values.csv"
    msoa = pl.read_parquet(data / "census2011" / "msoa11_general_health_pct_ks301ew_ew.parquet")
    pl.DataFrame({"MSOA11CD": msoa["MSOA11CD"], "one": [1.0] * msoa.height}).write_csv(values)
    for method, extra in (
        ("area", []),
        (
            "population",
            [
                "--points",
                str(pts_path),
                "--population",
                "residents",
                "--points-easting",
                "x",
                "--points-northing",
                "y",
            ],
        ),
    ):
        out = tmp_path / method / "grid.parquet"
        out.parent.mkdir()
        r = subprocess.run(
            [_cli(), "grid", "--areas", str(shp), "--values", str(values), "--code", "MSOA11CD", "--method", method,
             "--extensive", "one", "--resolution", "7", "--out", str(out), "--quiet", *extra],
            capture_output=True, text=True,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        audit = pl.read_csv(out.with_suffix(".audit.csv"))
        assert audit.height == 7_201
        assert (audit["weight_sum"] - 1).abs().max() < 1e-12
        assert "wrote audit of 7,201 areas" in r.stdout
        grid = gpd.read_parquet(out)
        assert abs(grid["one"].sum() - 7_201) < 1e-6


def test_health_change_from_toml_config_camden(tmp_path: Path, data: Path) -> None:
    from hyperlocal import ons

    oa = ons.ks301ew_oa11(data / "census2011" / "camden_2011" / "KS301EW_oa11_camden.csv")
    oa.write_csv(tmp_path / "oa2011.csv")
    h21 = ons.ts037_lsoa21(data / "census2021" / "ts037_general_health_lsoa21_ew.parquet").filter(
        pl.col("name").str.starts_with("Camden ")
    )
    h21.write_parquet(tmp_path / "lsoa2021.parquet")
    pwc = pl.read_parquet(data / "geography" / "lsoa21_pwc_ew_bng.parquet").join(
        h21.select("LSOA21CD"), on="LSOA21CD"
    )
    pwc.write_parquet(tmp_path / "pwc.parquet")
    pl.DataFrame({"LSOA21CD": h21["LSOA21CD"].head(10)}).write_csv(tmp_path / "programme.csv")
    shp = data / "geography" / "camden_2011_shapefiles" / "Camden_oa11.shp"
    (tmp_path / "camden.toml").write_text(
        f"""resolution = 9
out_dir = "out"
[before]
areas = "{shp}"
values = "oa2011.csv"
code = "OA11CD"
method = "area"
[after]
areas = "pwc.parquet"
values = "lsoa2021.parquet"
code = "LSOA21CD"
easting = "x"
northing = "y"
[programme]
codes = "programme.csv"
"""
    )
    r = subprocess.run([_cli(), "health-change", "--config", str(tmp_path / "camden.toml"), "--quiet"],
                       capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 0, r.stderr
    out = tmp_path / "out"
    names = sorted(p.name for p in out.iterdir())
    assert names == ["comparison.csv", "comparison.png", "health_change_res9.csv", "health_change_res9.parquet",
                     "very_good_excess_res9.png"]  # fmt: skip
    surface = gpd.read_parquet(out / "health_change_res9.parquet")
    assert abs(surface["population_2011"].sum() - oa["residents"].sum()) < 1e-6
    assert surface["population_2021"].sum() == h21["residents"].sum()
    table = pl.read_csv(out / "comparison.csv")
    assert set(table["group"]) == {"programme", "all"}
    bad = subprocess.run([_cli(), "health-change", "--before-grid", str(tmp_path / "nope.parquet")],
                         capture_output=True, text=True)  # fmt: skip
    assert bad.returncode == 2 and "give --config" in bad.stderr


def test_deprivation_command_builds_national_surface(tmp_path: Path, data: Path) -> None:
    ranks = data / "imd2019" / "imd2019_ranks_deciles_all_domains_lsoa11_england.parquet"
    cent = data / "geography" / "lsoa11_centroids_wgs84_not_pwc.parquet"
    pop = data / "population" / "mid2020_population_single_year_age_lsoa11_ew.parquet"
    domains = ("income=Income_rank,employment=Employment_rank,education=Education_rank,health=Health_rank,"
               "crime=Crime_rank,barriers=Housing_and_Access_rank,living_environment=Environment_rank")  # fmt: skip
    r = subprocess.run(
        [_cli(), "deprivation", "--scores", str(ranks), "--code", "lsoa11_code", "--domains", domains,
         "--centroids", str(cent), "--lat", "lat", "--lng", "lon", "--population", str(pop),
         "--population-column", "total_population", "--resolutions", "8,7", "--out-dir", str(tmp_path), "--quiet"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["deprivation_deciles_res8.png", "deprivation_res7.parquet", "deprivation_res8.parquet"]
    s8 = gpd.read_parquet(tmp_path / "deprivation_res8.parquet")
    assert set(s8["decile"].unique()) == set(range(1, 11))
    eng = pl.read_parquet(pop).join(pl.read_parquet(ranks).select("lsoa11_code"), on="lsoa11_code")
    assert abs(s8["population"].sum() - eng["total_population"].sum()) < 1e-6
