"""Every bad input raises InvalidInputError naming the argument/column, the count and the first row indices."""

from __future__ import annotations

import re

import hyperlocal as hl
import numpy as np
import polars as pl
import pytest
from hyperlocal.exceptions import HyperlocalError, InvalidInputError, SkippedRowsWarning


def test_hierarchy() -> None:
    assert issubclass(InvalidInputError, HyperlocalError)
    assert issubclass(InvalidInputError, ValueError)


def test_nan_and_out_of_range_latlng_named_with_rows() -> None:
    lat = np.array([51.0, np.nan, 52.0, 95.0, 53.0, -91.0])
    lng = np.array([0.0, 0.0, 181.0, 0.0, np.inf, 0.0])
    with pytest.raises(InvalidInputError, match=r"lat/lng: 5 rows \(first at 1, 2, 3, 4, 5\)"):
        hl.latlng_to_cell(lat, lng, 8)


def test_skip_nulls_bad_points_and_reports_count() -> None:
    lat = np.array([51.0, np.nan, 52.0])
    lng = np.array([0.0, 0.0, 0.0])
    with pytest.warns(SkippedRowsWarning, match="skipped 1 row"):
        cells = hl.latlng_to_cell(lat, lng, 8, on_invalid="skip")
    assert cells.null_count() == 1 and cells[1] is None and cells[0] is not None


def test_bng_outside_grid() -> None:
    with pytest.raises(InvalidInputError, match=r"easting/northing: 2 rows \(first at 0, 2\).*700000"):
        hl.bng_to_latlng([-10.0, 530000.0, 530000.0], [100.0, 180000.0, 1_400_000.0])
    with pytest.raises(InvalidInputError, match=r"easting/northing: 1 row \(first at 1\)"):
        hl.bng_to_cell([530000.0, np.nan], [180000.0, 180000.0], 8)


@pytest.mark.parametrize("res", [-1, 16, 2.5, "8", True])
def test_resolution_out_of_range(res: object) -> None:
    with pytest.raises(InvalidInputError, match="resolution"):
        hl.latlng_to_cell([51.0], [0.0], res)  # type: ignore[arg-type]
    areas = pl.DataFrame({"code": ["a"], "lat": [51.0], "lng": [0.0]})
    with pytest.raises(InvalidInputError, match="resolution"):
        hl.crosswalk(areas, resolution=res)  # type: ignore[arg-type]


def test_length_mismatch() -> None:
    with pytest.raises(InvalidInputError, match="length mismatch: lng has 2 rows, expected 3"):
        hl.latlng_to_cell([51.0, 52.0, 53.0], [0.0, 1.0], 5)


def test_nulls_named_with_rows() -> None:
    with pytest.raises(
        InvalidInputError,
        match=r"lat/lng: 2 rows \(first at 1, 3\) invalid; expected finite .*not null or NaN",
    ):
        hl.latlng_to_cell(pl.Series([51.0, None, 52.0, None]), pl.Series([0.0] * 4), 5)
    areas = pl.DataFrame({"code": ["a", None, "c"], "lat": [51.0, 52.0, 53.0], "lng": [0.0, 0.0, 0.0]})
    with pytest.raises(InvalidInputError, match=r"code: 1 row \(first at 1\) are null"):
        hl.crosswalk(areas, resolution=7)


def test_duplicate_area_codes() -> None:
    areas = pl.DataFrame({"code": ["a", "b", "a", "c", "b"], "lat": [51.0] * 5, "lng": [0.0] * 5})
    with pytest.raises(InvalidInputError, match=r"4 rows \(first at 0, 1, 2, 4\).*\['a', 'b'\]"):
        hl.crosswalk(areas, resolution=7)


def test_negative_counts_in_extensive_columns() -> None:
    areas = pl.DataFrame({"code": ["a", "b", "c"], "lat": [51.0, 52.0, 53.0], "lng": [0.0, 0.0, 0.0]})
    xw = hl.crosswalk(areas, resolution=7)
    values = areas.with_columns(people=pl.Series([10, -3, 5]))
    with pytest.raises(
        InvalidInputError, match=r"people: 1 row \(first at 1\) null, NaN, negative or infinite \[code: b\]"
    ):
        hl.apportion(values, xw, extensive="people")


def test_codes_missing_from_crosswalk_are_named() -> None:
    areas = pl.DataFrame({"code": ["a", "b"], "lat": [51.0, 52.0], "lng": [0.0, 0.0]})
    xw = hl.crosswalk(areas, resolution=7)
    values = pl.DataFrame({"code": ["a", "zz", "b", "yy"], "people": [1, 2, 3, 4]})
    with pytest.raises(
        InvalidInputError,
        match=re.escape("2 rows (first at 1, 3) have codes absent from the crosswalk (e.g. ['zz', 'yy'])"),
    ):
        hl.apportion(values, xw, extensive="people")


def test_crosswalk_skip_reports_and_apportion_then_names_missing() -> None:
    areas = pl.DataFrame({"code": ["a", "b", "c"], "x": [530000.0, -5.0, 400000.0], "y": [180000.0] * 3})
    with pytest.warns(SkippedRowsWarning, match="skipped 1 row"):
        xw = hl.crosswalk(areas, resolution=7, easting="x", northing="y", on_invalid="skip")
    assert xw["code"].to_list() == ["a", "c"]
    with pytest.raises(InvalidInputError, match="absent from the crosswalk"):
        hl.apportion(areas.with_columns(n=pl.lit(1)), xw, extensive="n")


def test_count_points_bad_points_and_skip() -> None:
    ev = pl.DataFrame({"lat": [51.0, 200.0, 52.0], "lng": [0.0, 0.0, 0.0], "svc": ["gp", "gp", "ae"]})
    with pytest.raises(InvalidInputError, match=r"lat/lng: 1 row \(first at 1\)"):
        hl.count_points(ev, resolution=8)
    with pytest.warns(SkippedRowsWarning, match="skipped 1 row"):
        out = hl.count_points(ev, resolution=8, by="svc", on_invalid="skip")
    assert out["count"].sum() == 2


def test_invalid_cells_and_unknown_method() -> None:
    with pytest.raises(InvalidInputError, match=r"cells: 2 rows \(first at 0, 2\)"):
        hl.cell_to_parent(pl.Series([0, 0x8928308280FFFFF, 12345], dtype=pl.UInt64), 5)
    with pytest.raises(InvalidInputError, match=r"cell: 1 row \(first at 1\)"):
        hl.string_to_cell(pl.Series(["8928308280fffff", "nothex"]))
    with pytest.raises(InvalidInputError, match="method"):
        hl.crosswalk(
            pl.DataFrame({"code": ["a"], "lat": [1.0], "lng": [1.0]}), resolution=5, method="voronoi"
        )
