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
