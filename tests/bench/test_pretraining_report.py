"""bench/pretraining_report.py end to end on tiny random models and short scripted-player episodes: every key of
issue 18 item 6 is written with values in range, the README section is replaced between its markers, the
next-link start rule picks the right frame, and a bad flag ends with one line and exit code 2, nothing written."""
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from bench_testutils import load_bench_script
from gymnasium import spaces

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "hierarchical"))
from highlevel_testutils import N_ACTIONS, TINY_POLICY_KWARGS, tiny_agent  # noqa: E402

N_CODES = 5


@pytest.fixture(scope="module")
def pr():
    return load_bench_script("pretraining_report")


def _tiny_models(root: Path, goal_dim: int) -> Path:
    """Tiny low level (goals of the real CrafterCLIP's size), trunk, prior, codebook, training-argument files and
    pipeline.json; returns the high-level config naming them."""
    import pickle

    from goal_prior.load_prior import GoalPriorPolicy

    root.mkdir(parents=True, exist_ok=True)
    (root / "tiny.yaml").write_text(yaml.safe_dump({"policy_kwargs": TINY_POLICY_KWARGS,
                                                    "pi_head_kwargs": {"temperature": 1.0}}))
    torch.save(tiny_agent(spaces.Discrete(N_ACTIONS), goal_dim=goal_dim, temperature=1.0, seed=1).state_dict(),
               root / "low.weights")
    torch.save(tiny_agent(spaces.Discrete(N_ACTIONS), temperature=1.0, seed=4).state_dict(), root / "vpt.weights")
    torch.manual_seed(2)
    prior = GoalPriorPolicy(N_CODES, TINY_POLICY_KWARGS, {"temperature": 1.0})
    torch.save(prior.state_dict(), root / "prior.weights")
    codes = np.random.default_rng(0).normal(size=(N_CODES, goal_dim))
    with open(root / "centers.pkl", "wb") as f:
        pickle.dump([c[None] for c in codes], f)
    relabel = {"T": 16, "min_btwn_goals": 15, "max_btwn_goals": 20, "trunc_t": 8}
    (root / "low_args.yaml").write_text(yaml.safe_dump({**relabel, "goal_lead": 0}))
    (root / "prior_args.yaml").write_text(yaml.safe_dump({**relabel, "label_space": "cosine"}))
    (root / "pipeline.json").write_text(json.dumps({"pipeline_seconds_this_invocation": 7200.0}))
    cfg = yaml.safe_load((REPO / "configs" / "crafter" / "highlevel.yaml").read_text())
    cfg.update(in_model=str(root / "tiny.yaml"), in_weights=str(root / "low.weights"),
               weights=str(root / "vpt.weights"), prior_weights=str(root / "prior.weights"),
               codebook=str(root / "centers.pkl"), goal_embedder=str(REPO / "downloads/crafter/crafterclip.pt"),
               low_level_steps=3, n_envs=2)
    (root / "highlevel.yaml").write_text(yaml.safe_dump(cfg))
    return root


def tiny_models_or_skip(root: Path, goal_dim: int, monkeypatch) -> Path:
    """:func:`_tiny_models` in ``root`` (their config names the shipped CrafterCLIP, which must exist: else the test
    is skipped), with the working directory set to the repository (task configs resolve ``configs/`` from it)."""
    crafterclip = REPO / "downloads/crafter/crafterclip.pt"
    if not crafterclip.is_file():
        pytest.skip(f"{crafterclip} missing")
    monkeypatch.chdir(REPO)
    return _tiny_models(root, goal_dim)


