"""The batch jobs behind the CLI: a national grid from files, and the demo on the synthetic nation."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl
from tqdm.auto import tqdm

from .aggregate import apportion
from .crosswalk import crosswalk
from .io import write
from .plot import map_png

__all__ = ["build_grid", "demo"]


def build_grid(
    areas: pl.DataFrame,
    values: pl.DataFrame,
    *,
    resolution: int,
    code: str,
    extensive: Sequence[str] = (),
    intensive: Sequence[str] = (),
    weight: str | None = None,
    method: str = "centroid",
    progress: bool = True,
    **crosswalk_options: Any,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Crosswalk ``areas`` at ``resolution`` and apportion ``values`` onto it.

    Returns (grid, crosswalk, audit). ``crosswalk_options`` go to :func:`hyperlocal.crosswalk` (coordinates,
    geometry, points, ...).
    """
    with tqdm(total=2, desc="grid", unit="step", disable=not progress, leave=False) as bar:
        bar.set_postfix_str(f"crosswalk ({method})")
        out = crosswalk(
            areas, resolution=resolution, code=code, method=method, audit=True, **crosswalk_options
        )
        assert isinstance(out, tuple)
        xw, audit = out
        bar.update()
        bar.set_postfix_str("apportion")
        grid = apportion(values, xw, code=code, extensive=extensive, intensive=intensive, weight=weight)
        bar.update()
    return grid, xw, audit


HEALTH = ("very_good", "good", "fair", "bad", "very_bad")


def demo(
    out_dir: str | os.PathLike[str] = "demo",
    *,
    resolution: int = 8,
    seed: int = 0,
    n_areas: int = 188_880,
    progress: bool = True,
) -> dict[str, Path]:
    """Build a national res-8 grid from the synthetic nation and write GeoParquet, CSV and a PNG map.

    The surface mapped is the percentage-point change in the share of residents reporting very good health,
    2011 → 2021 (cells with fewer than 100 residents in either year are left grey).
    """
    from . import synth

    out = Path(out_dir)
    steps = ["nation", "crosswalk + apportion", "write", "map"]
    with tqdm(total=len(steps), desc="demo", unit="step", disable=not progress) as bar:
        bar.set_postfix_str(steps[0])
        nation = synth.nation(seed=seed, n_areas=n_areas)
        bar.update()
        bar.set_postfix_str(steps[1])
        counts = [f"{c}_{y}" for y in (2011, 2021) for c in HEALTH]
        grid, _, _ = build_grid(
            nation.areas,
            nation.areas,
            resolution=resolution,
            code="code",
            extensive=["population_2011", "population_2021", *counts],
            easting="easting",
            northing="northing",
            progress=False,
        )
        grid = grid.with_columns(
            (100 * pl.col(f"very_good_{y}") / pl.col(f"population_{y}")).alias(f"very_good_{y}_pct")
            for y in (2011, 2021)
        ).with_columns(
            pl.when((pl.col("population_2011") >= 100) & (pl.col("population_2021") >= 100))
            .then(pl.col("very_good_2021_pct") - pl.col("very_good_2011_pct"))
            .otherwise(None)
            .alias("very_good_change_pp")
        )
        bar.update()
        bar.set_postfix_str(steps[2])
        paths = {
            "parquet": write(grid, out / f"nation_res{resolution}.parquet"),
            "csv": write(grid, out / f"nation_res{resolution}.csv"),
        }
        bar.update()
        bar.set_postfix_str(steps[3])
        paths["map"] = map_png(
            grid,
            "very_good_change_pp",
            out / f"very_good_change_res{resolution}.png",
            title=f"Synthetic nation: change in 'very good' health 2011→2021, res {resolution}",
            cmap="RdBu",
            diverging=True,
            label="percentage points",
        )
        bar.update()
    return paths
