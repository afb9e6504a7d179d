"""The VPT policy network and its agent-facing wrapper (spec §4.2-§4.5).

:class:`MinecraftPolicy` (``policy.net``) maps frames to a latent::

    img uint8 [B, T, H, W, 3] -> /255 -> ImpalaCNN -> LayerNorm/Linear/ReLU to hidsize  (img_process)
        -> condition(x, ob, first)                                                      (extension point: identity)
        -> n_recurrence_layers x ResidualRecurrentBlock (masked attention over a memory)  (recurrent_layer)
        -> ReLU -> lastlayer -> final_ln                                                 -> latent [B, T, hidsize]

:class:`MinecraftAgentPolicy` adds the action head (``pi_head``, chosen by the action space) and the value head
(``value_head``), and the official entry points ``initial_state``, ``forward``, ``act``, ``get_logprob_of_action``,
``get_kl_of_action_dists`` and ``v``.

Extension point for conditioned policies: a subclass of :class:`MinecraftPolicy` overrides
:meth:`MinecraftPolicy.condition` (it reads its extra inputs from ``ob`` and changes the image embedding before the
transformer; it may register new modules after ``super().__init__()``, so their state-dict keys come after
``net.final_ln.*``), and a subclass of :class:`MinecraftAgentPolicy` sets ``net_class`` to it. This package itself
knows nothing of what conditions a policy.

One implementation serves every setting by configuration: the MineRL action space
``Dict(camera=Discrete(121), buttons=Discrete(8641))``, any ``Discrete(n)`` (Crafter's 17 actions, a codebook of
N codes) and ``Box((d,))``; any ``img_shape`` (128x128 Minecraft frames, 64x64 Crafter frames).

Hyperparameters come from an official ``.model`` pickle or a YAML file through
:func:`VPT.lib.loading.load_model_config`; weights are loaded with :func:`VPT.lib.loading.load_policy_weights`
(both re-exported here). The model itself does no file I/O.

Where we deliberately differ from upstream: see :mod:`VPT.lib.masked_attention` (episode starts at any frame, fused
attention, preallocated memory) and :meth:`MinecraftAgentPolicy.act` (``torch.inference_mode``). Unknown
``policy_kwargs`` raise instead of being silently ignored, and unsupported official options (LSTM recurrence,
``img_statistics`` files, ``diff_mlp_embedding``) raise ``ValueError``.
"""
from __future__ import annotations

import copy
from typing import Any, Callable, List, Mapping, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from VPT.lib.action_head import ActionHead, make_action_head
from VPT.lib.impala_cnn import ImpalaCNN
from VPT.lib.loading import load_model_config, load_policy_weights
from VPT.lib.masked_attention import MaskedAttentionState
from VPT.lib.policy_kwargs import POLICY_KWARGS_KEYS
from VPT.lib.scaled_mse_head import ScaledMSEHead
from VPT.lib.util import FanInInitReLULayer, ResidualRecurrentBlocks

__all__ = [
    "ImgPreprocessing",
    "ImgObsProcess",
    "MinecraftPolicy",
    "MinecraftAgentPolicy",
    "POLICY_KWARGS_KEYS",
    "load_model_config",
    "load_policy_weights",
    "tree_map",
]

