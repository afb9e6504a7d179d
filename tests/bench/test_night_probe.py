"""bench/night_probe.py: the sealed-in test on hand-made maps, the Wilson interval, the start frames read from a
recorded episode, and the probe end to end on tiny random models (every condition writes one record per start, the
replayed scripted player survives as its recording says, a bad flag is one line with exit code 2)."""
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from bench_testutils import load_bench_script

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def npb():
    return load_bench_script("night_probe")


def _map(rows: list[str]) -> np.ndarray:
    """Semantic map from characters: '#' stone, '.' grass, 'z' zombie, 'P' player, '~' water; indexed [x, y]."""
    from tasks.crafter.player.rules import S

    key = {"#": S["stone"], ".": S["grass"], "z": S["zombie"], "P": S["player"], "~": S["water"]}
    return np.array([[key[c] for c in row] for row in rows]).T


def test_sealed_is_a_walkable_region_of_at_most_four_tiles(npb):
    pocket = _map(["#####",
                   "#P..#",
                   "#####"])
    assert npb.sealed(pocket, (1, 1))  # three tiles
    five = _map(["#######",
                 "#P....#",
                 "#######"])
    assert not npb.sealed(five, (1, 1))
    with_zombie = _map(["######",
                        "#P.z..",
                        "######"])  # a creature stands on walkable ground: the region runs past it
    assert not npb.sealed(with_zombie, (1, 1))
    water = _map(["###",
                  "~P~",
                  "###"])  # water is not walkable: sealed (arrows aside)
    assert npb.sealed(water, (1, 1))


def test_wilson_interval(npb):
    lo, hi = npb.wilson(0, 40)
    assert lo == 0.0 and 0.08 < hi < 0.095  # 1.96^2 / (40 + 1.96^2) = 0.0876
    lo, hi = npb.wilson(20, 40)
    assert lo < 0.5 < hi and hi - 0.5 == pytest.approx(0.5 - lo, abs=1e-4)
    assert npb.wilson(0, 0) == [None, None]


def test_probe_end_to_end_on_tiny_models(npb, tmp_path, monkeypatch, capsys):
    sys.path.insert(0, str(REPO / "tests" / "bench"))
    from test_pretraining_report import tiny_models_or_skip

    root = tiny_models_or_skip(tmp_path / "models", 8, monkeypatch)
    out = tmp_path / "night.json"
    result = npb.main(["--highlevel_config", str(root / "highlevel.yaml"), "--episodes", "2", "--n_envs", "2",
                       "--codes", "1", "--seed", "3", "--cond_scale", "0.5", "--out", str(out)])
    data = json.loads(out.read_text())
    assert data == json.loads(json.dumps(result)) and data["complete"]
    assert data["models"]["cond_scale"] == 0.5  # the flag overrides the config's value
    assert (tmp_path / "night.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    dusk = data["starts"]["dusk"]
    assert dusk["starts"] == 2 and dusk["frames"] == [npb.DUSK_STEP] * 2
    assert set(dusk["conditions"]) == {"player", "noop", "random", "zero", "prior", "code1"}
    for kind, entry in data["starts"].items():
        for cond, c in entry["conditions"].items():
            recs = c["records"]
            assert len(recs) == entry["starts"], (kind, cond)
            for r, frame in zip(recs, entry["frames"]):
                assert 1 <= r["steps"] <= npb.MORNING_STEP - frame
                assert r["alive"] == (r["death_cause"] is None)
                assert r["alive"] <= (r["steps"] == npb.MORNING_STEP - frame)  # alive only at the morning
            s = c["summary"]
            assert s["episodes"] == len(recs)
            assert s["survived_night"] == pytest.approx(np.mean([r["alive"] for r in recs]), abs=1e-4)
    with pytest.raises(SystemExit) as e:
        npb.main(["--conditions", "walk", "--out", str(tmp_path / "x.json")])
    assert e.value.code == 2 and "--conditions walk" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()
