"""bench/code_usage.py: the codes a tiny PTGM run's high level picks at its first and last checkpoints, resume, and
the runs and flags it refuses."""
import json
import math
import os
import sys
from pathlib import Path

import pytest
from bench_testutils import load_bench_script

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "hierarchical"))
from highlevel_testutils import N_CODES, write_tiny_highlevel_config  # noqa: E402


@pytest.fixture(scope="module")
def cu():
    return load_bench_script("code_usage")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A round's layout with one tiny ptgm run (2 PPO iterations, a checkpoint after each) and one ppo run folder."""
    import ppo_highlevel

    root = tmp_path_factory.mktemp("code_usage")
    config, _ = write_tiny_highlevel_config(root)
    runs_dir = root / "runs"
    ppo_highlevel.main(["--config", "crafter_wood", "--highlevel_config", str(config), "--method",
                        "ptgm", "--results_dir", str(runs_dir / "crafter_wood" / "ptgm" / "seed1"), "--name", "run",
                        "--cpu", "--seed", "3", "--env_steps", "36"])
    (runs_dir / "crafter_wood" / "ppo" / "seed1" / "run_x" / "checkpoints").mkdir(parents=True)  # not a code method
    return runs_dir


def test_first_and_last_checkpoints_are_measured_and_resumed(cu, runs, tmp_path, capsys, monkeypatch):
    out = tmp_path / "usage.json"
    found = cu.find_checkpoints(runs)
    assert [(r["task"], r["method"], r["seed"]) for r in found] == [("crafter_wood", "ptgm", 1)]
    first, last = found[0]["first"], found[0]["last"]
    assert first[0].name.startswith("iter_") and last[0].name == "final.zip" and 0 < first[1] < last[1]
    result = cu.main(["--runs_dir", str(runs), "--episodes", "2", "--top", "3", "--out", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(result))
    entry = result["result"]["crafter_wood"]["ptgm"]["seed1"]
    for which, (path, steps) in (("first", first), ("last", last)):
        e = entry[which]
        assert e["env_steps"] == steps and e["checkpoint"] == str(path) and e["episodes"] == 2
        assert e["n_codes"] == N_CODES and e["decisions"] == sum(e["code_counts"].values()) > 0
        shares = [k / e["decisions"] for k in e["code_counts"].values()]
        assert e["code_entropy"] == pytest.approx(-sum(s * math.log(s) for s in shares), abs=1e-4)
        assert len(e["top_codes"]) == min(3, len(e["code_counts"]))
        assert [c for c, _ in e["top_codes"]] == [int(c) for c in list(e["code_counts"])[:3]]
        assert sum(s for _, s in e["top_codes"]) <= 1 + 1e-9
    # a rerun keeps what was measured; a changed checkpoint file is measured again
    os.utime(last[0], (last[0].stat().st_atime, last[0].stat().st_mtime + 5))
    capsys.readouterr()
    import hierarchical.evaluate

    evaluated, real = [], hierarchical.evaluate.evaluate
    monkeypatch.setattr(hierarchical.evaluate, "evaluate",
                        lambda path, *a, **k: evaluated.append(Path(path).name) or real(path, *a, **k))
    again = cu.main(["--runs_dir", str(runs), "--episodes", "2", "--top", "3", "--out", str(out)])
    assert evaluated == ["final.zip"]  # the first checkpoint's entry was kept, not measured again
    assert again["result"]["crafter_wood"]["ptgm"]["seed1"]["first"] == entry["first"]
    assert again["result"]["crafter_wood"]["ptgm"]["seed1"]["last"]["mtime"] != entry["last"]["mtime"]


@pytest.mark.parametrize("flags, message", [
    (["--methods", "ppo"], "--methods ppo: expected some of ptgm, ptgm_no_prior"),
    (["--episodes", "0"], "--episodes 0: expected at least 1"),
    (["--tasks", "crafter_iron"], "no <task>/<method>/seed<k>/run_*/checkpoints"),
])
def test_bad_flags_end_with_one_line_before_anything_is_evaluated(cu, runs, tmp_path, capsys, flags, message):
    out = tmp_path / "usage.json"
    with pytest.raises(SystemExit) as exc:
        cu.main(["--runs_dir", str(runs), "--out", str(out), *flags])
    assert exc.value.code == 2 and message in capsys.readouterr().err and not out.exists()
