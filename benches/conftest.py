"""Shared inputs of the benchmarks: built once per session from the seeded synthetic nation."""

from __future__ import annotations

import hyperlocal as hl
import numpy as np
import polars as pl
import pytest

N_POINTS = 10_000_000


@pytest.fixture(scope="session")
def nation() -> hl.synth.Nation:
    return hl.synth.nation(seed=0)


@pytest.fixture(scope="session")
def events(nation: hl.synth.Nation) -> pl.DataFrame:
    """10M service events in England and Wales (lat, lng, service)."""
    ev = nation.events(N_POINTS, seed=1)
    ll = hl.bng_to_latlng(ev["easting"], ev["northing"])
    return pl.DataFrame({"lat": ll["lat"], "lng": ll["lng"], "service": ev["service"]})


@pytest.fixture(scope="session")
def points(events: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    return events["lat"].to_numpy(), events["lng"].to_numpy()
