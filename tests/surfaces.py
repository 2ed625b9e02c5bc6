"""Real surfaces for the spatial statistics (tests and benchmarks): Census 2021 TS037 'bad or very bad health'
share on H3 grids.

* ``national(data, resolution)``: every cell of England and Wales (MSOA 2011 super-generalised boundaries,
  exact area crosswalk) carrying its MSOA's 2021 share. TS037 is published on 2021 LSOAs; each LSOA21 is
  put in the MSOA 2011 of its 2011 LSOA (ONS lookups; a merged LSOA21 goes with its first LSOA11), and the
  MSOA share is Σ(bad + very bad)/Σ residents. Cells straddling MSOAs get the area-weighted mean. At
  resolution 8 this is ~206,000 cells, at resolution 9 ~1.44 million.
* ``greater_manchester(data, resolution)``: the 1,702 Greater Manchester LSOA 2021 boundaries, exact area
  crosswalk, each cell the area-weighted mean of its LSOAs' shares.
"""

from __future__ import annotations

import os
from pathlib import Path

import hyperlocal as hl
import polars as pl

VALUE = "bad_share"


def data_dir() -> Path:
    """The shared data folder: HYPERLOCAL_DATA, or ../shared/data beside the repository."""
    return Path(os.environ.get("HYPERLOCAL_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def _ts037(data: Path) -> pl.DataFrame:
    t = pl.read_parquet(data / "census2021" / "ts037_general_health_lsoa21_ew.parquet")
    return t.select(
        pl.col("mnemonic").alias("LSOA21CD"),
        pl.col("Total: All usual residents").cast(pl.Float64).alias("residents"),
        (pl.col("Bad health") + pl.col("Very bad health")).cast(pl.Float64).alias("bad"),
    )


def msoa_shares(data: Path) -> pl.DataFrame:
    """MSOA11CD, residents, bad, bad_share (TS037 2021 LSOAs regrouped into MSOA 2011)."""
    l21 = (
        pl.read_parquet(data / "lookups" / "lsoa11_to_lsoa21_lad22_ew.parquet")
        .select("LSOA21CD", "F_LSOA11CD")
        .sort("LSOA21CD", "F_LSOA11CD")
        .unique("LSOA21CD", keep="first")
    )
    l11 = pl.read_parquet(data / "lookups" / "lsoa11_msoa11_lad_gb.parquet").select(
        pl.col("lsoa11cd").alias("F_LSOA11CD"), pl.col("msoa11cd").alias("MSOA11CD")
    )
    t = _ts037(data).join(l21, on="LSOA21CD", how="inner").join(l11, on="F_LSOA11CD", how="inner")
    g = t.group_by("MSOA11CD").agg(pl.col("residents").sum(), pl.col("bad").sum())
    return g.with_columns((pl.col("bad") / pl.col("residents")).alias(VALUE)).sort("MSOA11CD")


def national(data: Path, resolution: int = 8) -> pl.DataFrame:
    """cell, bad_share over every cell of England and Wales at ``resolution``."""
    msoa = hl.read_areas(data / "geography" / "msoa2011_bsc_ew" / "msoa2011_bsc_ew.shp", code="MSOA11CD")
    xw = hl.crosswalk(msoa, resolution=resolution, code="MSOA11CD", method="area")
    grid = hl.apportion(msoa_shares(data), xw, code="MSOA11CD", intensive=VALUE)
    return grid.select("cell", VALUE).filter(pl.col(VALUE).is_not_null() & pl.col(VALUE).is_not_nan())


def greater_manchester(data: Path, resolution: int = 9) -> pl.DataFrame:
    """cell, bad_share over Greater Manchester's LSOA 2021 boundaries at ``resolution``."""
    areas = hl.read_areas(data / "geography" / "greater_manchester_lsoa21_generalised.geojson", code="area_code")
    shares = _ts037(data).select(
        pl.col("LSOA21CD").alias("area_code"), (pl.col("bad") / pl.col("residents")).alias(VALUE)
    ).filter(pl.col("area_code").is_in(areas["area_code"].implode()))
    xw = hl.crosswalk(areas, resolution=resolution, code="area_code", method="area")
    grid = hl.apportion(shares, xw, code="area_code", intensive=VALUE)
    return grid.select("cell", VALUE).filter(pl.col(VALUE).is_not_null() & pl.col(VALUE).is_not_nan())
