"""Every public function on empty input, on every kind of table, and with nulls where on_invalid applies."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hyperlocal as hl
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from hyperlocal.exceptions import InvalidInputError, SkippedRowsWarning, UnmatchedAreasWarning
from hyperlocal.health import CATEGORIES

F64 = pl.Float64
CELLS = pl.DataFrame(schema={"cell": pl.UInt64, **{c: F64 for c in CATEGORIES}})
XW = pl.DataFrame(schema={"code": pl.String, "cell": pl.UInt64, "weight": F64})


def _empty_cases(tmp: Path) -> dict[str, Callable[[], Any]]:
    return {
        "latlng_to_cell": lambda: hl.latlng_to_cell([], [], 9),
        "bng_to_latlng": lambda: hl.bng_to_latlng([], []),
        "bng_to_cell": lambda: hl.bng_to_cell(np.array([]), np.array([]), 9),
        "cell_to_string": lambda: hl.cell_to_string([]),
        "string_to_cell": lambda: hl.string_to_cell([]),
        "cell_to_parent": lambda: hl.cell_to_parent([], 5),
        "cell_to_boundary": lambda: hl.cell_to_boundary([]),
        "cell_to_latlng": lambda: hl.cell_to_latlng([]),
        "crosswalk": lambda: hl.crosswalk(
            pl.DataFrame(schema={"code": pl.String, "lat": F64, "lng": F64}), resolution=8
        ),
        "crosswalk_area": lambda: hl.crosswalk(
            pl.DataFrame(schema={"code": pl.String, "geometry": pl.Binary}),
            resolution=8,
            method="area",
            crs=4326,
        ),
        "apportion": lambda: hl.apportion(
            pl.DataFrame(schema={"code": pl.String, "x": F64}), XW, extensive="x"
        ),
        "rollup": lambda: hl.rollup(
            pl.DataFrame(schema={"cell": pl.UInt64, "x": F64}), resolution=5, extensive="x"
        ),
        "count_points": lambda: hl.count_points(
            pl.DataFrame(schema={"lat": F64, "lng": F64, "s": pl.String}), resolution=8, by="s"
        ),
        "health_change": lambda: hl.health_change(CELLS, CELLS),
        "compare_groups": lambda: hl.compare_groups(CELLS, CELLS, []),
        "deciles": lambda: hl.deciles(pl.DataFrame(schema={"s": F64}), "s"),
        "deciles_weighted": lambda: hl.deciles(pl.DataFrame(schema={"s": F64, "w": F64}), "s", weight="w"),
        "imd_score": lambda: hl.imd_score(
            pl.DataFrame(schema={"a": F64, "b": F64}), domains={"a": "a", "b": "b"}, weights={"a": 1, "b": 1}
        ),
        "townsend": lambda: hl.townsend(
            pl.DataFrame(schema={c: F64 for c in "uechox"}),
            unemployed="u",
            economically_active="e",
            no_car="c",
            households="h",
            not_owner_occupied="o",
            overcrowded="x",
        ),  # fmt: skip
        "carstairs": lambda: hl.carstairs(
            pl.DataFrame(schema={c: F64 for c in "uechosx"}),
            unemployed="u",
            economically_active="e",
            no_car="c",
            households="h",
            overcrowded="o",
            low_social_class="s",
            social_class_base="x",
        ),  # fmt: skip
        "deprivation_surface": lambda: hl.deprivation_surface(
            pl.DataFrame(schema={"code": pl.String, "imd_score": F64, "population": F64}), XW
        ),
        "write_parquet": lambda: hl.write(pl.DataFrame(schema={"cell": pl.UInt64}), tmp / "e.parquet"),
        "write_csv": lambda: hl.write(pl.DataFrame(schema={"cell": pl.UInt64}), tmp / "e.csv"),
        "map_png": lambda: hl.map_png(pl.DataFrame(schema={"cell": pl.UInt64, "v": F64}), "v", tmp / "e.png"),
        "rate": lambda: hl.rate(pl.DataFrame(schema={"o": F64, "n": F64}), count="o", population="n"),
        "proportion": lambda: hl.proportion(
            pl.DataFrame(schema={"o": F64, "n": F64}), count="o", population="n"
        ),
        "reference_rates": lambda: hl.reference_rates(
            pl.DataFrame(schema={"o": F64, "n": F64, "s": pl.String}), count="o", population="n", strata="s"
        ),
        "isr": lambda: hl.isr(
            pl.DataFrame(schema={"o": F64, "n": F64, "s": pl.String}),
            observed="o",
            population="n",
            strata="s",
            reference=pl.DataFrame(schema={"s": pl.String, "ref_rate": F64}),
        ),  # fmt: skip
        "age_standardise": lambda: hl.age_standardise(
            pl.DataFrame(schema={"code": pl.String, "bad": F64, "age_0_15": F64, "age_16_plus": F64}),
            pl.DataFrame({"band": ["0-15", "16+"], "population": [10.0, 20.0], "bad": [1.0, 3.0]}),
            categories={"bad": ["bad"]},
        ),
        "standardised_change": lambda: hl.standardised_change(
            *[hl.age_standardise(
                pl.DataFrame(schema={"code": pl.String, "bad": F64, "age_0_15": F64, "age_16_plus": F64}),
                pl.DataFrame({"band": ["0-15", "16+"], "population": [10.0, 20.0], "bad": [1.0, 3.0]}),
                categories={"bad": ["bad"]},
            )] * 2
        ),
        "dsr": lambda: hl.dsr(
            pl.DataFrame(schema={"o": F64, "n": F64, "a": pl.String}), count="o", population="n", age_band="a"
        ),
        "funnel_limits": lambda: hl.funnel_limits(
            pl.DataFrame(schema={"o": F64, "n": F64}), statistic="rate", numerator="o", denominator="n"
        ),
        "funnel_curves": lambda: hl.funnel_curves(
            pl.DataFrame(schema={"o": F64, "n": F64}), statistic="rate", numerator="o", denominator="n"
        ),
        "funnel_plot": lambda: hl.funnel_plot(
            pl.DataFrame(schema={"o": F64, "n": F64}),
            tmp / "f.png",
            statistic="rate",
            numerator="o",
            denominator="n",
        ),
        "eb_smooth": lambda: hl.eb_smooth(
            CELLS.select("cell", pl.col("good").alias("p"), "fair"), count="fair", population="p"
        ),  # fmt: skip
        "sii": lambda: hl.sii(
            pl.DataFrame(schema={"v": F64, "p": F64, "q": pl.Int64, "se": F64}),
            value="v",
            population="p",
            quantile="q",
            se="se",
        ),  # fmt: skip
        "demand_surface": lambda: hl.demand_surface(
            pl.DataFrame(schema={"cell": pl.UInt64, "count": F64}),
            pl.DataFrame(schema={"cell": pl.UInt64, "population": F64}),
        ),
        "neighbours": lambda: hl.neighbours(pl.Series("cell", [], dtype=pl.UInt64)),
        "smooth": lambda: hl.smooth(pl.DataFrame(schema={"cell": pl.UInt64, "v": F64}), "v"),
        "local_gi": lambda: hl.local_gi(pl.DataFrame(schema={"cell": pl.UInt64, "v": F64}), "v"),
        "local_moran": lambda: hl.local_moran(pl.DataFrame(schema={"cell": pl.UInt64, "v": F64}), "v"),
        "global_moran": lambda: hl.global_moran(pl.DataFrame(schema={"cell": pl.UInt64, "v": F64}), "v"),
        "evaluate_programme": lambda: hl.evaluate_programme(
            pl.DataFrame(schema={"code": pl.String, **{c: F64 for c in CATEGORIES}, "imd": F64}),
            pl.DataFrame(schema={"code": pl.String, **{c: F64 for c in CATEGORIES}}),
            [],
            covariates=["imd"],
        ),
    }


EXPECTED_SCHEMA = {
    "latlng_to_cell": pl.UInt64,
    "bng_to_cell": pl.UInt64,
    "cell_to_string": pl.String,
    "string_to_cell": pl.UInt64,
    "cell_to_parent": pl.UInt64,
    "cell_to_boundary": pl.Binary,
    "bng_to_latlng": {"lat": F64, "lng": F64},
    "cell_to_latlng": {"lat": F64, "lng": F64},
    "crosswalk": {"code": pl.String, "cell": pl.UInt64, "weight": F64},
    "crosswalk_area": {"code": pl.String, "cell": pl.UInt64, "weight": F64},
    "apportion": {"cell": pl.UInt64, "x": F64},
    "rollup": {"cell": pl.UInt64, "x": F64},
    "count_points": {"cell": pl.UInt64, "s": pl.String, "count": pl.UInt32},
    "deciles": {"s": F64, "decile": pl.Int16},
    "deciles_weighted": {"s": F64, "w": F64, "decile": pl.Int16},
    "imd_score": {"a": F64, "b": F64, "imd_score": F64, "imd_rank": pl.Int64, "imd_decile": pl.Int8},
    "neighbours": {"cell": pl.UInt64, "neighbour": pl.UInt64, "distance": pl.UInt8, "weight": F64},
    "smooth": {"cell": pl.UInt64, "v": F64, "v_smooth": F64, "smooth_cells": pl.UInt32},
}


@pytest.mark.parametrize("name", list(_empty_cases(Path("."))))
def test_every_public_function_on_empty_input(name: str, tmp_path: Path) -> None:
    """An empty result of the right schema, or InvalidInputError: never a foreign exception."""
    try:
        out = _empty_cases(tmp_path)[name]()
    except InvalidInputError as e:
        # Nothing to compare, draw or standardise: an explicit error naming why.
        assert name in ("compare_groups", "map_png", "dsr", "funnel_limits", "funnel_curves", "funnel_plot",
                        "demand_surface", "global_moran", "evaluate_programme"), f"{name}: {e}"  # fmt: skip
        return
    if name == "isr":  # the whole (empty) table is one group: nothing observed, nothing expected
        assert out.height == 1 and out["observed"][0] == 0 and out["expected"][0] == 0
    elif isinstance(out, pl.Series):
        assert out.len() == 0 and out.dtype == EXPECTED_SCHEMA[name]
    elif isinstance(out, pl.DataFrame):
        assert out.height == 0
        if name in EXPECTED_SCHEMA:
            assert dict(out.schema) == EXPECTED_SCHEMA[name]
    elif isinstance(out, dict):  # deprivation_surface
        assert set(out) == {8, 7} and all(t.height == 0 and "decile" in t.columns for t in out.values())
    else:
        assert isinstance(out, Path) and out.exists()


def test_every_public_function_is_covered() -> None:
    frames = {"map_png", "map_html", "MapLayer", "ProgrammeEvaluation", "display_resolution"}
    frames |= {"write", "read_areas", "exceptions", "synth", "crosswalk"}
    names = {
        n.split("_parquet")[0].split("_csv")[0].split("_area")[0].split("_weighted")[0]
        for n in _empty_cases(Path("."))
    }
    # read_areas reads a file: tested on missing and corrupt files in test_cli/test_io.
    assert set(hl.__all__) - names - frames == set()


# ---------------------------------------------------------------------------------------------------------
# Tables of every kind


def _kinds(df: pl.DataFrame) -> dict[str, Any]:
    return {"polars": df, "lazy": df.lazy(), "arrow": df.to_arrow(), "pandas": df.to_pandas()}


@pytest.fixture(scope="module")
def small() -> dict[str, pl.DataFrame]:
    rng = np.random.default_rng(1)
    n = 300
    areas = pl.DataFrame(
        {
            "code": [f"A{i:04d}" for i in range(n)],
            "lat": rng.uniform(51.3, 51.7, n),
            "lng": rng.uniform(-0.4, 0.2, n),
            **{c: rng.integers(0, 500, n).astype(np.float64) for c in CATEGORIES},
            "score": rng.normal(20, 8, n),
        }
    )
    xw = hl.crosswalk(areas, resolution=7)
    assert isinstance(xw, pl.DataFrame)
    grid = hl.apportion(areas, xw, extensive=list(CATEGORIES))
    return {"areas": areas, "xw": xw, "grid": grid}


FRAME_CALLS: dict[str, Callable[[Any, dict[str, pl.DataFrame]], Any]] = {
    "crosswalk": lambda t, s: hl.crosswalk(t, resolution=8),
    "apportion": lambda t, s: hl.apportion(t, s["xw"], extensive="very_good", intensive="score"),
    "count_points": lambda t, s: hl.count_points(t, resolution=8),
    "rollup": lambda t, s: hl.rollup(t, resolution=5, extensive=list(CATEGORIES)),
    "health_change": lambda t, s: hl.health_change(t, t),
    "deciles": lambda t, s: hl.deciles(t, "score"),
    "imd_score": lambda t, s: hl.imd_score(
        t, domains={"a": "score", "b": "good"}, weights={"a": 1, "b": 2}, kind="score"
    ),
    "write": lambda t, s: pl.read_csv(hl.write(t, s["tmp"] / f"{type(t).__name__}.csv")),
    "local_gi": lambda t, s: hl.local_gi(t, "very_good", permutations=99, alpha=0.5),
    "local_moran": lambda t, s: hl.local_moran(t, "very_good", permutations=99, alpha=0.5),
    "smooth": lambda t, s: hl.smooth(t, "very_good", k=2),
}
USES_GRID = {"rollup", "health_change", "write", "local_gi", "local_moran", "smooth"}


@pytest.mark.parametrize("kind", ["lazy", "arrow", "pandas"])
@pytest.mark.parametrize("func", list(FRAME_CALLS))
def test_frame_level_functions_accept_every_kind_of_table(
    func: str, kind: str, small: dict[str, pl.DataFrame], tmp_path: Path
) -> None:
    s = dict(small) | {"tmp": tmp_path}
    base = small["grid"] if func in USES_GRID else small["areas"]
    want = FRAME_CALLS[func](base, s)
    got = FRAME_CALLS[func](_kinds(base)[kind], s)
    assert isinstance(got, pl.DataFrame)
    assert got.equals(want)


def test_unknown_table_type_is_named() -> None:
    with pytest.raises(InvalidInputError, match=r"areas: expected a polars DataFrame or LazyFrame.*got dict"):
        hl.crosswalk({"code": ["a"]}, resolution=7)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------------------
# on_invalid="skip" skips nulls as well as NaN; errors name them together


def test_null_and_nan_coordinates_are_named_together_and_skipped_together() -> None:
    lat = pl.Series([51.5, None, 51.6, float("nan"), 51.7])
    lng = pl.Series([-0.1, -0.1, None, -0.1, -0.1])
    with pytest.raises(InvalidInputError, match=r"lat/lng: 3 rows \(first at 1, 2, 3\)"):
        hl.latlng_to_cell(lat, lng, 8)
    with pytest.warns(SkippedRowsWarning, match=r"skipped 3 rows \(first at 1, 2, 3\)"):
        cells = hl.latlng_to_cell(lat, lng, 8, on_invalid="skip")
    assert cells.null_count() == 3 and cells.len() == 5

    ev = pl.DataFrame({"lat": lat, "lng": lng, "s": ["a", "b", "a", "b", "a"]})
    with pytest.raises(InvalidInputError, match=r"lat/lng: 3 rows \(first at 1, 2, 3\)"):
        hl.count_points(ev, resolution=8, by="s")
    with pytest.warns(SkippedRowsWarning, match=r"skipped 3 rows \(first at 1, 2, 3\)"):
        counts = hl.count_points(ev, resolution=8, by="s", on_invalid="skip")
    assert counts["count"].sum() == 2

    e = pl.Series([530_000.0, None, 1e9])
    n = pl.Series([180_000.0, 180_000.0, 180_000.0])
    with pytest.raises(InvalidInputError, match=r"easting/northing: 2 rows \(first at 1, 2\)"):
        hl.bng_to_cell(e, n, 8)
    with pytest.warns(SkippedRowsWarning, match=r"skipped 2 rows"):
        assert hl.bng_to_cell(e, n, 8, on_invalid="skip").null_count() == 2

    areas = pl.DataFrame(
        {"code": ["x", "y", "z", "w"], "lat": [51.5, None, float("nan"), 51.6], "lng": [0.0] * 4}
    )
    with pytest.raises(InvalidInputError, match=r"lat/lng: 2 rows \(first at 1, 2\).*\[code: y, z\]"):
        hl.crosswalk(areas, resolution=7)
    with pytest.warns(SkippedRowsWarning, match=r"skipped 2 rows.*\[code: y, z\]"):
        xw = hl.crosswalk(areas, resolution=7, on_invalid="skip")
    assert isinstance(xw, pl.DataFrame) and xw["code"].to_list() == ["x", "w"]


def test_crosswalk_areas_missing_from_values_are_named() -> None:
    areas = pl.DataFrame({"code": ["a", "b", "c"], "lat": [51.0, 52.0, 53.0], "lng": [0.0, 0.0, 0.0]})
    xw = hl.crosswalk(areas, resolution=7)
    values = pl.DataFrame({"code": ["a", "c"], "n": [1.0, 2.0]})
    with pytest.warns(UnmatchedAreasWarning, match=r"1 area\(s\) have no row in values \(e.g. \['b'\]\)"):
        grid = hl.apportion(values, xw, extensive="n")
    assert grid["n"].sum() == 3.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hl.apportion(values, xw.filter(pl.col("code") != "b"), extensive="n")  # no warning when all match


def test_polygon_errors_name_area_codes() -> None:
    good = pa.array([bytes.fromhex("0101000000000000000000f03f000000000000f03f")])  # a WKB point
    areas = pl.DataFrame({"code": ["E01"], "geometry": pl.from_arrow(good)})
    with pytest.raises(InvalidInputError, match=r"geometry: 1 row \(first at 0\).*\[code: E01\]"):
        hl.crosswalk(areas, resolution=7, method="area", crs=4326)


def test_pandas_frame_from_a_real_user_flow() -> None:
    df = pd.DataFrame({"code": ["a", "b"], "lat": [51.5, 52.5], "lng": [-1.0, -1.5], "n": [3, 4]})
    xw = hl.crosswalk(df, resolution=6)
    grid = hl.apportion(df, xw, extensive="n")
    assert grid["n"].sum() == 7


def test_population_points_with_null_coordinates_are_named_or_skipped() -> None:
    import shapely

    square = shapely.to_wkb(shapely.box(-0.2, 51.4, 0.0, 51.6))
    areas = pl.DataFrame({"code": ["sq"], "geometry": [square]})
    pts = pl.DataFrame(
        {"lat": [51.45, None, 51.55], "lng": [-0.15, -0.1, -0.05], "population": [10.0, 5.0, 30.0]}
    )
    with pytest.raises(InvalidInputError, match=r"lat/lng: 1 row \(first at 1\)"):
        hl.crosswalk(areas, resolution=7, method="population", points=pts, crs=4326)
    with pytest.warns(SkippedRowsWarning, match=r"points \(lat/lng\): skipped 1 row \(first at 1\)"):
        xw = hl.crosswalk(areas, resolution=7, method="population", points=pts, crs=4326, on_invalid="skip")
    assert isinstance(xw, pl.DataFrame)
    assert abs(xw["weight"].sum() - 1.0) < 1e-12
    # The weights are the two valid points' shares (10 and 30), whatever cells they fall in.
    cells = hl.cell_to_parent(hl.latlng_to_cell([51.45, 51.55], [-0.15, -0.05], 15), 7).to_list()
    expected: dict[int, float] = {}
    for c, w in zip(cells, (0.25, 0.75)):
        expected[c] = expected.get(c, 0.0) + w
    assert dict(zip(xw["cell"].to_list(), xw["weight"].to_list())) == pytest.approx(expected)


@pytest.mark.parametrize("kind", ["lazy", "arrow", "pandas"])
def test_compare_groups_programme_and_crosswalk_of_every_kind(kind: str, small: dict[str, pl.DataFrame]) -> None:
    """The programme (as cells, or as area codes with their crosswalk) may come as any kind of table or column."""
    grid, xw, areas = small["grid"], small["xw"], small["areas"]
    dep = hl.deciles(grid.with_columns(pop=pl.sum_horizontal(list(CATEGORIES))), "very_good", weight="pop")
    dep = dep.select("cell", "decile")
    prog_codes = areas["code"].head(60)
    want = hl.compare_groups(grid, grid, prog_codes.to_list(), deprivation=dep, crosswalk=xw)
    prog_cells = xw.filter(pl.col("code").is_in(prog_codes.implode())).select("cell").unique()
    assert hl.compare_groups(grid, grid, prog_cells, deprivation=dep).equals(want)
    got_cells = hl.compare_groups(grid, grid, _kinds(prog_cells)[kind], deprivation=dep)
    assert got_cells.equals(want)
    codes_frame = _kinds(pl.DataFrame({"code": prog_codes}))[kind]
    got_codes = hl.compare_groups(grid, grid, codes_frame, deprivation=dep, crosswalk=_kinds(xw)[kind])
    assert got_codes.equals(want)
    if kind == "pandas":  # a pandas column of codes
        got = hl.compare_groups(grid, grid, prog_codes.to_pandas(), deprivation=dep, crosswalk=xw)
        assert got.equals(want)


@pytest.mark.parametrize(
    "codes",
    [["A1", "A2", "A2", "A3"], ["A3", "A1", "A3"], [1, 2, 2, 3], [5, 1, 5]],
)
def test_duplicate_codes_are_named_whether_sorted_or_not(codes: list) -> None:
    """check_unique scans neighbours when the codes are sorted and hashes them otherwise: both name the rows."""
    from hyperlocal._convert import check_unique

    with pytest.raises(InvalidInputError, match="2 rows .* carry duplicate codes"):
        check_unique(pl.Series("code", codes), "values['code']")
    check_unique(pl.Series("code", sorted(set(codes))), "values['code']")
