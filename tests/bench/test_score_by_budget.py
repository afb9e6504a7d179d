"""bench/score_by_budget.py: the benchmark score of a run's episodes within env-step budgets."""
import json
import math

import pytest
from bench_testutils import load_bench_script


@pytest.fixture(scope="module")
def sbb():
    return load_bench_script("score_by_budget")


def _run(tmp_path, episodes, env_steps):
    run = tmp_path / "task" / "ppo" / "seed1" / "run_x"
    run.mkdir(parents=True)
    (run / "episodes.jsonl").write_text("".join(json.dumps(e) + "\n" for e in episodes))
    (run / "stats.csv").write_text(f"iteration,env_steps,wall_time\n1,{env_steps // 2},100.0\n2,{env_steps},110.0\n")
    return run


def test_cut_scores_and_missing_budget(sbb, tmp_path):
    eps = [{"length": 100, "achievements": ["collect_wood"]}, {"length": 100, "achievements": []},
           {"length": 100, "achievements": ["collect_wood", "wake_up"]}]
    run = _run(tmp_path, eps, env_steps=320)
    assert sbb.find_run_dir(tmp_path / "task") == run  # a folder above the run dir
    assert sbb.episodes_within(eps, 250) == eps[:2]
    out = sbb.main(["--task", "crafter_score", "--runs", f"w8={tmp_path / 'task'}", "--budgets", "200", "300", "400",
                    "--out", str(tmp_path / "out.json")])
    by = out["runs"]["w8"]["by_budget"]
    # 200 env steps: 2 episodes, collect_wood 50 % -> exp(ln 51 / 22) - 1; 400 > the run's 320 env steps: not scored
    assert by["200"]["episodes"] == 2 and by["200"]["score"] == pytest.approx(math.exp(math.log(51.0) / 22) - 1,
                                                                                abs=1e-4)
    assert by["300"]["success_rates"]["wake_up"] == pytest.approx(100 / 3, abs=1e-3) and by["400"] is None
    written = json.loads((tmp_path / "out.json").read_text())["runs"]["w8"]
    assert written["env_steps_total"] == 320 and written["env_steps_per_s"] == 16.0  # (320 - 160) / 10 s


def test_bad_inputs_one_line(sbb, tmp_path, capsys):
    for argv in (["--task", "crafter_iron", "--runs", f"a={_run(tmp_path, [{'length': 1}], 1)}"],
                 ["--task", "crafter_score", "--runs", "no_label"],
                 ["--task", "crafter_score", "--runs", f"a={tmp_path / 'missing'}"]):
        with pytest.raises(SystemExit) as exc:
            sbb.main(argv + ["--budgets", "10", "--out", str(tmp_path / "x.json")])
        assert exc.value.code == 2
    assert not (tmp_path / "x.json").exists()
