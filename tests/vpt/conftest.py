"""Shared helpers for the VPT tests: a tiny randomly-initialised policy config (seconds on one thread), and a
conditioned policy written the way an extension writes one (``condition`` + ``net_class``)."""
import pytest
import torch
from torch import nn

from VPT.lib.policy import MinecraftAgentPolicy, MinecraftPolicy


class ExtendedNet(MinecraftPolicy):
    """A conditioned VPT net: an extra input ``ob["extra"]`` float ``[B, T, extra_dim]``, projected by
    ``extra_linear`` (registered after VPT's modules) and added to the image embedding."""

    def __init__(self, extra_dim, **policy_kwargs):
        super().__init__(**policy_kwargs)
        self.extra_linear = nn.Linear(extra_dim, self.hidsize)

    def condition(self, x, ob, first):
        return x + self.extra_linear(ob["extra"])


class ExtendedPolicy(MinecraftAgentPolicy):
    net_class = ExtendedNet


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


def make_tiny_policy(action_space, seed=0, temperature=2.0, policy_class=MinecraftAgentPolicy, **overrides):
    """Tiny policy (``policy_class``) in eval mode with every parameter perturbed, so that biases/LayerNorms are not
    at their init."""
    torch.manual_seed(seed)
    policy = policy_class(action_space, tiny_policy_kwargs(**overrides), {"temperature": temperature})
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
    """``make_tiny_policy(action_space, seed=0, temperature=2.0, policy_class=MinecraftAgentPolicy,
    **policy_kwargs_overrides)``."""
    return make_tiny_policy


@pytest.fixture
def tiny_kwargs():
    """``tiny_policy_kwargs(**overrides)``."""
    return tiny_policy_kwargs


@pytest.fixture
def extended_policy_class():
    """:class:`ExtendedPolicy` (its net takes ``extra_dim`` and reads ``ob["extra"]``)."""
    return ExtendedPolicy
