"""Benchmark ratios: check the CI subset against its floors, and keep the history of full runs.

``python benches/floors.py check RESULTS.json [FLOORS.toml]``
    The ratios of `make bench-ci` (peer median / hyperlocal median, measured in the same run) against the
    floors in ``benches/floors.toml``; writes ``benches/results/ci.md`` and exits 1 naming every benchmark
    whose ratio fell below its floor (or that did not run).
``python benches/floors.py record RESULTS.json``
    After `make bench`: appends one line (commit, date, machine, every ratio) to
    ``benches/results/history.jsonl`` and rewrites the benchmark table of README.md between its markers.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from hyperlocal.project import tomllib

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- bench-table:start -->", "<!-- bench-table:end -->"


def medians(results: dict) -> dict[str, dict[str, float]]:
    """group → {test name: median seconds (scaled as the report scales it)}."""
    out: dict[str, dict[str, float]] = defaultdict(dict)
    for b in results["benchmarks"]:
        scale = b.get("extra_info", {}).get("scale", 1)
        out[b["group"]][b["name"]] = b["stats"]["median"] * scale
    return out


def ratios(results: dict) -> dict[str, dict[str, float]]:
    """group → {peer test: peer median / hyperlocal median}; the hyperlocal test of a group is the first whose
    name starts with ``test_hyperlocal``."""
    out: dict[str, dict[str, float]] = {}
    for group, rows in medians(results).items():
        ours = [t for n, t in rows.items() if n.startswith("test_hyperlocal")]
        if not ours:
            continue
        out[group] = {n: t / ours[0] for n, t in rows.items() if not n.startswith("test_hyperlocal")}
    return out


def machine(results: dict) -> str:
    cpu = results.get("machine_info", {}).get("cpu", {})
    return f"{cpu.get('brand_raw', platform.processor())}, {cpu.get('count', '?')} cores"


def check(results_path: str, floors_path: str = str(ROOT / "benches" / "floors.toml")) -> int:
    results = json.loads(Path(results_path).read_text())
    floors = tomllib.loads(Path(floors_path).read_text())["ratio"]
    got = ratios(results)
    lines = [
        "# make bench-ci: ratios against floors",
        "",
        f"{machine(results)}; {results['datetime']}. Ratio = peer median / hyperlocal median, same run "
        f"(> 1: hyperlocal is faster). Floors: `benches/floors.toml`.",
        "",
        "| benchmark | peer | ratio | floor | |",
        "|---|---|---|---|---|",
    ]
    failures = []
    for f in floors:
        r = got.get(f["group"], {}).get(f["peer"])
        if r is None:
            failures.append(f"bench-ci: {f['group']!r} vs {f['peer']}: not measured (did the benchmark run?)")
            lines.append(f"| {f['group']} | {f['peer']} | — | {f['floor']:.2f}× | MISSING |")
            continue
        ok = r >= f["floor"]
        lines.append(f"| {f['group']} | {f['peer']} | {r:.2f}× | {f['floor']:.2f}× | {'ok' if ok else 'BELOW'} |")
        if not ok:
            failures.append(
                f"bench-ci: {f['group']!r} vs {f['peer']}: ratio {r:.2f}× is below its floor {f['floor']:.2f}× "
                f"(benches/floors.toml)"
            )
    text = "\n".join(lines) + "\n"
    out = ROOT / "benches" / "results" / "ci.md"
    out.write_text(text)
    print(text)
    for msg in failures:
        print(msg, file=sys.stderr)
    return 1 if failures else 0


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def record(results_path: str) -> int:
    results = json.loads(Path(results_path).read_text())
    got = ratios(results)
    line = {
        "commit": _commit(),
        "date": results["datetime"],
        "machine": machine(results),
        "ratios": {g: {p: round(r, 4) for p, r in rows.items()} for g, rows in got.items()},
    }
    with (ROOT / "benches" / "results" / "history.jsonl").open("a") as fh:
        fh.write(json.dumps(line, ensure_ascii=False) + "\n")
    table = [
        START,
        f"Latest `make bench` ({line['date'][:10]}, commit {line['commit']}, {line['machine']}); ratio = peer median"
        " / hyperlocal median in the same run (> 1: hyperlocal is faster):",
        "",
        "| benchmark | peer | ratio |",
        "|---|---|---|",
    ]
    for group, rows in got.items():
        for peer, r in sorted(rows.items()):
            table.append(f"| {group} | {peer.removeprefix('test_')} | {r:.2f}× |")
    table.append(END)
    readme = ROOT / "README.md"
    text = readme.read_text()
    if START in text and END in text:
        head, rest = text.split(START, 1)
        text = head + "\n".join(table) + rest.split(END, 1)[1]
        readme.write_text(text)
    else:
        print(f"README.md has no {START} … {END} markers: table not written", file=sys.stderr)
        return 1
    print(f"appended to benches/results/history.jsonl; README table updated ({len(table) - 6} ratios)")
    return 0


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "check":
        return check(*argv[1:3])
    if len(argv) == 2 and argv[0] == "record":
        return record(argv[1])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
