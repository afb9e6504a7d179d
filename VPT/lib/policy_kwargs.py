"""The names a VPT ``policy_kwargs`` dict may hold (spec §4.1): the arguments of
:class:`VPT.lib.policy.MinecraftPolicy`.

Its own module so that the config reader (:mod:`VPT.lib.loading`) and the model (:mod:`VPT.lib.policy`) share one
list without importing each other. A policy that extends the network with more arguments (a subclass used through
``MinecraftAgentPolicy.net_class``) passes its extra names to ``load_model_config(path, extra_keys=...)``.
"""
from __future__ import annotations

__all__ = ["POLICY_KWARGS_KEYS"]

#: Every key of an official ``.model``'s ``['model']['args']['net']['args']`` that ``MinecraftPolicy`` accepts,
#: plus ``frames_per_pass`` (an execution detail of the image encoder).
POLICY_KWARGS_KEYS = frozenset(
    {
        "recurrence_type",
        "impala_width",
        "impala_chans",
        "obs_processing_width",
        "hidsize",
        "single_output",
        "img_shape",
        "scale_input_img",
        "only_img_input",
        "init_norm_kwargs",
        "impala_kwargs",
        "input_shape",
        "active_reward_monitors",
        "img_statistics",
        "first_conv_norm",
        "diff_mlp_embedding",
        "attention_mask_style",
        "attention_heads",
        "attention_memory_size",
        "use_pointwise_layer",
        "pointwise_ratio",
        "pointwise_use_activation",
        "n_recurrence_layers",
        "recurrence_is_residual",
        "timesteps",
        "use_pre_lstm_ln",
        "frames_per_pass",
    }
)
