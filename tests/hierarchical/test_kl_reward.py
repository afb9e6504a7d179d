"""The KL part of the high-level reward (spec §9.3) against the analytic KL of known categoricals."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from highlevel_testutils import N_CODES, StandInEnv
from hierarchical.high_level_wrapper import categorical_kl, kl_reward_term


def _analytic_kl(p, q):
    return sum(pi * math.log(pi / qi) for pi, qi in zip(p, q))


def test_kl_reward_term_equals_analytic_kl_both_directions():
    p = [0.5, 0.25, 0.125, 0.125]
    q = [0.1, 0.2, 0.3, 0.4]
    logp, logq = torch.tensor([p]).log(), torch.tensor([q]).log()
    reward, kl = kl_reward_term(logp, logq, kl_reward=0.05, direction="forward")
    assert kl.item() == pytest.approx(_analytic_kl(p, q), rel=1e-5)
    assert reward.item() == pytest.approx(-0.05 * _analytic_kl(p, q), rel=1e-5)
    reward, kl = kl_reward_term(logp, logq, kl_reward=0.05, direction="reverse")
    assert kl.item() == pytest.approx(_analytic_kl(q, p), rel=1e-5)
    assert reward.item() == pytest.approx(-0.05 * _analytic_kl(q, p), rel=1e-5)
    assert categorical_kl(logp, logp).item() == pytest.approx(0.0, abs=1e-7)
    with pytest.raises(ValueError, match="kl_direction"):
        kl_reward_term(logp, logq, 1.0, direction="sideways")
    with pytest.raises(ValueError, match="same N"):
        kl_reward_term(logp, logq[:, :3], 1.0)


class _FixedPolicy:
    """An SB3-policy stand-in whose distribution over the codes is the same known categorical for every state."""

    device = torch.device("cpu")

    def __init__(self, probs):
        self.logp = torch.tensor(probs, dtype=torch.float32).log()
        self.seen = []

    def action_log_probs(self, features):
        self.seen.append(features.clone())
        return self.logp.expand(features.shape[0], -1)


@pytest.mark.parametrize("direction", ["forward", "reverse"])
def test_vecenv_kl_reward_before_acting(make_venv, tiny_prior, direction):
    probs = [0.4, 0.3, 0.1, 0.1, 0.1]
    assert len(probs) == N_CODES
    venv = make_venv([StandInEnv(max_steps=50)], kl_reward=0.5, kl_direction=direction, low_level_steps=2)
    policy = _FixedPolicy(probs)
    venv.attach_policy(policy)
    obs = venv.reset()
    # the prior at the decision state, computed independently: log_softmax(head(latent) / T_prior), T_prior = 2
    frame = torch.from_numpy(StandInEnv()._obs()["pov"])[None, None]
    with torch.no_grad():
        latent = tiny_prior.net({"img": frame}, tiny_prior.initial_state(1), {"first": torch.ones(1, 1, dtype=bool)})[0][0]
        prior_logp = torch.log_softmax(tiny_prior.pi_head.linear_layer(latent)[0, 0] / 2.0, dim=-1)
    prior_p = prior_logp.exp().tolist()
    expected_kl = _analytic_kl(probs, prior_p) if direction == "forward" else _analytic_kl(prior_p, probs)
    _, rewards, _, infos = venv.step(np.array([1]))
    np.testing.assert_allclose(policy.seen[0].numpy(), obs)  # the KL used the observation of this decision
    assert infos[0]["kl"] == pytest.approx(expected_kl, rel=1e-4)
    assert infos[0]["reward_kl"] == pytest.approx(-0.5 * expected_kl, rel=1e-4)
    assert rewards[0] == pytest.approx(infos[0]["reward_env"] + infos[0]["reward_kl"], rel=1e-5)
    # second decision: the prior after the segment's last frame, the policy on the new observation
    obs2 = venv.step(np.array([1]))[0]
    assert not np.allclose(policy.seen[1].numpy(), obs) and len(policy.seen) == 2
    venv.step(np.array([1]))
    np.testing.assert_allclose(policy.seen[2].numpy(), obs2)


def test_no_kl_term_without_prior_or_with_zero_kl_reward(make_venv):
    for kwargs in ({"kl_reward": 0.0}, {"prior": None}):
        venv = make_venv([StandInEnv()], **kwargs)
        venv.reset()
        _, rewards, _, infos = venv.step(np.array([0]))
        assert infos[0]["reward_kl"] == 0.0 and rewards[0] == pytest.approx(infos[0]["reward_env"])
