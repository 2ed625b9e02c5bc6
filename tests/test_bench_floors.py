"""The CI benchmark gate (benches/floors.py): ratios against floors, failures named; history and README table."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benches"))
import floors  # noqa: E402


def _results(ours: float, peer: float) -> dict:
    bench = [("test_hyperlocal_x", ours), ("test_peer_x", peer), ("test_other_group_only_peer", 1.0)]
    return {
        "datetime": "2026-12-03T00:00:00",
        "machine_info": {"cpu": {"brand_raw": "cpu", "count": 2}},
        "benchmarks": [
            {"group": "g" if n != "test_other_group_only_peer" else "h", "name": n, "stats": {"median": t},
             "extra_info": {}}
            for n, t in bench
        ],
    }  # fmt: skip


def test_ratio_is_peer_over_ours_and_groups_without_ours_are_left_out() -> None:
    assert floors.ratios(_results(0.5, 2.0)) == {"g": {"test_peer_x": 4.0}}


@pytest.mark.parametrize(("ours", "ok"), [(0.5, True), (1.0, False)])
def test_check_fails_naming_the_benchmark_below_its_floor(tmp_path, monkeypatch, capsys, ours, ok) -> None:
    monkeypatch.setattr(floors, "ROOT", tmp_path)
    (tmp_path / "benches" / "results").mkdir(parents=True)
    res = tmp_path / "r.json"
    res.write_text(json.dumps(_results(ours, 2.0)))
    fl = tmp_path / "f.toml"
    fl.write_text('[[ratio]]\ngroup = "g"\npeer = "test_peer_x"\nfloor = 3.0\n')
    assert floors.check(str(res), str(fl)) == (0 if ok else 1)
    err = capsys.readouterr().err
    assert ok or "'g' vs test_peer_x: ratio 2.00× is below its floor 3.00×" in err
    fl.write_text('[[ratio]]\ngroup = "missing"\npeer = "test_peer_x"\nfloor = 1.0\n')
    assert floors.check(str(res), str(fl)) == 1
    assert "not measured" in capsys.readouterr().err


def test_record_appends_history_and_rewrites_the_readme_table(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(floors, "ROOT", tmp_path)
    (tmp_path / "benches" / "results").mkdir(parents=True)
    (tmp_path / "README.md").write_text(f"intro\n{floors.START}\nold\n{floors.END}\nrest\n")
    res = tmp_path / "r.json"
    res.write_text(json.dumps(_results(0.5, 2.0)))
    assert floors.record(str(res)) == 0
    assert floors.record(str(res)) == 0
    lines = (tmp_path / "benches" / "results" / "history.jsonl").read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[0])["ratios"] == {"g": {"test_peer_x": 4.0}}
    text = (tmp_path / "README.md").read_text()
    assert "| g | peer_x | 4.00× |" in text and "old" not in text and text.endswith("rest\n")
    assert text.count(floors.START) == 1
