"""Hindsight relabeling and chunking of :class:`steve1.data.minecraft_dataset.MinecraftDataset` (spec §3.8, §12.1.7).

Synthetic episodes are written with the real EpisodeStorage; embedding ``t`` of episode ``e`` encodes
``(t, e)`` so that the goal vector of every frame tells which frame of which episode it came from.
"""
import math

import numpy as np
import pytest

from steve1.data.EpisodeStorage import EpisodeStorage
from steve1.data.minecraft_dataset import (MinecraftDataset, chunk_starts, first_input_frame, frame_goal_times,
                                           load_sampling, sample_goal_times)

import tasks.crafter as _crafter_plugin

#: The Crafter plugin's action interface (tasks/crafter, interfaces.md); tests that read Crafter actions need it.
needs_crafter_actions = pytest.mark.skipif(
    not all(hasattr(_crafter_plugin, name) for name in ("ACTION_SPACE", "env_action_to_agent", "agent_action_to_env")),
    reason="tasks/crafter plugin has no ACTION_SPACE/env_action_to_agent/agent_action_to_env yet (helper C)")

D = 8


def write_episode(path, length, episode_id, sim="crafter", size=8, seed=0):
    """An episode whose embedding at frame t is [t, episode_id, 1, 0, ...] (None for t < 15), actions t % 17."""
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 256, size=(length, size, size, 3), dtype=np.uint8)
    embeds = [None if t < 15 else np.array([[t, episode_id, 1.0] + [0.0] * (D - 3)], dtype=np.float32)
              for t in range(length)]
    EpisodeStorage(path).write_episode(frames, [t % 17 for t in range(length)], metadata={"sim": sim},
                                       embeds=embeds, frame_format="npz")
    return str(path)


@pytest.fixture(scope="module")
def episodes(tmp_path_factory):
    root = tmp_path_factory.mktemp("relabel_eps")
    lengths = [300, 157, 64, 40]  # the last is shorter than the minimum for T=32, min 15 -> skipped
    return [write_episode(root / f"ep{e}", n, e, seed=e) for e, n in enumerate(lengths)], lengths


def test_goal_times_gaps_within_bounds():
    rng = np.random.default_rng(0)
    for _ in range(2000):
        lo = int(rng.integers(15, 40))
        hi = int(rng.integers(lo + 1, 120))
        length = int(rng.integers(lo + 16, 600))
        goals = sample_goal_times(length, lo, hi, rng)
        assert goals[-1] == length - 1
        assert goals[0] >= lo
        gaps = np.diff(goals)
        assert np.all((gaps[:-1] >= lo) & (gaps[:-1] < hi)), (lo, hi, goals)
        if len(gaps):
            assert lo - 1 <= gaps[-1] <= hi + lo - 3, (lo, hi, goals)


def test_frame_goal_is_first_goal_at_or_after_frame():
    goals = np.array([20, 50, 99])
    per_frame = frame_goal_times(goals, 100)
    # off-by-one fixed: the goal frame itself still has that goal, the next frame already the next goal
    assert per_frame[0] == 20 and per_frame[20] == 20 and per_frame[21] == 50
    assert per_frame[50] == 50 and per_frame[51] == 99 and per_frame[99] == 99
    assert np.all(per_frame >= np.arange(100))
    with pytest.raises(ValueError, match="final frame"):
        frame_goal_times(np.array([20, 50]), 100)


def test_goal_lead_puts_every_goal_at_least_lead_frames_ahead():
    goals = np.array([20, 50, 99])
    per_frame = frame_goal_times(goals, 100, goal_lead=16)
    assert per_frame.shape == (84,)  # frames 84..99 have no goal 16 frames ahead
    assert per_frame[0] == 20 and per_frame[4] == 20 and per_frame[5] == 50 and per_frame[34] == 50
    assert per_frame[35] == 99 and per_frame[83] == 99
    assert np.all(per_frame >= np.arange(84) + 16)
    assert first_input_frame(16) == 0 and first_input_frame(0) == 15 and first_input_frame(10) == 5
    with pytest.raises(ValueError, match="goal_lead"):
        frame_goal_times(goals, 100, goal_lead=-1)


