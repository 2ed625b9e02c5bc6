"""The command line fails like a good Unix tool: one line on stderr, exit 2 (usage) or 1 (data), no traceback;
warnings as one line; Ctrl-C within a second with status 130; --version."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import hyperlocal as hl
import polars as pl
import pytest
from test_cli import _cli


def _run(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_cli(), *args], capture_output=True, text=True, env=env, cwd=cwd)


def _one_line_error(r: subprocess.CompletedProcess[str], status: int, *fragments: str) -> str:
    assert r.returncode == status, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("hyperlocal: error: "), r.stderr
    for f in fragments:
        assert f in last, (f, last)
    return last


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, Path]:
    areas = pl.DataFrame({"code": ["a", "b", "c"], "x": [530_000.0, float("nan"), 383_000.0],
                          "y": [180_000.0, 180_000.0, 398_000.0], "n": [1.0, 2.0, 3.0]})  # fmt: skip
    p = tmp_path / "areas.parquet"
    areas.write_parquet(p)
    bad_parquet = tmp_path / "corrupt.parquet"
    bad_parquet.write_bytes(b"PAR1 this is not parquet at all")
    bad_csv = tmp_path / "corrupt.csv"
    bad_csv.write_bytes(b'code,n\n"a,1\n')
    return {"areas": p, "corrupt_parquet": bad_parquet, "corrupt_csv": bad_csv, "dir": tmp_path}


def _grid(
    files: dict[str, Path], *extra: str, areas: Path | None = None, out: str = "g.parquet"
) -> list[str]:
    return ["grid", "--areas", str(areas or files["areas"]), "--code", "code", "--easting", "x", "--northing", "y",
            "--extensive", "n", "--resolution", "7", "--out", str(files["dir"] / out), "--quiet", *extra]  # fmt: skip


def test_version() -> None:
    r = _run("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"hyperlocal {hl.__version__}"


def test_usage_errors_exit_2(files: dict[str, Path]) -> None:
    _one_line_error(_run("grdi"), 2, "invalid choice: 'grdi'")
    _one_line_error(_run("grid", "--areas", "a.parquet"), 2, "required: --code, --resolution, --out")
    _one_line_error(
        _run(*_grid(files, areas=files["dir"] / "missing.parquet")),
        2,
        "--areas",
        "missing.parquet: no such file",
    )
    _one_line_error(_run(*_grid(files, out="g.xlsx")), 2, "unsupported output type '.xlsx'")
    _one_line_error(_run(*_grid(files, out="nowhere/g.parquet")), 2, "nowhere does not exist")
    args = _grid(files)
    args[args.index("--resolution") + 1] = "16"
    _one_line_error(_run(*args), 2, "--resolution: got 16")
    assert not (files["dir"] / "g.xlsx").exists() and not (files["dir"] / "nowhere").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(files: dict[str, Path]) -> None:
    files["areas"].chmod(0)
    _one_line_error(_run(*_grid(files)), 2, "not readable")


def test_data_errors_exit_1(files: dict[str, Path]) -> None:
    _one_line_error(
        _run(*_grid(files, areas=files["corrupt_parquet"])), 1, "corrupt.parquet: not a readable Parquet file"
    )
    _one_line_error(
        _run(*_grid(files, "--values", str(files["corrupt_csv"]))),
        1,
        "--values",
        "corrupt.csv: not a readable CSV file",
    )
    # A missing column names the flag and the file it should have come from.
    r = _run(*_grid(files, "--values", str(files["areas"]), "--intensive", "nope"))
    _one_line_error(r, 1, "--values", "areas.parquet: no column(s) ['nope']", "the file has: code, x, y, n")
    r = _run(*[a if a != "x" else "easting" for a in _grid(files)])
    _one_line_error(r, 1, "--areas", "no column(s) ['easting']")
    # Bad values in the data.
    _one_line_error(_run(*_grid(files)), 1, "x/y: 1 row (first at 1)", "[code: b]")
    assert not (files["dir"] / "g.parquet").exists()


def test_debug_shows_the_traceback(files: dict[str, Path]) -> None:
    r = _run(*_grid(files), env=os.environ | {"HYPERLOCAL_DEBUG": "1"})
    assert r.returncode == 1 and "Traceback" in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("hyperlocal: error: x/y")


def test_skip_reports_warnings_as_one_line_and_drops_the_values(files: dict[str, Path]) -> None:
    r = _run(*_grid(files, "--on-invalid", "skip"))
    assert r.returncode == 0, r.stderr
    warnings = [line for line in r.stderr.splitlines() if line.startswith("hyperlocal: warning: ")]
    assert any("skipped 1 row (first at 1)" in w and "[code: b]" in w for w in warnings), r.stderr
    assert any("values: dropped 1 area(s) skipped by the crosswalk (e.g. ['b'])" in w for w in warnings), (
        r.stderr
    )
    assert "Traceback" not in r.stderr
    grid = pl.read_parquet(files["dir"] / "g.parquet")
    assert grid["n"].sum() == 4.0  # a and c; b was skipped with its value


TOML_OK = """resolution = 7
out_dir = "out"
[before]
grid = "g.parquet"
[after]
grid = "g.parquet"
"""


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("resolution = 7\n[before\n", ["not valid TOML"]),
        (
            TOML_OK.replace("resolution = 7", "resolutoin = 9"),
            ["unknown key 'resolutoin'", "valid keys:", "resolution"],
        ),
        (
            TOML_OK + "[programme]\ncodez = 'p.csv'\n",
            ["unknown key 'programme.codez'", "valid keys in [programme]"],
        ),
        (
            TOML_OK.replace("resolution = 7", 'resolution = "seven"'),
            ["'resolution' = 'seven' has the wrong type"],
        ),
        (
            TOML_OK.replace('grid = "g.parquet"', 'grid = "missing.parquet"', 1),
            ["before.grid", "missing.parquet: no such file"],
        ),
        ("resolution = 7\n[after]\ngrid = 'g.parquet'\n", ["missing section [before]"]),
    ],
)
def test_config_errors_name_the_key(files: dict[str, Path], text: str, fragments: list[str]) -> None:
    hl.write(pl.DataFrame({"cell": hl.latlng_to_cell([51.5], [0.0], 7)}), files["dir"] / "g.parquet")
    cfg = files["dir"] / "project.toml"
    cfg.write_text(text)
    _one_line_error(_run("health-change", "--config", str(cfg)), 2, *fragments)


def test_ctrl_c_stops_within_a_second_and_writes_nothing(data: Path, tmp_path: Path) -> None:
    """SIGINT during the national MSOA polygon crosswalk at res 11 (~15 s of Rust work)."""
    shp = data / "geography" / "msoa2011_bsc_ew" / "msoa2011_bsc_ew.shp"
    values = tmp_path / "v.csv"
    pl.DataFrame({"MSOA11CD": hl.read_areas(shp, code="MSOA11CD")["MSOA11CD"], "one": 1.0}).write_csv(values)
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.Popen(
        [_cli(), "grid", "--areas", str(shp), "--values", str(values), "--code", "MSOA11CD", "--method", "area",
         "--extensive", "one", "--resolution", "11", "--out", str(out / "g.parquet"), "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(4.0)  # reading the shapefile takes ~1 s; the crosswalk is then running in Rust
    assert proc.poll() is None, proc.communicate()
    t0 = time.perf_counter()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    took = time.perf_counter() - t0
    assert proc.returncode == 130, err
    assert took < 1.0, f"took {took:.2f} s to stop"
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == "hyperlocal: interrupted; no output written"
    assert list(out.iterdir()) == []


LONG_CALLS = {
    # 40M points at res 15: many chunks
    "points": (
        "rng = np.random.default_rng(0)\n"
        "lat, lng = rng.uniform(-80, 80, 40_000_000), rng.uniform(-180, 180, 40_000_000)\n",
        "hl.latlng_to_cell(lat, lng, 15)",
    ),
    # one polygon of ~6M res-12 cells: the flood fill inside a single area checks for Ctrl-C too
    "one_big_polygon": (
        "import shapely, polars as pl\n"
        "areas = pl.DataFrame({'code': ['big'], 'geometry': [shapely.to_wkb(shapely.box(-1.5, 52.0, -1.0, 52.5))]})\n",
        "hl.crosswalk(areas, resolution=12, method='area', crs='EPSG:4326')",
    ),
}


@pytest.mark.parametrize("call", list(LONG_CALLS))
def test_ctrl_c_interrupts_a_long_kernel_from_python(tmp_path: Path, call: str) -> None:
    """KeyboardInterrupt reaches Python within a second of SIGINT inside a multi-second Rust call."""
    import sys

    setup, work = LONG_CALLS[call]
    script = tmp_path / "long.py"
    script.write_text(
        "import sys, time, numpy as np, hyperlocal as hl\n"
        + setup
        + "print('ready', flush=True)\n"
        "t = time.perf_counter()\n"
        "try:\n"
        f"    {work}\n"
        "    print('finished', time.perf_counter() - t, flush=True)\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted', flush=True)\n"
        "    sys.exit(42)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.5)
    t0 = time.perf_counter()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    took = time.perf_counter() - t0
    assert proc.returncode == 42, (out, err)
    assert out.strip() == "interrupted"
    assert took < 1.0, f"took {took:.2f} s"


def test_output_errors_are_one_line(files: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    """Failures writing outputs (permissions, a full disk, a file where a folder should be) name the path."""
    from hyperlocal import cli, io

    def denied(df: pl.DataFrame, path: object) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(io, "write", denied)
    assert cli.main(_grid(files, "--on-invalid", "skip")) == 1
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last == f"hyperlocal: error: {files['dir'] / 'g.parquet'}: Permission denied"
    monkeypatch.undo()
    # --crosswalk-out is named as itself, not as --out
    r = _run(*_grid(files, "--crosswalk-out", str(files["dir"] / "missing" / "xw.parquet")))
    _one_line_error(r, 2, "--crosswalk-out", "the folder", "does not exist")
    r = _run(*_grid(files, "--crosswalk-out", str(files["dir"] / "xw.csv")))
    _one_line_error(r, 2, "--crosswalk-out", "unsupported output type '.csv'")
    # an output folder that is a file
    blocker = files["dir"] / "blocker"
    blocker.write_text("")
    cfg = files["dir"] / "d.toml"
    cfg.write_text(f'out_dir = "{blocker}"\n[before]\n[after]\n')
    _one_line_error(_run("health-change", "--config", str(cfg)), 1, f"out_dir: {blocker} is a file")


def test_job_output_folder_is_not_created_when_an_input_is_wrong(tmp_path: Path, data: Path) -> None:
    from test_demand import _example

    text = _example(data).replace('count = "', 'count = "no_such_')  # the events column does not exist
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    out = tmp_path / "out" / "nested"
    r = _run("demand", "--config", str(cfg), "--out-dir", str(out), "--quiet")
    _one_line_error(r, 1, "no_such_")
    assert not (tmp_path / "out").exists()


def test_grid_area_method_reads_values_from_the_boundary_file(tmp_path: Path) -> None:
    import shapely

    boxes = [shapely.box(-0.2, 51.5, -0.1, 51.55), shapely.box(-0.1, 51.5, 0.0, 51.55)]
    areas = pl.DataFrame({"code": ["a", "b"], "people": [100.0, 300.0], "geometry": shapely.to_wkb(boxes)})
    shp = tmp_path / "areas.parquet"
    import geopandas as gpd

    gpd.GeoDataFrame(areas.drop("geometry").to_pandas(), geometry=boxes, crs="EPSG:4326").to_parquet(shp)
    out = tmp_path / "g.parquet"
    r = _run("grid", "--areas", str(shp), "--code", "code", "--method", "area", "--extensive", "people",
             "--resolution", "7", "--out", str(out), "--quiet")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert pl.read_parquet(out)["people"].sum() == pytest.approx(400.0, abs=1e-9)
    r = _run("grid", "--areas", str(shp), "--code", "code", "--method", "area", "--extensive", "nobody",
             "--resolution", "7", "--out", str(out), "--quiet")  # fmt: skip
    _one_line_error(r, 1, "nobody")