def test_report_end_to_end_on_tiny_models(pr, tmp_path, monkeypatch):
    crafterclip = REPO / "downloads/crafter/crafterclip.pt"
    if not crafterclip.is_file():
        pytest.skip(f"{crafterclip} missing")
    from tasks.crafter.crafterclip.embedder import CrafterCLIPEmbedder

    goal_dim = int(CrafterCLIPEmbedder.from_checkpoint(str(crafterclip), device="cpu").embed_dim)
    root = _tiny_models(tmp_path / "models", goal_dim)
    readme = tmp_path / "README.md"
    readme.write_text("# Results\n\nkept text\n")
    monkeypatch.chdir(REPO)  # task_config resolves configs/ relative to the repository
    out = tmp_path / "pretraining.json"
    argv = ["--highlevel_config", str(root / "highlevel.yaml"), "--low_level_args", str(root / "low_args.yaml"),
            "--prior_args", str(root / "prior_args.yaml"), "--player_episodes", "2", "--max_episode_len", "60",
            "--worlds", "2", "--screen_worlds", "1", "--top_codes", "1", "--test_episodes", "2", "--test_worlds", "2",
            "--test_seed", "5", "--horizon", "4", "--survival_worlds", "2",
            "--task_episodes", "1", "--score_episodes", "1", "--max_steps", "9", "--n_envs", "2",
            "--achievements", "collect_wood", "place_table", "--codes", "0", "1", "--seed", "3", "--cond_scale", "0.5",
            "--out_json", str(out), "--readme", str(readme)]
    result = pr.main(argv)
    data = json.loads(out.read_text())
    assert data == json.loads(json.dumps(result))
    for key in ("player", "goal_information", "competence", "survival_under_prior", "prior", "prior_driven_success",
                "unconditional_success", "unconditional_bc_crafter_score", "pipeline_hours", "command", "quick",
                "counts"):
        assert key in data, key
    assert data["command"].startswith("python bench/pretraining_report.py --highlevel_config")
    assert data["models"]["cond_scale"] == 0.5  # the flag overrides the config's value
    player = data["player"]
    assert player["episodes"] == 2 and 1 <= player["median_episode_length"] <= 60
    assert all(0.0 <= v <= 1.0 for v in player["achievement_success_rate"].values())
    g = data["goal_information"]
    assert 0 < g["nll_true_goal"] < 10 and 0 < g["nll_no_goal"] < 10 and g["frames"] > 0
    assert g["gap"] == pytest.approx(g["nll_no_goal"] - g["nll_true_goal"], abs=2e-4)  # each rounded to 1e-4
    for key in ("by_subgoal", "by_subgoal_age", "by_target_view", "by_goal_horizon"):  # each partitions the frames
        rows = g[key]
        assert sum(r["frames"] for r in rows.values()) == g["frames"], key
        for col in ("nll_true_goal", "nll_no_goal"):  # frame-weighted means of rows rounded to 1e-4
            mean = sum(r["frames"] * r[col] for r in rows.values()) / g["frames"]
            assert mean == pytest.approx(g[col], abs=3e-4), (key, col)
    assert "0" in g["by_subgoal_age"] and set(g["by_subgoal"]) <= set(pr_subgoals())
    assert g["by_event"]  # the player's first achievements (wood, ...) fall in the 60-step episodes
    for name, lags in g["by_event"].items():  # Jensen: the mean probability >= exp(-mean NLL)
        assert set(lags) <= {"lag_0", "lag_1"}, name
        for r in lags.values():
            assert 1 <= r["frames"] <= g["frames"]
            for goal in ("true_goal", "no_goal"):
                assert math.exp(-r[f"nll_{goal}"]) - 1e-3 <= r[f"p_{goal}"] <= 1.0, (name, goal)
    # by_approach: the player always turns to the material of the sub-goal it pursues; probabilities are means
    assert g["by_approach"]  # trees beside the player in its first 60 env steps (the same seed every run)
    for name, kinds in g["by_approach"].items():
        assert set(kinds) <= {"pursued", "not_pursued"}, name
        for kind, r in kinds.items():
            assert 1 <= r["frames"] <= g["frames"] and 0.0 <= r["teacher_turns"] <= 1.0
            assert kind == "not_pursued" or r["teacher_turns"] == 1.0, name
            assert 0.0 <= r["p_turn_true_goal"] <= 1.0 and 0.0 <= r["p_turn_no_goal"] <= 1.0
    # goal_lead 0, goals 15..19 frames apart (an episode's last gap up to 32): horizons 0..19, at the end up to 32
    # (a horizon counted backwards, frame minus goal, would put every frame in "0-15")
    assert set(g["by_goal_horizon"]) <= {"0-15", "16-23", "24-31", "32-47"}
    assert {"0-15", "16-23"} <= set(g["by_goal_horizon"])
    p = data["prior"]
    assert 0 < p["nll"] < 10 and 0 <= p["label_entropy"] <= math.log(N_CODES) + 1e-9
    for a in ("collect_wood", "place_table"):
        c = data["competence"][a]
        assert c["best_code"] in (0, 1) and 0.0 <= c["success"] <= 1.0 and c["worlds"] == 2
        assert c["start"] in ("replay", "inventory") and len(c["starts"]) == 2
        if c["start"] == "replay":  # replayed from the held-out episodes: the teacher's own time is recorded
            assert 0.0 <= c["teacher_within_horizon"] <= 1.0 and all(o["teacher_steps"] >= 1 for o in c["starts"])
        # chosen on the selection starts (seed 3's episodes), measured on the test starts (seed 5's): other worlds
        sel = c["selection"]
        assert c["measured_on"] == "test starts" and sel["worlds"] == 2 and len(sel["starts"]) == 2
        assert f"code_{c['best_code']}" in sel["top_codes_success"]
        assert sel["success"] == max(sel["top_codes_success"].values())
        assert not {o["world_seed"] for o in sel["starts"]} & {o["world_seed"] for o in c["starts"]}
    assert data["test_seed"] == 5 and data["counts"]["test_worlds"] == 2
    s = data["survival_under_prior"]
    assert s["episodes"] == 2 and 1 <= s["median_episode_length"] <= 9
    for task in ("crafter_iron", "crafter_stone_pickaxe"):
        assert 0.0 <= data["prior_driven_success"][task] <= 1.0 and 0.0 <= data["unconditional_success"][task] <= 1.0
    for task, target in (("crafter_iron", "collect_iron"), ("crafter_stone_pickaxe", "make_stone_pickaxe")):
        for goals, key in (("prior", "prior_driven_success"), ("zero", "unconditional_success")):
            rates = data["prior_driven_success_episodes"][f"{task}/{goals}"]["achievement_rates"]
            assert all(0.0 < v <= 1.0 for v in rates.values())  # only achievements some episode unlocked
            assert rates.get(target, 0.0) == pytest.approx(data[key][task])  # success is the task's achievement
    assert 0.0 <= data["unconditional_bc_crafter_score"] <= 100.0
    assert data["pipeline_hours"] == pytest.approx(2.0)
    text = readme.read_text()
    assert text.startswith("# Results\n\nkept text\n") and text.count(pr.README_BEGIN) == 1
    assert text.count(pr.README_END) == 1 and "goal information gap" in text
    assert "reduced counts" in text and not data["quick"]  # tiny counts are not sold as the full protocol


