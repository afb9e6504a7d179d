"""STEVE-1 conditional policy: the goal input on VPT's extension point, goldens of the official code (fixtures
README §2, §4), batched classifier-free guidance, strict weight loading and the STEVE-1/VPT mix-up messages
(spec §5, §12.1.12)."""
import json

import numpy as np
import pytest
import torch
import yaml
from gymnasium import spaces

from float_tolerance import assert_reordered_close, value_term_scale
from VPT.lib import loading as vpt_loading
from VPT.lib.action_mapping import CameraHierarchicalMapping
from VPT.lib.loading import WeightsLoadError, load_policy_weights
from VPT.lib.policy import MinecraftAgentPolicy
from steve1.embed_conditioned_policy import (GOAL_KEY_PREFIX, GoalConditionedAgentPolicy,
                                             GoalConditionedMinecraftPolicy, explain_goal_weights_mismatch,
                                             load_model_config)
from steve1.MineRLConditionalAgent import (MineRLConditionalAgent, build_conditional_policy,
                                           load_conditional_policy_weights)

TINY_KWARGS = dict(attention_heads=2, attention_mask_style="clipped_causal", attention_memory_size=12, hidsize=32,
                   img_shape=[16, 16, 3], impala_chans=[4, 8, 8], impala_kwargs={"post_pool_groups": 1},
                   impala_width=1, init_norm_kwargs={"batch_norm": False, "group_norm_groups": 1},
                   n_recurrence_layers=1, only_img_input=True, pointwise_ratio=2, pointwise_use_activation=False,
                   recurrence_is_residual=True, recurrence_type="transformer", timesteps=4, use_pointwise_layer=True,
                   use_pre_lstm_ln=False)


def state_as_dicts(state):
    return [{"mask": m, "K": k, "V": v} for m, (k, v) in state]


@pytest.fixture(scope="module")
def golden(fixtures_dir):
    return torch.load(fixtures_dir / "steve1_small_golden.pt", weights_only=True)


@pytest.fixture(scope="module")
def steve1_weights(fixtures_dir, tmp_path_factory):
    """vpt_small.weights + steve1_small_extra.weights in one file, with the single-process training prefix."""
    sd = torch.load(fixtures_dir / "vpt_small.weights", weights_only=True)
    sd.update(torch.load(fixtures_dir / "steve1_small_extra.weights", weights_only=True))
    path = tmp_path_factory.mktemp("w") / "steve1_small.weights"
    torch.save({"policy." + k: v for k, v in sd.items()}, path)
    return path


@pytest.fixture(scope="module")
def agent(fixtures_dir, steve1_weights):
    policy_kwargs, pi_head_kwargs = load_model_config(fixtures_dir / "vpt_small.model")
    agent = MineRLConditionalAgent(None, "cpu", policy_kwargs, pi_head_kwargs)
    agent.load_weights(steve1_weights)
    return agent


def test_sequence_golden(agent, golden):
    seq = golden["sequence"]
    inp = seq["inputs"]
    policy = agent.policy
    with torch.no_grad():
        (pd, vpred, _), state = policy({"img": inp["img"], "mineclip_embed": inp["mineclip_embed"]}, inp["first"],
                                       policy.initial_state(2))
    assert (pd["buttons"] - seq["buttons_logprobs"]).abs().max() <= 1e-3
    assert (pd["camera"] - seq["camera_logprobs"]).abs().max() <= 1e-3
    assert (policy.value_head.denormalize(vpred) - seq["value"]).abs().max() <= 1e-3
    for ours, ref in zip(state_as_dicts(state), seq["state_out"]):
        assert torch.equal(ours["mask"], ref["mask"])
        assert (ours["K"] - ref["K"]).abs().max() <= 1e-3


