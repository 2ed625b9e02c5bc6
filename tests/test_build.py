"""`hyperlocal build`: project files parsed into typed objects (every mistake named), the shipped examples run on
the real national files, the manifest audits every count, reruns skip unchanged steps, a failed build leaves
earlier outputs intact, and the census readers take the layouts people download."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import hyperlocal as hl
import polars as pl
import pytest
from hyperlocal import build, ons
from hyperlocal.exceptions import InvalidInputError, SkippedRowsWarning
from hyperlocal.project import ConfigError, load_project
from test_cli import _cli

ROOT = Path(__file__).resolve().parents[1]
CATS = ["very_good", "good", "fair", "bad", "very_bad"]


def _example(name: str, data: Path, tmp: Path, **replace: str) -> Path:
    """A shipped example with its data paths pointed at HYPERLOCAL_DATA and its output in ``tmp``."""
    text = (ROOT / "examples" / f"{name}.toml").read_text().replace("../../shared/data", str(data))
    text = "\n".join(
        f'out_dir = "{tmp / "out"}"' if line.startswith("out_dir") else line for line in text.splitlines()
    )
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    p = tmp / f"{name}.toml"
    p.write_text(text)
    return p


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_cli(), *args], capture_output=True, text=True)


# ---------------------------------------------------------------------------------------------------------
# The project file


def test_every_example_parses_into_typed_objects(data: Path, tmp_path: Path) -> None:
    for f in sorted((ROOT / "examples").glob("*.toml")):
        if f.stem == "demand_stroke":  # the `hyperlocal demand` config, not a project
            continue
        p = load_project(_example(f.stem, data, tmp_path))
        assert p.out_dir == (tmp_path / "out").resolve()
        assert all(i.path.is_file() for i in p.inputs.values())
        assert p.health_change or p.deprivation or p.demand
    demo = load_project(ROOT / "python" / "hyperlocal" / "data" / "demo" / "demo.toml")
    assert demo.health_change and demo.health_change.before.method == "centroid"
    assert demo.inputs["lsoa21"].points and demo.inputs["lsoa21"].points.easting == "easting"


@pytest.mark.parametrize(
    ("change", "fragments"),
    [
        (("[health_change]", "[health_chnage]"), ["unknown key 'health_chnage'", "valid keys: "]),
        (('labels = ["2011", "2021"]', 'labls = ["2011", "2021"]'), ["unknown key 'health_change.labls'",
                                                                       "valid keys in [health_change]"]),
        (("resolutions = [7, 6]", 'resolutions = "7"'), ["'project.resolutions' = '7' has the wrong type", "list"]),
        (("resolutions = [7, 6]", "resolutions = [16]"), ["expected a list of integers 0..15"]),
        (('statistic = "gi_star"', 'statistic = "getis"'), ["'hotspots.statistic' = 'getis'", "local_moran"]),
        (('surface = "health_change"', 'surface = "demand"'), ["'hotspots.surface' = 'demand' needs a [demand]"]),
        (('programme = { input = "left_behind" }', 'programme = { input = "left_behnd" }'),
         ["'health_change.programme.input' = 'left_behnd' is not an input", "defined inputs: "]),
        (("lsoa21_pwc_ew_bng.parquet", "lsoa21_pwc_ew_bng.parquett"), ["'inputs.lsoa21.path'", "no such file"]),
        (('layout = "ts037"', 'layout = "ts38"'), ["'inputs.health_2021.layout' = 'ts38'", "expected one of"]),
        (('code = "LSOA21CD"\n', ""), ["[inputs.lsoa21] needs code = the area-code column"]),
        (("min_population = 100", "min_population = true"), ["'health_change.min_population' = True"]),
        (('points = { easting = "x", northing = "y" }', 'points = { easting = "x" }'),
         ["give lat and lng, or easting and northing"]),
        (('placebo = "blocked"', 'placebo = "blockd"'), ["'health_change.evaluate.placebo' = 'blockd'",
                                                         "expected one of ['random', 'blocked']"]),
        (("placebos = 999", "placebo_draws = 999"), ["unknown key 'health_change.evaluate.placebo_draws'"]),
        (('programme = { input = "left_behind" }\n', ""), ["[health_change.evaluate] needs a programme"]),
        (('reference = "lc3409"', 'reference = "ages_2011"'), ["'health_change.reference' = 'ages_2011' has "
                                                                 "layout 'qs103ew_ages'", "lc3409ew"]),
        ((', ages = "ages_2021" }', " }"), ["age standardisation needs 'health_change.reference'"]),
    ],
)  # fmt: skip
def test_project_mistakes_name_the_key_and_the_file(
    data: Path, tmp_path: Path, change: tuple[str, str], fragments: list[str]
) -> None:
    cfg = _example("health_change_national", data, tmp_path, **{change[0]: change[1]})
    with pytest.raises(ConfigError) as e:
        load_project(cfg)
    for f in [str(cfg), *fragments]:
        assert f in str(e.value), (f, str(e.value))
    r = _run("build", str(cfg))  # the command line: one line, exit status 2, nothing written
    assert r.returncode == 2, r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("hyperlocal: error: ") and fragments[0] in last and "Traceback" not in r.stderr
    assert not (tmp_path / "out").exists()


def test_missing_or_unreadable_project_file(tmp_path: Path) -> None:
    r = _run("build", str(tmp_path / "nope.toml"))
    assert r.returncode == 2 and "nope.toml: no such project file" in r.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text("[project\n")
    r = _run("build", str(bad))
    assert r.returncode == 2 and "not valid TOML" in r.stderr


# ---------------------------------------------------------------------------------------------------------
# The national example end to end


@pytest.fixture(scope="module")
def national(data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("national")
    # 99 placebo programmes instead of the example's 999 keep this fixture quick; the rest is the example as shipped
    cfg = _example("health_change_national", data, tmp, **{"placebos = 999": "placebos = 99"})
    r = _run("build", str(cfg), "--quiet")
    assert r.returncode == 0, r.stderr
    return cfg, json.loads((tmp / "out" / "manifest.json").read_text())


def test_national_build_conserves_every_count_and_records_it(national: tuple[Path, dict[str, Any]]) -> None:
    cfg, m = national
    out = cfg.parent / "out"
    hc = m["steps"]["health_change_res7"]["audit"]
    # published totals: Census 2011 QS302EW and Census 2021 TS037, England and Wales
    published = {"before": {"very_good": 26_434_409, "good": 19_094_820, "fair": 7_401_881, "bad": 2_428_668,
                            "very_bad": 716_134},
                 "after": {"very_good": 28_827_191, "good": 20_046_269, "fair": 7_597_052, "bad": 2_412_322,
                           "very_bad": 714_607}}  # fmt: skip
    for year in ("before", "after"):
        assert hc[year]["unassigned"] == 0 and hc[year]["rows_in"] == hc[year]["rows_placed"]
        for c in CATS:
            mass = hc[year]["mass"][c]
            assert mass["in"] == published[year][c]
            assert abs(mass["out"] - mass["in"]) <= 1e-9 * mass["in"]
    surface = pl.read_parquet(out / "health_change_res7.parquet")
    assert surface["population_2011"].sum() == pytest.approx(56_075_912, abs=1e-6)
    assert surface["population_2021"].sum() == pytest.approx(59_597_441, abs=1e-6)
    # every output is recorded with its hash; inputs with theirs and their rows
    for step in m["steps"].values():
        for o in step["outputs"]:
            assert build.sha256_file(out / o["path"]) == o["sha256"]
    assert m["inputs"]["health_2011"]["rows"] == 34_753 and m["inputs"]["health_2021"]["rows"] == 35_672
    assert m["inputs"]["left_behind"]["rows"] == 1_262  # CNI 2023 left-behind LSOAs (where = {…} applied)
    for info in m["inputs"].values():
        for f in info["files"]:
            assert build.sha256_file(Path(f["path"])) == f["sha256"]
    assert m["project"]["resolutions"] == [7, 6] and m["versions"]["hyperlocal"]
    comparison = pl.read_csv(out / "comparison_res7.csv")
    assert set(comparison["group"]) == {"programme", "all", "comparator"}
    assert hc["programme"]["areas"] == 1_262
    dep = m["steps"]["deprivation_res7"]["audit"]
    assert abs(dep["mass"]["population"]["out"] - dep["mass"]["population"]["in"]) < 1e-6
    # res 6 is the same crosswalk nested: its cells are the res-7 cells' parents, with the same totals
    s6 = pl.read_parquet(out / "health_change_res6.parquet")
    parents = hl.cell_to_parent(surface["cell"], 6).unique()
    assert set(s6["cell"].to_list()) == set(parents.to_list())
    assert s6["population_2021"].sum() == pytest.approx(surface["population_2021"].sum(), rel=1e-12)
    # one offline HTML map with the three health layers and the deprivation deciles, drawn at map_resolution 6
    html = (out / "map.html").read_text()
    assert "Content-Security-Policy" in html and "http://" not in html and "https://" not in html
    assert m["steps"]["map_html"]["audit"]["layers"] == 5
    # Gi* hot spots of the 2021 bad-health share: every cell accounted for, classes against the statistic
    hs = m["steps"]["hotspots_res7"]["audit"]
    assert hs["analysed"] + hs["left_out"] == hs["cells"] == surface.height
    assert hs["left_out"] == int(surface["small"].sum())
    assert sum(hs["classes"].values()) == hs["analysed"] and hs["classes"]["None"] == hs["isolated"]
    spots = pl.read_parquet(out / "hotspots_res7.parquet")
    hot = spots.filter(pl.col("gi_class") == "hot")
    assert hot.height == hs["classes"]["hot"] > 0 and (hot["gi_z"] > 0).all() and (hot["gi_q"] <= 0.05).all()
    assert (spots.filter(pl.col("gi_class") == "cold")["gi_z"] < 0).all()
    # hot spots have more bad health than the analysed cells' mean, cold spots less
    mean = spots["bad_or_very_bad_pct_2021"].mean()
    assert hot["bad_or_very_bad_pct_2021"].mean() > mean > spots.filter(pl.col("gi_class") == "cold")[
        "bad_or_very_bad_pct_2021"].mean()  # fmt: skip
    assert m["steps"]["map_html"]["audit"]["cells"][0] == s6.height
    # the programme evaluation: the left-behind cells against entropy-balanced English cells, crude and
    # age-standardised, with blocked placebos; every covariate balanced, every left-out cell counted
    ev = hc["evaluate"]
    effect = pl.read_csv(out / "evaluation_res7_effect.csv")
    assert effect["measure"].to_list() == ["crude", "age_standardised"] and ev["effect"] == effect.to_dicts()
    assert (effect["placebos"] + ev.get("placebos_failed", 0) == 99).all() and effect["p_value"].min() >= 0.01
    balance = pl.read_csv(out / "evaluation_res7_balance.csv")
    assert balance["balanced"].all() and ev["max_abs_smd_after"] < 1e-8 < 1 < ev["max_abs_smd_before"]
    assert 0 < ev["programme_cells_without_covariates"] < ev["programme_cells"]  # Welsh cells: no English IMD
    assert effect["n_programme"][0] == ev["programme_cells"] - ev["programme_cells_without_covariates"] - ev.get(
        "programme_units_left_out", 0)  # fmt: skip
    assert pl.read_csv(out / "evaluation_res7_placebos.csv").height == 99
    for f in ("evaluation_res7_placebo.png", "evaluation_res7_balance.png"):
        assert (out / f).read_bytes()[:4] == b"\x89PNG"


def test_rerun_skips_unchanged_steps_and_rebuilds_changed_ones(
    national: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    cfg, first = national
    out = cfg.parent / "out"
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    r = _run("build", str(cfg), "--quiet")
    assert r.returncode == 0, r.stderr
    assert "deprivation_res7: unchanged (same inputs and config), skipped" in r.stdout
    assert "health_change_res7: unchanged" in r.stdout and "built 0 step(s)" in r.stdout
    assert all(p.stat().st_mtime_ns == before[p.name] for p in out.iterdir() if p.name != "manifest.json")
    # a config change in one surface rebuilds that surface only
    changed = cfg.parent / "changed.toml"
    changed.write_text(cfg.read_text().replace("min_population = 100", "min_population = 50"))
    r = _run("build", str(changed), "--quiet")
    assert "deprivation_res7: unchanged" in r.stdout and "health_change_res7: built" in r.stdout, r.stdout
    # a changed output file (edited by hand) is rebuilt, not trusted; the rebuilt step is the same (same key),
    # so the steps that use it stay valid
    (out / "deprivation_res7.csv").write_text("edited")
    r = _run("build", str(changed), "--quiet")
    assert "deprivation_res7: built" in r.stdout and "health_change_res7: unchanged" in r.stdout, r.stdout
    assert (out / "deprivation_res7.csv").read_text().startswith("cell,")


def test_a_failed_build_leaves_earlier_outputs_intact(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = _example("health_change_national", data, tmp_path, **{"placebos = 999": "placebos = 19"})
    out = tmp_path / "out"
    project = load_project(cfg)

    def boom(*a: object, **k: object) -> None:
        raise InvalidInputError("simulated failure in the second step")

    import hyperlocal.health as health

    monkeypatch.setattr(health, "health_change", boom)
    with pytest.raises(InvalidInputError, match="simulated failure"):
        build.run_build(project, progress=False, log=lambda s: None)
    names = sorted(p.name for p in out.iterdir())
    dep = [f"deprivation_res{r}.{ext}" for r in (6, 7) for ext in ("csv", "parquet", "png")]
    assert names == sorted([*dep, "manifest.json"])
    m = json.loads((out / "manifest.json").read_text())
    assert list(m["steps"]) == ["deprivation_res7", "deprivation_res6"]  # finished steps recorded, nothing else
    monkeypatch.undo()
    logged: list[str] = []
    with pytest.warns(SkippedRowsWarning) as caught:
        result = build.run_build(project, progress=False, log=logged.append)
    said = [str(w.message) for w in caught]
    assert any("cell(s) with residents have a null" in t for t in said)  # Wales: no English IMD
    # cells with residents in one census only (the 2011 and 2021 centroids differ) are left out of the evaluation
    assert any("[health_change.evaluate] res 7" in t and "in one table only" in t for t in said), said
    assert result.skipped == ["deprivation_res7", "deprivation_res6"] and "health_change_res7" in result.built


def test_greater_manchester_polygons_at_res9(data: Path, tmp_path: Path) -> None:
    cfg = _example("greater_manchester_res9", data, tmp_path)
    r = _run("build", str(cfg), "--quiet")
    assert r.returncode == 0, r.stderr
    assert "warning" not in r.stderr  # outside = "ignore": the national counts outside GM are expected
    m = json.loads((tmp_path / "out" / "manifest.json").read_text())
    hc = m["steps"]["health_change_res9"]["audit"]
    gm21 = pl.read_parquet(data / "lookups" / "greater_manchester_oa21_lsoa21_msoa21_lad22.parquet")["lsoa21cd"]
    ts037 = ons.health_counts(data / "census2021" / "ts037_general_health_lsoa21_ew.parquet", "ts037")
    gm_counts = ts037.filter(pl.col("code").is_in(gm21.unique().implode()))
    assert hc["after"]["rows_placed"] == gm_counts.height == gm21.n_unique()
    assert hc["after"]["unassigned"] == 35_672 - gm_counts.height
    for c in CATS:
        assert hc["after"]["mass"][c]["in"] == gm_counts[c].sum()
        assert abs(hc["after"]["mass"][c]["out"] - gm_counts[c].sum()) < 1e-6
    assert 0 < hc["programme_areas_outside"] < 1_262  # the national programme, outside GM


def test_demo_builds_the_national_surface_from_the_shipped_real_data(tmp_path: Path) -> None:
    demo = ROOT / "python" / "hyperlocal" / "data" / "demo"
    assert sum(p.stat().st_size for p in demo.iterdir()) <= 6e6
    r = _run("demo", "--out-dir", str(tmp_path / "demo"), "--quiet")
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp_path / "demo" / "manifest.json").read_text())
    hc = m["steps"]["health_change_res7"]["audit"]
    assert hc["before"]["mass"]["very_good"]["in"] == 26_434_409
    assert sum(hc["after"]["mass"][c]["in"] for c in CATS) == 59_597_441
    surface = pl.read_parquet(tmp_path / "demo" / "health_change_res7.parquet")
    assert surface.height > 9_000


# ---------------------------------------------------------------------------------------------------------
# Census readers


def test_census_readers_take_nomis_wide_and_long_layouts(tmp_path: Path) -> None:
    wide = pl.DataFrame({
        "date": [2021, 2021], "geography": ["Area A", "Area B"], "geography code": ["E01000001", "E01000002"],
        "General health: Total: All usual residents": [10, 20],
        **{f"General health: {h}": [i, 2 * i] for i, h in enumerate(ons.TS037, 1)},
    })  # fmt: skip
    wide.write_csv(tmp_path / "wide.csv")
    got = ons.health_counts(tmp_path / "wide.csv", "ts037")
    assert got["code"].to_list() == ["E01000001", "E01000002"]
    assert got.select(CATS).row(1) == (2, 4, 6, 8, 10) and got["residents"].to_list() == [15, 30]
    long = pl.DataFrame({
        "area_code": ["X1"] * 5 + ["X2"] * 5,
        "health": [f"{h}" for h in ons.TS037] * 2,
        "observation": [1, 2, 3, 4, 5, 5, 4, 3, 2, 1],
    })  # fmt: skip
    long.write_parquet(tmp_path / "long.parquet")
    cats = {v: k for k, v in ons.TS037.items()}
    got = ons.health_counts(tmp_path / "long.parquet", "census", categories=cats,
                            long={"category": "health", "value": "observation"})  # fmt: skip
    assert got.filter(pl.col("code") == "X2").select(CATS).row(0) == (5, 4, 3, 2, 1)
    with pytest.raises(InvalidInputError, match=r"categories.very_good = 'health' matches 6 columns"):
        ons.census_table(tmp_path / "wide.csv", categories={"very_good": "health"})
    with pytest.raises(InvalidInputError, match="no geography code column"):
        pl.DataFrame({"x": [1], "Very good health": [1]}).write_csv(tmp_path / "nocode.csv")
        ons.census_table(tmp_path / "nocode.csv", categories={"very_good": "Very good health"})


def test_readers_match_the_published_totals(data: Path) -> None:
    h11 = ons.health_counts(data / "census2011" / "qs302ew_general_health_lsoa11_ew.parquet", "qs302ew")
    assert h11.height == 34_753 and h11["residents"].sum() == 56_075_912 and h11["very_good"].sum() == 26_434_409
    camden = ons.health_counts(data / "census2011" / "camden_2011" / "QS302EW_lsoa11_camden.csv", "qs302ew")
    assert camden.join(h11, on="code", how="inner").select(
        [(pl.col(c) == pl.col(f"{c}_right")).all() for c in CATS]
    ).row(0) == (True,) * 5  # CDRC's Camden extract equals the national Nomis file
    ks = ons.health_counts(data / "census2011" / "camden_2011" / "KS301EW_oa11_camden.csv", "ks301ew")
    assert ks["residents"].sum() == camden["residents"].sum()  # Camden's OAs add up to its LSOAs


def test_qs302ew_lsoa_counts_sum_to_the_msoa_counts(data: Path) -> None:
    """QS302EW by LSOA, summed to MSOA through the ONS lookup, equals the collated MSOA counts (good = very good +
    good, bad = bad + very bad) in every MSOA — the LSOA counts are exact, not a reconstruction."""
    h11 = ons.health_counts(data / "census2011" / "qs302ew_general_health_lsoa11_ew.parquet", "qs302ew")
    lookup = pl.read_parquet(data / "lookups" / "lsoa11_msoa11_lad_gb.parquet").select(
        code="lsoa11cd", MSOA="msoa11nm"
    )
    joined = h11.join(lookup, on="code", how="left")
    assert joined["MSOA"].null_count() == 0
    msoa = joined.group_by("MSOA").agg(
        good=(pl.col("very_good") + pl.col("good")).sum(), fair=pl.col("fair").sum(),
        bad=(pl.col("bad") + pl.col("very_bad")).sum(), residents=pl.col("residents").sum(),
    )  # fmt: skip
    ref = pl.read_parquet(data / "census2011" / "msoa11_general_health_3cat_collated_ew.parquet")
    both = msoa.join(ref, on="MSOA", how="inner")
    assert both.height == ref.height == 7_200
    assert (both["good"] == both["good_health"]).all()
    assert (both["fair"] == both["fair health"]).all()
    assert (both["bad"] == both["bad health"]).all()  # ("All persons" there is another population estimate)