def pr_subgoals():
    from tasks.crafter.player.rules import SUBGOALS

    return SUBGOALS


def test_subgoal_age_counts_env_steps_since_the_choice(pr):
    assert pr.subgoal_age([3, 3, 3, 5, 5, 3, 7]).tolist() == [0, 1, 2, 0, 1, 0, 0]
    assert pr.subgoal_age([]).tolist() == []


def test_target_view_rows(pr):
    from tasks.crafter.env import SEMANTIC_NAMES

    names = ["collect_wood", "shelter", "make_wood_pickaxe"]
    view = np.zeros((4, 9, 7), np.uint8)
    view[0, 2, 3] = SEMANTIC_NAMES.index("tree")  # frame 0: wood, a tree in view
    view[2, 8, 6] = SEMANTIC_NAMES.index("tree")  # frame 2: crafting, a tree but no table in view
    view[3, 0, 0] = SEMANTIC_NAMES.index("table")  # frame 3: crafting, a table in view
    rows = pr.target_view(np.array([0, 0, 2, 2]), view, names)
    assert rows.tolist() == [0, 1, 1, 0]
    assert pr.target_view(np.array([1]), np.zeros((1, 9, 7), np.uint8), names).tolist() == [2]


def test_readme_section_is_replaced_not_duplicated(pr, tmp_path):
    path = tmp_path / "README.md"
    path.write_text(f"head\n{pr.README_BEGIN}\nold\n{pr.README_END}\ntail\n")
    pr.write_readme(str(path), f"{pr.README_BEGIN}\nnew\n{pr.README_END}\n")
    assert path.read_text() == f"head\n{pr.README_BEGIN}\nnew\n{pr.README_END}\ntail\n"
    counts = {**pr.FULL, "max_steps": "each task's own", "codes_screened": "all"}
    assert pr.run_kind({"quick": False, "counts": counts}) == "full protocol"
    assert pr.run_kind({"quick": False, "counts": {**counts, "worlds": 8}}).startswith("reduced counts")
    assert pr.run_kind({"quick": True, "counts": counts}) == "quick run"