def test_cfg_stepping_golden(agent, golden):
    cfg = golden["cfg_stepping"]
    inp = cfg["inputs"]
    policy = agent.policy
    state = policy.initial_state(cfg["initial_state_batch"])
    for t, ref in enumerate(cfg["steps"]):
        action, state, result = policy.act({"img": inp["img"][t], "mineclip_embed": inp["mineclip_embed"]},
                                           inp["first"][t], state, stochastic=False, return_pd=True,
                                           cond_scale=cfg["cond_scale"])
        assert (result["pd"]["buttons"] - ref["buttons_logprobs_cfg"]).abs().max() <= 3e-3
        assert (result["pd"]["camera"] - ref["camera_logprobs_cfg"]).abs().max() <= 3e-3
        assert torch.equal(action["buttons"], ref["action_buttons"])
        assert torch.equal(action["camera"], ref["action_camera"])
        assert result["vpred"].shape == (2, 1) and (result["vpred"] - ref["value"]).abs().max() <= 3e-3
        assert state[0][1][0].shape[0] == 2
    # guided log-probs are not renormalised (fixtures §4)
    assert abs(result["pd"]["buttons"].exp().sum().item() - 1.0) > 1e-3


def test_plain_vpt_weights_are_refused_with_a_clear_error(agent, fixtures_dir):
    with pytest.raises(WeightsLoadError, match="plain VPT weights"):
        agent.load_weights(fixtures_dir / "vpt_small.weights")


def test_bc_from_vpt_loads_every_vpt_tensor_and_keeps_goal_linear(fixtures_dir):
    policy = build_conditional_policy(fixtures_dir / "vpt_small.model")
    init = {k: v.clone() for k, v in policy.state_dict().items()}
    info = load_conditional_policy_weights(policy, fixtures_dir / "vpt_small.weights", allow_missing_goal_linear=True)
    assert "left at initialisation" in info
    vpt = torch.load(fixtures_dir / "vpt_small.weights", weights_only=True)
    for key, value in policy.state_dict().items():
        if key.startswith("net.mineclip_embed_linear."):
            assert torch.equal(value, init[key])
        else:
            assert torch.equal(value, vpt[key]), key


def test_module_policy_prefix_and_mismatched_files(fixtures_dir, steve1_weights, tmp_path):
    sd = torch.load(steve1_weights, weights_only=True)
    path = tmp_path / "ddp.weights"
    torch.save({"module." + k: v for k, v in sd.items()}, path)
    policy = build_conditional_policy(fixtures_dir / "vpt_small.model")
    assert "strictly" in load_conditional_policy_weights(policy, path)
    # a goal projection of another size is a shape mismatch, not a silent partial load
    other = build_conditional_policy(fixtures_dir / "vpt_small.model", goal_dim=64)
    with pytest.raises(WeightsLoadError):
        load_conditional_policy_weights(other, path)


def _tiny_policy(action_space, seed=0):
    torch.manual_seed(seed)
    policy = GoalConditionedAgentPolicy(action_space, TINY_KWARGS, {"temperature": 2.0}, goal_dim=8)
    with torch.no_grad():  # make the heads non-flat so argmax comparisons mean something
        for p in policy.pi_head.parameters():
            p.normal_(0, 0.5)
    return policy.eval()


@pytest.mark.parametrize("space", [spaces.Discrete(17),
                                   spaces.Dict({"camera": spaces.Discrete(121), "buttons": spaces.Discrete(50)})])
