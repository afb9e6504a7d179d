"""The baselines: method presets (hierarchical/methods.py), the flat frame wrapper (hierarchical/flat_baselines.py) +
episode log (hierarchical/episode_log.py), bc_ppo's starting point (hierarchical/bc_ppo.py)
(the frozen goal-free trunk + copied head reproduce the BC policy's unconditional action distribution), and bc_ppo_kl's
KL term to the BC policy."""
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


def _bc_setup(n_envs=1, max_steps=50, **venv_kwargs):
    from sb3_vpt.policy import TRUNK_PREFIXES, VPTTrunk
    from stable_baselines3.common.vec_env import VecMonitor
    from VPT.lib.policy import MinecraftPolicy

    bc = tiny_agent(spaces.Discrete(N_ACTIONS), goal_dim=GOAL_DIM, seed=1)
    trunk = VPTTrunk(MinecraftPolicy(**TINY_POLICY_KWARGS))
    own = trunk.state_dict()
    trunk.load_state_dict({k: v for k, v in bc.state_dict().items() if k.startswith(TRUNK_PREFIXES) and k in own},
                          strict=False)
    goal_free = bc_ppo.GoalFreeTrunk(trunk, bc.net.mineclip_embed_linear.bias)
    obs_space = spaces.Box(-np.inf, np.inf, (goal_free.hidsize,), np.float32)
    reference = bc_ppo.make_bc_reference(bc, obs_space, spaces.Discrete(N_ACTIONS), torch.device("cpu"))
    envs = [StandInEnv(max_steps=max_steps, seed_offset=i) for i in range(n_envs)]
    flat = bc_ppo.FlatTrunkVecEnv(envs, goal_free, torch.device("cpu"), reference=reference, **venv_kwargs)
    venv = VecMonitor(flat)
    model = bc_ppo.make_bc_ppo(venv, bc, seed=0, device=torch.device("cpu"))
    return flat, venv, model, reference


@pytest.mark.parametrize("direction", ["forward", "reverse"])
def test_bc_ppo_kl_reward_is_the_kl_to_the_bc_policy(direction):
    from hierarchical.high_level_wrapper import categorical_kl

    flat, venv, model, reference = _bc_setup(n_envs=2, max_steps=4, kl_reward=0.5, kl_direction=direction)
    venv.attach_policy(model.policy)  # through VecMonitor, as ppo_highlevel.py does
    assert flat.policy is model.policy
    obs = venv.reset()
    obs, rewards, _, infos = venv.step(np.array([1, 1]))
    # at the start the policy is the BC policy: no KL (float32 log-softmax of the same logits, same modules)
    for i in range(2):
        assert abs(infos[i]["kl"]) < 1e-5 and abs(infos[i]["reward_kl"]) < 1e-5
    with torch.no_grad():
        w = model.policy.action_net.linear_layer.weight
        w.add_(torch.randn(w.shape, generator=torch.Generator().manual_seed(0)) * 0.5)
    ended = 0
    for _ in range(4):  # across an episode end (max_steps 4): the KL is taken on the reset frame's features
        with torch.no_grad():
            p = model.policy.action_log_probs(torch.as_tensor(obs))
            q = reference.action_log_probs(torch.as_tensor(obs))
        kl = (categorical_kl(p, q) if direction == "forward" else categorical_kl(q, p)).numpy()
        assert (kl > 1e-3).all()
        obs, rewards, dones, infos = venv.step(np.array([1, 2]))
        ended += int(dones.sum())
        for i in range(2):
            assert infos[i]["kl"] == pytest.approx(kl[i], rel=1e-4, abs=1e-6)
            assert infos[i]["reward_kl"] == pytest.approx(-0.5 * kl[i], rel=1e-4, abs=1e-6)
            assert rewards[i] == pytest.approx(infos[i]["reward_env"] - 0.5 * kl[i], rel=1e-4, abs=1e-6)
    assert ended == 2  # both envs ended once and went on from their reset frame


def test_bc_ppo_kl_needs_its_parts():
    flat, venv, model, _ = _bc_setup(kl_reward=0.1)
    venv.reset()
    with pytest.raises(RuntimeError, match="attach_policy"):
        venv.step(np.array([1]))
    with pytest.raises(TypeError, match="action_log_probs"):
        flat.attach_policy(object())
    trunk = flat.trunk
    with pytest.raises(ValueError, match="needs the reference"):
        bc_ppo.FlatTrunkVecEnv([StandInEnv()], trunk, torch.device("cpu"), kl_reward=0.1)
    with pytest.raises(ValueError, match="kl_reward must be >= 0"):
        bc_ppo.FlatTrunkVecEnv([StandInEnv()], trunk, torch.device("cpu"), kl_reward=-1.0)
    with pytest.raises(ValueError, match="kl_direction"):
        bc_ppo.FlatTrunkVecEnv([StandInEnv()], trunk, torch.device("cpu"), reference=flat.reference, kl_reward=0.1,
                               kl_direction="both")
    # without the KL term (bc_ppo) the reward is the env's and no KL is reported
    plain, venv, model, _ = _bc_setup()
    venv.reset()
    _, rewards, _, infos = venv.step(np.array([0]))
    assert rewards[0] == infos[0]["reward_env"] == 0.25 and "kl" not in infos[0]


def _frame(t):
    env = StandInEnv()
    env.t = t
    return env._obs()["pov"]