def test_next_link_start_is_the_later_of_subgoal_run_and_requirements(pr):
    from tasks.crafter.env import ACHIEVEMENTS, INVENTORY_ITEMS

    L = 12
    ach = np.zeros((L, len(ACHIEVEMENTS)), np.int32)
    ach[9:, ACHIEVEMENTS.index("place_table")] = 1  # the action at frame 8 placed the table
    inv = np.zeros((L, len(INVENTORY_ITEMS)), np.uint8)
    inv[5:9, INVENTORY_ITEMS.index("wood")] = 2  # a table needs 2 wood (crafter data.yaml): held from frame 5
    sub = np.array([0, 0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0])  # the sub-goal run that placed it began at frame 2
    meta = {"achievement_names": list(ACHIEVEMENTS), "inventory_names": list(INVENTORY_ITEMS)}
    infos = {"achievements": ach, "inventory": inv, "subgoal": sub}
    assert pr.requirements("place_table") == {"wood": 2}
    assert pr.find_start(infos, meta, "place_table") == 5
    inv[:, :] = 0
    inv[:9, INVENTORY_ITEMS.index("wood")] = 2  # held all along: the sub-goal run decides
    assert pr.find_start(infos, meta, "place_table") == 2
    assert pr.find_start(infos, meta, "collect_iron") is None  # never unlocked


@pytest.mark.parametrize("flag,value", [("--player_episodes", "0"), ("--achievements", "fly"),
                                        ("--tasks", "crafter_nope"), ("--highlevel_config", "missing.yaml"),
                                        ("--codes", "99"), ("--prior_temperature", "0"),
                                        ("--prior_exclude_labels", "fly"), ("--test_seed", "9001"),
                                        ("--test_worlds", "0")])