def test_batched_cfg_equals_batch_one_runs(space):
    policy = _tiny_policy(space)
    B, steps = 3, 7
    gen = torch.Generator().manual_seed(1)
    img = torch.randint(0, 256, (steps, B, 16, 16, 3), dtype=torch.uint8, generator=gen)
    goal = torch.randn(B, 8, generator=gen)
    first = torch.zeros(steps, B, dtype=torch.bool)
    first[0] = True
    first[4, 1] = True  # sequence 1 starts a new episode mid-way
    state = policy.initial_state(2 * B)
    batched = []
    for t in range(steps):
        action, state, res = policy.act({"img": img[t], "mineclip_embed": goal}, first[t], state,
                                        stochastic=False, return_pd=True, cond_scale=6.0)
        batched.append((action, res, state))
    # Batch 3 vs batch 1 runs: other kernels, the same sums reordered. Tolerances (tests/float_tolerance.py): the
    # longest sum is a 3x3 conv over 8 channels (72 terms); the heads sit 25 reductions deep (15 convs, 2 dense,
    # attention 4, pointwise 2, last layer, head); guidance with cond_scale 6 amplifies errors up to 1 + 2 * 6.
    K, DEPTH, CFG_GAIN = 72, 25, 1 + 2 * 6.0
    for i in range(B):
        s1 = policy.initial_state(2)
        for t in range(steps):
            action, s1, res = policy.act({"img": img[t, i:i + 1], "mineclip_embed": goal[i:i + 1]}, first[t, i:i + 1],
                                         s1, stochastic=False, return_pd=True, cond_scale=6.0)
            b_action, b_res, b_state = batched[t]
            if isinstance(action, dict):
                for k in action:
                    assert torch.equal(action[k], b_action[k][i:i + 1])
                    assert_reordered_close(res["pd"][k], b_res["pd"][k][i:i + 1], K, DEPTH, CFG_GAIN, f"pd[{k}] t={t}")
            else:
                assert torch.equal(action, b_action[i:i + 1])
                assert_reordered_close(res["pd"], b_res["pd"][i:i + 1], K, DEPTH, CFG_GAIN, f"pd t={t}")
            assert_reordered_close(res["log_prob"], b_res["log_prob"][i:i + 1], K, DEPTH, CFG_GAIN, f"log_prob t={t}")
            # the value and the keys come before guidance; row layout [cond_0..cond_{B-1}; uncond_0..uncond_{B-1}];
            # the keys of the one transformer layer sit 18 reductions deep (convs, dense, qkv)
            assert_reordered_close(res["vpred"], b_res["vpred"][[i, B + i]], K, DEPTH, msg=f"vpred t={t}",
                                   scale=value_term_scale(policy))
            assert_reordered_close(s1[0][1][0], b_state[0][1][0][[i, B + i]], K, 18, msg=f"keys t={t}")


def test_cfg_combination_and_argument_checks():
    policy = _tiny_policy(spaces.Discrete(17))
    img = torch.randint(0, 256, (2, 16, 16, 3), dtype=torch.uint8)
    goal = torch.randn(2, 8)
    first = torch.ones(2, dtype=torch.bool)
    _, _, guided = policy.act({"img": img, "mineclip_embed": goal}, first, policy.initial_state(4),
                              stochastic=False, return_pd=True, cond_scale=2.5)
    _, _, cond = policy.act({"img": img, "mineclip_embed": goal}, first, policy.initial_state(2),
                            stochastic=False, return_pd=True)
    _, _, uncond = policy.act({"img": img, "mineclip_embed": torch.zeros_like(goal)}, first,
                              policy.initial_state(2), stochastic=False, return_pd=True)
    # one doubled batch vs two batches of 2: reordered sums (see test_batched_cfg_equals_batch_one_runs) on the
    # scale of the unguided log-probs, amplified by the guidance (1 + 2 * 2.5)
    scale = max(float(cond["pd"].abs().max()), float(uncond["pd"].abs().max()))
    assert_reordered_close(guided["pd"], 3.5 * cond["pd"] - 2.5 * uncond["pd"], 72, 25, 1 + 2 * 2.5, scale=scale)
    with pytest.raises(ValueError, match="2B = 4 rows"):
        policy.act({"img": img, "mineclip_embed": goal}, first, policy.initial_state(2), cond_scale=1.0)
    with pytest.raises(ValueError, match=r"mineclip_embed'\] must be float \[B, 8\]"):
        policy.act({"img": img, "mineclip_embed": goal[0]}, first, policy.initial_state(4), cond_scale=1.0)


