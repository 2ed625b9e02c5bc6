"""Real English units for programme evaluation (tests, tools/evaluate_left_behind.py): the stable LSOA units of
2011 and 2021 (:func:`hyperlocal.ons.lsoa_units`: unchanged LSOAs, splits and merges kept whole), with

* general health, Census 2011 QS302EW and Census 2021 TS037, summed over each unit's LSOAs of that year;
* the population by age band of each year (QS103EW in the LC3409EW bands; the 2021 six categories);
* baseline covariates: the IMD 2019 score (mean of the unit's 2011 LSOAs weighted by their 2011 residents),
  its population-weighted decile over the English units (1 = most deprived), the share aged 65+ and aged 0–15
  in 2011, the share of 2011 residents in rural LSOAs (RUC 2011 classes D–F: rural town and fringe, village,
  hamlet and isolated dwellings), and the population-weighted centroid (BNG) of the unit's 2021 LSOAs;
* ``left_behind``: the Community Needs Index 2023 flag, true when LSOAs holding at least half of the unit's
  2021 residents are "left behind".

England only (IMD 2019 and the CNI are English indices).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import polars as pl
from hyperlocal import ons

HEALTH = ["very_good", "good", "fair", "bad", "very_bad"]


@functools.cache
def england_units(data: Path) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(before 2011, after 2021, reference LC3409EW): one row per English unit, keyed ``code``."""
    look = ons.lsoa_units(data / "lookups" / "lsoa11_to_lsoa21_lad22_ew.parquet").filter(
        pl.col("unit").str.starts_with("E")
    )
    u11 = look.select("LSOA11CD", "unit").unique()
    u21 = look.select("LSOA21CD", "unit").unique()
    h11 = ons.health_counts(data / "census2011" / "qs302ew_general_health_lsoa11_ew.parquet", "qs302ew")
    a11 = ons.qs103ew_age_bands(data / "census2011" / "qs103ew_age_single_year_lsoa11_ew.parquet")
    h21 = ons.health_counts(data / "census2021" / "ts037_general_health_lsoa21_ew.parquet", "ts037")
    a21 = ons.age6_lsoa21(data / "census2021" / "age_6_categories_lsoa21_ew.parquet")
    imd = pl.read_parquet(data / "imd2019" / "mysociety_uk_composite_imd_E_with_imd2019_scores_lsoa_uk.parquet")
    imd = imd.filter(pl.col("nation") == "E").select(pl.col("lsoa").alias("code"), imd="overall_local_score")
    ruc = pl.read_parquet(data / "lookups" / "ruc2011_lsoa11_ew.parquet").select(
        pl.col("LSOA11CD").alias("code"),
        rural=pl.col("RUC11CD").str.slice(0, 1).is_in(["D", "E", "F"]).cast(pl.Float64),
    )
    pwc = pl.read_parquet(data / "geography" / "lsoa21_pwc_ew_bng.parquet")
    pwc = pwc.select(pl.col("LSOA21CD").alias("code"), "x", "y")
    cni = pl.read_parquet(data / "biglocal" / "community_needs_index_2023_lsoa21_england.parquet").select(
        pl.col("lsoa21_code").alias("code"), lb=pl.col("Left Behind Area?").cast(pl.Float64)
    )

    l11 = (h11.join(a11, on="code").join(imd, on="code", how="left").join(ruc, on="code", how="left")
           .join(u11.rename({"LSOA11CD": "code"}), on="code"))  # fmt: skip
    ages11 = [c for c in a11.columns if c.startswith("age_")]
    before = l11.group_by("unit").agg(
        *[pl.col(c).sum() for c in [*HEALTH, *ages11]],
        imd=(pl.col("imd") * pl.col("residents")).sum() / pl.col("residents").sum(),
        rural_pct=100 * (pl.col("rural") * pl.col("residents")).sum() / pl.col("residents").sum(),
        imd_missing=pl.col("imd").is_null().any(),
    )
    l21 = h21.join(a21, on="code").join(pwc, on="code").join(cni, on="code", how="left").join(
        u21.rename({"LSOA21CD": "code"}), on="code"
    )
    ages21 = [c for c in a21.columns if c.startswith("age_")]
    after = l21.group_by("unit").agg(
        *[pl.col(c).sum() for c in [*HEALTH, *ages21]],
        x=(pl.col("x") * pl.col("residents")).sum() / pl.col("residents").sum(),
        y=(pl.col("y") * pl.col("residents")).sum() / pl.col("residents").sum(),
        left_behind=(pl.col("lb").fill_null(0) * pl.col("residents")).sum() / pl.col("residents").sum() >= 0.5,
    )
    before = before.join(after.select("unit", "x", "y", "left_behind"), on="unit")
    n = pl.sum_horizontal(HEALTH)
    before = before.with_columns(
        age_65_plus_pct=100 * pl.col("age_65_plus") / n, age_0_15_pct=100 * pl.col("age_0_15") / n
    ).rename({"unit": "code"}).sort("code")
    # population-weighted deciles of the IMD score over the units (1 = most deprived)
    order = before.sort("imd", descending=True)
    cum = order.select(c=n.cum_sum() / n.sum()).to_series().to_numpy()
    dec = np.minimum(10, np.floor((cum - 1e-12) * 10).astype(int) + 1)
    before = before.join(order.select("code").with_columns(imd_decile=pl.Series(dec)), on="code")
    assert not before["imd_missing"].any()
    ref = ons.lc3409ew_reference(data / "census2011" / "lc3409ew_general_health_by_tenure_by_age_lad_ew.parquet")
    return before.drop("imd_missing"), after.rename({"unit": "code"}).sort("code"), ref


#: The covariates used with these units.
COVARIATES = ["bad_or_very_bad_pct", "very_good_pct", "imd", "age_65_plus_pct", "age_0_15_pct", "rural_pct"]
