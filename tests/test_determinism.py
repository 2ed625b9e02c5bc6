"""Output bytes do not depend on the number of threads."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import sys
import numpy as np, polars as pl, hyperlocal as hl
rng = np.random.default_rng(7)
n = 300_000
areas = pl.DataFrame({"code": np.arange(n).astype(str), "lat": rng.normal(52.5, 1.0, n),
                      "lng": rng.normal(-1.5, 1.0, n), "people": rng.integers(0, 900, n),
                      "score": rng.uniform(0, 80, n)})
xw = hl.crosswalk(areas, resolution=8)
# Fractional weights exercise the floating-point summation order.
xw = pl.concat([xw.with_columns(pl.col("weight") * 0.3),
                xw.with_columns(cell=hl.latlng_to_cell(areas["lat"] + 0.01, areas["lng"], 8),
                                weight=pl.lit(0.7))])
grid = hl.apportion(areas, xw, extensive="people", intensive="score", weight="people")
up = hl.rollup(grid, resolution=6, extensive="people", intensive="score", weight="people")
ev = pl.DataFrame({"lat": rng.normal(52.5, 1.0, 2_000_000), "lng": rng.normal(-1.5, 1.0, 2_000_000),
                   "s": rng.integers(0, 5, 2_000_000)})
counts = hl.count_points(ev, resolution=9, by="s")
import shapely
boxes = [shapely.box(-2 + (i % 40) * 0.013, 52 + (i // 40) * 0.009, -2 + (i % 40) * 0.013 + 0.02,
                     52 + (i // 40) * 0.009 + 0.015) for i in range(2000)]
polys = pl.DataFrame({"code": [f"P{i}" for i in range(2000)], "geometry": shapely.to_wkb(boxes),
                      "people": rng.integers(0, 500, 2000)})
pxw, paudit = hl.crosswalk(polys, resolution=9, method="area", crs="EPSG:4326", audit=True)
hl.write(hl.apportion(polys, pxw, extensive="people"), sys.argv[1] + "/polygons.parquet")
pxw.write_parquet(sys.argv[1] + "/polygon_crosswalk.parquet")
# A BNG tessellation (vertices shared between squares: the per-run vertex cache) with a hole in each square.
sq = [shapely.Polygon(shell=[(e, n), (e + 600, n), (e + 600, n + 600), (e, n + 600)],
                      holes=[[(e + 200, n + 200), (e + 400, n + 200), (e + 300, n + 400)]])
      for e, n in ((383_000 + 600 * (i % 50), 398_000 + 600 * (i // 50)) for i in range(2500))]
bng = pl.DataFrame({"code": [f"Q{i}" for i in range(2500)], "geometry": shapely.to_wkb(sq)})
hl.crosswalk(bng, resolution=10, method="area", crs="EPSG:27700").write_parquet(sys.argv[1] + "/bng_crosswalk.parquet")
hl.write(grid, sys.argv[1] + "/grid.parquet")
hl.write(up, sys.argv[1] + "/up.parquet")
counts.write_parquet(sys.argv[1] + "/counts.parquet")
"""


def test_output_bytes_identical_with_one_and_two_threads(tmp_path: Path) -> None:
    outs = []
    for threads in ("1", "2"):
        d = tmp_path / threads
        d.mkdir()
        env = {**os.environ, "RAYON_NUM_THREADS": threads, "POLARS_MAX_THREADS": threads}
        subprocess.run([sys.executable, "-c", SCRIPT, str(d)], check=True, env=env)
        outs.append({p.name: p.read_bytes() for p in d.iterdir()})
    assert outs[0].keys() == {"grid.parquet", "up.parquet", "counts.parquet", "polygons.parquet",
                              "polygon_crosswalk.parquet", "bng_crosswalk.parquet"}  # fmt: skip
    for name in outs[0]:
        assert outs[0][name] == outs[1][name], name