@needs_crafter_actions
def test_goal_clips_never_overlap_what_the_policy_has_seen(episodes):
    """goal_lead 16: the 16-frame clip [g - 15, g] of every frame's goal starts after the frame, so it shares no
    frame with the chunk so far (the policy's memory); episode starts are inputs."""
    dirs, lengths = episodes
    T, lo, hi, lead = 32, 15, 40, 16
    ds = MinecraftDataset(dirs, T, lo, hi, goal_lead=lead, p_uncond=0.0, seed=5)
    assert ds.first_frame == 0 and any(start == 0 for _, start in ds.chunks)
    for idx in range(len(ds)):
        ep, start = ds.chunks[idx]
        goal_frame = ds[idx][0]["mineclip_embed"][:, 0].astype(int)
        frame = start + np.arange(T)
        assert np.all(goal_frame - 15 > frame)  # the clip starts after the frame
        assert np.all(goal_frame - frame <= lead + hi + lo - 3)  # horizon: lead + at most the longest gap
        assert start + T <= lengths[ep] - lead


@pytest.mark.parametrize("lead", [16, 0])
def test_goal_gaps_below_15_give_short_horizons_and_only_embedded_goals(episodes, lead):
    """min_btwn_goals below upstream's 15 (here 1..4): goal times before frame 15 have no embedding but are no
    frame's goal (the first input frame is max(0, 15 - goal_lead)); horizons lie in [lead, lead + 4] but for an
    episode's last segment."""
    dirs, lengths = episodes
    T, lo, hi = 32, 1, 5
    ds = MinecraftDataset(dirs, T, lo, hi, goal_lead=lead, p_uncond=0.0, seed=3)
    short = 0
    for idx in range(len(ds)):
        ep, start = ds.chunks[idx]
        goal_frame = ds[idx][0]["mineclip_embed"][:, 0].astype(int)  # raises if a goal had no embedding
        horizon = goal_frame - (start + np.arange(T))
        assert np.all(goal_frame >= 15) and np.all(horizon >= lead)
        last = goal_frame == lengths[ep] - 1  # the final segment may be longer
        assert np.all(horizon[~last] <= lead + hi - 1)
        short += int(np.sum(~last))
    assert short > 0


def test_chunks_start_at_15_with_tail_overlap():
    assert chunk_starts(100, 30) == [15, 45, 70]  # last shifted from 75 to 100 - 30
    assert chunk_starts(75, 30) == [15, 45]
    assert chunk_starts(44, 30) == []


@needs_crafter_actions
def test_every_frame_goal_is_at_or_after_it_in_the_same_episode(episodes):
    dirs, lengths = episodes
    T, lo, hi = 32, 15, 40
    ds = MinecraftDataset(dirs, T, lo, hi, goal_lead=0, p_uncond=0.0, seed=3)
    assert ds.n_skipped_short == 1 and len(ds.episode_dirs) == 3
    assert ds.goal_dim == D and ds.sim == "crafter"
    for epoch in range(3):
        ds.set_epoch(epoch)
        for idx in range(len(ds)):
            ep, start = ds.chunks[idx]
            obs, actions, firsts = ds[idx]
            assert obs["img"].shape == (T, 8, 8, 3) and obs["img"].dtype == np.uint8
            goal = obs["mineclip_embed"]
            assert goal.shape == (T, D) and goal.dtype == np.float32
            frame = start + np.arange(T)
            goal_frame, goal_episode = goal[:, 0].astype(int), goal[:, 1].astype(int)
            assert np.all(goal_episode == ep)
            assert np.all(goal_frame >= frame) and np.all(goal_frame < lengths[ep])
            final_segment = goal_frame == lengths[ep] - 1
            assert np.all((goal_frame - frame)[~final_segment] < hi - 1 + 1)
            np.testing.assert_array_equal(actions, (frame % 17)[:, None])
            assert actions.dtype == np.int64 and actions.shape == (T, 1)
            assert firsts.shape == (T, 1) and firsts[0, 0] and not firsts[1:].any()
            # the relabeling hook agrees with the item
            np.testing.assert_array_equal(ds.chunk_goal_times(lengths[ep], start, ds.item_rng(idx)), goal_frame)


