"""Codebook goal-point sampling: ``point_sampling: balanced`` (per-label caps, issue 18 item 5) against upstream's
``stride`` (spec §7), and the Crafter plugin's goal-clip labels (tasks/crafter/goal_labels.py)."""
from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml

from goal_prior import generate_codebook as gc
from goal_prior import goal_points
from steve1.data.EpisodeStorage import EpisodeStorage
from steve1.data.minecraft_dataset import plugin_function
from steve1.utils.cli import UsageError
from tasks.crafter.env import ACHIEVEMENTS
from tasks.crafter.goal_labels import GOAL_LABELS, MIN_SLEEP_FRAMES, clip_labels

REPO = Path(__file__).resolve().parents[2]
N_ACH = len(ACHIEVEMENTS)
DIM = len(GOAL_LABELS)


def _infos(length: int, events: dict[int, list[str]], asleep: range = range(0)) -> dict[str, np.ndarray]:
    """Crafter per-frame state: achievement counters that rise on the transitions ``t -> t+1`` listed in
    ``events`` (t -> achievement names), asleep on the frames of ``asleep``."""
    rise = np.zeros((length, N_ACH), dtype=np.int32)
    for t, names in events.items():
        for name in names:
            rise[t + 1, ACHIEVEMENTS.index(name)] += 1
    sleeping = np.zeros(length, dtype=bool)
    sleeping[list(asleep)] = True
    return {"achievements": np.cumsum(rise, axis=0).astype(np.int32), "sleeping": sleeping,
            "inventory": np.zeros((length, 16), dtype=np.uint8)}


def _write_crafter_episode(path: str, infos: dict, seed: int) -> None:
    """A Crafter episode whose goal embedding of frame t points at its clip's label (plus noise)."""
    rng = np.random.default_rng(seed)
    length = len(infos["sleeping"])
    labels = clip_labels(infos)
    embeds = [None] * 15
    for t in range(15, length):
        v = np.zeros(DIM)
        v[GOAL_LABELS.index(labels[t])] = 1.0
        embeds.append((v + 0.05 * rng.normal(size=DIM)).astype(np.float32).reshape(1, DIM))
    frames = rng.integers(0, 256, (length, 8, 8, 3)).astype(np.uint8)
    actions = [int(a) for a in rng.integers(0, 17, length)]
    EpisodeStorage(path).write_episode(frames, actions, metadata={"sim": "crafter"}, embeds=embeds, infos=infos,
                                       frame_format="npz")


@pytest.fixture
def crafter_episodes(tmp_path):
    """6 Crafter episodes of 80 frames: mostly "none", a night of sleep in each, drinking twice in each, one
    place_table in two episodes and one collect_diamond in one (15 goal points each per event) + the split file
    ``samplings/cr_train.txt``."""
    dirs = []
    for i in range(6):
        events = {22: ["collect_drink"], 70: ["collect_drink"]}
        if i in (1, 4):
            events[45] = ["place_table"]
        if i == 3:
            events[62] = ["collect_diamond", "collect_wood"]  # the rarer one labels the clip
        d = str(tmp_path / "data" / f"cr_{i:03d}")
        _write_crafter_episode(d, _infos(80, events, asleep=range(0, 18 + 3 * i)), seed=i)
        dirs.append(d)
    os.makedirs(tmp_path / "samplings")
    (tmp_path / "samplings" / "cr_train.txt").write_text("\n".join(dirs) + "\n")
    return dirs


def _all_labels(dirs) -> Counter:
    return Counter(lab for d in dirs for lab in clip_labels(EpisodeStorage(d).load_infos())[15:])


# ---- the Crafter plugin's labels ------------------------------------------------------------------------------------

def test_crafter_labels_of_hand_made_infos(tmp_path):
    # sleeping on frames 0..9; wood on the transition 19->20; wood + stone pickaxe + drink on 29->30
    infos = _infos(40, {19: ["collect_wood"], 29: ["collect_wood", "make_stone_pickaxe", "collect_drink"]},
                   asleep=range(0, 10))
    labels = clip_labels(infos)
    assert labels.shape == (40,) and set(labels[:15]) == {""}
    # clip [t-15, t] holds the transitions t-15 -> t-14, ..., t-1 -> t
    assert MIN_SLEEP_FRAMES == 8
    assert list(labels[15:18]) == ["sleep"] * 3  # 10, 9, 8 asleep frames in the clip
    assert list(labels[18:20]) == ["none"] * 2   # 7, 6
    assert list(labels[20:30]) == ["collect_wood"] * 10
    assert list(labels[30:40]) == ["make_stone_pickaxe"] * 10  # the rarest of the three that rose
    # a counter that does not change is no event; a clip ending on the rising frame holds the event
    assert clip_labels(_infos(40, {24: ["wake_up"]}))[24] == "none"
    assert clip_labels(_infos(40, {24: ["wake_up"]}))[25] == "wake_up"

    # through the simulator plugin, from the episode's infos.npz
    d = tmp_path / "ep"
    _write_crafter_episode(str(d), infos, seed=0)
    fn = plugin_function("crafter", "goal_point_labels")
    np.testing.assert_array_equal(fn(EpisodeStorage(d)), labels)


