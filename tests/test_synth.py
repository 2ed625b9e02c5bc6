"""The embedded synthetic nation: seeded, mass-consistent, realistic at national scale."""

from __future__ import annotations

import hyperlocal as hl
import numpy as np
import polars as pl

CATS = ("very_good", "good", "fair", "bad", "very_bad")


def test_nation_is_seeded_and_consistent() -> None:
    a, b = hl.synth.nation(seed=3, n_areas=20_000), hl.synth.nation(seed=3, n_areas=20_000)
    assert a.areas.equals(b.areas)
    assert not a.areas.equals(hl.synth.nation(seed=4, n_areas=20_000).areas)
    df = a.areas
    assert df.height == 20_000 and df["code"].is_unique().all()
    for y in (2011, 2021):
        assert (
            df.select(pl.sum_horizontal([f"{c}_{y}" for c in CATS])).to_series() == df[f"population_{y}"]
        ).all()
    # Everything lands on the grid and converts cleanly.
    cells = hl.bng_to_cell(df["easting"], df["northing"], 8)
    assert cells.null_count() == 0


def test_national_nation_looks_like_england_and_wales() -> None:
    df = hl.synth.nation(seed=0).areas
    assert df.height == 188_880
    pop = df["population_2011"]
    assert 280 < pop.mean() < 340
    share = df["very_good_2021"].sum() / df["population_2021"].sum()
    assert 0.46 < share < 0.51
    # Deprived areas report worse health.
    by_decile = (
        df.group_by("imd_decile")
        .agg(bad=(pl.col("bad_2021") + pl.col("very_bad_2021")).sum() / pl.col("population_2021").sum())
        .sort("imd_decile")
    )
    assert by_decile["bad"][0] > 2 * by_decile["bad"][-1]
    # Clustered: far fewer occupied res-7 cells than areas.
    assert hl.bng_to_cell(df["easting"], df["northing"], 7).n_unique() < df.height / 5


def test_events_follow_population_and_are_seeded() -> None:
    nation = hl.synth.nation(seed=0, n_areas=5_000)
    ev = nation.events(200_000, seed=9)
    assert ev.equals(nation.events(200_000, seed=9))
    assert ev.height == 200_000
    assert set(ev["service"].unique().to_list()) <= {
        "gp_appointment",
        "ae_attendance",
        "nhs111_call",
        "outpatient",
    }
    counts = hl.count_points(ev, resolution=6, easting="easting", northing="northing", by="service")
    assert counts["count"].sum() == 200_000
    assert np.isfinite(ev["easting"].to_numpy()).all()
