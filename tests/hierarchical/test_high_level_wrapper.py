"""HighlevelVecEnv: segments, early stop, env-step counting, auto-reset, exact trunk/prior context, goals."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from highlevel_testutils import GOAL_DIM, StandInEnv


def _run_until_done(venv, action, max_calls=20):
    """Step env 0 with a fixed action until its episode ends; returns the list of (obs, reward, done, info)."""
    out = []
    for _ in range(max_calls):
        obs, rew, done, infos = venv.step(np.array([action] * venv.num_envs))
        out.append((obs, rew, done, infos))
        if done[0]:
            return out
    raise AssertionError("episode did not end")


def test_segments_early_stop_and_env_step_counting(make_venv):
    envs = [StandInEnv(max_steps=7), StandInEnv(max_steps=4)]
    venv = make_venv(envs, low_level_steps=3)
    obs = venv.reset()
    assert obs.shape == (2, 32) and obs.dtype == np.float32
    _, _, done, infos = venv.step(np.array([0, 1]))
    assert [i["env_steps"] for i in infos] == [3, 3] and not done.any()
    _, _, done, infos = venv.step(np.array([0, 1]))
    # env 1 ends after 1 more step (max_steps 4) and waits; env 0 runs its full segment
    assert [i["env_steps"] for i in infos] == [3, 1] and done.tolist() == [False, True]
    assert envs[1].n_steps == 4 and envs[0].n_steps == 6
    ep = infos[1]["episode"]
    assert ep["l"] == 4 and ep["l_high"] == 2 and infos[1]["truncated"] and not infos[1]["terminated"]
    assert infos[1]["terminal_observation"].shape == (32,)
    assert not infos[1]["TimeLimit.truncated"]  # upstream: truncation treated as termination
    assert envs[1].n_resets == 2  # one auto-reset: no double reset (spec §12.1.1)
    _, _, done, infos = venv.step(np.array([0, 1]))
    assert [i["env_steps"] for i in infos] == [1, 3] and done.tolist() == [True, False]
    assert infos[0]["episode"]["l"] == 7 and infos[0]["episode"]["l_high"] == 3
    assert venv.total_env_steps == envs[0].n_steps + envs[1].n_steps == 7 + 7
    assert envs[0].n_resets == 2


def test_success_reward_and_is_success(make_venv):
    env = StandInEnv(max_steps=20, success_at=5)
    venv = make_venv([env], low_level_steps=2, prior=None)
    venv.reset()
    steps = _run_until_done(venv, 3)
    infos = [s[3][0] for s in steps]
    assert [i["env_steps"] for i in infos] == [2, 2, 1]
    last = infos[-1]
    assert last["is_success"] and last["terminated"] and last["success"]
    rewards = np.concatenate([s[1] for s in steps])
    np.testing.assert_allclose(rewards, [i["reward_env"] for i in infos])
    assert rewards[-1] >= 1.0 and last["episode"]["r_env"] == pytest.approx(rewards.sum())


def test_death_cause_passed_on_at_episode_end(make_venv):
    class Dies(StandInEnv):
        def step(self, action):
            obs, reward, _, truncated, info = super().step(action)
            dead = self.t == 3
            return obs, reward, dead, truncated and not dead, {**info, "dead": dead,
                                                               "death_cause": "zombie" if dead else None}

    venv = make_venv([Dies(max_steps=20), StandInEnv(max_steps=20)], low_level_steps=2, prior=None)
    venv.reset()
    _, _, done, infos = venv.step(np.array([0, 0]))
    assert not done.any() and "death_cause" not in infos[0]
    _, _, done, infos = venv.step(np.array([0, 0]))
    assert done.tolist() == [True, False] and infos[0]["death_cause"] == "zombie" and "death_cause" not in infos[1]


def test_bootstrap_truncation_flag(make_venv):
    venv = make_venv([StandInEnv(max_steps=2)], low_level_steps=5, bootstrap_truncation=True)
    venv.reset()
    _, _, done, infos = venv.step(np.array([0]))
    assert done[0] and infos[0]["TimeLimit.truncated"] and infos[0]["env_steps"] == 2


def test_trunk_and_prior_see_exact_episode_context(make_venv, tiny_trunk, tiny_prior):
    """Observations = frozen trunk over the episode's decision frames; prior log-probs = prior over every frame."""
    env = StandInEnv(max_steps=7)
    venv = make_venv([env], low_level_steps=2, record_frames=True)
    obs0 = venv.reset()
    steps = _run_until_done(venv, 1)
    observations = [obs0[0]] + [s[0][0] for s in steps[:-1]]
    info = steps[-1][3][0]
    frames = info["episode_frames"]  # reset frame + 7 env steps
    assert frames.shape == (8, 64, 64, 3) and info["decision_steps"] == [0, 2, 4, 6]
    # trunk: decision frames then the terminal frame, as one chunk from an empty memory
    idx = info["decision_steps"] + [7]
    img = torch.from_numpy(frames[idx])[None]
    first = torch.zeros(1, len(idx), dtype=torch.bool)
    first[0, 0] = True
    with torch.no_grad():
        feats, _ = tiny_trunk(img, first, tiny_trunk.initial_state(1))
    np.testing.assert_allclose(np.stack(observations), feats[0, :-1].numpy(), atol=1e-4)
    np.testing.assert_allclose(info["terminal_observation"], feats[0, -1].numpy(), atol=1e-4)
    # prior: every frame, one chunk; its log-probs at each decision frame are what the VecEnv reported
    first = torch.zeros(1, 8, dtype=torch.bool)
    first[0, 0] = True
    with torch.no_grad():
        (pd, _, _), _ = tiny_prior({"img": torch.from_numpy(frames)[None]}, first, tiny_prior.initial_state(1))
    for k, s in enumerate(steps[:-1]):
        np.testing.assert_allclose(s[3][0]["prior_logprobs"], pd[0, info["decision_steps"][k + 1], 0].numpy(),
                                   atol=1e-4)


