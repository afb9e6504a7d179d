"""Issue 18: behaviour cloning leaves the play data's random (epsilon) actions out of its loss. The dataset turns
``infos.npz`` ``random_action`` into a per-frame ``loss_mask`` (ones for episodes without the flag), and
:class:`steve1.bc_trainer.BehaviourCloningLoss` weights each frame's log-likelihood by it, never passing it to the
policy."""
import numpy as np
import pytest
import torch
from torch import nn

from steve1.bc_trainer import BehaviourCloningLoss
from steve1.data.EpisodeStorage import EpisodeStorage
from steve1.data.minecraft_dataset import LOSS_MASK_KEY, MinecraftDataset

D = 8


def _episode(path, length, flags=None, seed=0):
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 256, size=(length, 8, 8, 3), dtype=np.uint8)
    embeds = [None if t < 15 else rng.normal(size=(1, D)).astype(np.float32) for t in range(length)]
    infos = None if flags is None else {"random_action": np.asarray(flags, bool)}
    EpisodeStorage(path).write_episode(frames, [t % 17 for t in range(length)], metadata={"sim": "crafter"},
                                       embeds=embeds, infos=infos)
    return str(path)


def test_dataset_mask_follows_the_random_action_flags(tmp_path):
    flags = np.random.default_rng(1).random(200) < 0.2
    flagged = _episode(tmp_path / "flagged", 200, flags)
    plain = _episode(tmp_path / "plain", 200, None, seed=2)
    ds = MinecraftDataset([flagged, plain], T=32, min_btwn_goals=15, max_btwn_goals=30, goal_lead=16, p_uncond=0.0,
                          seed=0, mask_random_actions=True)
    seen_flagged = seen_plain = 0
    for i in range(len(ds)):
        chunk = ds.load_chunk(i)
        obs, _, _ = ds.make_item(chunk)
        mask = obs[LOSS_MASK_KEY]
        assert mask.shape == (32,) and mask.dtype == np.float32
        if chunk.episode_dir == flagged:
            want = np.where(flags[chunk.start:chunk.start + 32], 0.0, 1.0)
            assert mask.tolist() == want.tolist()
            seen_flagged += int((mask == 0).sum())
        else:
            assert mask.tolist() == [1.0] * 32
            seen_plain += 1
    assert seen_flagged > 0 and seen_plain > 0
    off = MinecraftDataset([flagged], T=32, min_btwn_goals=15, max_btwn_goals=30, goal_lead=16, p_uncond=0.0)
    assert LOSS_MASK_KEY not in off[0][0]  # upstream items unchanged


class _FakePolicy(nn.Module):
    """log pi(a_t) = obs["x"][:, t]: the loss is then known in closed form."""

    def __init__(self):
        super().__init__()
        self.seen_keys = []
        self.pi_head = self

    def forward(self, obs, first, state_in):
        self.seen_keys.append(sorted(obs))
        return (obs["x"], None, None), state_in

    def logprob(self, actions, pd):
        return pd


def test_loss_weights_each_frame_by_the_mask():
    torch.manual_seed(0)
    logp = -torch.rand(3, 8)
    mask = (torch.rand(3, 8) > 0.3).float()
    first = torch.zeros(3, 8, dtype=torch.bool)
    policy = _FakePolicy()
    loss_fn = BehaviourCloningLoss(policy)
    plain, _ = loss_fn({"x": logp}, first, None, None)
    masked, _ = loss_fn({"x": logp, "loss_mask": mask}, first, None, None)
    ones, _ = loss_fn({"x": logp, "loss_mask": torch.ones(3, 8)}, first, None, None)
    assert float(plain) == pytest.approx(float(-logp.sum(1).mean()), rel=1e-6)
    assert float(masked) == pytest.approx(float(-(logp * mask).sum(1).mean()), rel=1e-6)
    assert float(ones) == pytest.approx(float(plain), rel=1e-6) and float(masked) < float(plain)
    assert policy.seen_keys == [["x"]] * 3  # the mask never reaches the policy


