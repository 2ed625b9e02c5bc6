"""Build the small real dataset that ships inside the package for ``make demo`` (``hyperlocal demo``).

Reads the public files in ``../shared/data`` (or ``$HYPERLOCAL_DATA``) and writes, to
``python/hyperlocal/data/demo/``:

* ``lsoa11.parquet``: every LSOA 2011 of England and Wales (34,753): ``code``, ``lat``, ``lng`` (geometric
  centroid, WGS84) and the Census 2011 general-health counts (QS302EW): ``very_good`` … ``very_bad``;
* ``lsoa21.parquet``: every LSOA 2021 (35,672): ``code``, ``easting``, ``northing`` (population-weighted
  centroid, British National Grid) and the Census 2021 counts (TS037);
* ``imd2019_lsoa11.parquet``: every English LSOA 2011 (32,844): ``code``, ``imd_score`` (the IMD 2019 composite
  recomputed from the seven published domain ranks by ``hyperlocal.imd_score``) and ``population`` (ONS mid-2020
  estimate).

Run from the repository root: ``python tools/make_demo_data.py``. Provenance and licence: see the README.md it
writes beside the files.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))

import hyperlocal as hl  # noqa: E402
from hyperlocal import ons  # noqa: E402

DATA = Path(os.environ.get("HYPERLOCAL_DATA", ROOT.parent / "shared" / "data"))
OUT = ROOT / "python" / "hyperlocal" / "data" / "demo"
CATS = ["very_good", "good", "fair", "bad", "very_bad"]
DOMAINS = {"income": "Income_rank", "employment": "Employment_rank", "education": "Education_rank",
           "health": "Health_rank", "crime": "Crime_rank", "barriers": "Housing_and_Access_rank",
           "living_environment": "Environment_rank"}  # fmt: skip


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    h11 = ons.health_counts(DATA / "census2011" / "qs302ew_general_health_lsoa11_ew.parquet", "qs302ew")
    c11 = pl.read_parquet(DATA / "geography" / "lsoa11_centroids_wgs84_not_pwc.parquet").select(
        pl.col("lsoa11_code").alias("code"), "lat", pl.col("lon").alias("lng")
    )
    lsoa11 = c11.join(h11.select("code", *CATS), on="code", how="inner").sort("code")
    assert lsoa11.height == 34_753 and lsoa11.select(pl.sum_horizontal(CATS)).to_series().sum() == 56_075_912
    h21 = ons.health_counts(DATA / "census2021" / "ts037_general_health_lsoa21_ew.parquet", "ts037")
    c21 = pl.read_parquet(DATA / "geography" / "lsoa21_pwc_ew_bng.parquet").select(
        pl.col("LSOA21CD").alias("code"), pl.col("x").round(1).alias("easting"), pl.col("y").round(1).alias("northing")
    )
    lsoa21 = c21.join(h21.select("code", *CATS), on="code", how="inner").sort("code")
    assert lsoa21.height == 35_672
    ranks = pl.read_parquet(DATA / "imd2019" / "imd2019_ranks_deciles_all_domains_lsoa11_england.parquet")
    scores = hl.imd_score(ranks.rename({"lsoa11_code": "code"}), domains=DOMAINS)
    pop = pl.read_parquet(DATA / "population" / "mid2020_population_single_year_age_lsoa11_ew.parquet").select(
        pl.col("lsoa11_code").alias("code"), pl.col("total_population").alias("population")
    )
    imd = scores.select("code", pl.col("imd_score").round(4)).join(pop, on="code", how="inner").sort("code")
    assert imd.height == 32_844
    for name, df in (("lsoa11", lsoa11), ("lsoa21", lsoa21), ("imd2019_lsoa11", imd)):
        df = df.with_columns(pl.col(pl.Int64).cast(pl.Int32))
        df.write_parquet(OUT / f"{name}.parquet", compression="zstd", compression_level=19, statistics=False)
    total = sum(p.stat().st_size for p in OUT.glob("*.parquet"))
    print(f"wrote {OUT} ({total / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
