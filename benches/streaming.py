"""Streaming count_points: 10⁸ events in a Parquet dataset, counted by (cell, service) at res 9.

Targets (issue 12): peak RSS ≤ 1 GB for the streamed 10⁸ events, measured in a fresh process, and a throughput
≥ 80% of the in-memory call's on 10⁷ events measured in the same run (also in a fresh process, input loaded
before the clock starts, as an analyst would call it).

The dataset (100 Parquet files of 10⁶ synthetic events: lat, lng, service) is generated once and cached in
benches/.cache/events_1e8 (about 1.3 GB; delete the folder to regenerate). Each variant runs 3 times; the
median time and the largest peak RSS are reported.
Usage: python benches/streaming.py OUT.json [OUT.md]
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

CACHE = Path(__file__).resolve().parent / ".cache" / "events_1e8"
FILES, PER_FILE = 100, 1_000_000

CHILD = r"""
import json, sys, time
import polars as pl
import hyperlocal as hl
files = sorted(__import__("glob").glob(sys.argv[1] + "/*.parquet"))
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
if sys.argv[2] == "stream":
    t = time.perf_counter()
    out = hl.count_points(pl.scan_parquet(files), resolution=9, by="service")
else:
    ev = pl.read_parquet(files[:10])
    t = time.perf_counter()
    out = hl.count_points(ev, resolution=9, by="service")
elapsed = time.perf_counter() - t
n = int(out["count"].sum())
print(json.dumps({"seconds": elapsed, "events": n, "rows": out.height, "peak_rss": status("VmHWM:")}))
"""


def generate() -> None:
    import hyperlocal as hl
    import polars as pl

    if len(list(CACHE.glob("part-*.parquet"))) == FILES:
        return
    CACHE.mkdir(parents=True, exist_ok=True)
    nation = hl.synth.nation(seed=0)
    t = time.perf_counter()
    for i in range(FILES):
        target = CACHE / f"part-{i:03d}.parquet"
        if target.exists():
            continue
        ev = nation.events(PER_FILE, seed=1000 + i)
        ll = hl.bng_to_latlng(ev["easting"], ev["northing"])
        tmp = target.with_suffix(".tmp")
        pl.DataFrame({"lat": ll["lat"], "lng": ll["lng"], "service": ev["service"]}).write_parquet(tmp)
        tmp.rename(target)
    print(f"generated {FILES * PER_FILE:,} events in {time.perf_counter() - t:.0f} s → {CACHE}", file=sys.stderr)


def run(variant: str, runs: int = 3) -> dict[str, float]:
    results = []
    for _ in range(runs):
        r = subprocess.run([sys.executable, "-c", CHILD, str(CACHE), variant], capture_output=True, text=True,
                           check=True)  # fmt: skip
        results.append(json.loads(r.stdout.strip().splitlines()[-1]))
    secs = sorted(x["seconds"] for x in results)[len(results) // 2]
    return {
        "events": results[0]["events"],
        "rows": results[0]["rows"],
        "seconds_median": secs,
        "events_per_second": results[0]["events"] / secs,
        "peak_rss_mb": max(x["peak_rss"] for x in results) / 1e6,
    }


def main(out_json: str, out_md: str | None = None) -> None:
    generate()
    stream, memory = run("stream"), run("memory")
    ratio = stream["events_per_second"] / memory["events_per_second"]
    result = {"stream_1e8": stream, "in_memory_1e7": memory, "throughput_ratio": ratio}
    Path(out_json).write_text(json.dumps(result, indent=2))
    lines = [
        "## Streaming count_points, res 9 by service (fresh process each; median of 3)",
        "",
        "| variant | events | time (s) | events/s | peak RSS (MB) |",
        "|---|---|---|---|---|",
        f"| streamed LazyFrame (scan_parquet of 100 files) | {stream['events']:,} | {stream['seconds_median']:.1f} "
        f"| {stream['events_per_second']:,.0f} | {stream['peak_rss_mb']:.0f} |",
        f"| in memory (read_parquet, then count) | {memory['events']:,} | {memory['seconds_median']:.2f} "
        f"| {memory['events_per_second']:,.0f} | {memory['peak_rss_mb']:.0f} |",
        "",
        f"Streaming throughput = {ratio:.2f}× the in-memory call's (target ≥ 0.80); peak RSS "
        f"{stream['peak_rss_mb']:.0f} MB for 10⁸ events (target ≤ 1,000 MB).",
        "",
    ]
    if out_md:
        Path(out_md).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main(*sys.argv[1:])
