"""Shared helpers for the VPT tests: a tiny randomly-initialised policy config (seconds on one thread)."""
import pytest
import torch

from VPT.lib.policy import MinecraftAgentPolicy


def tiny_policy_kwargs(**overrides):
    """A VPT-shaped config small enough for unit tests: width 1 CNN on 16x16 frames, 2 blocks, memory of 6."""
    kwargs = dict(
        attention_heads=2,
        attention_mask_style="clipped_causal",
        attention_memory_size=10,
        hidsize=16,
        img_shape=[16, 16, 3],
        impala_chans=[4, 8, 8],
        impala_kwargs={"post_pool_groups": 1},
        impala_width=1,
        init_norm_kwargs={"batch_norm": False, "group_norm_groups": 1},
        n_recurrence_layers=2,
        pointwise_ratio=4,
        recurrence_type="transformer",
        timesteps=4,
        use_pre_lstm_ln=False,
    )
    kwargs.update(overrides)
    return kwargs


def make_tiny_policy(action_space, seed=0, temperature=2.0, **overrides):
    """Tiny policy in eval mode with every parameter perturbed, so that biases/LayerNorms are not at their init."""
    torch.manual_seed(seed)
    policy = MinecraftAgentPolicy(action_space, tiny_policy_kwargs(**overrides), {"temperature": temperature})
    with torch.no_grad():
        for p in policy.parameters():
            if p.dtype.is_floating_point:
                p.add_(0.3 * torch.randn_like(p))
        policy.value_head.normalizer.debiasing_term.fill_(0.9)
        policy.value_head.normalizer.running_mean.fill_(0.45)
        policy.value_head.normalizer.running_mean_sq.fill_(1.8)
    return policy.eval()


@pytest.fixture
def tiny_policy_factory():
    """``make_tiny_policy(action_space, seed=0, temperature=2.0, **policy_kwargs_overrides)``."""
    return make_tiny_policy


@pytest.fixture
def tiny_kwargs():
    """``tiny_policy_kwargs(**overrides)``."""
    return tiny_policy_kwargs
