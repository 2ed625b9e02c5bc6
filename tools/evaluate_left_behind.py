"""The real run of issue 14: Community Needs Index 2023 "left behind" LSOAs against the rest of England, change in
'bad or very bad' general health 2011 → 2021, crude and age-standardised, on the stable 2011/2021 LSOA units
(tests/units.py), with both comparators (matching, entropy balancing) and both placebo designs (random,
spatially blocked), 999 placebos each.

    python tools/evaluate_left_behind.py [OUT_DIR]      # default ../out/evaluate_left_behind

Writes, per design, the effect, balance and placebo tables (CSV) and the two charts, and prints a summary.
Reads HYPERLOCAL_DATA (default ../shared/data beside the repository).
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
sys.path.insert(0, str(ROOT / "tests"))

import hyperlocal as hl  # noqa: E402
import polars as pl  # noqa: E402
from hyperlocal.io import atomic_path  # noqa: E402
from units import COVARIATES, england_units  # noqa: E402


def main() -> None:
    data = Path(os.environ.get("HYPERLOCAL_DATA", ROOT.parent / "shared" / "data"))
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "out" / "evaluate_left_behind"
    out.mkdir(parents=True, exist_ok=True)
    before, after, ref = england_units(data)
    programme = before.filter(pl.col("left_behind"))["code"]
    print(f"{before.height} English units, {programme.len()} left behind (CNI 2023, ≥ half the unit's residents)")
    for method in ("match", "weights"):
        for placebo in ("random", "blocked"):
            stem = f"{method}_{placebo}"
            t = time.perf_counter()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                r = hl.evaluate_programme(
                    before, after, programme, covariates=COVARIATES, method=method, on_unmatched="drop",
                    placebos=999, placebo=placebo, strata="imd_decile", coordinates=("x", "y"), standardise=ref,
                    seed=14, chart=out / f"{stem}_placebo.png", balance_chart=out / f"{stem}_balance.png",
                    title=f"CNI 2023 left-behind areas against England ({method}, {placebo} placebos)",
                )  # fmt: skip
            seconds = time.perf_counter() - t
            for name, table in (("effect", r.effect), ("balance", r.balance), ("placebos", r.placebo)):
                with atomic_path(out / f"{stem}_{name}.csv") as tmp:
                    table.write_csv(tmp)
            print(f"\n== {method}, {placebo} placebos ({seconds:.1f} s)")
            for w in caught:
                print(f"   warning: {w.message}")
            for e in r.effect.iter_rows(named=True):
                print(f"   {e['measure']:>16}: programme {e['programme_change_pp']:+.3f} pp, comparator "
                      f"{e['comparator_change_pp']:+.3f} pp, effect {e['effect_pp']:+.3f} pp "
                      f"[{e['interval_lo']:+.3f}, {e['interval_hi']:+.3f}], p = {e['p_value']:.4f} "
                      f"({e['placebos']} placebos, SD {e['placebo_sd']:.3f})")  # fmt: skip
            a = r.audit
            print(f"   units: programme {r.effect['n_programme'][0]} (dropped {r.effect['n_programme_dropped'][0]}), "
                  f"comparator {r.effect['n_comparator'][0]} (effective n {r.effect['comparator_effective_n'][0]:.0f});"
                  f" max |SMD| before {a['max_abs_smd_before']:.3f}, after {a['max_abs_smd_after']:.2e}")  # fmt: skip
            if placebo == "blocked":
                print(f"   programme clusters {a['programme_clusters']} (largest {a['programme_largest_cluster']}); "
                      f"placebo units outside the decile mix, mean {a['placebo_units_outside_mix_mean']:.0f}")
            if method == "match" and placebo == "random":
                print(r.balance)


if __name__ == "__main__":
    main()
