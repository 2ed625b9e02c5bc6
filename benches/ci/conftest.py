"""Inputs of the CI benchmark subset (`make bench-ci`): the full benchmarks' inputs, made smaller so the whole
subset runs in under five minutes, against the same peers. Every tracked figure is the ratio of a peer's median
to ours in the same run, checked against `benches/floors.toml` by `benches/floors.py`. The synthetic nation comes from
benches/conftest.py."""

from __future__ import annotations

import hyperlocal as hl
import numpy as np
import polars as pl
import pytest

N_POINTS = 1_000_000
ROUNDS = 5


@pytest.fixture(scope="session")
def events(nation: hl.synth.Nation) -> pl.DataFrame:
    """1M service events in England and Wales (lat, lng, service), one chunk."""
    ev = nation.events(N_POINTS, seed=1)
    ll = hl.bng_to_latlng(ev["easting"], ev["northing"])
    return pl.DataFrame({"lat": ll["lat"], "lng": ll["lng"], "service": ev["service"]}).rechunk()


@pytest.fixture(scope="session")
def chunked_events(events: pl.DataFrame) -> pl.DataFrame:
    """The same events in 40 chunks, as `pl.read_parquet` returns a file of many row groups."""
    step = events.height // 40
    parts = [events.slice(i, step) for i in range(0, events.height, step)]
    df = pl.concat(parts, rechunk=False)
    assert df.n_chunks() >= 40
    return df


@pytest.fixture(scope="session")
def points(events: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    return events["lat"].to_numpy(), events["lng"].to_numpy()
