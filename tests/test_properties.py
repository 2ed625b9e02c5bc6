"""Invariants under random input (hypothesis): the nested centroid cell, apportion and rollup conserve totals."""

from __future__ import annotations

import h3
import hyperlocal as hl
import numpy as np
import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

settings.register_profile("hl", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("hl")

points = st.lists(
    st.tuples(st.floats(49.9, 58.7), st.floats(-7.5, 1.8), st.integers(0, 10_000), st.floats(0, 100)),
    min_size=1,
    max_size=300,
)


def _areas(rows: list[tuple[float, float, int, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "code": [f"A{i}" for i in range(len(rows))],
            "lat": [r[0] for r in rows],
            "lng": [r[1] for r in rows],
            "people": [r[2] for r in rows],
            "score": [r[3] for r in rows],
        }
    )


@given(points, st.integers(0, 12))
def test_centroid_crosswalk_puts_each_area_in_its_nested_cell(rows: list, res: int) -> None:
    """One row per area, in the ancestor at ``res`` of its point's res-15 cell (h3-py, computed here)."""
    areas = _areas(rows)
    xw = hl.crosswalk(areas, resolution=res)
    assert xw["code"].to_list() == areas["code"].to_list()
    expected = [h3.str_to_int(h3.cell_to_parent(h3.latlng_to_cell(a, b, 15), res)) for a, b, *_ in rows]
    assert xw["cell"].to_list() == expected
    assert (xw["weight"] == 1.0).all()


@given(points, st.integers(0, 12))
def test_apportion_conserves_totals(rows: list, res: int) -> None:
    areas = _areas(rows)
    grid = hl.apportion(
        areas, hl.crosswalk(areas, resolution=res), extensive="people", intensive="score", weight="people"
    )
    assert grid["people"].sum() == areas["people"].sum()
    total = areas["people"].sum()
    if total > 0:
        direct = (areas["score"] * areas["people"]).sum() / total
        cells = (grid["score"].fill_null(0) * grid["people"]).sum() / total
        assert abs(direct - cells) <= 1e-9 * max(1.0, abs(direct))


@given(points, st.integers(3, 12), st.data())
def test_rollup_conserves_totals(rows: list, res: int, data: st.DataObject) -> None:
    areas = _areas(rows)
    grid = hl.apportion(areas, hl.crosswalk(areas, resolution=res), extensive="people")
    coarse = data.draw(st.integers(0, res))
    up = hl.rollup(grid, resolution=coarse, extensive="people")
    assert up["people"].sum() == grid["people"].sum() == areas["people"].sum()
    assert up["cell"].is_unique().all()
    assert set(hl.cell_to_parent(grid["cell"], coarse).to_list()) == set(up["cell"].to_list())


@given(
    st.lists(st.floats(0, 1), min_size=2, max_size=30), st.lists(st.floats(1, 1e6), min_size=2, max_size=30)
)
def test_fractional_weights_conserve_mass(shares: list[float], values: list[float]) -> None:
    """A crosswalk with fractional weights (as the polygon methods will produce) conserves totals to 1e-9."""
    n = min(len(shares), len(values))
    rng = np.random.default_rng(n)
    cells = hl.latlng_to_cell(rng.uniform(51, 52, 4 * n), rng.uniform(-1, 0, 4 * n), 9).to_list()
    w = rng.uniform(0.01, 1, 4 * n)
    codes = [f"A{i % n}" for i in range(4 * n)]
    xw = pl.DataFrame({"code": codes, "cell": pl.Series(cells, dtype=pl.UInt64), "weight": w})
    xw = xw.with_columns(pl.col("weight") / pl.col("weight").sum().over("code"))
    vals = pl.DataFrame({"code": [f"A{i}" for i in range(n)], "v": values[:n]})
    grid = hl.apportion(vals, xw, extensive="v")
    assert abs(grid["v"].sum() - sum(values[:n])) <= 1e-9 * sum(values[:n])