def test_bad_flag_is_one_line_exit_2_nothing_written(pr, tmp_path, capsys, monkeypatch, flag, value):
    monkeypatch.chdir(REPO)
    out = tmp_path / "r.json"
    with pytest.raises(SystemExit) as exc:
        pr.main([flag, value, "--out_json", str(out), "--readme", str(tmp_path / "README.md")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and flag.lstrip("-") in err[0] and value in err[0]
    assert not out.exists() and not (tmp_path / "README.md").exists()


def _split_report(pr, report: dict, sections_a: list[str]) -> tuple[dict, dict]:
    """Two parts of ``report`` as two processes would write them: each measured some sections, the rest null."""
    import copy

    a, b = copy.deepcopy(report), copy.deepcopy(report)
    for part, mine in ((a, sections_a), (b, [s for s in pr.SECTIONS if s not in sections_a])):
        part["sections"] = list(mine)
        for s in pr.SECTIONS:
            if s not in mine and s != "player":
                part[s] = None
                for extra in pr.SECTION_EXTRAS.get(s, ()):
                    if not any(extra in pr.SECTION_EXTRAS.get(m, ()) for m in mine):
                        part.pop(extra, None)
    b["player"] = {**report["player"], "note": "measured for the episodes the other figures use"}
    a["seconds"], b["seconds"] = 100.0, 40.0
    return a, b


def test_merge_rebuilds_the_report_from_parts_and_refuses_overlap(pr, tmp_path, monkeypatch, capsys):
    report = json.loads((REPO / "bench/results/pretraining.json").read_text())
    assert report.get("complete", True)  # (a report written before the key existed is complete)
    report["complete"] = True
    a, b = _split_report(pr, report, ["player", "goal_information", "competence"])
    (tmp_path / "a.json").write_text(json.dumps(a))
    (tmp_path / "b.json").write_text(json.dumps(b))
    out, readme = tmp_path / "merged.json", tmp_path / "README.md"
    monkeypatch.chdir(REPO)
    merged = pr.main(["--merge", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--out_json", str(out),
                      "--readme", str(readme)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(merged))
    for key in (*pr.SECTIONS, "unconditional_success", "embedding", "unconditional_bc_detail"):
        assert merged[key] == report[key], key  # each figure from the part that measured it, none lost
    assert merged["sections"] == [s for s in pr.SECTIONS if s in report["sections"]]
    assert merged["seconds"] == 140.0 and merged["wall_seconds"] == 100.0 and len(merged["parts"]) == 2
    assert readme.read_text().count(pr.README_BEGIN) == 1 and "goal information gap" in readme.read_text()
    assert "2 processes, the longest 2 min, 2 min in all" in readme.read_text()

    b["sections"].append("competence")  # measured twice: refused, nothing written
    (tmp_path / "b.json").write_text(json.dumps(b))
    out2 = tmp_path / "merged2.json"
    with pytest.raises(SystemExit) as exc:
        pr.main(["--merge", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--out_json", str(out2),
                 "--readme", str(readme)])
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2 and len(err) == 1 and "competence" in err[0] and "b.json" in err[0]
    assert not out2.exists()
    b["sections"].remove("competence")
    b["counts"] = {**b["counts"], "worlds": b["counts"]["worlds"] + 1}  # other counts: refused
    (tmp_path / "b.json").write_text(json.dumps(b))
    with pytest.raises(SystemExit):
        pr.main(["--merge", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--out_json", str(out2),
                 "--readme", str(readme)])
    assert "counts" in capsys.readouterr().err and not out2.exists()
    b["counts"] = a["counts"]
    a["model_md5"] = {"in_weights": "0" * 32}  # the same paths, other weights (a retraining between the parts)
    b["model_md5"] = {"in_weights": "1" * 32}
    (tmp_path / "a.json").write_text(json.dumps(a))
    (tmp_path / "b.json").write_text(json.dumps(b))
    with pytest.raises(SystemExit):
        pr.main(["--merge", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--out_json", str(out2),
                 "--readme", str(readme)])
    assert "model_md5" in capsys.readouterr().err and not out2.exists()


def test_merge_of_a_file_that_is_not_json_is_one_line_exit_2(pr, tmp_path, monkeypatch, capsys):
    bad = tmp_path / "part.json"
    bad.write_text("{not json")
    out = tmp_path / "merged.json"
    monkeypatch.chdir(REPO)
    with pytest.raises(SystemExit) as exc:
        pr.main(["--merge", str(bad), "--out_json", str(out), "--readme", str(tmp_path / "README.md")])
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2 and len(err) == 1 and "--merge" in err[0] and "not JSON" in err[0]
    assert not out.exists() and not (tmp_path / "README.md").exists()


def test_play_episodes_is_reproducible_whatever_ran_before(pr, tmp_path, monkeypatch):
    """The low level samples its actions from torch's global RNG: play_episodes seeds it, so two calls with the same
    seed give the same episodes even when something else drew random numbers in between."""
    from hierarchical_throughput import task_config

    root = tiny_models_or_skip(tmp_path / "models", 8, monkeypatch)
    cfg = task_config("crafter_score", {"n_envs": 2}, str(root / "highlevel.yaml"))
    first = pr.play_episodes(cfg, 2, 5, "zero", 2, str(tmp_path), "a", max_steps=300)
    torch.rand(1000)
    second = pr.play_episodes(cfg, 2, 5, "zero", 2, str(tmp_path), "b", max_steps=300)
    assert first == second


def test_achievement_rates_count_episodes_not_unlocks(pr):
    """Each achievement's rate is the fraction of episodes that unlocked it (once or more), over every episode."""
    recs = [{"achievements": ["collect_wood", "place_table"]}, {"achievements": ["collect_wood"]},
            {"achievements": []}, {"achievements": ["collect_wood", "make_wood_pickaxe"]}]
    assert pr._achievement_rates(recs) == {"collect_wood": 0.75, "make_wood_pickaxe": 0.25, "place_table": 0.25}
    assert pr._achievement_rates([]) == {}


def test_sample_codes_temperature_sharpens_towards_the_mode_and_refuses_zero(pr):
    """At temperature 1 the codes follow the prior (frequencies within 5 binomial s.e. of p over 4000 draws); at
    0.25 the mode's share rises (p^4 renormalised: 0.6^4 / (0.6^4 + 0.3^4 + 0.1^4) = 0.94); at 0 it is refused."""
    logp = np.log(np.array([[0.6, 0.3, 0.1]] * 4000))
    ones = pr.sample_codes(logp, np.random.default_rng(0), 1.0)
    assert ones.dtype == np.int64 and ones.shape == (4000,)
    freq = np.bincount(ones, minlength=3) / 4000
    se = np.sqrt(0.6 * 0.4 / 4000)
    assert np.all(np.abs(freq - [0.6, 0.3, 0.1]) < 5 * se)
    sharp = np.bincount(pr.sample_codes(logp, np.random.default_rng(0), 0.25), minlength=3) / 4000
    assert abs(sharp[0] - 0.6 ** 4 / (0.6 ** 4 + 0.3 ** 4 + 0.1 ** 4)) < 5 * np.sqrt(0.06 * 0.94 / 4000)
    with pytest.raises(ValueError, match="temperature"):
        pr.sample_codes(logp, np.random.default_rng(0), 0.0)


def test_sample_codes_never_draws_an_excluded_code_and_refuses_excluding_all(pr):
    """Excluded codes get probability 0 and the rest keep their ratios (0.3 : 0.1 -> 0.75 : 0.25 within 5 s.e.)."""
    logp = np.log(np.array([[0.6, 0.3, 0.1]] * 4000))
    draws = pr.sample_codes(logp, np.random.default_rng(1), 1.0, [0])
    freq = np.bincount(draws, minlength=3) / 4000
    assert freq[0] == 0 and abs(freq[1] - 0.75) < 5 * np.sqrt(0.75 * 0.25 / 4000)
    with pytest.raises(ValueError, match="every code"):
        pr.sample_codes(logp, np.random.default_rng(1), 1.0, [0, 1, 2])


def test_codes_with_labels_reads_codebook_json_and_names_an_unknown_label(pr, tmp_path):
    (tmp_path / "codebook.json").write_text(json.dumps({"codes": [
        {"code": 0, "label": "sleep"}, {"code": 1, "label": "collect_wood"}, {"code": 2, "label": "wake_up"}]}))
    centers = str(tmp_path / "centers.pkl")
    assert pr.codes_with_labels(centers, ["wake_up", "sleep"]) == [0, 2]
    with pytest.raises(ValueError, match="'fly'.*collect_wood"):
        pr.codes_with_labels(centers, ["fly"])
    with pytest.raises(ValueError, match="no such file"):
        pr.codes_with_labels(str(tmp_path / "other" / "centers.pkl"), ["sleep"])


def test_readme_section_says_when_the_prior_draws_were_not_the_protocol(pr):
    """A report with another prior temperature or excluded codes says so in its README section; the default does
    not."""
    counts = {**pr.FULL, "max_steps": "each task's own", "codes_screened": "all"}
    base = {"command": "python bench/pretraining_report.py", "quick": False, "counts": counts, "out_json": "r.json",
            "seconds": 60.0, "prior_driven_success": {"crafter_iron": 0.03}, "unconditional_success":
            {"crafter_iron": 0.09}}
    assert "diagnostic" not in pr.readme_section({**base, "prior_temperature": 1.0, "prior_exclude_labels": None})
    text = pr.readme_section({**base, "prior_temperature": 1.0, "prior_exclude_labels": ["sleep", "wake_up"]})
    assert "never a code labelled sleep, wake_up: a diagnostic" in text and "\n\n| figure | value |" in text
    assert "temperature 0.5: a diagnostic" in pr.readme_section({**base, "prior_temperature": 0.5})


def test_readme_section_lists_how_episodes_ended(pr):
    """The player's episode ends and what killed the player under the prior are rows of the section, most frequent
    first; a report without them (an older one) has no such rows."""
    counts = {**pr.FULL, "max_steps": "each task's own", "codes_screened": "all"}
    base = {"command": "python bench/pretraining_report.py", "quick": False, "counts": counts, "out_json": "r.json",
            "seconds": 60.0}
    player = {"episodes": 3, "median_episode_length": 500.0, "achievement_success_rate": {"collect_iron": 0.5}}
    survival = {"episodes": 4, "median_episode_length": 200.0}
    text = pr.readme_section({**base, "player": {**player, "ends": {"hunger": 1, "zombie": 2, "arrow": 1}},
                              "survival_under_prior": {**survival, "death_causes": {"thirst": 1, "zombie": 3}}})
    assert "| player: how its episodes ended | zombie 2, arrow 1, hunger 1 |" in text
    assert "| survival under the prior: what killed the player | zombie 3, thirst 1 |" in text
    text = pr.readme_section({**base, "player": player, "survival_under_prior": survival})
    assert "ended" not in text and "killed" not in text and "| player: median episode length (3 episodes)" in text


def test_play_episodes_with_a_chooser_follows_its_codes(pr, tmp_path, monkeypatch):
    """goals='chooser': the chooser is asked before every high-level step with the episode envs, and its codes are
    the codebook's; without a chooser (or a chooser with another goal source) the call is refused."""
    from hierarchical_throughput import task_config

    chain_oracle = load_bench_script("chain_oracle")
    root = tiny_models_or_skip(tmp_path / "models", 8, monkeypatch)
    cfg = task_config("crafter_score", {"n_envs": 2}, str(root / "highlevel.yaml"))
    seen = []

    def chooser(envs):
        seen.append([chain_oracle.env_link(e) for e in envs])
        return np.full(len(envs), N_CODES - 1, np.int64)

    recs = pr.play_episodes(cfg, 2, 5, "chooser", 2, str(tmp_path), "c", max_steps=60, chooser=chooser)
    assert len(recs) == 2 and all(r["length"] <= 60 for r in recs)
    # 60 env steps per episode at low_level_steps env steps per code: at least that many questions per env
    assert len(seen) >= 60 // cfg.low_level_steps and all(len(s) == 2 for s in seen)
    assert seen[0] == ["collect_wood", "collect_wood"]  # empty inventory, no table: wood first
    with pytest.raises(ValueError, match="chooser"):
        pr.play_episodes(cfg, 2, 5, "chooser", 2, str(tmp_path), "c", max_steps=60)
    with pytest.raises(ValueError, match="chooser"):
        pr.play_episodes(cfg, 2, 5, "zero", 2, str(tmp_path), "c", max_steps=60, chooser=chooser)


def test_chain_oracle_uniform_prior_and_fixed_code_arms(tmp_path, monkeypatch, capsys):
    """bench/chain_oracle.py's arms beside the oracle: a uniform code, codes from the goal prior, a code held for
    whole episodes (one arm per code); each arm plays the same worlds and reports a success rate in [0, 1]. A fixed
    code outside the codebook, or --arms fixed without codes, is one line naming the flag, and nothing is written."""
    chain_oracle = load_bench_script("chain_oracle")
    root = tiny_models_or_skip(tmp_path / "models", 8, monkeypatch)
    competence = tmp_path / "report.json"
    competence.write_text(json.dumps({"competence": {a: {"best_code": 0} for a in chain_oracle.CHAIN}}))
    out = tmp_path / "oracle.json"
    base = ["--highlevel_config", str(root / "highlevel.yaml"), "--competence_json", str(competence),
            "--tasks", "crafter_wood", "--episodes", "2", "--n_envs", "2", "--seed", "3", "--out", str(out)]
    result = chain_oracle.main(base + ["--arms", "uniform", "prior", "fixed", "--fixed_codes", str(N_CODES - 1), "0"])
    arms = result["tasks"]["crafter_wood"]
    assert list(arms) == ["uniform", "prior", f"code_{N_CODES - 1}", "code_0"]
    assert all(0.0 <= a["success"] <= 1.0 and a["median_episode_length"] >= 1 for a in arms.values())
    assert result["n_codes"] == N_CODES and result["fixed_codes"] == [N_CODES - 1, 0]
    assert json.loads(out.read_text()) == json.loads(json.dumps(result))
    out.unlink()
    for extra, expected in ((["--arms", "fixed", "--fixed_codes", str(N_CODES)], f"--fixed_codes {N_CODES}"),
                            (["--arms", "fixed"], "--arms fixed and --fixed_codes")):
        with pytest.raises(SystemExit) as exc:
            chain_oracle.main(base + extra)
        err = capsys.readouterr().err.strip().splitlines()
        assert exc.value.code == 2 and expected in err[-1] and not out.exists()


def test_readme_section_counts_links_at_target_and_says_where_competence_was_measured(pr):
    """The competence table counts the links at their target (0.8, 0.5 for the late links) and says whether the
    figures come from test starts or, in a report written before session 37, from the starts the code was chosen on
    (biased upwards)."""
    counts = {**pr.FULL, "max_steps": "each task's own", "codes_screened": "all"}
    base = {"command": "python bench/pretraining_report.py", "quick": False, "counts": counts, "out_json": "r.json",
            "seconds": 60.0, "seed": 9001, "test_seed": 20001}
    sel = {"success": 0.9, "worlds": 20}
    comp = {"collect_wood": {"best_code": 1, "success": 0.8, "unconditional_success": 0.7, "worlds": 40,
                             "start": "replay", "measured_on": "test starts", "selection": sel},
            "place_furnace": {"best_code": 2, "success": 0.45, "unconditional_success": 0.0, "worlds": 40,
                              "start": "replay", "measured_on": "test starts", "selection": sel},
            "collect_iron": {"best_code": 3, "success": 0.5, "unconditional_success": 0.1, "worlds": 12,
                             "start": "replay", "measured_on": "test starts", "selection": sel}}
    text = pr.readme_section({**base, "competence": comp})
    assert "At target: 2 of 3." in text and "test starts (episodes of seed 20001)" in text
    assert "| collect_iron | 3 | 0.500 | 0.100 | 12 | replay | 0.900 / 20 |" in text
    old = {a: {k: v for k, v in c.items() if k not in ("measured_on", "selection")} for a, c in comp.items()}
    text = pr.readme_section({**base, "competence": old})
    assert "chosen and measured on the same starts: biased upwards" in text and "| n/a / n/a |" in text


def test_event_frames_lists_the_frames_before_each_achievement(pr):
    ach = np.zeros((6, 2), np.int32)
    ach[2:, 0] = 1      # action 1 brought "a" about
    ach[5:, 0] = 2      # action 4 again
    ach[1:, 1] = 1      # action 0 brought "b" about (its lag 1 would be frame -1)
    assert pr.event_frames(ach, ["a", "b"], 2) == {0: [("b", 0), ("a", 1)], 1: [("a", 0)], 3: [("a", 1)],
                                                   4: [("a", 0)]}
    with pytest.raises(ValueError, match=r"\[frames, 3\]"):
        pr.event_frames(ach, ["a", "b", "c"], 2)