@needs_crafter_actions
def test_relabeling_is_reproducible_per_epoch_and_redrawn_across_epochs(episodes):
    dirs, _ = episodes
    ds = MinecraftDataset(dirs, 32, 15, 40, goal_lead=0, p_uncond=0.0, seed=0)
    a = ds[0][0]["mineclip_embed"]
    b = ds[0][0]["mineclip_embed"]
    np.testing.assert_array_equal(a, b)
    draws = set()
    for epoch in range(6):
        ds.set_epoch(epoch)
        draws.add(tuple(ds[0][0]["mineclip_embed"][:, 0]))
    assert len(draws) > 1


@needs_crafter_actions
def test_dropout_rate_is_p_uncond_per_chunk(episodes):
    dirs, _ = episodes
    p = 0.3
    ds = MinecraftDataset(dirs, 32, 15, 40, goal_lead=0, p_uncond=p, seed=1)
    n, dropped = 0, 0
    for epoch in range(60):
        ds.set_epoch(epoch)
        for idx in range(len(ds)):
            goal = ds[idx][0]["mineclip_embed"]
            zero_rows = np.all(goal == 0, axis=1)
            assert zero_rows.all() or not zero_rows.any()  # whole-chunk dropout, never per frame
            dropped += int(zero_rows.all())
            n += 1
    assert n >= 500
    sigma = math.sqrt(n * p * (1 - p))
    assert abs(dropped - n * p) < 4 * sigma, (dropped, n)


def test_every_nth_and_limit(episodes):
    dirs, _ = episodes
    full = MinecraftDataset(dirs, 32, 15, 40, goal_lead=0)
    nth = MinecraftDataset(dirs, 32, 15, 40, goal_lead=0, every_nth=3)
    assert nth.chunks == full.chunks[::3]
    limited = MinecraftDataset(dirs, 32, 15, 40, goal_lead=0, limit=1)
    assert limited.episode_dirs == dirs[:1]


def test_bad_arguments_and_episodes_raise(episodes, tmp_path):
    dirs, _ = episodes
    with pytest.raises(ValueError, match="min_btwn_goals must be >= 1 frame"):
        MinecraftDataset(dirs, 32, 0, 40, goal_lead=0)
    with pytest.raises(ValueError, match="min_btwn_goals < max_btwn_goals"):
        MinecraftDataset(dirs, 32, 40, 40, goal_lead=0)
    with pytest.raises(ValueError, match="no usable chunk"):
        MinecraftDataset(dirs, 1000, 15, 40, goal_lead=0)
    with pytest.raises(ValueError, match="not a usable episode"):
        MinecraftDataset([str(tmp_path / "missing")], 32, 15, 40, goal_lead=0)
    (tmp_path / "s").mkdir()
    with pytest.raises(FileNotFoundError, match="seed9_train.txt"):
        load_sampling(str(tmp_path / "s"), "seed9")


def test_load_sampling_reroots_with_data_dir(tmp_path):
    (tmp_path / "s").mkdir()
    for split in ("train", "val"):
        (tmp_path / "s" / f"x_{split}.txt").write_text(f"old/place/{split}_ep0\nold/place/{split}_ep1\n")
    train, val = load_sampling(str(tmp_path / "s"), "x")
    assert train == ["old/place/train_ep0", "old/place/train_ep1"]
    train, val = load_sampling(str(tmp_path / "s"), "x", data_dir="new")
    assert val == ["new/val_ep0", "new/val_ep1"]


