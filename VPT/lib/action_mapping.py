"""VPT joint action space (``CameraHierarchicalMapping``) and the agent <-> env action conversions.

The VPT policy does not output the 20 factored buttons and 2 camera bins directly. It has two categorical heads
(spec §4.5-§4.6):

* ``buttons``: ``Discrete(8641)``, one class per combination of the mutually exclusive button groups of
  :attr:`CameraHierarchicalMapping.BUTTONS_GROUPS` (10·3·3·3·2·2·2·2·2 = 8640), plus ``"inventory"``
  (index 8640).
  The last group is the camera *meta action*: ``"camera"`` means "the camera head's output is used".
* ``camera``: ``Discrete(121)``, joint index ``pitch_bin * 11 + yaw_bin``; 60 is "no camera motion".

An *agent action* is ``{"buttons": int [B, 1], "camera": int [B, 1]}`` (the policy's sample shape). The module-level
helpers :func:`env_action_to_agent` / :func:`agent_action_to_env` do what the official
``MineRLAgent._env_action_to_agent`` / ``_agent_action_to_env`` do (spec §4.7; fixtures README §5).

Written from the spec and verified against ``shared/fixtures/vpt_action_tables.pt`` and
``vpt_action_mapping_golden.json``. Differences from upstream, on purpose:

* ``from_factored`` / ``to_factored`` are vectorised (same results as upstream's per-row loop).
* ``get_action_space_update`` returns a gymnasium ``spaces.Dict`` (camera first, then buttons) instead of gym3 types.
* ``env_action_to_agent(check_if_null=True)`` really returns ``None`` for the null action; upstream never does
  (spec §12.1.14).
* Bad input (wrong shapes, indices or bins out of range, buttons not 0/1) raises ``ValueError``.
"""
from __future__ import annotations

import functools
import itertools
from collections import OrderedDict
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

import numpy as np
import torch
from gymnasium import spaces

from VPT.lib.actions import ACTION_TRANSFORMER_KWARGS, ActionTransformer, Buttons

__all__ = [
    "CameraHierarchicalMapping",
    "env_action_to_agent",
    "agent_action_to_env",
    "default_action_transformer",
    "default_action_mapper",
]

_BUTTON_INDEX = {name: i for i, name in enumerate(Buttons.ALL)}


