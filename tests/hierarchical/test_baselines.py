"""The baselines: method presets (hierarchical/methods.py), the flat frame wrapper (hierarchical/flat_baselines.py) +
episode log (hierarchical/episode_log.py), and bc_ppo's starting point (hierarchical/bc_ppo.py)
(the frozen goal-free trunk + copied head reproduce the BC policy's unconditional action distribution)."""
import json

import numpy as np
import pytest
import torch
from gymnasium import spaces

from highlevel_testutils import GOAL_DIM, N_ACTIONS, TINY_POLICY_KWARGS, StandInEnv, tiny_agent

from hierarchical import bc_ppo, episode_log, flat_baselines, methods


def test_method_overrides_preset_under_given_flags():
    assert methods.method_overrides(None, {})["method"] == "ptgm"
    out = methods.method_overrides("ptgm_no_prior", {"seed": 3})
    assert out["goal_prior"] is False and out["kl_reward"] == 0.0 and out["seed"] == 3
    # an explicit flag wins over the preset
    assert methods.method_overrides("ptgm_no_prior", {"kl_reward": 0.5})["kl_reward"] == 0.5
    assert methods.method_overrides("ptgm_continuous", {})["discrete"] is False
    with pytest.raises(ValueError, match="--method"):
        methods.method_overrides("dreamer", {})


def test_flat_wrapper_and_episode_log(tmp_path):
    log = tmp_path / "episodes.jsonl"
    env = flat_baselines.FlatFrameWrapper(episode_log.EpisodeLog(StandInEnv(max_steps=5, success_at=3), log, index=2))
    obs, _ = env.reset(seed=0)
    assert obs.shape == (64, 64, 3) and obs.dtype == np.uint8
    infos = [env.step(1)[4] for _ in range(3)]
    assert all(i["env_steps"] == 1 for i in infos)
    assert "is_success" not in infos[0] and infos[-1]["is_success"] is True
    env = flat_baselines.FlatFrameWrapper(episode_log.EpisodeLog(StandInEnv(max_steps=5), log, index=2))
    env.reset()
    for _ in range(5):  # truncated, no success
        info = env.step(1)[4]
    assert info["is_success"] is False
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert [(x["env"], x["length"], x["success"]) for x in lines] == [(2, 3, True), (2, 5, False)]
    assert [(x["end"], x["death_cause"]) for x in lines] == [("success", None), ("limit", None)]


def test_episode_log_records_the_death_cause(tmp_path):
    from tasks.crafter.env import ACTION_NAMES, CrafterEnv

    log = tmp_path / "episodes.jsonl"
    env = episode_log.EpisodeLog(CrafterEnv(max_steps=50), log)
    env.reset(seed=0)
    player, world = env.unwrapped.crafter_env._player, env.unwrapped.crafter_env._world
    world[player.pos + np.array((1, 0))] = "lava"
    assert world[player.pos + np.array((1, 0))][1] is None
    env.step(ACTION_NAMES.index("move_right"))  # onto the lava
    (line,) = [json.loads(x) for x in log.read_text().splitlines()]
    assert line["end"] == "death" and line["death_cause"] == "lava" and line["length"] == 1


def test_bc_ppo_starts_at_the_bc_policy():
    from goal_prior.load_prior import load_part_vpt_weights  # noqa: F401 (same loader as make_bc_trunk_venv)
    from sb3_vpt.policy import TRUNK_PREFIXES, VPTTrunk
    from stable_baselines3.common.vec_env import VecMonitor
    from VPT.lib.policy import MinecraftPolicy

    bc = tiny_agent(spaces.Discrete(N_ACTIONS), goal_dim=GOAL_DIM, seed=1)
    with torch.no_grad():
        bc.net.mineclip_embed_linear.bias.normal_(0, 1.0)  # the zero goal's contribution must not be dropped
    trunk = VPTTrunk(MinecraftPolicy(**TINY_POLICY_KWARGS))
    own = trunk.state_dict()
    trunk.load_state_dict({k: v for k, v in bc.state_dict().items() if k.startswith(TRUNK_PREFIXES) and k in own},
                          strict=False)
    goal_free = bc_ppo.GoalFreeTrunk(trunk, bc.net.mineclip_embed_linear.bias)
    venv = VecMonitor(bc_ppo.FlatTrunkVecEnv([StandInEnv(max_steps=50)], goal_free, torch.device("cpu")))
    model = bc_ppo.make_bc_ppo(venv, bc, seed=0, device=torch.device("cpu"))
    feats = [venv.reset()[0]]
    for _ in range(2):
        feats.append(venv.step(np.array([1]))[0][0])
    with torch.no_grad():
        ppo_logp = model.policy.action_log_probs(torch.as_tensor(np.stack(feats)))
        frames = torch.as_tensor(np.stack([StandInEnv()._obs()["pov"]] + [_frame(t) for t in (1, 2)]))[None]
        obs = {"img": frames, "mineclip_embed": torch.zeros(1, 3, GOAL_DIM)}
        first = torch.tensor([[True, False, False]])
        (pd, _, _), _ = bc(obs, first, bc.initial_state(1))
    np.testing.assert_allclose(ppo_logp.numpy(), pd[0, :, 0, :].numpy(), atol=1e-5)


def _frame(t):
    env = StandInEnv()
    env.t = t
    return env._obs()["pov"]
