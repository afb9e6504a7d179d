"""``MineRLAgent``: the VPT policy wrapped with MineRL observation/action conversion (spec §4.7).

Same API as the official ``agent.py``, so scripts port by changing imports::

    from VPT.agent import MineRLAgent
    from VPT.lib.loading import load_model_config

    policy_kwargs, pi_head_kwargs = load_model_config("downloads/2x.model")
    agent = MineRLAgent(env=None, device=None, policy_kwargs=policy_kwargs, pi_head_kwargs=pi_head_kwargs)
    agent.load_weights("downloads/rl-from-foundation-2x.weights")
    agent.reset()
    minerl_action = agent.get_action({"pov": frame_360x640x3_uint8})

Where we deliberately differ from upstream:

* :meth:`MineRLAgent.load_weights` loads **strictly** by default and explains a mismatch (upstream uses
  ``strict=False`` and silently keeps random weights for missing keys, spec §12.1.12).
* ``device=None`` means CUDA when available, else CPU (upstream: always CUDA).
* ``get_action`` runs under ``torch.inference_mode``; the frame is resized only if it is not already the policy's
  ``img_shape`` (PTGM's change), with ``cv2.INTER_LINEAR`` (:func:`VPT.lib.frames.resize_for_agent`).
* ``_env_action_to_agent(check_if_null=True)`` really returns ``None`` for a null action (spec §12.1.14).
* Without a MineRL install there is no env check: ``env`` is only kept for reference.
"""
from __future__ import annotations

import copy
from typing import Any, Dict, Mapping, Optional, Union

import numpy as np
import torch

from VPT.lib.action_mapping import CameraHierarchicalMapping, agent_action_to_env, env_action_to_agent
from VPT.lib.actions import ACTION_TRANSFORMER_KWARGS, ActionTransformer
from VPT.lib.frames import resize_for_agent
from VPT.lib.loading import IncompatibleKeys, PathLike, load_policy_weights
from VPT.lib.policy import MinecraftAgentPolicy

__all__ = ["MineRLAgent", "POLICY_KWARGS", "PI_HEAD_KWARGS", "default_device"]

#: Hyperparameters of the VPT-2x model (the official ``agent.py`` defaults == ``2x.model``; spec §4.1). Used when
#: ``MineRLAgent`` is built without ``policy_kwargs``; a ``.model``/YAML file read by ``load_model_config`` is the
#: normal source.
POLICY_KWARGS: Dict[str, Any] = dict(
    attention_heads=16,
    attention_mask_style="clipped_causal",
    attention_memory_size=256,
    diff_mlp_embedding=False,
    hidsize=2048,
    img_shape=[128, 128, 3],
    impala_chans=[16, 32, 32],
    impala_kwargs={"post_pool_groups": 1},
    impala_width=8,
    init_norm_kwargs={"batch_norm": False, "group_norm_groups": 1},
    n_recurrence_layers=4,
    only_img_input=True,
    pointwise_ratio=4,
    pointwise_use_activation=False,
    recurrence_is_residual=True,
    recurrence_type="transformer",
    timesteps=128,
    use_pointwise_layer=True,
    use_pre_lstm_ln=False,
)
#: Action-head options of the official models.
PI_HEAD_KWARGS: Dict[str, Any] = dict(temperature=2.0)


