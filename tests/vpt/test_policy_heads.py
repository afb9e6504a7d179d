"""Action spaces by configuration (Discrete(n) for Crafter/codebooks, Box(d) Gaussian, MineRL dict), any image size,
the conditioning extension point (goal conditioning itself: tests/steve1/test_conditional_policy.py), and clear
errors for bad configs/inputs."""
import math

import pytest
import torch
from gymnasium import spaces
from torch.distributions import Categorical, Normal, kl_divergence

from VPT.lib.action_head import make_action_head
from VPT.lib.policy import MinecraftAgentPolicy
from float_tolerance import assert_reordered_close


def crafter_frames(b, t, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (b, t, 64, 64, 3), dtype=torch.uint8, generator=g)


def test_discrete_head_on_64x64_crafter_frames(tiny_policy_factory):
    policy = tiny_policy_factory(spaces.Discrete(17), img_shape=[64, 64, 3], temperature=2.0)
    keys = [k for k in policy.state_dict() if k.startswith("pi_head.")]
    assert keys == ["pi_head.linear_layer.weight", "pi_head.linear_layer.bias"]
    first = torch.zeros(2, 3, dtype=torch.bool)
    with torch.no_grad():
        (pd, vpred, _), _ = policy({"img": crafter_frames(2, 3)}, first, policy.initial_state(2))
        (latent, _), _ = policy.net({"img": crafter_frames(2, 3)}, policy.initial_state(2), {"first": first})
    assert pd.shape == (2, 3, 1, 17) and pd.dtype == torch.float32 and vpred.shape == (2, 3, 1)
    assert torch.allclose(pd.exp().sum(-1), torch.ones(2, 3, 1), atol=1e-5)
    expected = torch.log_softmax(policy.pi_head.linear_layer(latent) / 2.0, dim=-1)[:, :, None]
    assert torch.allclose(pd, expected, atol=1e-5)  # the temperature divides the logits

    action, state, result = policy.act({"img": crafter_frames(2, 1)[:, 0]}, torch.zeros(2, dtype=torch.bool),
                                       policy.initial_state(2), return_pd=True)
    assert action.shape == (2, 1) and action.dtype == torch.int64 and 0 <= action.min() and action.max() < 17
    assert result["log_prob"].shape == (2,) and result["vpred"].shape == (2, 1)
    picked = result["pd"].gather(-1, action[:, :, None])[:, 0, 0]
    assert torch.allclose(result["log_prob"], picked)
    # KL and entropy against torch.distributions
    head = policy.pi_head
    q, p = pd[:, :, 0], pd.flip(0)[:, :, 0]
    assert torch.allclose(head.kl_divergence(pd, pd.flip(0))[..., 0], kl_divergence(Categorical(logits=q), Categorical(logits=p)), atol=1e-5)
    assert torch.allclose(head.entropy(pd), Categorical(logits=q).entropy(), atol=1e-5)


def test_gumbel_sampling_follows_the_distribution():
    head = make_action_head(spaces.Discrete(3), 4)
    pd = torch.log(torch.tensor([0.6, 0.3, 0.1]))[None, None, None].expand(4000, 1, 1, 3)
    torch.manual_seed(0)
    counts = torch.bincount(head.sample(pd).flatten(), minlength=3).float() / 4000
    assert torch.allclose(counts, torch.tensor([0.6, 0.3, 0.1]), atol=0.03)
    assert torch.equal(head.sample(pd, deterministic=True), torch.zeros(4000, 1, 1, dtype=torch.long))


def test_box_action_space_gaussian_head(tiny_policy_factory):
    policy = tiny_policy_factory(spaces.Box(-10, 10, (4,)), temperature=1.0)
    assert {k for k in policy.state_dict() if k.startswith("pi_head.")} == {
        "pi_head.log_std", "pi_head.linear_layer.weight", "pi_head.linear_layer.bias"}
    with torch.no_grad():
        policy.pi_head.log_std.copy_(torch.tensor([0.1, -0.2, 0.3, 0.0]))
    img = torch.randint(0, 256, (3, 16, 16, 3), dtype=torch.uint8)
    action, _, result = policy.act({"img": img}, torch.zeros(3, dtype=torch.bool), policy.initial_state(3), return_pd=True)
    pd = result["pd"]
    assert action.shape == (3, 4) and pd.shape == (3, 4, 2)
    normal = Normal(pd[..., 0], pd[..., 1].exp())
    assert torch.allclose(result["log_prob"], normal.log_prob(action).sum(-1), atol=1e-5)
    other = torch.stack([pd[..., 0] + 0.5, pd[..., 1] - 0.1], dim=-1)
    ours = policy.pi_head.kl_divergence(pd, other)[..., 0]
    ref = kl_divergence(normal, Normal(other[..., 0], other[..., 1].exp())).sum(-1)
    assert torch.allclose(ours, ref, atol=1e-5)
    assert torch.allclose(policy.pi_head.entropy(pd), normal.entropy().sum(-1), atol=1e-5)
    deterministic, _, _ = policy.act({"img": img}, torch.zeros(3, dtype=torch.bool), policy.initial_state(3), stochastic=False, return_pd=True)
    assert torch.allclose(deterministic, pd[..., 0])