def test_prior_chunk_per_env_when_another_env_ends_mid_segment(make_venv, tiny_prior):
    """The segment's frames go through the prior as one chunk for all envs; an env that ended mid-segment (its rows
    repeat its terminal frame, then restart with first=True) must not change another env's prior log-probs, which
    equal the prior run over that env's own episode frames."""
    envs = [StandInEnv(max_steps=9, seed_offset=1), StandInEnv(max_steps=4)]
    venv = make_venv(envs, low_level_steps=3, record_frames=True)
    venv.reset()
    reported = []
    for _ in range(3):
        _, _, done, infos = venv.step(np.array([1, 2]))
        reported.append(infos[0]["prior_logprobs"])
    assert done.tolist() == [True, False] and infos[0]["episode"]["l"] == 9
    frames = infos[0]["episode_frames"]  # env 0: reset frame + 9 env steps; env 1 ended at env step 4
    first = torch.zeros(1, len(frames), dtype=torch.bool)
    first[0, 0] = True
    with torch.no_grad():
        (pd, _, _), _ = tiny_prior({"img": torch.from_numpy(frames)[None]}, first, tiny_prior.initial_state(1))
    for k in range(2):  # decisions at env steps 3 and 6 (the third segment ends the episode)
        np.testing.assert_allclose(reported[k], pd[0, 3 * (k + 1), 0].numpy(), atol=1e-4)


def test_new_episode_starts_fresh_contexts(make_venv, tiny_trunk):
    venv = make_venv([StandInEnv(max_steps=3)], low_level_steps=3)
    obs0 = venv.reset()
    obs, _, done, _ = venv.step(np.array([2]))
    assert done[0]
    np.testing.assert_allclose(obs[0], obs0[0], atol=1e-5)  # same first frame, memory masked by first=True
    with torch.no_grad():
        ref, _ = tiny_trunk(torch.from_numpy(StandInEnv()._obs()["pov"])[None, None], torch.ones(1, 1, dtype=torch.bool),
                            tiny_trunk.initial_state(1))
    np.testing.assert_allclose(obs[0], ref[0, 0].numpy(), atol=1e-4)


def test_goals_and_argument_errors(make_venv, tiny_codebook):
    venv = make_venv([StandInEnv(), StandInEnv()])
    venv.reset()
    with pytest.raises(IndexError):
        venv.step(np.array([0, 99]))
    # continuous goals: Box(D,), one (1, D) goal per env, clipped to the bounds (fix §12.1.2)
    with pytest.raises(ValueError, match="codebook"):
        make_venv([StandInEnv()], codebook=None, goal_dim=GOAL_DIM, prior=object())
    cont = make_venv([StandInEnv(), StandInEnv()], codebook=None, goal_dim=GOAL_DIM, goal_bound=1.0)
    assert cont.action_space.shape == (GOAL_DIM,)
    cont.reset()
    cont.step_async(np.full((2, GOAL_DIM), 5.0, np.float32))
    assert torch.all(cont._goals == 1.0) and cont._goals.shape == (2, GOAL_DIM)
    cont.step_wait()
    with pytest.raises(ValueError, match="goals of shape"):
        cont.step(np.zeros((2, GOAL_DIM + 1), np.float32))
    with pytest.raises(ValueError, match="low_level_steps"):
        make_venv([StandInEnv()], low_level_steps=0)
    with pytest.raises(ValueError, match="needs a goal prior"):
        make_venv([StandInEnv()], prior=None, kl_reward=0.1)
    kl_venv = make_venv([StandInEnv()], kl_reward=0.1)
    kl_venv.reset()
    with pytest.raises(RuntimeError, match="attach_policy"):
        kl_venv.step(np.array([0]))
    np.testing.assert_array_equal(venv._goals_from_actions(np.array([1, 3])).numpy(), tiny_codebook.codes[[1, 3]])
