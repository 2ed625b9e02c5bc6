"""Peak memory of count_points (10M events → counts per cell and service, res 9), of the national surfaces, and of
Gi* and local Moran with 999 permutations on the national res-9 grid (~1.6M cells), each in a fresh process.

Extra RSS = peak RSS while the operation runs − RSS with the input loaded and both libraries imported (an
import's own memory is not the operation's). The kernel's peak counter is reset after loading (write "5" to
/proc/self/clear_refs), so the load's own transient peak does not count.
Usage: python benches/memory.py OUT.json
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import gc, json, sys, time
import polars as pl
# Both libraries are imported before the baseline: the extra RSS is the operation's, not an import's.
import hyperlocal
import polars_h3
ev = pl.read_parquet(sys.argv[1])
if "rechunk" in sys.argv[3:]:
    ev = ev.rechunk()
chunks = ev.n_chunks()
gc.collect()
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
base = status("VmRSS:")
t = time.perf_counter()
if sys.argv[2] == "deprivation":
    sys.path.insert(0, sys.argv[3])
    from test_bench_deprivation import load_inputs, national
    out = national(*load_inputs())[7]
elif sys.argv[2] == "health":
    import polars as pl

    import hyperlocal as hl
    cats = ("very_good", "good", "fair", "bad", "very_bad")
    b = ev.filter(pl.col("year") == 2011)
    a = ev.filter(pl.col("year") == 2021)
    grids = [hl.apportion(t, hl.crosswalk(t, resolution=8, easting="easting", northing="northing"),
                          extensive=list(cats)) for t in (b, a)]
    out = hl.health_change(*grids)
elif sys.argv[2] in ("gi", "moran"):
    import hyperlocal as hl
    f = hl.local_gi if sys.argv[2] == "gi" else hl.local_moran
    out = f(ev, "bad_share", permutations=999)  # includes building the k-ring graph
elif sys.argv[2] == "hyperlocal":
    import hyperlocal as hl
    out = hl.count_points(ev, resolution=9, by="service", nested=False)  # the peer's cells: the same work
else:
    import polars_h3 as plh3
    out = (ev.lazy().with_columns(cell=plh3.latlng_to_cell("lat", "lng", 9)).group_by("cell", "service")
           .agg(count=pl.len()).collect())
elapsed = time.perf_counter() - t
print(json.dumps({"base": base, "peak": status("VmHWM:"), "seconds": elapsed, "rows": out.height, "chunks": chunks}))
"""


def measure(path: Path, variant: str, *extra: str, runs: int = 3) -> dict[str, float]:
    """Run one variant in ``runs`` fresh processes: the smallest extra RSS, its base, the median time."""
    results = []
    for _ in range(runs):
        r = subprocess.run([sys.executable, "-c", CHILD, str(path), variant, *extra], capture_output=True,
                           text=True, check=True)  # fmt: skip
        results.append(json.loads(r.stdout.strip().splitlines()[-1]))
        time.sleep(0.2)
    best = min(results, key=lambda x: x["peak"] - x["base"])
    return {
        "chunks": best.get("chunks", 1),
        "extra_rss_mb": (best["peak"] - best["base"]) / 1e6,
        "base_rss_mb": best["base"] / 1e6,
        "seconds_median": sorted(x["seconds"] for x in results)[len(results) // 2],
    }


def main(out: str) -> None:
    import hyperlocal as hl
    import polars as pl

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "events.parquet"
        ev = hl.synth.nation(seed=0).events(10_000_000, seed=1)
        ll = hl.bng_to_latlng(ev["easting"], ev["northing"])
        pl.DataFrame({"lat": ll["lat"], "lng": ll["lng"], "service": ev["service"]}).write_parquet(path)
        del ev, ll
        cats = ("very_good", "good", "fair", "bad", "very_bad")
        years = []
        for seed, y in ((0, 2011), (1, 2021)):
            t = hl.synth.nation(seed=seed).areas
            years.append(
                t.select(
                    "code", "easting", "northing", *[pl.col(f"{c}_{y}").alias(c) for c in cats]
                ).with_columns(year=pl.lit(y))
            )
        health_path = Path(d) / "health.parquet"
        pl.concat(years).write_parquet(health_path)
        here = str(Path(__file__).resolve().parent)
        sys.path.insert(0, str(Path(here).parent / "tests"))
        import surfaces

        res9 = Path(d) / "surface_res9.parquet"
        surface = surfaces.national(surfaces.data_dir(), 9)
        surface.write_parquet(res9)
        n9 = surface.height
        del surface
        results = {
            f"Gi* national res 9 ({n9:,} cells, 999 permutations)": measure(res9, "gi", runs=1),
            f"local Moran national res 9 ({n9:,} cells, 999 permutations)": measure(res9, "moran", runs=1),
            "health-change national res8": measure(health_path, "health"),
            "deprivation surface national res 9/8/7": measure(health_path, "deprivation", here),
            "hyperlocal": measure(path, "hyperlocal"),
            "polars-h3": measure(path, "polars-h3"),
            "hyperlocal (1 chunk)": measure(path, "hyperlocal", "rechunk"),
            "polars-h3 (1 chunk)": measure(path, "polars-h3", "rechunk"),
        }
    Path(out).write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main(sys.argv[1])