class CameraHierarchicalMapping:
    """Factored (20 buttons + 2 camera bins) <-> joint (buttons index, camera index) VPT actions (spec §4.6).

    Rules of :meth:`from_factored`:

    * each group of :attr:`BUTTONS_GROUPS` (except ``camera``) takes one choice: ``"none"`` if no button of the
      group is pressed, otherwise the pressed button that comes **last** in the group (``sprint+sneak -> sneak``,
      ``hotbar.2+hotbar.7 -> hotbar.7``);
    * in :attr:`CANCELLING_GROUPS` (``fore_back``, ``left_right``) pressing both buttons means neither;
    * the camera meta choice is ``"camera"`` iff the camera bins are not both the null bin;
    * ``inventory`` pressed overrides everything: buttons index :attr:`inventory_button_idx`, camera forced to
      :attr:`camera_null_idx`.

    :meth:`to_factored` looks the joint indices up in :attr:`BUTTON_IDX_TO_FACTORED`,
    :attr:`BUTTON_IDX_TO_CAMERA_META_OFF` and :attr:`CAMERA_IDX_TO_FACTORED`; a button combination whose camera meta
    choice is ``"none"`` forces the camera to the null bin (``"inventory"`` does not: its camera index passes
    through, as upstream).

    Args:
        n_camera_bins: bins per camera axis (odd; 11 for VPT).

    Raises:
        ValueError: ``n_camera_bins`` is even or < 1, or ``BUTTONS_GROUPS`` does not end with ``camera``.
    """

    #: Mutually exclusive button groups, in joint-index order (the last group varies fastest).
    BUTTONS_GROUPS: "OrderedDict[str, List[str]]" = OrderedDict(
        hotbar=["none"] + [f"hotbar.{i}" for i in range(1, 10)],
        fore_back=["none", "forward", "back"],
        left_right=["none", "left", "right"],
        sprint_sneak=["none", "sprint", "sneak"],
        use=["none", "use"],
        drop=["none", "drop"],
        attack=["none", "attack"],
        jump=["none", "jump"],
        camera=["none", "camera"],
    )
    #: Groups where pressing all their buttons at once means pressing none.
    CANCELLING_GROUPS: Tuple[str, ...] = ("fore_back", "left_right")
    #: Joint buttons index -> combination (a tuple with one choice per group, or ``"inventory"``).
    BUTTONS_COMBINATIONS: List[Union[Tuple[str, ...], str]] = list(itertools.product(*BUTTONS_GROUPS.values())) + [
        "inventory"
    ]
    BUTTONS_COMBINATION_TO_IDX: Dict[Union[Tuple[str, ...], str], int] = {
        comb: i for i, comb in enumerate(BUTTONS_COMBINATIONS)
    }
    BUTTONS_IDX_TO_COMBINATION: Dict[int, Union[Tuple[str, ...], str]] = dict(enumerate(BUTTONS_COMBINATIONS))

    def __init__(self, n_camera_bins: int = 11):
        if n_camera_bins < 1 or n_camera_bins % 2 != 1:
            raise ValueError(f"n_camera_bins must be a positive odd number, got {n_camera_bins}")
        if list(self.BUTTONS_GROUPS)[-1] != "camera":
            raise ValueError(f"BUTTONS_GROUPS must end with the 'camera' meta group, got {list(self.BUTTONS_GROUPS)}")
        self.n_camera_bins = n_camera_bins
        self.camera_null_bin = n_camera_bins // 2
        self.n_camera_combinations = n_camera_bins**2
        self.camera_null_idx = self.camera_null_bin * n_camera_bins + self.camera_null_bin
        self.n_button_combinations = len(self.BUTTONS_COMBINATIONS)
        self.null_button_idx = self.BUTTONS_COMBINATION_TO_IDX[("none",) * len(self.BUTTONS_GROUPS)]
        self.inventory_button_idx = self.BUTTONS_COMBINATION_TO_IDX["inventory"]
        self._group_sizes = np.array([len(v) for v in self.BUTTONS_GROUPS.values()], dtype=np.int64)
        # Mixed-radix place value of each group in the joint index (itertools.product order).
        self._group_strides = np.append(np.cumprod(self._group_sizes[::-1])[-2::-1], 1).astype(np.int64)
        # Per button group (camera meta excluded): factored button columns and their option numbers 1..k.
        self._group_columns = [
            (group, np.array([_BUTTON_INDEX[b] for b in options[1:]]), np.arange(1, len(options), dtype=np.int64))
            for group, options in self.BUTTONS_GROUPS.items()
            if group != "camera"
        ]
        self._build_tables()

    def _build_tables(self) -> None:
        n = self.n_button_combinations
        self.BUTTON_IDX_TO_FACTORED = np.zeros((n, len(Buttons.ALL)), dtype=np.int64)
        self.BUTTON_IDX_TO_CAMERA_META_OFF = np.zeros(n, dtype=bool)
        for idx, comb in enumerate(self.BUTTONS_COMBINATIONS):
            if comb == "inventory":
                self.BUTTON_IDX_TO_FACTORED[idx, _BUTTON_INDEX["inventory"]] = 1
                continue
            for choice in comb[:-1]:
                if choice != "none":
                    self.BUTTON_IDX_TO_FACTORED[idx, _BUTTON_INDEX[choice]] = 1
            self.BUTTON_IDX_TO_CAMERA_META_OFF[idx] = comb[-1] == "none"
        cam = np.arange(self.n_camera_combinations, dtype=np.int64)
        self.CAMERA_IDX_TO_FACTORED = np.stack([cam // self.n_camera_bins, cam % self.n_camera_bins], axis=-1)

    def from_factored(self, factored: Mapping[str, Any]) -> Dict[str, np.ndarray]:
        """Factored action -> joint action.

        Args:
            factored: ``{"buttons": 0/1 int [B, 20] (Buttons.ALL order), "camera": int [B, 2] (bins)}``
                (as from ``ActionTransformer.env2policy`` with a batch axis).

        Returns:
            ``{"buttons": int64 [B, 1], "camera": int64 [B, 1]}``.

        Raises:
            ValueError: wrong shapes, buttons not 0/1, or camera bins out of ``[0, n_camera_bins)``.
        """
        buttons = np.asarray(factored["buttons"])
        camera = np.asarray(factored["camera"])
        if buttons.ndim != 2 or buttons.shape[1] != len(Buttons.ALL):
            raise ValueError(f"factored 'buttons' must have shape [B, {len(Buttons.ALL)}], got {buttons.shape}")
        if camera.ndim != 2 or camera.shape != (buttons.shape[0], 2):
            raise ValueError(f"factored 'camera' must have shape [B, 2] with B={buttons.shape[0]}, got {camera.shape}")
        if not ((buttons == 0) | (buttons == 1)).all():
            raise ValueError(f"factored 'buttons' must be 0 or 1, got values {np.unique(buttons)}")
        if camera.dtype.kind not in "iub" or camera.min(initial=0) < 0 or camera.max(initial=0) >= self.n_camera_bins:
            raise ValueError(f"factored 'camera' must be integer bins in [0, {self.n_camera_bins - 1}], got {camera}")
        pressed = buttons.astype(bool)
        camera = camera.astype(np.int64)

        choices = []  # per group, in BUTTONS_GROUPS order: int64 [B], index into the group's options
        for group, columns, option_number in self._group_columns:
            group_pressed = pressed[:, columns]
            if group in self.CANCELLING_GROUPS:
                group_pressed = group_pressed & ~group_pressed.all(axis=1, keepdims=True)
            # The pressed option that comes last in the group wins; 0 ("none") if nothing is pressed.
            choices.append((group_pressed * option_number).max(axis=1, initial=0))
        # camera meta action (the last group): "camera" iff the bins are not both null
        choices.append((camera != self.camera_null_bin).any(axis=1).astype(np.int64))
        button_idx = np.stack(choices, axis=1) @ self._group_strides
        camera_idx = camera[:, 0] * self.n_camera_bins + camera[:, 1]

        inventory = pressed[:, _BUTTON_INDEX["inventory"]]
        button_idx = np.where(inventory, self.inventory_button_idx, button_idx)
        camera_idx = np.where(inventory, self.camera_null_idx, camera_idx)
        return {"buttons": button_idx[:, None].astype(np.int64), "camera": camera_idx[:, None].astype(np.int64)}

    def to_factored(self, joint: Mapping[str, Any]) -> Dict[str, np.ndarray]:
        """Joint action -> factored action.

        Args:
            joint: ``{"buttons": int [..., 1], "camera": int [..., 1]}`` (numpy; torch tensors are moved to CPU).

        Returns:
            ``{"buttons": int64 [..., 20], "camera": int64 [..., 2] (bins)}``.

        Raises:
            ValueError: last axis is not 1, the two shapes differ, or an index is out of range.
        """
        buttons = _to_numpy(joint["buttons"])
        camera = _to_numpy(joint["camera"])
        checks = (("buttons", buttons, self.n_button_combinations), ("camera", camera, self.n_camera_combinations))
        for name, value, n in checks:
            if value.ndim == 0 or value.shape[-1] != 1:
                raise ValueError(f"joint '{name}' must have shape [..., 1], got {value.shape}")
            if value.dtype.kind not in "iu" or value.min(initial=0) < 0 or value.max(initial=0) >= n:
                raise ValueError(f"joint '{name}' must be integer indices in [0, {n - 1}], got {value}")
        if buttons.shape != camera.shape:
            raise ValueError(
                f"joint 'buttons' and 'camera' must have the same shape, got {buttons.shape} and {camera.shape}"
            )
        button_idx = buttons[..., 0]
        factored_buttons = self.BUTTON_IDX_TO_FACTORED[button_idx]
        factored_camera = self.CAMERA_IDX_TO_FACTORED[camera[..., 0]]  # fancy indexing returns a copy
        factored_camera[self.BUTTON_IDX_TO_CAMERA_META_OFF[button_idx]] = self.camera_null_bin
        return {"buttons": factored_buttons, "camera": factored_camera}

    def get_action_space_update(self) -> spaces.Dict:
        """Policy action space: ``Dict(camera=Discrete(121), buttons=Discrete(8641))`` (this key order)."""
        return spaces.Dict(
            OrderedDict(
                camera=spaces.Discrete(self.n_camera_combinations),
                buttons=spaces.Discrete(self.n_button_combinations),
            )
        )

    def get_zero_action(self) -> Dict[str, int]:
        """The null joint action: ``{"buttons": 0, "camera": 60}`` for 11 camera bins."""
        return {"buttons": self.null_button_idx, "camera": self.camera_null_idx}


def _to_numpy(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


@functools.lru_cache(maxsize=None)
def default_action_transformer() -> ActionTransformer:
    """The VPT camera quantizer, ``ActionTransformer(**ACTION_TRANSFORMER_KWARGS)`` (shared instance)."""
    return ActionTransformer(**ACTION_TRANSFORMER_KWARGS)


@functools.lru_cache(maxsize=None)
def default_action_mapper() -> CameraHierarchicalMapping:
    """The VPT joint action mapping, ``CameraHierarchicalMapping(n_camera_bins=11)`` (shared instance)."""
    return CameraHierarchicalMapping(n_camera_bins=11)


def env_action_to_agent(
    minerl_action: Mapping[str, Any],
    to_torch: bool = False,
    check_if_null: bool = False,
    *,
    action_transformer: Optional[ActionTransformer] = None,
    action_mapper: Optional[CameraHierarchicalMapping] = None,
    device: Union[str, torch.device] = "cpu",
) -> Optional[Dict[str, Any]]:
    """MineRL env action -> agent (joint) action, as official ``MineRLAgent._env_action_to_agent`` (spec §4.7).

    Args:
        minerl_action: env action dict: ``camera`` float ``[2]`` or ``[B, 2]`` (``[pitch, yaw]``, degrees) and the
            :attr:`Buttons.ALL` buttons, 0/1 scalars or ``[B]``. Extra keys (``ESC``, ``pickItem``, ``swapHands``)
            are ignored; missing buttons count as not pressed.
        to_torch: return int64 torch tensors on ``device`` instead of numpy arrays.
        check_if_null: return ``None`` when the action is the null action: no button pressed (after dropping the
            ignored keys) and both camera bins in the zero bin (|angle| below ~0.27 degrees). For a batch, ``None``
            only if every row is null. Fixes spec §12.1.14 (upstream never returns ``None``).
        action_transformer: camera quantizer (default :func:`default_action_transformer`).
        action_mapper: joint mapping (default :func:`default_action_mapper`).
        device: torch device for ``to_torch``.

    Returns:
        ``{"buttons": int64 [B, 1], "camera": int64 [B, 1]}`` with B = 1 for an unbatched action, or ``None``.

    Raises:
        KeyError, ValueError: malformed env action (see ``ActionTransformer.env2policy``).
    """
    action_transformer = action_transformer or default_action_transformer()
    action_mapper = action_mapper or default_action_mapper()
    factored = action_transformer.env2policy(minerl_action)
    if check_if_null and np.all(factored["buttons"] == 0) and np.all(
        factored["camera"] == action_transformer.camera_zero_bin
    ):
        return None
    if factored["camera"].ndim == 1:
        factored = {k: v[None] for k, v in factored.items()}
    agent_action = action_mapper.from_factored(factored)
    if to_torch:
        return {k: torch.from_numpy(v).to(device) for k, v in agent_action.items()}
    return agent_action


def agent_action_to_env(
    agent_action: Mapping[str, Any],
    *,
    action_transformer: Optional[ActionTransformer] = None,
    action_mapper: Optional[CameraHierarchicalMapping] = None,
) -> Dict[str, np.ndarray]:
    """Agent (joint) action -> MineRL env action, as official ``MineRLAgent._agent_action_to_env`` (spec §4.7).

    Args:
        agent_action: ``{"buttons": int [B, 1], "camera": int [B, 1]}``, numpy arrays or torch tensors (any device).
        action_transformer: camera quantizer (default :func:`default_action_transformer`).
        action_mapper: joint mapping (default :func:`default_action_mapper`).

    Returns:
        dict of the 20 :attr:`Buttons.ALL` keys, int64 arrays ``[B]``, then ``camera`` float64 ``[B, 2]``
        (``[pitch, yaw]`` degrees, bin centres). For the policy's single-step output B = 1: buttons ``(1,)``,
        camera ``(1, 2)``.

    Raises:
        ValueError: malformed joint action (see ``CameraHierarchicalMapping.to_factored``).
    """
    action_transformer = action_transformer or default_action_transformer()
    action_mapper = action_mapper or default_action_mapper()
    return action_transformer.policy2env(action_mapper.to_factored(agent_action))
