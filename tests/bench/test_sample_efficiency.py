"""bench/sample_efficiency.py and its report (bench/efficiency_report.py): curves from stats.csv, the Crafter
score, resume planning, and a whole benchmark round with a stand-in for ppo_highlevel.py (interrupted run resumed
from its newest checkpoint, report merged)."""
import json
import math
from pathlib import Path

import pytest
from bench_testutils import load_bench_script

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def se():
    return load_bench_script("sample_efficiency")


@pytest.fixture(scope="module")
def report():
    return load_bench_script("efficiency_report")


def _rows(*items):
    return [{"env_steps": s, "episodes": n, "success_rate": "" if r is None else r} for s, n, r in items]


def test_curve_weights_episodes_and_skips_empty_windows(report):
    rows = _rows((4000, 2, 0.5), (9000, 2, 1.0), (14000, 0, None), (26000, 1, 0.0), (27000, 3, 1.0))
    # window 1: (1 + 2) / 4; window 2: nothing ended; window 3: last, partial -> reported at 27000
    assert report.curve_from_rows(rows, 10000) == [[10000, 0.75], [27000, 0.75]]
    # a last window of 400 env steps (< half a window) joins the one before: (2 * 0.5 + 1 * 1.0) / 3
    rows = _rows((9000, 2, 0.5), (10400, 1, 1.0))
    assert report.curve_from_rows(rows, 10000) == [[10000, 0.6667]]


def test_crafter_score_formula(report):
    eps = [{"achievements": ["collect_wood"]}, {"achievements": []}]
    assert report.benchmark_task("crafter_score") and not report.benchmark_task("crafter_iron")
    out = report.benchmark_score("crafter_score", eps)  # through the registry: tasks/crafter/score.py
    assert out["success_rates"]["collect_wood"] == 50.0 and out["success_rates"]["wake_up"] == 0.0
    assert out["score"] == pytest.approx(math.exp(math.log(51.0) / 22) - 1, abs=1e-4)
    with pytest.raises(ValueError):
        report.benchmark_score("crafter_score", [])


def test_episode_ends(report):
    eps = [{"length": 10, "success": True, "end": "success", "death_cause": None, "achievements": ["collect_wood"]},
           {"length": 180, "success": False, "end": "death", "death_cause": "zombie",
            "achievements": ["collect_wood", "place_table"]},
           {"length": 170, "success": False, "end": "death", "death_cause": "zombie"},
           {"length": 500, "success": False, "end": "limit", "death_cause": None},
           {"length": 500, "success": False},  # an old line: at the limit
           {"length": 90, "success": False}]  # an old line: died, cause not logged
    out = report.episode_ends(eps, max_steps=500)
    assert out["ends"] == {"success": 1, "death": 3, "limit": 2}
    assert out["death_causes"] == {"zombie": 2, "unknown": 1} and out["median_length"] == 175.0
    assert out["unlocked"] == {"collect_wood": 2, "place_table": 1}


def test_mean_band(report):
    x, mean, half = report.mean_band([[[10, 0.0], [20, 1.0]], [[10, 1.0], [20, 1.0]]], 10)
    assert list(x) == [10, 20] and list(mean) == [0.5, 1.0]
    assert half[0] > 0.5 and half[1] == 0.0
    _, _, half1 = report.mean_band([[[10, 0.2]]], 10)
    assert math.isnan(half1[0])


# The stand-in writes stats.csv and results.json atomically, as ppo_highlevel.py does
# (sb3_vpt/logging.py): the round reports after each run ends while the other runs are still writing.
FAKE = r'''
import json, os, sys, time, pathlib
def put(path, text):
    tmp = path.with_name(path.name + ".tmp"); tmp.write_text(text); os.replace(tmp, path)
a = sys.argv[1:]
get = lambda k: a[a.index(k) + 1] if k in a else None
budget = int(get("--env_steps"))
if get("--load"):
    run = pathlib.Path(get("--load")).parent.parent
    start = int(pathlib.Path(get("--load")).stem.split("_")[-1])
else:
    run = pathlib.Path(get("--results_dir")) / ("run_" + time.strftime("%Y%m%d%H%M%S")); start = 0
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text("env_steps: %d\n" % budget)
rows = ["iteration,env_steps,episodes,success_rate"]
stats = run / "stats.csv"
if stats.exists():
    rows = [l for l in stats.read_text().splitlines() if not l[0].isdigit() or int(l.split(",")[1]) <= start]
stop = int(os.environ.get("FAKE_STOP_AT", 10**9))
for s in range(start + 1000, budget + 1, 1000):
    rows.append("%d,%d,2,%s" % (s // 1000, s, "1.0" if s > 3000 else "0.0"))
    put(stats, "\n".join(rows) + "\n")
    name = run / "checkpoints" / ("iter_%06d_envsteps_%d" % (s // 1000, s))
    name.with_suffix(".zip").write_text("x"); pathlib.Path(str(name) + ".state.pkl").write_text("x")
    if s >= stop:
        sys.exit(1)  # "killed"
put(run / "results.json", json.dumps({"env_steps": budget}))
put(run / "episodes.jsonl", json.dumps({"achievements": ["collect_wood"], "length": 7, "success": True,
                                       "end": "success"}) + "\n")
'''