def test_conditioning_extension_point(tiny_policy_factory, extended_policy_class):
    plain = tiny_policy_factory(spaces.Discrete(5))
    ext = tiny_policy_factory(spaces.Discrete(5), policy_class=extended_policy_class, extra_dim=3)
    plain_keys, ext_keys = list(plain.state_dict()), list(ext.state_dict())
    # the extension's module comes right after VPT's net modules, before the heads (STEVE-1's key order)
    n_net = sum(k.startswith("net.") for k in plain_keys)
    assert ext_keys == plain_keys[:n_net] + ["net.extra_linear.weight", "net.extra_linear.bias"] + plain_keys[n_net:]
    ext.load_state_dict(plain.state_dict(), strict=False)
    img = torch.randint(0, 256, (1, 2, 16, 16, 3), dtype=torch.uint8)
    first = torch.zeros(1, 2, dtype=torch.bool)
    extra = torch.randn(1, 2, 3)
    x = torch.randn(1, 2, 16)
    assert plain.net.condition(x, {"img": img}, first) is x  # VPT itself is unconditioned
    with torch.no_grad():
        (pd_plain, v_plain, _), _ = plain({"img": img}, first, plain.initial_state(1))
        (pd_cond, _, _), _ = ext({"img": img, "extra": extra}, first, ext.initial_state(1))
        ext.net.extra_linear.weight.zero_()
        ext.net.extra_linear.bias.zero_()
        (pd_zero, v_zero, _), _ = ext({"img": img, "extra": extra}, first, ext.initial_state(1))
    # a zero projection adds exact zeros: bit-for-bit the plain policy; a non-zero one changes the output
    assert torch.equal(pd_zero, pd_plain) and torch.equal(v_zero, v_plain)
    assert not torch.allclose(pd_cond, pd_plain, atol=1e-4)
    with pytest.raises(TypeError, match="extra_dim"):
        tiny_policy_factory(spaces.Discrete(5), extra_dim=3)  # plain VPT takes no extension arguments


def test_bad_config_and_inputs_raise(tiny_kwargs, tiny_policy_factory):
    with pytest.raises(TypeError, match="hidsizee"):
        MinecraftAgentPolicy(spaces.Discrete(3), tiny_kwargs(hidsizee=3), {})
    with pytest.raises(ValueError, match="lstm"):
        MinecraftAgentPolicy(spaces.Discrete(3), tiny_kwargs(recurrence_type="multi_layer_lstm"), {})
    with pytest.raises(ValueError, match="timesteps"):
        MinecraftAgentPolicy(spaces.Discrete(3), tiny_kwargs(attention_memory_size=4), {})
    with pytest.raises(TypeError, match="MultiDiscrete"):
        MinecraftAgentPolicy(spaces.MultiDiscrete([2, 3]), tiny_kwargs(), {})
    policy = tiny_policy_factory(spaces.Discrete(3))
    with pytest.raises(ValueError, match="img_shape"):
        policy({"img": torch.zeros(1, 1, 32, 32, 3, dtype=torch.uint8)}, torch.zeros(1, 1, dtype=torch.bool),
               policy.initial_state(1))


def test_minerl_dict_space_sums_heads():
    space = spaces.Dict({"camera": spaces.Discrete(121), "buttons": spaces.Discrete(8641)})
    assert list(space) == ["buttons", "camera"]  # gymnasium sorts plain dicts: state-dict order follows the space
    head = make_action_head(space, 8, temperature=2.0)
    latent = torch.randn(2, 3, 8)
    pd = head(latent)
    action = head.sample(pd)
    total = head.logprob(action, pd)
    parts = sum(head[k].logprob(action[k], pd[k]) for k in ("camera", "buttons"))
    assert total.shape == (2, 3) and torch.allclose(total, parts)
    assert head.kl_divergence(pd, pd).shape == (2, 3, 1)
    assert math.isclose(head["buttons"].temperature, 2.0)


def test_cnn_frames_per_pass_does_not_change_results(tiny_policy_factory):
    policy = tiny_policy_factory(spaces.Discrete(5))
    img = torch.randint(0, 256, (2, 5, 16, 16, 3), dtype=torch.uint8)
    cnn = policy.net.img_process.cnn
    with torch.no_grad():
        cnn.frames_per_pass = 3  # 10 frames in passes of 3, 3, 3, 1
        split = policy.net.img_process(policy.net.img_preprocess(img))
        cnn.frames_per_pass = 64
        whole = policy.net.img_process(policy.net.img_preprocess(img))
    assert split.shape == (2, 5, 16)
    # passes of 3 vs one pass of 10 frames: other conv kernels, the same sums reordered (tests/float_tolerance.py):
    # 3x3 convs over at most 8 channels (72 terms), 15 convs and 2 dense layers deep
    assert_reordered_close(split, whole, reduction=72, depth=17)


def test_get_logprob_of_action_refuses_chunk_pds(tiny_policy_factory):
    """A [B, T>1, ...] pd would broadcast against [B, 1] actions and score rows under the wrong distribution."""
    policy = tiny_policy_factory(spaces.Discrete(17), img_shape=[64, 64, 3], temperature=2.0)
    with torch.no_grad():
        (pd, _, _), _ = policy({"img": crafter_frames(2, 3)}, torch.zeros(2, 3, dtype=torch.bool), policy.initial_state(2))
    actions = torch.tensor([[3, 4, 5], [6, 7, 8]])[..., None]  # [B, T, 1]
    with pytest.raises(ValueError, match="single-step pd"):
        policy.get_logprob_of_action(pd, actions)
    chunk = policy.pi_head.logprob(actions, pd)  # the chunk path gives every row its own distribution
    assert torch.allclose(chunk, pd[..., 0, :].gather(-1, actions)[..., 0])
    single = policy.get_logprob_of_action(pd[:, :1], actions[:, 0])
    assert torch.allclose(single, chunk[:, 0])