def tree_map(fn: Callable[[Any], Any], tree: Any) -> Any:
    """Apply ``fn`` to every leaf of nested dicts/lists/tuples (``None`` leaves are kept as ``None``)."""
    if isinstance(tree, Mapping):
        return {k: tree_map(fn, v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(tree_map(fn, v) for v in tree)
    if tree is None:
        return None
    return fn(tree)


class ImgPreprocessing(nn.Module):
    """uint8 (or float) pixels -> float32 scaled by ``1/255`` (``scale_img``) or unscaled."""

    def __init__(self, scale_img: bool = True):
        super().__init__()
        self.ob_scale = 255.0 if scale_img else 1.0

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return img.to(torch.float32) / self.ob_scale


class ImgObsProcess(nn.Module):
    """ImpalaCNN then ``linear`` (LayerNorm -> Linear -> ReLU) to ``output_size`` (spec §4.3)."""

    def __init__(
        self,
        cnn_outsize: int,
        output_size: int,
        dense_init_norm_kwargs: Optional[dict] = None,
        init_norm_kwargs: Optional[dict] = None,
        **cnn_kwargs,
    ):
        super().__init__()
        self.cnn = ImpalaCNN(
            outsize=cnn_outsize,
            init_norm_kwargs=init_norm_kwargs,
            dense_init_norm_kwargs=dense_init_norm_kwargs,
            **cnn_kwargs,
        )
        self.linear = FanInInitReLULayer(cnn_outsize, output_size, layer_type="linear", **(dense_init_norm_kwargs or {}))

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        """float ``[B, T, H, W, C]`` -> ``[B, T, output_size]``."""
        return self.linear(self.cnn(img))


class MinecraftPolicy(nn.Module):
    """The VPT trunk: image encoder, recurrent transformer, last layer (spec §4.2-§4.5).

    Arguments are the official ``policy_kwargs`` (``.model`` ``['model']['args']['net']['args']``). The ones that
    matter: ``hidsize``, ``img_shape`` ``(H, W, C)``, ``impala_width``, ``impala_chans``, ``impala_kwargs``
    (``post_pool_groups``), ``init_norm_kwargs``, ``n_recurrence_layers``, ``attention_heads``,
    ``attention_memory_size``, ``timesteps``, ``pointwise_ratio``, ``use_pre_lstm_ln``. ``recurrence_type`` must be
    ``"transformer"`` and ``attention_mask_style`` ``"clipped_causal"``.

    The state-dict keys are exactly the official VPT ones. Conditioning (an input besides the frames) is added by a
    subclass that overrides :meth:`condition` (module docstring).

    Args:
        frames_per_pass: see :class:`ImpalaCNN` (an execution detail, not a hyperparameter).

    Raises:
        TypeError: an unknown keyword argument.
        ValueError: an unsupported option or inconsistent sizes.
    """

    def __init__(
        self,
        recurrence_type: str = "transformer",
        impala_width: int = 1,
        impala_chans: Sequence[int] = (16, 32, 32),
        obs_processing_width: int = 256,
        hidsize: int = 512,
        single_output: bool = False,
        img_shape: Optional[Sequence[int]] = None,
        scale_input_img: bool = True,
        only_img_input: bool = False,
        init_norm_kwargs: Optional[dict] = None,
        impala_kwargs: Optional[dict] = None,
        input_shape: Any = None,
        active_reward_monitors: Any = None,
        img_statistics: Optional[str] = None,
        first_conv_norm: bool = False,
        diff_mlp_embedding: bool = False,
        attention_mask_style: str = "clipped_causal",
        attention_heads: int = 8,
        attention_memory_size: int = 2048,
        use_pointwise_layer: bool = True,
        pointwise_ratio: int = 4,
        pointwise_use_activation: bool = False,
        n_recurrence_layers: int = 1,
        recurrence_is_residual: bool = True,
        timesteps: Optional[int] = None,
        use_pre_lstm_ln: bool = True,
        frames_per_pass: int = 32,
        **unknown_kwargs,
    ):
        super().__init__()
        if unknown_kwargs:
            raise TypeError(
                f"MinecraftPolicy: unknown policy_kwargs {sorted(unknown_kwargs)}; accepted: {sorted(POLICY_KWARGS_KEYS)}"
            )
        if img_shape is None or len(img_shape) != 3:
            raise ValueError(f"MinecraftPolicy: img_shape must be [height, width, channels], got {img_shape!r}")
        if timesteps is None:
            raise ValueError("MinecraftPolicy: timesteps is required (the training chunk length, 128 for VPT)")
        if img_statistics is not None:
            raise ValueError("MinecraftPolicy: img_statistics (an .npz of pixel statistics) is not supported")
        if diff_mlp_embedding:
            raise ValueError("MinecraftPolicy: diff_mlp_embedding=True is not supported")
        self.hidsize = hidsize
        self.single_output = single_output
        self.img_shape = tuple(int(v) for v in img_shape)
        chans = tuple(int(impala_width * c) for c in impala_chans)

        # Dense layers use LayerNorm where the convs use GroupNorm/BatchNorm.
        init_norm_kwargs = dict(init_norm_kwargs or {})
        dense_init_norm_kwargs = dict(init_norm_kwargs)
        if dense_init_norm_kwargs.pop("group_norm_groups", None) is not None:
            dense_init_norm_kwargs["layer_norm"] = True
        if dense_init_norm_kwargs.pop("batch_norm", False):
            dense_init_norm_kwargs["layer_norm"] = True

        self.img_preprocess = ImgPreprocessing(scale_img=scale_input_img)
        self.img_process = ImgObsProcess(
            cnn_outsize=256,
            output_size=hidsize,
            inshape=self.img_shape,
            chans=chans,
            nblock=2,
            dense_init_norm_kwargs=dense_init_norm_kwargs,
            init_norm_kwargs=init_norm_kwargs,
            first_conv_norm=first_conv_norm,
            frames_per_pass=frames_per_pass,
            **copy.deepcopy(impala_kwargs or {}),
        )
        self.pre_lstm_ln = nn.LayerNorm(hidsize) if use_pre_lstm_ln else None
        self.recurrent_layer = ResidualRecurrentBlocks(
            hidsize=hidsize,
            timesteps=timesteps,
            recurrence_type=recurrence_type,
            is_residual=recurrence_is_residual,
            use_pointwise_layer=use_pointwise_layer,
            pointwise_ratio=pointwise_ratio,
            pointwise_use_activation=pointwise_use_activation,
            attention_mask_style=attention_mask_style,
            attention_heads=attention_heads,
            attention_memory_size=attention_memory_size,
            n_block=n_recurrence_layers,
        )
        self.lastlayer = FanInInitReLULayer(hidsize, hidsize, layer_type="linear", **dense_init_norm_kwargs)
        self.final_ln = nn.LayerNorm(hidsize)

    def output_latent_size(self) -> int:
        return self.hidsize

    def initial_state(self, batch_size: int, device=None) -> List[MaskedAttentionState]:
        """Empty memory for ``batch_size`` sequences: a list over blocks of ``(None, (K, V))``, K/V zeros
        ``[B, maxlen, hidsize]`` float32 on ``device`` (default: the parameters' device)."""
        if device is None:
            device = self.final_ln.weight.device
        return self.recurrent_layer.initial_state(batch_size, device=device)

    def encode_images(self, img: torch.Tensor) -> torch.Tensor:
        """The image encoder (preprocessing, ImpalaCNN, dense layer): uint8 ``[B, T, H, W, 3]`` -> float
        ``[B, T, hidsize]``, the input of :meth:`condition` and then of the transformer."""
        return self.img_process(self.img_preprocess(img))

    def condition(self, x: torch.Tensor, ob: Mapping[str, torch.Tensor], first: torch.Tensor) -> torch.Tensor:
        """Extension point: change the image embedding with the other inputs of ``ob`` before the transformer.

        VPT is unconditioned: ``x`` is returned as is. A conditioned subclass returns a tensor of the same shape
        (e.g. ``x`` plus a projection of an extra ``ob`` entry) and raises ``ValueError`` on missing or mis-shaped
        inputs.

        Args:
            x: float ``[B, T, hidsize]``, the image embedding (:meth:`encode_images`).
            ob: the observation dict given to :meth:`forward` (``"img"`` or ``"img_features"`` plus any extra entries).
            first: bool ``[B, T]``, True at episode starts.

        Returns:
            float ``[B, T, hidsize]``.
        """
        return x

    def forward(
        self, ob: Mapping[str, torch.Tensor], state_in: Sequence[MaskedAttentionState], context: Mapping[str, Any]
    ):
        """Frames -> latent.

        Args:
            ob: ``{"img": uint8 [B, T, H, W, 3]}`` plus whatever :meth:`condition` reads (nothing in VPT). Instead
                of ``"img"``, ``"img_features"``: float ``[B, T, hidsize]`` = :meth:`encode_images` of the frames,
                computed earlier (so that a frame used by several rows is encoded once).
            state_in: recurrent state (:meth:`initial_state` or a previous ``state_out``).
            context: ``{"first": bool [B, T]}``, True at the first frame of an episode (any frame of the chunk).

        Returns:
            ``((pi_latent, vf_latent), state_out)`` (the same ``[B, T, hidsize]`` tensor twice), or
            ``(latent, state_out)`` with ``single_output``.

        Raises:
            ValueError: missing or mis-shaped inputs.
        """
        first = context["first"]
        if "img_features" in ob:
            x = ob["img_features"]
            if x.dim() != 3 or tuple(first.shape) != tuple(x.shape[:2]):
                raise ValueError(f"MinecraftPolicy: expected img_features [B, T, hidsize] and first [B, T], got "
                                 f"img_features {list(x.shape)} and first {list(first.shape)}")
        elif "img" in ob:
            img = ob["img"]
            if img.dim() != 5 or tuple(first.shape) != tuple(img.shape[:2]):
                raise ValueError(
                    f"MinecraftPolicy: expected img [B, T, H, W, C] and first [B, T], got img {list(img.shape)} and "
                    f"first {list(first.shape)}"
                )
            x = self.encode_images(img)
        else:
            raise ValueError(f"MinecraftPolicy: ob must hold 'img' uint8 [B, T, H, W, 3], got keys {sorted(ob)}")
        x = self.condition(x, ob, first)
        if self.pre_lstm_ln is not None:
            x = self.pre_lstm_ln(x)
        x, state_out = self.recurrent_layer(x, first, state_in)
        x = F.relu(x)
        x = self.lastlayer(x)
        x = self.final_ln(x)
        if self.single_output:
            return x, state_out
        return (x, x), state_out


class MinecraftAgentPolicy(nn.Module):
    """VPT policy = ``net`` (:class:`MinecraftPolicy`) + ``value_head`` (:class:`ScaledMSEHead`) + ``pi_head``.

    Args:
        action_space: gymnasium action space (see :func:`VPT.lib.action_head.make_action_head`): the MineRL
            ``Dict(camera=Discrete(121), buttons=Discrete(8641))`` (key order = state-dict order),
            ``Discrete(n)`` or ``Box((d,))``.
        policy_kwargs: the arguments of ``net_class``.
        pi_head_kwargs: action-head options, ``{"temperature": float}`` (2.0 for the official models).

    The probability distribution ``pd`` returned by :meth:`forward` is: for a dict space a dict of per-head
    float32 log-probs ``[B, T, 1, n_k]``; for ``Discrete(n)`` a tensor ``[B, T, 1, n]``; for ``Box((d,))`` a
    tensor ``[B, T, d, 2]`` (mean, log-std).

    Attributes:
        net_class: the network built from ``policy_kwargs`` (:class:`MinecraftPolicy`); a subclass sets it to a
            conditioned :class:`MinecraftPolicy` subclass (the extension point, module docstring).
    """

    net_class: type = MinecraftPolicy

    def __init__(self, action_space: Any, policy_kwargs: Mapping[str, Any], pi_head_kwargs: Optional[Mapping[str, Any]] = None):
        super().__init__()
        self.net = self.net_class(**dict(policy_kwargs))
        self.action_space = action_space
        self.value_head = ScaledMSEHead(self.net.output_latent_size(), 1)
        pi_head_kwargs = dict(pi_head_kwargs or {})
        if "temperature" in pi_head_kwargs:
            pi_head_kwargs["temperature"] = float(pi_head_kwargs["temperature"])
        self.pi_head: ActionHead = make_action_head(action_space, self.net.output_latent_size(), **pi_head_kwargs)

    @property
    def device(self) -> torch.device:
        return self.value_head.linear.weight.device

    def initial_state(self, batch_size: int) -> List[MaskedAttentionState]:
        """Empty recurrent state for ``batch_size`` sequences on the policy's device: a list over transformer
        blocks of ``(None, (K zeros [B, maxlen, hidsize], V zeros [B, maxlen, hidsize]))``."""
        return self.net.initial_state(batch_size, device=self.device)

    def explain_weights_mismatch(self, missing: List[str], unexpected: List[str],
                                 shape_errors: List[tuple]) -> List[str]:
        """Likely causes of a weights file that does not fit, specific to this policy class (sentences), used by
        :func:`VPT.lib.loading.load_policy_weights` before its generic ones. VPT has none; a subclass that adds
        modules explains their absence or presence here.

        Args:
            missing, unexpected: state-dict keys absent from the file / absent from the policy.
            shape_errors: ``(key, shape in the file, shape in the policy)``.
        """
        return []

    def reset_parameters(self) -> None:
        """Re-initialise the action and value heads (the trunk keeps its weights)."""
        self.pi_head.reset_parameters()
        self.value_head.reset_parameters()

    def forward(self, obs: Mapping[str, torch.Tensor], first: torch.Tensor, state_in: Sequence[MaskedAttentionState]):
        """Run the network on a chunk.

        Args:
            obs: ``{"img": uint8 [B, T, H, W, 3]}`` (+ the inputs a conditioned ``net`` reads; an optional
                ``"mask"`` entry holds allowed-action masks for the categorical heads).
            first: bool ``[B, T]``, True at episode starts.
            state_in: recurrent state.

        Returns:
            ``((pd, vpred, None), state_out)``: ``pd`` as in the class docstring, ``vpred`` the *normalised* value
            float ``[B, T, 1]`` (use ``value_head.denormalize``), ``state_out`` the new recurrent state.
        """
        obs = dict(obs)
        mask = obs.pop("mask", None)
        (pi_latent, vf_latent), state_out = self.net(obs, state_in, context={"first": first})
        pd = self.pi_head(pi_latent, mask=mask)
        vpred = self.value_head(vf_latent)
        return (pd, vpred, None), state_out

    def get_logprob_of_action(self, pd: Any, action: Any) -> torch.Tensor:
        """Log-probability ``[B]`` of a single-step ``action`` (``[B, 1]`` per head; ``[B, d]`` for a Box) under a
        single-step ``pd`` (``[B, 1, ...]`` as from :meth:`forward` with ``T = 1``).

        For chunks (``T > 1``) use ``self.pi_head.logprob(action [B, T, ...], pd [B, T, ...])`` directly.

        Raises:
            ValueError: ``pd`` is not single-step (its time axis is not 1: broadcasting would silently score every
                row under the wrong distribution), or the log-probability is NaN.
        """
        for leaf in (pd.values() if isinstance(pd, Mapping) else [pd]):
            if leaf.dim() < 2 or leaf.shape[1] != 1:
                raise ValueError(f"get_logprob_of_action takes a single-step pd [B, 1, ...], got shape "
                                 f"{tuple(leaf.shape)}; for chunks use policy.pi_head.logprob(action, pd)")
        log_prob = self.pi_head.logprob(tree_map(lambda a: a.unsqueeze(1), action), pd)
        if torch.isnan(log_prob).any():
            raise ValueError("get_logprob_of_action: NaN log-probability (action out of range or invalid pd?)")
        return log_prob[:, 0]

    def get_kl_of_action_dists(self, pd1: Any, pd2: Any) -> torch.Tensor:
        """``KL(pd1 || pd2)`` summed over heads; float ``[..., 1]`` (e.g. ``[B, T, 1]``)."""
        return self.pi_head.kl_divergence(pd1, pd2)

    def get_output_for_observation(self, obs: Mapping[str, torch.Tensor], state_in, first: torch.Tensor):
        """Single-step, gradient-enabled: ``obs`` leaves ``[B, ...]``, ``first`` ``[B]`` ->
        ``(pd [B, 1, ...], denormalised value [B, 1], state_out)``."""
        obs = tree_map(lambda x: x.unsqueeze(1), obs)
        (pd, vpred, _), state_out = self(obs, first.unsqueeze(1), state_in)
        return pd, self.value_head.denormalize(vpred)[:, 0], state_out

    @torch.inference_mode()
    def act(
        self,
        obs: Mapping[str, torch.Tensor],
        first: torch.Tensor,
        state_in: Sequence[MaskedAttentionState],
        stochastic: bool = True,
        taken_action: Any = None,
        return_pd: bool = False,
    ):
        """One step for a batch of ``B`` sequences (official ``MinecraftAgentPolicy.act``).

        Runs under ``torch.inference_mode`` (upstream: ``no_grad``): the returned tensors are inference tensors;
        ``.clone()`` them before using them in autograd.

        Args:
            obs: ``{"img": uint8 [B, H, W, 3]}`` (+ a conditioned ``net``'s inputs, ``[B, ...]``), no time axis.
            first: bool ``[B]``.
            state_in: recurrent state.
            stochastic: sample (Gumbel-max) instead of taking the argmax.
            taken_action: score this action (per head ``[B, 1]``) instead of sampling one.
            return_pd: also return the distribution.

        Returns:
            ``(action, state_out, result)``: ``action`` per head int64 ``[B, 1]`` (a dict for dict spaces; float
            ``[B, d]`` for a Box); ``result = {"log_prob": [B], "vpred": denormalised value [B, 1]}`` plus
            ``"pd"`` (per head ``[B, 1, n]``) with ``return_pd``.

        Raises:
            ValueError: NaN log-probability.
        """
        obs = tree_map(lambda x: x.unsqueeze(1), obs)
        (pd, vpred, _), state_out = self(obs, first.unsqueeze(1), state_in)
        return self._act_on_pd(pd, vpred, state_out, stochastic, taken_action, return_pd)

    def _act_on_pd(self, pd: Any, vpred: torch.Tensor, state_out, stochastic: bool, taken_action: Any,
                   return_pd: bool):
        """The end of :meth:`act` from a single-step ``pd`` ``[B, 1, ...]`` and ``vpred`` ``[B', 1, 1]``: choose
        (or score ``taken_action``) and build ``(action, state_out, result)``. For subclasses that compute ``pd``
        otherwise (e.g. by combining several rows).

        Raises:
            ValueError: NaN log-probability.
        """
        if taken_action is None:
            action = self.pi_head.sample(pd, deterministic=not stochastic)
        else:
            action = tree_map(lambda a: a.unsqueeze(1), taken_action)
        log_prob = self.pi_head.logprob(action, pd)
        if torch.isnan(log_prob).any():
            raise ValueError("act: NaN log-probability (action out of range or invalid network output?)")
        result = {"log_prob": log_prob[:, 0], "vpred": self.value_head.denormalize(vpred)[:, 0]}
        if return_pd:
            result["pd"] = tree_map(lambda x: x[:, 0], pd)
        return tree_map(lambda a: a[:, 0], action), state_out, result

    @torch.inference_mode()
    def v(self, obs: Mapping[str, torch.Tensor], first: torch.Tensor, state_in) -> torch.Tensor:
        """Denormalised value ``[B, 1]`` of a single step (``obs`` leaves ``[B, ...]``, ``first`` ``[B]``)."""
        obs = tree_map(lambda x: x.unsqueeze(1), obs)
        (_, vpred, _), _ = self(obs, first.unsqueeze(1), state_in)
        return self.value_head.denormalize(vpred)[:, 0]
