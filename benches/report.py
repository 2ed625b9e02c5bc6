"""Turn pytest-benchmark's JSON (and memory.json, if present) into benches/results/latest.md: ratios vs peers."""

from __future__ import annotations

import json
import platform
import sys
from collections import defaultdict
from pathlib import Path


def main(src: str, dst: str) -> None:
    data = json.loads(Path(src).read_text())
    groups: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for b in data["benchmarks"]:
        scale = b.get("extra_info", {}).get("scale", 1)
        base, _, param = b["name"].removeprefix("test_").partition("[")
        name = base + (f" ({param.rstrip(']')})" if param else "")
        label = name + (f" (×{scale})" if scale != 1 else "")
        extra = b.get("extra_info", {})
        split = {k[:-2]: v for k, v in extra.items() if k.endswith("_s")}
        if split:
            label += " — " + ", ".join(f"{k} {v:.3f} s" for k, v in split.items())
        if "p_agreement" in extra:
            label += f" — p-values within MC error of ours: {extra['p_agreement']:.2%}"
        diffs = {k: v for k, v in extra.items() if k.startswith("max_abs_")}
        if diffs:
            label += " — " + ", ".join(f"{k} {v:.1e}" for k, v in diffs.items())
        if "lost_people" in extra:
            label += f" — mass lost: {extra['lost_people']:.3g} people"
        groups[b["group"]].append((label, b["stats"]["median"] * scale))
    lines = [
        "# Benchmarks (same run, same machine)",
        "",
        f"{data['machine_info'].get('cpu', {}).get('brand_raw', platform.processor())}, "
        f"{data['machine_info'].get('cpu', {}).get('count', '?')} cores; {data['datetime']}. "
        "Medians; ratio = peer time / hyperlocal time (> 1: hyperlocal is faster).",
        "",
    ]
    for group, rows in groups.items():
        ours = [t for n, t in rows if n.startswith("hyperlocal")]
        lines += [f"## {group}", "", "| variant | median (s) | ratio vs hyperlocal |", "|---|---|---|"]
        for n, t in sorted(rows, key=lambda r: r[1]):
            ratio = f"{t / ours[0]:.2f}×" if ours else "—"
            lines.append(f"| {n} | {t:.3f} | {ratio} |")
        lines.append("")
    mem = Path(src).with_name("memory.json")
    if mem.exists():
        m = json.loads(mem.read_text())
        lines += [
            "## Peak memory (fresh process each, extra RSS over the loaded input and the imported libraries)",
            "",
            "| variant | extra RSS (MB) | input RSS (MB) | time (s) |",
            "|---|---|---|---|",
        ]
        names = {
            "hyperlocal": "count_points 10M (as read_parquet returns it): hyperlocal",
            "polars-h3": "count_points 10M (as read_parquet returns it): polars-h3 group_by",
            "hyperlocal (1 chunk)": "count_points 10M (one chunk): hyperlocal",
            "polars-h3 (1 chunk)": "count_points 10M (one chunk): polars-h3 group_by",
        }
        for k, v in m.items():
            k = names.get(k, k)
            lines.append(
                f"| {k} | {v['extra_rss_mb']:.0f} | {v['base_rss_mb']:.0f} | {v['seconds_median']:.2f} |"
            )
        for ours, peer in (("hyperlocal", "polars-h3"), ("hyperlocal (1 chunk)", "polars-h3 (1 chunk)")):
            if ours in m and peer in m:
                r = m[ours]["extra_rss_mb"] / max(m[peer]["extra_rss_mb"], 1e-9)
                lines.append(
                    f"\ncount_points (10M events, res 9, by service, {m[ours].get('chunks', '?')} chunk(s)): "
                    f"hyperlocal uses {r:.2f}× polars-h3's extra memory (target ≤ 0.5×)."
                )
        lines.append("")
    Path(dst).write_text("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