def test_action_loss_weights_weigh_each_frame_by_its_action_and_keep_random_frames_out(tmp_path):
    """``action_loss_weights`` (Crafter's rare crafting actions, configs/crafter/steve1.yaml): each frame's loss
    weight is its stored action's weight, times 0 where the play data flags a random action."""
    from tasks.crafter.env import ACTION_NAMES

    flags = np.random.default_rng(3).random(200) < 0.2
    ep = _episode(tmp_path / "ep", 200, flags)  # stored action of frame t: t % 17
    weights = {"make_wood_pickaxe": 5.0, "place_table": 0.5}
    ds = MinecraftDataset([ep], T=32, min_btwn_goals=15, max_btwn_goals=30, goal_lead=16, p_uncond=0.0, seed=0,
                          mask_random_actions=True, action_loss_weights=weights)
    per_action = np.array([weights.get(n, 1.0) for n in ACTION_NAMES], np.float32)
    seen = set()
    for i in range(len(ds)):
        chunk = ds.load_chunk(i)
        mask = ds.make_item(chunk)[0][LOSS_MASK_KEY]
        t = np.arange(chunk.start, chunk.start + 32)
        want = per_action[t % 17] * np.where(flags[t], 0.0, 1.0)
        assert mask.dtype == np.float32 and np.array_equal(mask, want.astype(np.float32))
        seen |= set(np.unique(mask).tolist())
    assert {0.0, 0.5, 1.0, 5.0} <= seen
    plain = MinecraftDataset([ep], T=32, min_btwn_goals=15, max_btwn_goals=30, goal_lead=16, p_uncond=0.0,
                             action_loss_weights=weights)  # weights without the random-action mask
    chunk = plain.load_chunk(0)
    t = np.arange(chunk.start, chunk.start + 32)
    assert np.array_equal(plain.make_item(chunk)[0][LOSS_MASK_KEY], per_action[t % 17])
    with pytest.raises(ValueError, match=r"action_loss_weights names \['make_diamond'\]"):
        MinecraftDataset([ep], T=32, min_btwn_goals=15, max_btwn_goals=30, goal_lead=16,
                         action_loss_weights={"make_diamond": 2.0})


def test_action_loss_weights_config_values_are_checked(tmp_path):
    """Weights must be numbers > 0 (a 0 would silently drop an action from the loss: that is
    ``mask_random_actions``' job, per frame); the Crafter config parses with a mapping."""
    import yaml

    from steve1.train import parse_config

    base = yaml.safe_load(open("configs/crafter/steve1.yaml"))
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({**base, "action_loss_weights": {"place_table": 4}}))
    args, _, _ = parse_config(["--config", str(cfg)])
    assert args.action_loss_weights == {"place_table": 4}
    for bad in ({"place_table": 0}, {"place_table": -1.0}, {"place_table": True}, {"place_table": "x"},
                {"place_table": float("inf")}, {"place_table": float("nan")}):
        cfg.write_text(yaml.safe_dump({**base, "action_loss_weights": bad}))
        with pytest.raises(ValueError, match=f"{cfg} key 'action_loss_weights': action_loss_weights must map"):
            parse_config(["--config", str(cfg)])
    cfg.write_text(yaml.safe_dump({**base, "action_loss_weights": [1, 2]}))
    with pytest.raises(ValueError, match="a mapping"):
        parse_config(["--config", str(cfg)])


def test_achievement_frame_weights_mark_the_frames_ending_at_each_achievement():
    """:func:`achievement_frame_weights`: the ``frames`` frames ending at an action that raises a weighted count
    take its weight; overlapping windows take the larger; an unweighted achievement, a count that stays, and the
    last frame (no next row) leave 1."""
    from steve1.data.minecraft_dataset import achievement_frame_weights

    ach = np.zeros((12, 3), np.int32)
    ach[4:, 0] = 1       # action 3 brings achievement 0 about (weight 5)
    ach[6:, 1] = 1       # action 5: achievement 1 (weight 2)
    ach[9:, 2] = 2       # action 8: achievement 2, unweighted
    ach[11:, 0] = 2      # action 10: achievement 0 again
    w = np.array([5.0, 2.0, 1.0], np.float32)
    got = achievement_frame_weights(ach, w, frames=3)
    want = np.ones(12, np.float32)
    want[1:4] = 5.0
    want[4:6] = 2.0      # action 5's window is 3..5; frame 3 keeps the larger 5
    want[8:11] = 5.0
    assert got.dtype == np.float32 and got.tolist() == want.tolist()
    assert achievement_frame_weights(ach, w, frames=1).tolist() == [1, 1, 1, 5, 1, 2, 1, 1, 1, 1, 5, 1]
    assert achievement_frame_weights(ach[:1], w, frames=3).tolist() == [1.0]
    with pytest.raises(ValueError, match="frames must be >= 1"):
        achievement_frame_weights(ach, w, frames=0)
    with pytest.raises(ValueError, match="weights"):
        achievement_frame_weights(ach, w[:2], frames=2)


