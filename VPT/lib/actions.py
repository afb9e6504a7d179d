"""VPT factored action space: the 20 buttons and the mu-law camera quantizer.

The *env action* is the MineRL dict (one entry per button, 0/1, plus ``camera = [pitch, yaw]`` in degrees).
The *factored action* is what the joint mapping (:mod:`VPT.lib.action_mapping`) consumes: ``buttons`` int
``[..., 20]`` in :attr:`Buttons.ALL` order and ``camera`` int ``[..., 2]`` camera bins ``[pitch_bin, yaw_bin]``.

Implements spec §4.6 ("Camera quantiser" and "Factored button order"), written from the spec and checked bit for
bit against ``shared/fixtures/vpt_action_mapping_golden.json`` (official VPT, float64 numpy arithmetic).

Where we deliberately differ from the official ``lib/actions.py``:

* ``ActionTransformer.camera_zero_bin`` is a value (a read-only property), not a method. Upstream compares the
  bound method with camera bins, so ``check_if_null`` never fires (spec §12.1.14).
* Bad input raises ``ValueError``/``KeyError`` naming the offending key instead of producing garbage: button values
  other than 0/1, a camera whose last axis is not 2, non-finite camera values, bins out of range.
* The item-embedding helpers (``item_embed_id_to_name``, which needs ``minerl``) are left out: no PTGM policy has
  item heads.
"""
from __future__ import annotations

from typing import Any, Dict, Mapping

import numpy as np

__all__ = ["Buttons", "ActionTransformer", "ACTION_TRANSFORMER_KWARGS", "CAMERA_QUANTIZATION_SCHEMES"]


class Buttons:
    """Names of the 20 factored buttons, in the official VPT order (spec §4.6).

    ``Buttons.ALL[i]`` is the button stored in column ``i`` of a factored ``buttons`` array.
    """

    ATTACK = "attack"
    BACK = "back"
    FORWARD = "forward"
    JUMP = "jump"
    LEFT = "left"
    RIGHT = "right"
    SNEAK = "sneak"
    SPRINT = "sprint"
    USE = "use"
    DROP = "drop"
    INVENTORY = "inventory"

    ALL = [ATTACK, BACK, FORWARD, JUMP, LEFT, RIGHT, SNEAK, SPRINT, USE, DROP, INVENTORY] + [
        f"hotbar.{i}" for i in range(1, 10)
    ]


#: Camera quantizer settings of every released VPT model (official ``agent.py``; spec §4.6).
ACTION_TRANSFORMER_KWARGS: Dict[str, Any] = dict(
    camera_binsize=2,
    camera_maxval=10,
    camera_mu=10,
    camera_quantization_scheme="mu_law",
)

CAMERA_QUANTIZATION_SCHEMES = ("mu_law", "linear")


