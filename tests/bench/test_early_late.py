"""bench/early_late.py: task success in the first and the last env steps of a round's runs, pooled over seeds."""
import json

import pytest
from bench_testutils import load_bench_script


@pytest.fixture(scope="module")
def el():
    return load_bench_script("early_late")


def _run(runs_dir, task, method, seed, episodes, name="run_2026-01-01_00-00-00"):
    run = runs_dir / task / method / f"seed{seed}" / name
    run.mkdir(parents=True)
    (run / "episodes.jsonl").write_text("".join(json.dumps(e) + "\n" for e in episodes))
    return run


def _eps(pattern, length=100):
    return [{"length": length, "success": c == "s"} for c in pattern]


def test_windows_pool_seeds_and_stop_at_the_budget(el, tmp_path):
    # seed 1: 10 episodes of 100 env steps; within 800: early (<= 300) s s f, late (> 500) f s s; the 2 past 800
    # (an extension of the run) are not read
    _run(tmp_path, "task_a", "ptgm", 1, _eps("ssfsfsfsssss"))
    _run(tmp_path, "task_a", "ptgm", 2, _eps("ffffffff"))
    _run(tmp_path, "task_a", "ptgm", 2, _eps("ssss"), name="run_2026-02-01_00-00-00")  # a later folder: not read
    out = el.main(["--runs_dir", str(tmp_path), "--max_env_steps", "800", "--early", "300", "--late", "300",
                   "--out", str(tmp_path / "out.json")])
    r = out["result"]["task_a"]["ptgm"]
    assert (r["early"]["successes"], r["early"]["episodes"]) == (2, 6)
    assert (r["late"]["successes"], r["late"]["episodes"]) == (2, 6)
    assert r["seeds"]["seed1"] == {"successes": 5, "episodes": 8, "rate": 0.625, "env_steps_read": 800}
    assert r["seeds"]["seed2"]["rate"] == 0.0
    lo, hi = r["early"]["wilson95"]
    assert 0.0 < lo < 1 / 3 < hi < 1.0
    assert json.loads((tmp_path / "out.json").read_text())["result"] == out["result"]
    only2 = el.main(["--runs_dir", str(tmp_path), "--max_env_steps", "800", "--early", "300", "--late", "300",
                     "--seeds", "2", "--out", str(tmp_path / "out2.json")])["result"]["task_a"]["ptgm"]
    assert list(only2["seeds"]) == ["seed2"] and only2["early"]["episodes"] == 3
    _run(tmp_path, "task_a", "bc_ppo", 1, _eps("ffff"))
    only_ptgm = el.main(["--runs_dir", str(tmp_path), "--max_env_steps", "800", "--early", "300", "--late", "300",
                         "--methods", "ptgm", "--out", str(tmp_path / "out3.json")])
    assert list(only_ptgm["result"]["task_a"]) == ["ptgm"] and only_ptgm["methods"] == ["ptgm"]
    _run(tmp_path, "task_b", "ptgm", 1, _eps("ssss"))
    only_b = el.main(["--runs_dir", str(tmp_path), "--max_env_steps", "800", "--early", "300", "--late", "300",
                      "--tasks", "task_b", "--out", str(tmp_path / "out4.json")])
    assert list(only_b["result"]) == ["task_b"] and only_b["result"]["task_b"]["ptgm"]["early"]["successes"] == 3


def test_wilson_interval(el):
    # 5 of 10: centred on 0.5, half-width z sqrt(0.25/10 + z^2/400) / (1 + z^2/10)
    z = 1.96
    half = z * (0.025 + z * z / 400) ** 0.5 / (1 + z * z / 10)
    assert el.wilson_interval(5, 10) == pytest.approx([0.5 - half, 0.5 + half], abs=1e-4)
    assert el.wilson_interval(0, 0) == [0.0, 1.0]
    assert el.wilson_interval(0, 50)[0] == 0.0
    with pytest.raises(ValueError):
        el.wilson_interval(3, 2)