def test_agent_get_action_minerl(agent):
    frame = np.random.default_rng(0).integers(0, 256, (360, 640, 3), dtype=np.uint8)
    goal = np.random.default_rng(1).normal(size=(1, 512)).astype(np.float32)
    agent.reset(cond_scale=6.0)
    assert agent.hidden_state[0][1][0].shape[0] == 2
    for _ in range(3):
        action = agent.get_action({"pov": frame}, goal)
    assert action["camera"].shape == (1, 2) and "attack" in action
    with pytest.raises(ValueError, match=r"\(1, 512\)"):
        agent.get_action({"pov": frame}, goal[0])
    agent.reset(None)
    assert agent.hidden_state[0][1][0].shape[0] == 1
    agent.get_action({"pov": frame}, goal)


def test_make_agent_and_text_prompt_goal(fixtures_dir, steve1_weights):
    from steve1.data.text_alignment.vae import load_text_prior
    from steve1.utils.embed_utils import text_goal_embedding
    from steve1.utils.load_agent import make_agent

    agent = make_agent(fixtures_dir / "vpt_small.model", steve1_weights, cond_scale=7.0, device="cpu")
    assert agent.cond_scale == 7.0 and agent.hidden_state[0][1][0].shape[0] == 2

    class FakeEmbedder:  # the GoalEmbedder text interface
        def encode_text(self, texts):
            gen = torch.Generator().manual_seed(len(texts))
            return torch.randn(len(texts), 512, generator=gen)

    prior = load_text_prior(fixtures_dir / "steve1_prior_small.pt")
    goals = text_goal_embedding(["chop a tree", "dig"], FakeEmbedder(), prior=prior)
    expected = prior(FakeEmbedder().encode_text(["a", "b"]), deterministic=True).detach().numpy()
    assert goals.shape == (2, 512) and goals.dtype == np.float32
    np.testing.assert_allclose(goals, expected, atol=1e-6)
    goal = text_goal_embedding("chop a tree", FakeEmbedder())
    assert goal.shape == (1, 512)
    agent.get_action({"pov": np.zeros((128, 128, 3), np.uint8)}, goal)


# ---- the goal input on VPT's extension point, and the STEVE-1 weight layout ------------------------------------


def minerl_action_space():
    return CameraHierarchicalMapping(n_camera_bins=11).get_action_space_update()


def test_goal_conditioned_manifest_matches_steve1(fixtures_dir):
    manifest = json.loads((fixtures_dir / "steve1_2x_manifest.json").read_text())
    with torch.device("meta"):
        policy = GoalConditionedAgentPolicy(minerl_action_space(), manifest["policy_kwargs"], {"temperature": 2.0},
                                            goal_dim=512)
    ours = [(k, list(v.shape)) for k, v in policy.state_dict().items()]
    assert ours == [(k, v["shape"]) for k, v in manifest["state_dict"].items()]


def test_goal_is_added_to_the_image_embedding():
    policy = _tiny_policy(spaces.Discrete(5))
    assert isinstance(policy.net, GoalConditionedMinecraftPolicy) and policy.net.goal_dim == 8
    keys = list(policy.state_dict())
    n_net = sum(k.startswith("net.") for k in keys)
    assert keys[n_net - 2:n_net] == ["net.mineclip_embed_linear.weight", "net.mineclip_embed_linear.bias"]
    img = torch.randint(0, 256, (1, 2, 16, 16, 3), dtype=torch.uint8)
    first = torch.zeros(1, 2, dtype=torch.bool)
    goal = torch.randn(1, 2, 8)
    with torch.no_grad():
        (pd_goal, _, _), _ = policy({"img": img, "mineclip_embed": goal}, first, policy.initial_state(1))
        (pd_zero, _, _), _ = policy({"img": img, "mineclip_embed": torch.zeros(1, 2, 8)}, first, policy.initial_state(1))
        # the goal is added to the image embedding: zeroing the projection's weight makes the goal irrelevant
        policy.net.mineclip_embed_linear.weight.zero_()
        (pd_nogoal_w, _, _), _ = policy({"img": img, "mineclip_embed": goal}, first, policy.initial_state(1))
    assert not torch.allclose(pd_goal, pd_zero, atol=1e-4)
    assert torch.equal(pd_nogoal_w, pd_zero)  # the same goal term, bias + 0, in both: bit-for-bit
    with pytest.raises(ValueError, match=r"ob\['mineclip_embed'\] must be float \[B, T, 8\] = \[1, 2, 8\], got nothing"):
        policy({"img": img}, first, policy.initial_state(1))
    with pytest.raises(ValueError, match="contradicts"):
        GoalConditionedAgentPolicy(spaces.Discrete(5), {**TINY_KWARGS, "goal_dim": 4}, {}, goal_dim=8)
    with pytest.raises(ValueError, match="goal_dim must be >= 1"):
        GoalConditionedAgentPolicy(spaces.Discrete(5), TINY_KWARGS, {}, goal_dim=0)


