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



def test_sealed_start_is_the_first_sealed_frame_of_the_night(npb, tmp_path):
    from pretraining_report import generate_player_episodes, replay_snapshot

    dirs = generate_player_episodes(str(tmp_path), 3, 2, npb.MORNING_STEP + 1, 64)
    found = [npb.find_starts(d, npb.START_KINDS) for d in dirs]
    assert all(set(f) == set(npb.START_KINDS) for f in found)
    assert npb.find_starts(dirs[0]).keys() == set(npb.DEFAULT_STARTS)  # sealed only when asked for (a replay)
    frames = [f["sealed"] for f in found]
    assert any(f is not None for f in frames)  # run seed 3's second player seals itself in on its first night
    for d, f in zip(dirs, frames):
        if f is None:
            continue
        assert npb.DARK_STEP <= f < npb.MORNING_STEP
        _, _, info = replay_snapshot(d, f, 64)
        assert npb.sealed(info["semantic"], info["player_pos"])
        if f > npb.DARK_STEP:  # the frame before was not: it is the first
            _, _, before = replay_snapshot(d, f - 1, 64)
            assert not npb.sealed(before["semantic"], before["player_pos"])

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


def test_trace_records_leaving_the_pocket(npb):
    from tasks.crafter.env import ACTION_NAMES

    def info(rows):
        sem = _map(rows)
        pos = [int(v[0]) for v in np.nonzero(sem == _map(["P"])[0, 0])]
        return {"semantic": sem, "player_pos": pos, "achievements": {"place_stone": 0},
                "inventory": {"stone": 2, "wood_pickaxe": 1}}

    pocket = ["#######", "#P.####", "#######"]
    dug = ["#######", "#P.....", "#######"]  # the right wall dug out: five walkable tiles, open
    trace = npb._Trace(info(pocket))
    for rows, action in ((pocket, "noop"), (pocket, "move_right"), (dug, "do"), (pocket, "noop")):
        trace.update(info(rows), ACTION_NAMES.index(action))
    r = trace.record(info(pocket))
    assert r["sealed"] and r["left_after"] == 3 and r["left_by"] == "do"
    assert r["sealed_actions"] == {"noop": 1, "move_right": 1, "do": 1}  # counted until it left, not after
    s = npb.summarize([r, dict(r, left_after=None, left_by=None, sealed_actions={"noop": 4})])
    assert s["left_pocket_share"] == 0.5 and s["left_pocket_median_steps"] == 3.0 and s["left_pocket_by"] == {"do": 1}
    assert s["sealed_action_shares"] == {"noop": round(5 / 7, 4), "move_right": round(1 / 7, 4), "do": round(1 / 7, 4)}
