"""Shared fixtures. Real data comes from HYPERLOCAL_DATA (default: ../shared/data beside the repository).

A missing data folder fails the tests that need it, loudly: they are never skipped.
"""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
import pytest
from hyperlocal.categories import HEALTH_LABELS

ROOT = Path(__file__).resolve().parent.parent
HEALTH = HEALTH_LABELS


def data_dir() -> Path:
    return Path(os.environ.get("HYPERLOCAL_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def data() -> Path:
    d = data_dir()
    if not (d / "SOURCES.md").is_file():
        pytest.fail(
            f"real data not found at {d}: set HYPERLOCAL_DATA to the shared data folder "
            "(../shared/data beside the repository)",
            pytrace=False,
        )
    return d


@pytest.fixture(scope="session")
def lsoa_pwc(data: Path) -> pl.DataFrame:
    """2021 LSOA population-weighted centroids (BNG metres): LSOA21CD, x, y."""
    return pl.read_parquet(data / "geography" / "lsoa21_pwc_ew_bng.parquet").select("LSOA21CD", "x", "y")


@pytest.fixture(scope="session")
def ts037(data: Path) -> pl.DataFrame:
    """Census 2021 TS037 general health counts for all 35,672 LSOAs, with short column names."""
    df = pl.read_parquet(data / "census2021" / "ts037_general_health_lsoa21_ew.parquet")
    return df.rename({"mnemonic": "LSOA21CD", "Total: All usual residents": "residents", **HEALTH}).select(
        "LSOA21CD", "residents", *HEALTH.values()
    )