def test_model_config_with_goal_dim(tmp_path):
    path = tmp_path / "tiny_goal.yaml"
    path.write_text(yaml.safe_dump({"policy_kwargs": {**TINY_KWARGS, "goal_dim": 8}}))
    with pytest.raises(ValueError, match="goal_dim"):  # VPT's reader knows nothing of goals
        vpt_loading.load_model_config(path)
    policy_kwargs, _ = load_model_config(path)
    assert policy_kwargs["goal_dim"] == 8
    assert GoalConditionedAgentPolicy(spaces.Discrete(5), policy_kwargs, {}, goal_dim=8).net.goal_dim == 8


def test_steve1_weights_into_plain_vpt_explain_themselves(tmp_path, fixtures_dir):
    merged = {**torch.load(fixtures_dir / "vpt_small.weights", weights_only=True),
              **torch.load(fixtures_dir / "steve1_small_extra.weights", weights_only=True)}
    path = tmp_path / "steve1_small.weights"
    torch.save(merged, path)
    policy_kwargs, pi_head_kwargs = load_model_config(fixtures_dir / "vpt_small.model")
    policy = MinecraftAgentPolicy(minerl_action_space(), policy_kwargs, pi_head_kwargs)
    # VPT's loader alone names the extra module ...
    with pytest.raises(WeightsLoadError) as err:
        load_policy_weights(policy, path)
    message = str(err.value)
    assert "steve1_small.weights" in message and "unexpected keys (2)" in message
    assert "whole modules this policy lacks (net.mineclip_embed_linear)" in message
    # ... and with steve1's explanation it says what they are and how to load them
    with pytest.raises(WeightsLoadError) as err:
        load_policy_weights(policy, path, explain=explain_goal_weights_mismatch)
    message = str(err.value)
    assert "net.mineclip_embed_linear.weight" in message and "unexpected keys (2)" in message
    assert "STEVE-1" in message and "MineRLConditionalAgent" in message and "GoalConditionedAgentPolicy" in message

    # they load into a goal-conditioned policy
    goal_policy = GoalConditionedAgentPolicy(minerl_action_space(), policy_kwargs, pi_head_kwargs, goal_dim=512)
    assert load_policy_weights(goal_policy, path) == ([], [])
    assert torch.equal(goal_policy.net.mineclip_embed_linear.bias, merged[GOAL_KEY_PREFIX + "bias"])


def test_plain_vpt_weights_into_goal_conditioned_policy(fixtures_dir):
    policy_kwargs, pi_head_kwargs = load_model_config(fixtures_dir / "vpt_small.model")
    goal_policy = GoalConditionedAgentPolicy(minerl_action_space(), policy_kwargs, pi_head_kwargs, goal_dim=512)
    # the policy's explain_weights_mismatch gives the STEVE-1 cause through VPT's loader
    with pytest.raises(WeightsLoadError, match="(?s)vpt_small.weights.*plain VPT weights.*strict=False"):
        load_policy_weights(goal_policy, fixtures_dir / "vpt_small.weights")
    missing, unexpected = load_policy_weights(goal_policy, fixtures_dir / "vpt_small.weights", strict=False)
    assert missing == ["net.mineclip_embed_linear.weight", "net.mineclip_embed_linear.bias"] and unexpected == []
    reference = torch.load(fixtures_dir / "vpt_small.weights", weights_only=True)
    assert torch.equal(goal_policy.net.final_ln.weight, reference["net.final_ln.weight"])
