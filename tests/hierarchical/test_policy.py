"""VPTHeadPolicy (the trainable high-level head) and VPTTrunk (the frozen trunk)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from gymnasium import spaces

from highlevel_testutils import N_CODES, StandInEnv
from sb3_vpt.policy import VPTHeadPolicy

HID = 32
OBS = spaces.Box(-np.inf, np.inf, (HID,), np.float32)


def test_head_init_and_optimizer():
    policy = VPTHeadPolicy(OBS, spaces.Discrete(N_CODES), lambda _: 1e-4)
    w = policy.action_net.linear_layer.weight
    np.testing.assert_allclose(w.norm(dim=1).detach().numpy(), 0.01, rtol=1e-5)  # orthogonal rows of norm 0.01
    assert torch.all(policy.action_net.linear_layer.bias == 0)
    np.testing.assert_allclose(policy.value_net.linear.weight.norm(dim=1).detach().numpy(), 1.0, rtol=1e-5)
    assert policy.optimizer.defaults["eps"] == 1e-5 and policy.optimizer.defaults["lr"] == 1e-4
    trainable = {n for n, p in policy.named_parameters() if p.requires_grad}
    assert trainable == {"mlp_extractor.lastlayer.norm.weight", "mlp_extractor.lastlayer.norm.bias",
                         "mlp_extractor.lastlayer.layer.weight", "mlp_extractor.final_ln.weight",
                         "mlp_extractor.final_ln.bias", "action_net.linear_layer.weight",
                         "action_net.linear_layer.bias", "value_net.linear.weight", "value_net.linear.bias"}
    # value = raw value-head output (not denormalised)
    x = torch.randn(4, HID)
    _, values, _ = policy(x)
    latent = policy.mlp_extractor.forward_critic(x)
    torch.testing.assert_close(values, policy.value_net.linear(latent))


def test_value_init_zero_and_an_own_value_latent():
    x = torch.randn(5, HID)
    policy = VPTHeadPolicy(OBS, spaces.Discrete(N_CODES), lambda _: 1e-4, value_init="zero")
    assert torch.all(policy.predict_values(x) == 0)  # the value is 0 everywhere until trained
    shared = VPTHeadPolicy(OBS, spaces.Discrete(N_CODES), lambda _: 1e-4)
    assert (shared.predict_values(x).abs() > 0).all()
    # an own value latent: the value loss does not reach the policy's latent
    own = VPTHeadPolicy(OBS, spaces.Discrete(N_CODES), lambda _: 1e-4, value_latent="own")
    own.predict_values(x).sum().backward()
    assert own.mlp_extractor.lastlayer.layer.weight.grad is None
    assert own.mlp_extractor.value_lastlayer.layer.weight.grad.abs().sum() > 0
    shared.predict_values(x).sum().backward()
    assert shared.mlp_extractor.lastlayer.layer.weight.grad.abs().sum() > 0
    assert own._get_constructor_parameters()["value_latent"] == "own"
    assert policy._get_constructor_parameters()["value_init"] == "zero"
    with pytest.raises(ValueError, match="value_init"):
        VPTHeadPolicy(OBS, spaces.Discrete(N_CODES), lambda _: 1e-4, value_init="ones")
    with pytest.raises(ValueError, match="value_latent"):
        VPTHeadPolicy(OBS, spaces.Discrete(N_CODES), lambda _: 1e-4, value_latent="both")


def test_temperature_is_applied():
    torch.manual_seed(0)
    policy = VPTHeadPolicy(OBS, spaces.Discrete(N_CODES), lambda _: 1e-4, temperature=3.0)
    with torch.no_grad():
        policy.action_net.linear_layer.weight.normal_()
    x = torch.randn(6, HID)
    logits = policy.action_net.linear_layer(policy.mlp_extractor.forward_actor(x))
    expected = torch.log_softmax(logits / 3.0, dim=-1)
    torch.testing.assert_close(policy.action_log_probs(x), expected)
    dist = policy.get_distribution(x)
    torch.testing.assert_close(dist.distribution.logits, expected)
    actions = torch.arange(6) % N_CODES
    _, log_prob, entropy = policy.evaluate_actions(x, actions)
    torch.testing.assert_close(log_prob, expected[torch.arange(6), actions])
    assert torch.all(entropy > 0)


def test_initialize_with_prior_reproduces_the_prior(tiny_prior, tmp_path):
    """Trunk + head initialised from the prior, with the prior's temperature: same distribution as the prior on the
    same frames (fix of spec §12.1.3)."""
    from goal_prior.load_prior import load_part_vpt_weights
    from sb3_vpt.policy import TRUNK_PREFIXES, VPTTrunk
    from VPT.lib.policy import MinecraftPolicy
    from highlevel_testutils import TINY_POLICY_KWARGS

    path = tmp_path / "prior.weights"
    torch.save(tiny_prior.state_dict(), path)
    torch.manual_seed(7)
    trunk = VPTTrunk(MinecraftPolicy(**TINY_POLICY_KWARGS))
    load_part_vpt_weights(trunk, path, prefixes=TRUNK_PREFIXES)
    policy = VPTHeadPolicy(OBS, spaces.Discrete(N_CODES), lambda _: 1e-4, temperature=tiny_prior.temperature)
    policy.copy_head_from(tiny_prior)
    env = StandInEnv()
    frames = [env.reset()[0]["pov"]] + [env.step(0)[0]["pov"] for _ in range(4)]
    img = torch.from_numpy(np.stack(frames))[None]
    first = torch.tensor([[True, False, False, False, False]])
    with torch.no_grad():
        (pd, _, _), _ = tiny_prior({"img": img}, first, tiny_prior.initial_state(1))
        feats, _ = trunk(img, first, trunk.initial_state(1))
        logp = policy.action_log_probs(feats[0])
    torch.testing.assert_close(logp, pd[0, :, 0], atol=1e-5, rtol=1e-5)
    # upstream's temperature 1.0 would not reproduce it
    other = VPTHeadPolicy(OBS, spaces.Discrete(N_CODES), lambda _: 1e-4, temperature=1.0)
    with pytest.raises(ValueError, match="temperature"):
        other.copy_head_from(tiny_prior)


def test_trunk_is_frozen(tiny_trunk):
    assert not any(p.requires_grad for p in tiny_trunk.parameters())
    tiny_trunk.train()
    assert not tiny_trunk.training
    assert not hasattr(tiny_trunk.net, "lastlayer") and not hasattr(tiny_trunk.net, "final_ln")


def test_gaussian_head_for_continuous_goals():
    policy = VPTHeadPolicy(OBS, spaces.Box(-10, 10, (5,), np.float32), lambda _: 1e-4)
    x = torch.randn(3, HID)
    actions, values, log_prob = policy(x)
    assert actions.shape == (3, 5) and log_prob.shape == (3,)
    pd = policy.action_net(policy.mlp_extractor.forward_actor(x))
    torch.testing.assert_close(log_prob, policy.action_net.logprob(actions, pd))
    with pytest.raises(TypeError):
        policy.action_log_probs(x)