@pytest.mark.parametrize("argv, expected", [
    (["--early", "0"], "--early 0"),
    (["--late", "300000"], "--late 300000"),
    ([], "no <task>/<method>/seed<k>"),
    (["--seeds", "7"], "of --seeds 7"),
    (["--within", "0"], "--within 0"),
    (["--methods", "ppo"], "of --methods ppo"),
    (["--tasks", "crafter_coal"], "of --tasks crafter_coal"),
])
def test_bad_input_one_line_nothing_written(el, tmp_path, capsys, argv, expected):
    runs = tmp_path / "runs"
    runs.mkdir()
    if argv:
        _run(runs, "t", "m", 1, _eps("s"))
    with pytest.raises(SystemExit) as exc:
        el.main(["--runs_dir", str(runs), "--out", str(tmp_path / "out.json")] + argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("bench/early_late.py: error:") and expected in err[0]
    assert not (tmp_path / "out.json").exists()


def test_ends_say_how_and_when_episodes_ended(el, tmp_path):
    eps = [{"length": 90, "success": True, "end": "success", "death_cause": None},
           {"length": 250, "success": True, "end": "success", "death_cause": None},
           {"length": 180, "success": False, "end": "death", "death_cause": "zombie"},
           {"length": 190, "success": False, "end": "death", "death_cause": "zombie"},
           {"length": 600, "success": False, "end": "death", "death_cause": None},
           {"length": 1000, "success": False, "end": "limit", "death_cause": None}]
    _run(tmp_path, "task_a", "ptgm", 1, eps[:3])
    _run(tmp_path, "task_a", "ptgm", 2, eps[3:])
    out = el.main(["--runs_dir", str(tmp_path), "--max_env_steps", "10000", "--early", "100", "--late", "100",
                   "--within", "200", "500", "--out", str(tmp_path / "out.json")])
    ends = out["result"]["task_a"]["ptgm"]["ends"]
    assert ends["episodes"] == 6
    assert ends["by_end"] == {"death:zombie": round(2 / 6, 4), "success": round(2 / 6, 4),
                              "death:unknown": round(1 / 6, 4), "limit": round(1 / 6, 4)}
    assert list(ends["by_end"])[:2] == ["death:zombie", "success"]  # most frequent first, ties by name
    assert ends["median_length_success"] == 170.0 and ends["median_length_other"] == 395.0
    assert ends["success_within"] == {"200": 0.5, "500": 1.0}
    assert ends["alive_after"] == {"200": 0.5, "500": round(2 / 6, 4)}
    assert out["within"] == [200, 500]
    none = el.episode_ends([])
    assert none["episodes"] == 0 and none["median_length_success"] is None and none["alive_after"]["200"] is None


def test_welch_compares_methods_on_per_seed_rates(el, tmp_path):
    from scipy.stats import ttest_ind

    for seed, (a, b) in enumerate([("ssff", "sfff"), ("sssf", "ffff"), ("ssff", "sfff")], start=1):
        _run(tmp_path, "task_a", "ptgm", seed, _eps(a))
        _run(tmp_path, "task_a", "bc_ppo", seed, _eps(b))
    _run(tmp_path, "task_a", "solo", 1, _eps("ss"))  # one seed: no test
    out = el.main(["--runs_dir", str(tmp_path), "--max_env_steps", "400", "--early", "100", "--late", "100",
                   "--out", str(tmp_path / "out.json")])
    tests = out["welch"]["task_a"]
    assert list(tests) == ["bc_ppo vs ptgm"]
    t, p = ttest_ind([0.25, 0.0, 0.25], [0.5, 0.75, 0.5], equal_var=False)
    assert tests["bc_ppo vs ptgm"] == {"t": round(float(t), 4), "p": round(float(p), 4), "seeds": [3, 3]}
    assert tests["bc_ppo vs ptgm"]["t"] < 0 < tests["bc_ppo vs ptgm"]["p"] < 0.05