def test_crafter_labels_errors_name_the_file(tmp_path):
    infos = _infos(30, {})
    with pytest.raises(ValueError, match=r"ep\.npz: no 'sleeping'"):
        clip_labels({"achievements": infos["achievements"]}, source="ep.npz")
    with pytest.raises(ValueError, match=r"'achievements' has shape \(30, 21\)"):
        clip_labels({**infos, "achievements": infos["achievements"][:, 1:]})
    with pytest.raises(ValueError, match=r"'sleeping' has shape \(29,\), expected \[30\]"):
        clip_labels({**infos, "sleeping": infos["sleeping"][1:]})
    assert set(clip_labels(_infos(10, {}))) == {""}  # shorter than one clip: no goal point


# ---- balanced sampling --------------------------------------------------------------------------------------------

def test_balanced_choice_caps_each_label_and_is_seeded():
    labels = np.array(["a"] * 50 + ["b"] * 3 + ["c"] * 20 + ["a"] * 10)
    keep = goal_points.balanced_choice(labels, 10, seed=0)
    assert np.all(np.diff(keep) > 0)
    assert Counter(labels[keep]) == {"a": 10, "b": 3, "c": 10}
    np.testing.assert_array_equal(keep, goal_points.balanced_choice(labels, 10, seed=0))
    assert not np.array_equal(keep, goal_points.balanced_choice(labels, 10, seed=1))
    np.testing.assert_array_equal(goal_points.balanced_choice(labels, 100, seed=3), np.arange(len(labels)))
    with pytest.raises(ValueError, match="max_points_per_label must be >= 1"):
        goal_points.balanced_choice(labels, 0, seed=0)


def test_balanced_keeps_every_label_caps_frequent_ones_with_real_embeddings(crafter_episodes):
    cap = 20
    totals = _all_labels(crafter_episodes)
    # the data: "none" and drinking dominate, diamond is one event (15 goal points)
    assert totals["collect_diamond"] == 15 and totals["place_table"] == 30 and totals["none"] > 100
    pts = goal_points.sample_goal_points(crafter_episodes, -1, 5, seed=1, use_action_features=True,
                                         action_scale=1.0, progress=False, point_sampling="balanced",
                                         max_points_per_label=cap)
    assert pts.label_totals == dict(sorted(totals.items()))
    assert pts.label_counts() == {k: min(n, cap) for k, n in sorted(totals.items())}
    # every kept point is a real frame: its label is its clip's label, its embedding the stored one
    for d, t, lab, e, f in zip(pts.episode_dirs, pts.frames, pts.labels, pts.embeds, pts.features):
        st = EpisodeStorage(d)
        assert clip_labels(st.load_infos())[t] == lab
        np.testing.assert_array_equal(e, st.load_embeds()[t].reshape(-1).astype(np.float64))
        np.testing.assert_array_equal(f[:DIM], e)
    assert pts.features.shape == (len(pts), DIM + 17)  # Crafter action history: 17-d one-hot sums
    # the stride of upstream sees the rare sub-goal far less often than the capped balanced sampling
    stride = goal_points.sample_goal_points(crafter_episodes, -1, 5, seed=1, use_action_features=False,
                                            action_scale=1.0, progress=False)
    assert stride.labels is None and stride.label_counts() is None
    stride_labels = Counter(clip_labels(EpisodeStorage(d).load_infos())[t]
                            for d, t in zip(stride.episode_dirs, stride.frames))
    assert stride_labels["collect_diamond"] <= 3 < cap - 5 and stride_labels["none"] > cap