def default_device(device: Union[str, torch.device, None] = None) -> torch.device:
    """``device`` as a ``torch.device``; ``None`` -> ``cuda`` when available, else ``cpu``."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class MineRLAgent:
    """A VPT policy acting in MineRL: env observation -> agent input -> policy step -> env action.

    Args:
        env: optional MineRL env, kept as ``self.env`` (not validated: MineRL is not installed here).
        device: torch device; ``None`` = CUDA if available, else CPU.
        policy_kwargs: :class:`~VPT.lib.policy.MinecraftPolicy` arguments (default :data:`POLICY_KWARGS`, VPT-2x).
        pi_head_kwargs: action-head options (default :data:`PI_HEAD_KWARGS`).

    Attributes:
        policy: the :class:`~VPT.lib.policy.MinecraftAgentPolicy` (action space
            ``Dict(camera=Discrete(121), buttons=Discrete(8641))``), in eval mode.
        hidden_state: the recurrent state of the current episode (batch 1).
    """

    def __init__(
        self,
        env: Any = None,
        device: Union[str, torch.device, None] = None,
        policy_kwargs: Optional[Mapping[str, Any]] = None,
        pi_head_kwargs: Optional[Mapping[str, Any]] = None,
    ):
        self.env = env
        self.device = default_device(device)
        self.action_mapper = CameraHierarchicalMapping(n_camera_bins=11)
        self.action_transformer = ActionTransformer(**ACTION_TRANSFORMER_KWARGS)
        policy_kwargs = copy.deepcopy(dict(POLICY_KWARGS if policy_kwargs is None else policy_kwargs))
        pi_head_kwargs = copy.deepcopy(dict(PI_HEAD_KWARGS if pi_head_kwargs is None else pi_head_kwargs))
        self.policy = MinecraftAgentPolicy(
            action_space=self.action_mapper.get_action_space_update(),
            policy_kwargs=policy_kwargs,
            pi_head_kwargs=pi_head_kwargs,
        ).to(self.device)
        self.policy.eval()
        height, width, _ = self.policy.net.img_shape
        self.resolution = (height, width)
        self._dummy_first = torch.zeros((1,), dtype=torch.bool, device=self.device)
        self.hidden_state = self.policy.initial_state(1)

    def load_weights(self, path: PathLike, strict: bool = True) -> IncompatibleKeys:
        """Load a ``.weights`` file into the policy and reset the hidden state.

        Raises:
            FileNotFoundError, VPT.lib.loading.WeightsLoadError: see :func:`VPT.lib.loading.load_policy_weights`
                (strict by default; upstream loaded with ``strict=False``).
        """
        result = load_policy_weights(self.policy, path, strict=strict)
        self.reset()
        return result

    def reset(self) -> None:
        """Start a new episode: empty recurrent memory."""
        self.hidden_state = self.policy.initial_state(1)

    def _env_obs_to_agent(self, minerl_obs: Mapping[str, Any]) -> Dict[str, torch.Tensor]:
        """``{"pov": uint8 [H, W, 3]}`` -> ``{"img": uint8 [1, h, w, 3]}`` on the device (resized with
        ``cv2.INTER_LINEAR`` to the policy's ``img_shape`` only if needed).

        Raises:
            KeyError: no ``"pov"``. ValueError: ``pov`` is not uint8 ``[H, W, 3]``.
        """
        if "pov" not in minerl_obs:
            raise KeyError(f"MineRLAgent: the observation has no 'pov' frame (keys: {sorted(minerl_obs)})")
        frame = resize_for_agent(minerl_obs["pov"], self.resolution)
        return {"img": torch.from_numpy(np.ascontiguousarray(frame))[None].to(self.device)}

    def _agent_action_to_env(self, agent_action: Mapping[str, Any]) -> Dict[str, np.ndarray]:
        """Joint action ``{"buttons": [1, 1], "camera": [1, 1]}`` -> MineRL env action (20 buttons as ``(1,)``
        int arrays, ``camera`` float ``(1, 2)`` in degrees ``[pitch, yaw]``)."""
        return agent_action_to_env(
            agent_action, action_transformer=self.action_transformer, action_mapper=self.action_mapper
        )

    def _env_action_to_agent(
        self, minerl_action_transformed: Mapping[str, Any], to_torch: bool = False, check_if_null: bool = False
    ) -> Optional[Dict[str, Any]]:
        """MineRL env action -> joint action ``{"buttons": int64 [B, 1], "camera": int64 [B, 1]}`` (torch on the
        agent's device with ``to_torch``), or ``None`` for a null action with ``check_if_null``."""
        return env_action_to_agent(
            minerl_action_transformed,
            to_torch=to_torch,
            check_if_null=check_if_null,
            action_transformer=self.action_transformer,
            action_mapper=self.action_mapper,
            device=self.device,
        )

    def get_action(self, minerl_obs: Mapping[str, Any]) -> Dict[str, np.ndarray]:
        """Sample the next env action for an observation, carrying the recurrent state (``first`` is always False:
        call :meth:`reset` at episode starts)."""
        agent_input = self._env_obs_to_agent(minerl_obs)
        with torch.inference_mode():
            agent_action, self.hidden_state, _ = self.policy.act(
                agent_input, self._dummy_first, self.hidden_state, stochastic=True
            )
        return self._agent_action_to_env(agent_action)
