"""Mass is conserved on real data: Census 2021 general health (all 35,672 LSOAs) onto res 7, 8 and 9."""

from __future__ import annotations

import hyperlocal as hl
import numpy as np
import polars as pl
import pytest
from conftest import HEALTH

COUNTS = ["residents", *HEALTH.values()]


@pytest.fixture(scope="module")
def grids(lsoa_pwc: pl.DataFrame, ts037: pl.DataFrame) -> dict[int, pl.DataFrame]:
    out = {}
    values = ts037.join(pl.DataFrame({"LSOA21CD": lsoa_pwc["LSOA21CD"]}), on="LSOA21CD")
    assert values.height == 35_672
    # A made-up intensive column (share very good, %) checks the population-weighted means too.
    values = values.with_columns(pct_very_good=100 * pl.col("very_good") / pl.col("residents"))
    for res in (7, 8, 9):
        xw = hl.crosswalk(lsoa_pwc, resolution=res, code="LSOA21CD", easting="x", northing="y")
        assert xw.height == 35_672
        out[res] = hl.apportion(
            values, xw, code="LSOA21CD", extensive=COUNTS, intensive="pct_very_good", weight="residents"
        )
    return out


def test_national_totals_equal_input_exactly(grids: dict[int, pl.DataFrame], ts037: pl.DataFrame) -> None:
    assert int(ts037["residents"].sum()) == 59_597_441
    assert int(ts037["very_good"].sum()) == 28_827_191
    for res, g in grids.items():
        for c in COUNTS:
            assert g[c].sum() == float(ts037[c].sum()), (res, c)
        assert g["cell"].n_unique() == g.height


def test_rollup_9_to_7_equals_direct_7(grids: dict[int, pl.DataFrame]) -> None:
    up = hl.rollup(grids[9], resolution=7, extensive=COUNTS, intensive="pct_very_good", weight="residents")
    direct = grids[7]
    assert up["cell"].to_list() == direct["cell"].to_list()
    for c in COUNTS:
        assert up[c].to_list() == direct[c].to_list(), c
    np.testing.assert_allclose(up["pct_very_good"].to_numpy(), direct["pct_very_good"].to_numpy(), rtol=1e-12)
    # The population-weighted mean of the cells is the national share.
    g = grids[8]
    national = 100 * g["very_good"].sum() / g["residents"].sum()
    wmean = (g["pct_very_good"] * g["residents"]).sum() / g["residents"].sum()
    assert abs(national - wmean) < 1e-9
    assert abs(national - 48.37) < 0.01  # 28,827,191 / 59,597,441 (SOURCES.md)


def test_nested_crosswalk_cells_are_ancestors_of_res15_and_unnested_equals_latlng_to_cell(
    lsoa_pwc: pl.DataFrame,
) -> None:
    ll = hl.bng_to_latlng(lsoa_pwc["x"], lsoa_pwc["y"])
    fine = hl.latlng_to_cell(ll["lat"], ll["lng"], 15)
    nested = hl.crosswalk(lsoa_pwc, resolution=7, code="LSOA21CD", easting="x", northing="y")
    assert nested["cell"].to_list() == hl.cell_to_parent(fine, 7).to_list()
    flat = hl.crosswalk(lsoa_pwc, resolution=7, code="LSOA21CD", easting="x", northing="y", nested=False)
    geometric = hl.latlng_to_cell(ll["lat"], ll["lng"], 7)
    assert flat["cell"].to_list() == geometric.to_list()
    # The two differ only for centroids near hexagon edges (6.6% of LSOA centroids at res 7).
    differ = (nested["cell"] != flat["cell"]).sum()
    assert 0 < differ < 0.10 * lsoa_pwc.height