def test_benchmark_round_resumes_and_reports(se, tmp_path, monkeypatch):
    fake = tmp_path / "fake_ppo.py"
    fake.write_text(FAKE)
    real_execute = se.execute

    def execute(cmd, log_path, torch_threads):
        assert cmd[1] == "ppo_highlevel.py"
        return real_execute([cmd[0], str(fake), *cmd[2:]], log_path, torch_threads)

    monkeypatch.setattr(se, "execute", execute)
    runs, out = tmp_path / "runs", tmp_path / "out"
    common = ["--tasks", "crafter_wood", "--seeds", "1", "2", "--budget", "6000", "--window", "2000",
              "--runs_dir", str(runs), "--out_dir", str(out), "--methods", "ptgm"]
    monkeypatch.setenv("FAKE_STOP_AT", "4000")
    se.main(common)  # both runs "killed" after 4000 env steps
    assert se.plan_run(runs, "crafter_wood", "ptgm", 1, 6000)[0] == "resume"
    monkeypatch.delenv("FAKE_STOP_AT")
    cmds = se.main(common + ["--dry_run"])["todo"]
    assert all("--load" in c and c[c.index("--load") + 1].endswith("envsteps_4000.zip") for c in cmds)
    data = se.main(common + ["--models_label", "v9"])
    assert se.plan_run(runs, "crafter_wood", "ptgm", 1, 6000)[0] == "done"
    assert data["models"] == "v9" and data["command"].endswith("--models_label v9")
    run = {r["seed"]: r for r in data["runs"]}
    assert run[1]["env_steps"] == 6000 and run[1]["curve"] == [[2000, 0.0], [4000, 0.5], [6000, 1.0]]
    assert data["summary"]["crafter_wood"]["ptgm"]["env_steps_to_0.5"] == 4000
    assert data["summary"]["crafter_wood"]["ptgm"]["episode_ends"] == {"success": 2, "death": 0, "limit": 0}
    assert (out / "sample_efficiency_crafter_wood.png").stat().st_size > 0
    # a later piece (another task) is merged into the same JSON
    se.main(["--tasks", "crafter_score", "--seeds", "1", "--budget", "2000", "--runs_dir", str(runs),
             "--out_dir", str(out), "--methods", "ppo"])
    merged = json.loads((out / "sample_efficiency.json").read_text())
    assert {(r["task"], r["seed"]) for r in merged["runs"]} == {("crafter_wood", 1), ("crafter_wood", 2)}
    assert merged["models"] == "v9"  # a later piece without --models_label keeps the label
    score_file = json.loads((out / "crafter_score.json").read_text())
    score = score_file["runs"][0]["crafter_score"]
    assert score["success_rates"]["collect_wood"] == 100.0
    assert score_file["summary"]["ppo"]["seeds"] == [1]
    assert score_file["summary"]["ppo"]["score_mean"] == round(score["score"], 4)
    assert score_file["summary"]["ppo"]["score_std"] == 0.0


def test_score_summary_over_finished_seeds(report):
    runs = [{"method": "ppo", "seed": s, "env_steps": 1000 + s, "finished": f, "crafter_score": {"score": v}}
            for s, f, v in ((1, True, 8.0), (2, True, 10.0), (3, False, 1.0))]
    runs.append({"method": "ptgm", "seed": 1, "env_steps": 900, "finished": False, "crafter_score": {"score": 5.0}})
    summary = report.score_summary(runs, "crafter_score")
    assert summary == {"ppo": {"seeds": [1, 2], "score_mean": 9.0, "score_std": 1.0, "env_steps_min": 1001}}