def test_balanced_is_deterministic_given_the_seed(crafter_episodes):
    def run(seed):
        p = goal_points.sample_goal_points(crafter_episodes, 4, 5, seed=seed, use_action_features=False,
                                           action_scale=1.0, progress=False, point_sampling="balanced",
                                           max_points_per_label=12)
        return p.episode_dirs, p.frames.tolist(), p.labels.tolist(), p.chosen_episodes

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_stride_ignores_the_balanced_settings(crafter_episodes):
    a = goal_points.sample_goal_points(crafter_episodes, -1, 7, seed=2, use_action_features=True, action_scale=1.0,
                                       progress=False)
    b = goal_points.sample_goal_points(crafter_episodes, -1, 7, seed=2, use_action_features=True, action_scale=1.0,
                                       progress=False, point_sampling="stride", max_points_per_label=1)
    assert a.episode_dirs == b.episode_dirs and b.labels is None
    np.testing.assert_array_equal(a.frames, b.frames)
    np.testing.assert_array_equal(a.features, b.features)
    assert len(a) == len(range(0, 6 * (80 - 15), 7))


# ---- the codebook stage -------------------------------------------------------------------------------------------

def _codebook(tmp_path, sampling, *extra):
    return gc.main(["--config", str(REPO / "configs/crafter/codebook.yaml"), "--sampling", sampling,
                    "--sampling_dir", str(tmp_path / "samplings"), "--output-dir", str(tmp_path / "codebook"),
                    "--n-codebook", "6", "--video-num", "-1", "--embedding", "none", "--gif-frames", "0",
                    "--no-progress", *extra])


def test_codebook_json_records_what_kmeans_saw(tmp_path, crafter_episodes):
    meta = _codebook(tmp_path, "cr", "--max_points_per_label", "25")
    info = json.loads((Path(meta["out_dir"]) / "codebook.json").read_text())
    totals = _all_labels(crafter_episodes)
    assert info["args"]["point_sampling"] == "balanced"
    assert info["point_labels"] == {k: min(n, 25) for k, n in sorted(totals.items())}
    assert info["point_labels_available"] == dict(sorted(totals.items()))
    assert info["n_goal_points"] == sum(info["point_labels"].values())
    for code in info["codes"]:  # each code: a real frame, with its clip's label
        st = EpisodeStorage(code["episode_dir"])
        assert code["label"] == clip_labels(st.load_infos())[code["frame"]]
    # the same data by upstream's stride: no labels recorded
    meta = _codebook(tmp_path, "cr", "--point_sampling", "stride", "--seed", "2")
    info = json.loads((Path(meta["out_dir"]) / "codebook.json").read_text())
    assert "point_labels" not in info and "label" not in info["codes"][0]


def test_balanced_without_plugin_labels_or_cap_is_one_clear_error(tmp_path, episodes, capsys):
    # the Minecraft synthetic episodes: the plugin has no goal_point_labels
    with pytest.raises(SystemExit) as exc:
        _codebook(tmp_path, "syn", "--no-action-features")
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("generate_codebook.py: error: "), err
    assert re.search(r"point_sampling: balanced needs goal-point labels.*'minedojo'.*no goal_point_labels"
                     r"\(storage\); set point_sampling: stride", err[0])
    assert not (tmp_path / "codebook").exists()
    # balanced, unlocks or events without a cap
    cfg = tmp_path / "cb.yaml"
    for sampling in goal_points.LABELLED_SAMPLINGS:
        cfg.write_text(yaml.safe_dump({**yaml.safe_load((REPO / gc.DEFAULT_CONFIG).read_text()),
                                       "point_sampling": sampling}))
        with pytest.raises(UsageError, match=rf"cb.yaml key 'max_points_per_label': point_sampling {sampling} .*"
                                             r"needs max_points_per_label, got null"):
            gc.parse_args(["--config", str(cfg)])
        assert gc.parse_args(["--config", str(cfg), "--max_points_per_label", "9"]).max_points_per_label == 9
    assert set(goal_points.LABELLED_SAMPLINGS) == {"balanced", "unlocks", "events"}


def test_config_files_choose_the_sampling():
    crafter = yaml.safe_load((REPO / "configs/crafter/codebook.yaml").read_text())
    minecraft = yaml.safe_load((REPO / "configs/minecraft/codebook.yaml").read_text())
    assert (minecraft["point_sampling"], minecraft["max_points_per_label"]) == ("stride", None)  # upstream
    assert crafter["point_sampling"] == "balanced" and crafter["max_points_per_label"] >= 1
    with pytest.raises(SystemExit):
        gc.parse_args(["--point_sampling", "uniform"])