def test_achievement_loss_weights_in_the_dataset_and_the_config(tmp_path):
    """``achievement_loss_weights``: the item's loss mask is the larger of the action weight and the achievement
    weight, times the random-action mask; an unknown achievement, a weight below 1, and an episode without
    ``achievements`` are refused naming the key or the episode."""
    import yaml

    from steve1.data.minecraft_dataset import achievement_frame_weights
    from steve1.train import parse_config
    from tasks.crafter.env import ACHIEVEMENTS, ACTION_NAMES

    L = 200
    rng = np.random.default_rng(4)
    flags = rng.random(L) < 0.1
    ach = np.zeros((L, len(ACHIEVEMENTS)), np.int32)
    coal, wood = ACHIEVEMENTS.index("collect_coal"), ACHIEVEMENTS.index("collect_wood")
    for t in (40, 41, 90, 150):
        ach[t + 1:, coal] += 1
    ach[60:, wood] = 1
    frames = rng.integers(0, 256, size=(L, 8, 8, 3), dtype=np.uint8)
    embeds = [None if t < 15 else rng.normal(size=(1, D)).astype(np.float32) for t in range(L)]
    ep = str(tmp_path / "ep")
    EpisodeStorage(ep).write_episode(frames, [t % 17 for t in range(L)], metadata={"sim": "crafter"}, embeds=embeds,
                                     infos={"random_action": flags, "achievements": ach})
    acts = {"make_wood_pickaxe": 7.0}
    ds = MinecraftDataset([ep], T=32, min_btwn_goals=15, max_btwn_goals=30, goal_lead=16, p_uncond=0.0, seed=0,
                          mask_random_actions=True, action_loss_weights=acts,
                          achievement_loss_weights={"collect_coal": 4.0}, achievement_loss_frames=2)
    per_action = np.array([acts.get(n, 1.0) for n in ACTION_NAMES], np.float32)
    event = achievement_frame_weights(ach, np.array([4.0 if a == "collect_coal" else 1.0 for a in ACHIEVEMENTS]), 2)
    assert np.flatnonzero(event != 1).tolist() == [39, 40, 41, 89, 90, 149, 150]
    seen = set()
    for i in range(len(ds)):
        chunk = ds.load_chunk(i)
        mask = ds.make_item(chunk)[0][LOSS_MASK_KEY]
        t = np.arange(chunk.start, chunk.start + 32)
        want = np.maximum(per_action[t % 17], event[t]) * np.where(flags[t], 0.0, 1.0)
        assert np.array_equal(mask, want.astype(np.float32))
        seen |= set(np.unique(mask).tolist())
    assert 4.0 in seen and 7.0 in seen
    with pytest.raises(ValueError, match=r"achievement_loss_weights names \['collect_gold'\]"):
        MinecraftDataset([ep], T=32, min_btwn_goals=15, max_btwn_goals=30, goal_lead=16,
                         achievement_loss_weights={"collect_gold": 2.0})
    with pytest.raises(ValueError, match=r"achievement_loss_weights must be >= 1"):
        MinecraftDataset([ep], T=32, min_btwn_goals=15, max_btwn_goals=30, goal_lead=16,
                         achievement_loss_weights={"collect_coal": 0.5})
    with pytest.raises(ValueError, match="achievement_loss_frames must be >= 1"):
        MinecraftDataset([ep], T=32, min_btwn_goals=15, max_btwn_goals=30, goal_lead=16,
                         achievement_loss_weights={"collect_coal": 2.0}, achievement_loss_frames=0)
    bare = _episode(tmp_path / "bare", L, flags)
    no_ach = MinecraftDataset([bare], T=32, min_btwn_goals=15, max_btwn_goals=30, goal_lead=16,
                              achievement_loss_weights={"collect_coal": 2.0})
    with pytest.raises(ValueError, match="bare: achievement_loss_weights needs infos.npz 'achievements'"):
        no_ach[0]

    base = yaml.safe_load(open("configs/crafter/steve1.yaml"))
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({**base, "achievement_loss_weights": {"collect_iron": 7.4}}))
    args, _, _ = parse_config(["--config", str(cfg)])
    assert args.achievement_loss_weights == {"collect_iron": 7.4} and args.achievement_loss_frames == 1
    for bad in ({"collect_iron": 0.5}, {"collect_iron": True}, {"collect_iron": float("nan")}):
        cfg.write_text(yaml.safe_dump({**base, "achievement_loss_weights": bad}))
        with pytest.raises(ValueError, match=f"{cfg} key 'achievement_loss_weights': achievement_loss_weights must"):
            parse_config(["--config", str(cfg)])