def test_contractor_episode_actions_become_vpt_joint_actions(tmp_path):
    """An episode without "sim" in its metadata (contractor data) goes through the Minecraft plugin: MineRL action
    dicts -> VPT joint {'buttons', 'camera'} indices, int64 [T, 1] (spec §3.8 step 5)."""
    from VPT.lib.action_mapping import env_action_to_agent

    rng = np.random.default_rng(0)
    length, T = 70, 24
    actions = [{"attack": int(rng.integers(2)), "forward": int(rng.integers(2)), "jump": int(rng.integers(2)),
                "hotbar.3": int(rng.integers(2)), "camera": rng.uniform(-12, 12, size=2)} for _ in range(length)]
    frames = rng.integers(0, 256, size=(length, 8, 8, 3), dtype=np.uint8)
    embeds = [None if t < 15 else rng.normal(size=(1, D)).astype(np.float32) for t in range(length)]
    path = tmp_path / "contractor_8_x_0"
    EpisodeStorage(path).write_episode(frames, actions, metadata={"contractor_version": "8.x",
                                                                   "contractor_index": 0}, embeds=embeds)
    ds = MinecraftDataset([str(path)], T, 15, 40, goal_lead=0)
    assert ds.sim == "minedojo"
    for idx, (_, start) in enumerate(ds.chunks):
        _, agent_actions, _ = ds[idx]
        assert set(agent_actions) == {"buttons", "camera"}
        for key in ("buttons", "camera"):
            assert agent_actions[key].shape == (T, 1) and agent_actions[key].dtype == np.int64
        for i in range(T):
            expected = env_action_to_agent(actions[start + i])
            assert agent_actions["buttons"][i, 0] == expected["buttons"][0, 0]
            assert agent_actions["camera"][i, 0] == expected["camera"][0, 0]
    assert np.unique(ds[0][1]["buttons"]).size > 1  # not all null


def test_goal_codes_replace_each_goal_by_its_nearest_code(episodes):
    """Codebook goals (module docstring): every goal row becomes the code of highest cosine similarity to the goal
    the same draw gives without a codebook; the whole-chunk dropout still zeroes a chunk."""
    from goal_prior.codebook import nearest_code

    dirs, _ = episodes
    codes = np.zeros((4, D), np.float32)
    codes[:, :3] = [[20, 0, 1], [60, 0, 1], [200, 0, 1], [0, 3, 1]]  # the nearest depends on the goal's frame
    plain = MinecraftDataset(dirs, 32, 15, 40, goal_lead=16, p_uncond=0.0, seed=3)
    coded = MinecraftDataset(dirs, 32, 15, 40, goal_lead=16, p_uncond=0.0, seed=3, goal_codes=codes)
    used = set()
    for idx in range(len(plain)):
        g = plain[idx][0]["mineclip_embed"]
        q = coded[idx][0]["mineclip_embed"]
        k = nearest_code(g, codes)
        np.testing.assert_array_equal(q, codes[k])
        used.update(k.tolist())
    assert len(used) >= 3, used
    dropped = MinecraftDataset(dirs, 32, 15, 40, goal_lead=16, p_uncond=1.0, seed=3, goal_codes=codes)
    assert not dropped[0][0]["mineclip_embed"].any()
    with pytest.raises(ValueError, match="goal_codes must be a"):
        MinecraftDataset(dirs, 32, 15, 40, goal_lead=16, goal_codes=np.zeros(D))
    with pytest.raises(ValueError, match="goal_codebook codes are 5-d, but the episodes' goal embeddings are 8-d"):
        MinecraftDataset(dirs, 32, 15, 40, goal_lead=16, p_uncond=0.0, goal_codes=codes[:, :5])