class ActionTransformer:
    """Converts MineRL env actions to factored actions and back; quantizes the camera.

    Camera quantizer (spec §4.6), for each of pitch and yaw independently, in float64:

    * discretize: ``x = clip(x, -maxval, maxval)``; with ``mu_law``:
      ``x = maxval * sign(x) * log(1 + mu*|x/maxval|) / log(1 + mu)``; then ``bin = round((x + maxval) / binsize)``
      with numpy's round-half-to-even.
    * undiscretize: ``v = bin*binsize - maxval``; with ``mu_law``:
      ``x = maxval * sign(v) * ((1 + mu)**|v/maxval| - 1) / mu``.

    With the VPT settings (:data:`ACTION_TRANSFORMER_KWARGS`) there are 11 bins per axis, bin 5 is "no camera
    motion", and the bin centres are 0, ±0.615, ±1.609, ±3.215, ±5.809, ±10 degrees. Any motion of roughly
    ``|x| < 0.27`` degrees falls in the zero bin.

    Args:
        camera_binsize: width of one bin in the (mu-law-encoded) camera space, degrees.
        camera_maxval: camera clip value, degrees; the encoded range is ``[-maxval, maxval]``.
        camera_mu: mu of the mu-law encoding (ignored for ``linear``).
        camera_quantization_scheme: ``"mu_law"`` or ``"linear"``.

    Raises:
        ValueError: unknown scheme, non-positive sizes, or ``2*maxval`` not a multiple of ``binsize``.
    """

    def __init__(
        self,
        camera_binsize: int = 2,
        camera_maxval: int = 10,
        camera_mu: float = 10,
        camera_quantization_scheme: str = "mu_law",
    ):
        if camera_quantization_scheme not in CAMERA_QUANTIZATION_SCHEMES:
            raise ValueError(
                f"camera_quantization_scheme must be one of {CAMERA_QUANTIZATION_SCHEMES}, "
                f"got {camera_quantization_scheme!r}"
            )
        if camera_binsize <= 0 or camera_maxval <= 0:
            raise ValueError(f"camera_binsize and camera_maxval must be > 0, got {camera_binsize}, {camera_maxval}")
        if (2 * camera_maxval) % camera_binsize != 0:
            raise ValueError(
                f"2*camera_maxval ({2 * camera_maxval}) must be a multiple of camera_binsize ({camera_binsize})"
            )
        if camera_quantization_scheme == "mu_law" and camera_mu <= 0:
            raise ValueError(f"camera_mu must be > 0 for mu_law, got {camera_mu}")
        self.camera_binsize = camera_binsize
        self.camera_maxval = camera_maxval
        self.camera_mu = camera_mu
        self.camera_quantization_scheme = camera_quantization_scheme

    @property
    def camera_zero_bin(self) -> int:
        """Bin index of "no camera motion" (5 for VPT). A value, not a method (fixes spec §12.1.14)."""
        return int(self.camera_maxval // self.camera_binsize)

    @property
    def n_camera_bins(self) -> int:
        """Number of bins per camera axis (11 for VPT)."""
        return int(2 * self.camera_maxval // self.camera_binsize) + 1

    def discretize_camera(self, xy: Any) -> np.ndarray:
        """Camera degrees -> bins.

        Args:
            xy: float array-like of any shape (usually ``[..., 2]`` = ``[pitch, yaw]``), degrees. Integer input is
                accepted (contractor data is truncated to whole degrees, spec §3.2).

        Returns:
            int64 array of the same shape, bins in ``[0, n_camera_bins - 1]``.

        Raises:
            ValueError: if any value is NaN (infinite values are clipped to ±maxval like any other).
        """
        xy = np.asarray(xy, dtype=np.float64)
        if np.isnan(xy).any():
            raise ValueError(f"camera contains NaN: {xy}")
        maxval = self.camera_maxval
        xy = np.clip(xy, -maxval, maxval)
        if self.camera_quantization_scheme == "mu_law":
            mu = self.camera_mu
            xy = xy / maxval
            xy = np.sign(xy) * (np.log(1.0 + mu * np.abs(xy)) / np.log(1.0 + mu))
            xy = xy * maxval
        return np.round((xy + maxval) / self.camera_binsize).astype(np.int64)

    def undiscretize_camera(self, bins: Any) -> np.ndarray:
        """Camera bins -> degrees (the bin centre).

        Args:
            bins: integer array-like of any shape, values in ``[0, n_camera_bins - 1]``.

        Returns:
            float64 array of the same shape, degrees.

        Raises:
            ValueError: if a bin is not an integer or is out of range.
        """
        bins = np.asarray(bins)
        if bins.dtype.kind not in "iub":
            raise ValueError(f"camera bins must be integers, got dtype {bins.dtype}")
        if bins.size and (bins.min() < 0 or bins.max() >= self.n_camera_bins):
            raise ValueError(f"camera bins must lie in [0, {self.n_camera_bins - 1}], got {bins}")
        maxval = self.camera_maxval
        xy = bins * self.camera_binsize - maxval
        if self.camera_quantization_scheme == "mu_law":
            mu = self.camera_mu
            xy = xy / maxval
            xy = np.sign(xy) * (1.0 / mu) * ((1.0 + mu) ** np.abs(xy) - 1.0)
            xy = xy * maxval
        return np.asarray(xy, dtype=np.float64)

    def env2policy(self, env_action: Mapping[str, Any]) -> Dict[str, np.ndarray]:
        """MineRL env action -> factored action.

        Args:
            env_action: dict with ``camera`` float ``[..., 2]`` (``[pitch, yaw]``, degrees) and the buttons of
                :attr:`Buttons.ALL`, each 0/1 of shape ``[...]`` (the batch shape of ``camera``; scalars for a
                single action). Buttons that are absent count as not pressed (as upstream). Other keys, e.g.
                ``ESC``, ``pickItem``, ``swapHands`` of the 25-key MineRL layout (spec §3.2), are ignored.

        Returns:
            ``{"buttons": int64 [..., 20] (Buttons.ALL order), "camera": int64 [..., 2] (bins)}``.

        Raises:
            KeyError: no ``camera`` key.
            ValueError: camera last axis is not 2 or contains NaN; a button value is not 0/1 or its shape differs
                from the camera's batch shape.
        """
        if "camera" not in env_action:
            raise KeyError(f"env action has no 'camera' key (keys: {sorted(env_action)})")
        camera = np.asarray(env_action["camera"], dtype=np.float64)
        if camera.ndim == 0 or camera.shape[-1] != 2:
            raise ValueError(f"env action 'camera' must have shape [..., 2] (pitch, yaw), got {camera.shape}")
        batch_shape = camera.shape[:-1]
        columns = []
        for name in Buttons.ALL:
            if name in env_action:
                value = np.asarray(env_action[name])
                if value.shape != batch_shape:
                    raise ValueError(
                        f"env action button {name!r} has shape {value.shape}, expected {batch_shape} "
                        f"(the batch shape of 'camera' {camera.shape})"
                    )
                if not ((value == 0) | (value == 1)).all():
                    raise ValueError(f"env action button {name!r} must be 0 or 1, got {value}")
                columns.append(value.astype(np.int64))
            else:
                columns.append(np.zeros(batch_shape, dtype=np.int64))
        return {"buttons": np.stack(columns, axis=-1), "camera": self.discretize_camera(camera)}

    def policy2env(self, factored: Mapping[str, Any]) -> Dict[str, np.ndarray]:
        """Factored action -> MineRL env action.

        Args:
            factored: ``{"buttons": int [..., 20], "camera": int [..., 2] (bins)}``.

        Returns:
            dict with the 20 :attr:`Buttons.ALL` keys (int64 arrays of shape ``[...]``) followed by ``camera``
            (float64 ``[..., 2]``, degrees), in that key order.

        Raises:
            KeyError: a key is missing. ValueError: wrong last-axis sizes or camera bins out of range.
        """
        buttons = np.asarray(factored["buttons"])
        if buttons.ndim == 0 or buttons.shape[-1] != len(Buttons.ALL):
            raise ValueError(f"factored 'buttons' must have shape [..., {len(Buttons.ALL)}], got {buttons.shape}")
        camera = np.asarray(factored["camera"])
        if camera.ndim == 0 or camera.shape[-1] != 2:
            raise ValueError(f"factored 'camera' must have shape [..., 2], got {camera.shape}")
        env_action: Dict[str, np.ndarray] = {
            name: buttons[..., i].astype(np.int64) for i, name in enumerate(Buttons.ALL)
        }
        env_action["camera"] = self.undiscretize_camera(camera)
        return env_action