def test_keyframe_weights_mark_the_frames_whose_action_changes():
    from steve1.data.minecraft_dataset import keyframe_weights

    w = keyframe_weights(np.array([2, 2, 3, 3, 3, 1, 2, 2]), 3.0)
    assert w.dtype == np.float32 and w.tolist() == [1, 1, 3, 1, 1, 3, 3, 1]
    assert keyframe_weights(np.array([5]), 2.0).tolist() == [1.0]
    with pytest.raises(ValueError, match="keyframe_loss_weight must be >= 1"):
        keyframe_weights(np.array([1, 2]), 0.5)
    with pytest.raises(ValueError, match="one integer action per frame"):
        keyframe_weights(np.array([[1, 2]]), 2.0)


def test_keyframe_loss_weight_in_the_dataset_and_the_config(tmp_path):
    """``keyframe_loss_weight``: the loss mask is the larger of the action weight and the keyframe weight (the frames
    whose action differs from the frame before's), times the random-action mask; below 1 is refused by the dataset
    and the config, and 1 leaves the items as they were."""
    import yaml

    from steve1.train import parse_config
    from tasks.crafter.env import ACTION_NAMES

    L = 200
    rng = np.random.default_rng(5)
    flags = rng.random(L) < 0.1
    actions = np.repeat(rng.integers(0, 17, size=L // 4), 4)          # runs of 4: a keyframe every 4th frame at most
    frames = rng.integers(0, 256, size=(L, 8, 8, 3), dtype=np.uint8)
    embeds = [None if t < 15 else rng.normal(size=(1, D)).astype(np.float32) for t in range(L)]
    ep = str(tmp_path / "ep")
    EpisodeStorage(ep).write_episode(frames, actions.tolist(), metadata={"sim": "crafter"}, embeds=embeds,
                                     infos={"random_action": flags})
    acts = {"make_wood_pickaxe": 7.0}
    ds = MinecraftDataset([ep], T=32, min_btwn_goals=15, max_btwn_goals=30, goal_lead=16, p_uncond=0.0, seed=0,
                          mask_random_actions=True, action_loss_weights=acts, keyframe_loss_weight=2.5)
    per_action = np.array([acts.get(n, 1.0) for n in ACTION_NAMES], np.float32)
    key = np.r_[False, actions[1:] != actions[:-1]]
    seen = set()
    for i in range(len(ds)):
        chunk = ds.load_chunk(i)
        mask = ds.make_item(chunk)[0][LOSS_MASK_KEY]
        t = np.arange(chunk.start, chunk.start + 32)
        want = np.maximum(per_action[actions[t]], np.where(key[t], 2.5, 1.0)) * np.where(flags[t], 0.0, 1.0)
        assert np.array_equal(mask, want.astype(np.float32))
        seen |= set(np.unique(mask).tolist())
    assert 2.5 in seen and 1.0 in seen
    off = MinecraftDataset([ep], T=32, min_btwn_goals=15, max_btwn_goals=30, goal_lead=16, p_uncond=0.0)
    assert LOSS_MASK_KEY not in off[0][0]
    with pytest.raises(ValueError, match="keyframe_loss_weight must be >= 1"):
        MinecraftDataset([ep], T=32, min_btwn_goals=15, max_btwn_goals=30, goal_lead=16, keyframe_loss_weight=0.9)

    base = yaml.safe_load(open("configs/crafter/steve1.yaml"))
    assert base["keyframe_loss_weight"] == 1.0
    args, _, _ = parse_config(["--config", "configs/crafter/steve1.yaml", "--keyframe_loss_weight", "3"])
    assert args.keyframe_loss_weight == 3.0
    with pytest.raises((SystemExit, ValueError)):
        parse_config(["--config", "configs/crafter/steve1.yaml", "--keyframe_loss_weight", "0.5"])