def test_unlocks_keeps_the_first_time_unlock_frames_only(tmp_path):
    """point_sampling unlocks: one goal point per first-time unlock (a repeat is none; an unlock before frame 15
    sits on frame 15), labelled with the achievement, capped per label; episodes without achievement names are
    refused by name."""
    dirs = []
    for i, events in enumerate([{22: ["collect_drink"], 44: ["collect_drink"], 50: ["place_table"]},
                                {4: ["collect_wood"], 60: ["collect_drink"]},
                                {30: ["collect_drink"]}]):
        d = str(tmp_path / "data" / f"u_{i}")
        infos = _infos(80, events)
        rng = np.random.default_rng(i)
        embeds = [None] * 15 + [rng.normal(size=(1, 4)).astype(np.float32) for _ in range(65)]
        EpisodeStorage(d).write_episode(rng.integers(0, 256, (80, 8, 8, 3)).astype(np.uint8), [0] * 80,
                                        metadata={"sim": "crafter", "achievement_names": list(ACHIEVEMENTS)},
                                        embeds=embeds, infos=infos, frame_format="npz")
        dirs.append(d)
    labels = goal_points.unlock_point_labels(EpisodeStorage(dirs[0]))
    assert {int(t): str(labels[t]) for t in np.flatnonzero(labels != "")} == {23: "collect_drink", 51: "place_table"}
    pts = goal_points.sample_goal_points(dirs, -1, 5, seed=1, use_action_features=False, action_scale=1.0,
                                         progress=False, point_sampling="unlocks", max_points_per_label=2)
    got = sorted((os.path.basename(d), int(t), str(lab)) for d, t, lab in zip(pts.episode_dirs, pts.frames,
                                                                            pts.labels))
    # three first drinks, capped at 2 (a seeded choice); the table; the wood of frame 5 on frame 15
    drinks = [g for g in got if g[2] == "collect_drink"]
    assert len(drinks) == 2 and set(drinks) <= {("u_0", 23, "collect_drink"), ("u_1", 61, "collect_drink"),
                                                ("u_2", 31, "collect_drink")}
    assert ("u_0", 51, "place_table") in got and ("u_1", 15, "collect_wood") in got and len(got) == 4
    assert pts.label_totals == {"collect_drink": 3, "collect_wood": 1, "place_table": 1}
    for d, t, e in zip(pts.episode_dirs, pts.frames, pts.embeds):
        np.testing.assert_array_equal(e, EpisodeStorage(d).load_embeds()[t].reshape(-1).astype(np.float64))
    meta = Path(dirs[2]) / "metadata.json"
    meta.write_text(json.dumps({"sim": "crafter"}))
    with pytest.raises(ValueError, match="u_2.*achievement_names"):
        goal_points.unlock_point_labels(EpisodeStorage(dirs[2]))


def test_events_keeps_every_achievement_event(tmp_path):
    """point_sampling events: one goal point per achievement event, repeats included (the frames of the next-event
    relabeling), labelled with the achievement whose count rose; an event before frame 15 sits on frame 15 (the
    config's refusal of events without a cap: test_balanced_without_plugin_labels_or_cap_is_one_clear_error)."""
    d = str(tmp_path / "data" / "e_0")
    infos = _infos(80, {5: ["collect_wood"], 22: ["collect_drink"], 44: ["collect_drink"], 50: ["place_table"]})
    rng = np.random.default_rng(0)
    embeds = [None] * 15 + [rng.normal(size=(1, 4)).astype(np.float32) for _ in range(65)]
    EpisodeStorage(d).write_episode(rng.integers(0, 256, (80, 8, 8, 3)).astype(np.uint8), [0] * 80,
                                    metadata={"sim": "crafter", "achievement_names": list(ACHIEVEMENTS)},
                                    embeds=embeds, infos=infos, frame_format="npz")
    labels = goal_points.unlock_point_labels(EpisodeStorage(d), first_only=False)
    assert {int(t): str(labels[t]) for t in np.flatnonzero(labels != "")} == {
        15: "collect_wood", 23: "collect_drink", 45: "collect_drink", 51: "place_table"}
    pts = goal_points.sample_goal_points([d], -1, 5, seed=1, use_action_features=False, action_scale=1.0,
                                         progress=False, point_sampling="events", max_points_per_label=5)
    assert sorted(int(t) for t in pts.frames) == [15, 23, 45, 51]
    assert pts.label_totals == {"collect_drink": 2, "collect_wood": 1, "place_table": 1}
