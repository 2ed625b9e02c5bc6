"""Differential test of point → cell against h3-py 4.5 on 10⁸ points (run by `make bench`; `make test` runs 10⁷).

Fifty batches of 2·10⁶ points uniform on the sphere (each batch with the poles, ±180° and pentagon
neighbourhoods), each point at a random resolution 0..15, plus the near-edge corpus (points 1 mm .. 100 m from
the edges and vertices of face-spanning, pentagon-adjacent and random cells) at every resolution. Two worker
processes (h3-py runs point by point). Writes a JSON summary; exits 1 on any mismatch.

``python benches/differential.py OUT.json [N_POINTS]``
"""

from __future__ import annotations

import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import h3corpus  # noqa: E402

BATCH = 2_000_000


def batch(seed: int) -> tuple[int, int, list[tuple[float, float, int]]]:
    if seed < 0:  # the near-edge corpus at every resolution
        la, ln = h3corpus.near_edges(seed=-seed)
        lat, lng = np.tile(la, 16), np.tile(ln, 16)
        res = np.repeat(np.arange(16), len(la))
    else:
        lat, lng = h3corpus.globe(BATCH, seed=1000 + seed)
        res = np.random.default_rng(seed).integers(0, 16, len(lat))
    ours, ref = h3corpus.ours(lat, lng, res), h3corpus.h3py(lat, lng, res)
    bad = np.flatnonzero(ours != ref)
    return len(lat), int(bad.size), [(float(lat[i]), float(lng[i]), int(res[i])) for i in bad[:5]]


def main(out: str, n: int = 100_000_000) -> int:
    t = time.perf_counter()
    seeds = [-1, *range(max(1, n // BATCH))]
    total, mismatches, examples = 0, 0, []
    with ProcessPoolExecutor(2) as pool:
        for k, bad, ex in pool.map(batch, seeds):
            total, mismatches = total + k, mismatches + bad
            examples += ex
    summary = {
        "points": total,
        "mismatches": mismatches,
        "examples": examples[:10],
        "seconds": round(time.perf_counter() - t, 1),
    }
    Path(out).write_text(json.dumps(summary, indent=2))
    print(f"point → cell vs h3-py 4.5: {total:,} points, {mismatches} mismatches ({summary['seconds']} s)")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], *(int(a) for a in sys.argv[2:3])))
