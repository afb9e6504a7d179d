"""MineRLAgent: official API (load_weights/reset/get_action and the conversion helpers) on the small golden model."""
import numpy as np
import pytest
import torch

from VPT.agent import POLICY_KWARGS, MineRLAgent
from VPT.lib.loading import WeightsLoadError, load_model_config


@pytest.fixture(scope="module")
def agent(fixtures_dir):
    policy_kwargs, pi_head_kwargs = load_model_config(fixtures_dir / "vpt_small.model")
    agent = MineRLAgent(env=None, device=None, policy_kwargs=policy_kwargs, pi_head_kwargs=pi_head_kwargs)
    agent.load_weights(fixtures_dir / "vpt_small.weights")
    return agent


def test_env_obs_to_agent_matches_official_resize(agent, fixtures_dir):
    golden = torch.load(fixtures_dir / "resize_golden.pt", weights_only=True)
    agent_input = agent._env_obs_to_agent({"pov": golden["pov_360x640"].numpy()})
    assert agent_input["img"].dtype == torch.uint8 and agent_input["img"].shape == (1, 128, 128, 3)
    assert (agent_input["img"].int() - golden["agent_img_1x128x128x3"].int()).abs().max() <= 1
    with pytest.raises(KeyError, match="pov"):
        agent._env_obs_to_agent({"rgb": golden["pov_360x640"].numpy()})


def test_get_action_is_policy_act_on_the_resized_frame(agent):
    rng = np.random.default_rng(0)
    povs = [rng.integers(0, 256, (360, 640, 3), dtype=np.uint8) for _ in range(3)]
    agent.reset()
    torch.manual_seed(123)
    actions = [agent.get_action({"pov": pov}) for pov in povs]
    state_after = agent.hidden_state

    state = agent.policy.initial_state(1)
    torch.manual_seed(123)
    for pov, action in zip(povs, actions):
        agent_action, state, _ = agent.policy.act(
            agent._env_obs_to_agent({"pov": pov}), torch.zeros(1, dtype=torch.bool), state, stochastic=True
        )
        expected = agent._agent_action_to_env(agent_action)
        assert list(action) == list(expected) and list(action)[-1] == "camera" and len(action) == 21
        for key in action:
            np.testing.assert_array_equal(action[key], expected[key])
        assert action["camera"].shape == (1, 2) and action["attack"].shape == (1,)
    for (mask_a, (k_a, _)), (mask_b, (k_b, _)) in zip(state_after, state):
        assert torch.equal(mask_a, mask_b) and torch.equal(k_a, k_b)
    # reset empties the memory
    agent.reset()
    assert all(mask is None and not k.any() for mask, (k, _) in agent.hidden_state)


def test_env_action_round_trip(agent):
    env_action = {"forward": 1, "jump": 1, "attack": 0, "camera": np.array([-1.6, 10.0])}
    joint = agent._env_action_to_agent(env_action, to_torch=True)
    assert joint["buttons"].dtype == torch.int64 and joint["buttons"].shape == (1, 1)
    back = agent._agent_action_to_env(joint)
    assert back["forward"][0] == 1 and back["jump"][0] == 1 and back["attack"][0] == 0
    np.testing.assert_allclose(back["camera"], [[-1.609, 10.0]], atol=1e-3)
    null = {"camera": np.zeros(2)}
    assert agent._env_action_to_agent(null, check_if_null=True) is None


def test_load_weights_is_strict_by_default(tmp_path, fixtures_dir, agent):
    extra = torch.load(fixtures_dir / "steve1_small_extra.weights", weights_only=True)
    weights = {**torch.load(fixtures_dir / "vpt_small.weights", weights_only=True), **extra}
    torch.save(weights, tmp_path / "steve1.weights")
    # VPT knows nothing of STEVE-1: it names the extra module and says what such weights are
    with pytest.raises(WeightsLoadError, match="(?s)whole modules this policy lacks \\(net.mineclip_embed_linear\\)"
                                               ".*extends this network.*strict=False"):
        agent.load_weights(tmp_path / "steve1.weights")
    missing, unexpected = agent.load_weights(tmp_path / "steve1.weights", strict=False)
    assert missing == [] and sorted(unexpected) == sorted(extra)


def test_default_config_is_vpt_2x():
    assert POLICY_KWARGS["hidsize"] == 2048 and POLICY_KWARGS["impala_width"] == 8
    assert MineRLAgent.__init__.__defaults__ == (None, None, None, None)
