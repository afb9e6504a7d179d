"""Reading VPT model configs and weight files (spec §4.1, §5.3); the models themselves do no file I/O.

* :func:`load_model_config` reads the hyperparameters from an official ``.model`` pickle
  (``d['model']['args']['net']['args']`` and ``d['model']['args']['pi_head_opts']``) or from a YAML file with the
  two blocks ``policy_kwargs:`` and ``pi_head_kwargs:`` (how the Crafter models are configured).
* :func:`load_policy_weights` loads a ``torch.save(state_dict)`` file into a policy, strictly by default, and
  explains a mismatch (STEVE-1 weights into plain VPT and the reverse, a different action space, a different size).

Where we deliberately differ from upstream: the official agents load with ``strict=False`` and so silently accept
a wrong file (spec §12.1.12); here a mismatch raises :class:`WeightsLoadError` unless ``strict=False`` is asked for.
``.model`` pickles are read with an unpickler that only builds plain containers and numbers (no code runs).
"""
from __future__ import annotations

import copy
import os
import pickle
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, NamedTuple, Tuple, Union

import torch
import yaml
from torch import nn

__all__ = ["WeightsLoadError", "load_model_config", "read_state_dict", "load_policy_weights", "IncompatibleKeys"]

PathLike = Union[str, os.PathLike]

#: Key prefixes stripped from weight files: STEVE-1 training saves ``policy.*`` (``module.policy.*`` on several GPUs).
STRIPPED_PREFIXES = ("module.policy.", "policy.")
#: Parameters that only a goal-conditioned (STEVE-1) policy has.
GOAL_KEY_PREFIX = "net.mineclip_embed_linear."


class WeightsLoadError(RuntimeError):
    """A weights file cannot be read, or does not fit the policy (the message names the file and the cause)."""


class IncompatibleKeys(NamedTuple):
    """Keys that did not match in a non-strict load."""

    missing_keys: List[str]
    unexpected_keys: List[str]


class _PlainDataUnpickler(pickle.Unpickler):
    """Unpickler for ``.model`` files: builds dicts/lists/tuples/str/numbers only, refuses every class or function."""

    _ALLOWED = {("collections", "OrderedDict"), ("builtins", "set"), ("builtins", "frozenset")}

    def find_class(self, module: str, name: str):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only plain data is allowed in a .model file")


def _abbreviate(keys: Iterable[str], limit: int = 6) -> str:
    keys = sorted(keys)
    shown = ", ".join(keys[:limit])
    return shown + (f", ... ({len(keys) - limit} more)" if len(keys) > limit else "")


def _require_file(path: Path, what: str) -> None:
    if not path.is_file():
        raise FileNotFoundError(f"{what} file not found: {path}")


def load_model_config(path: PathLike) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """Read ``(policy_kwargs, pi_head_kwargs)`` from an official ``.model`` pickle or a YAML config.

    * ``.yaml`` / ``.yml``: a mapping with ``policy_kwargs:`` (required) and ``pi_head_kwargs:`` (optional, default
      ``{}``); other top-level keys are ignored, so a stage config may hold the model config.
    * anything else: a pickle of ``{'model': {'args': {'net': {'args': policy_kwargs}, 'pi_head_opts':
      pi_head_kwargs}}}`` (other keys ignored).

    ``pi_head_kwargs['temperature']`` is cast with ``float()``. The ``policy_kwargs`` keys are checked against
    :data:`VPT.lib.policy.POLICY_KWARGS_KEYS`.

    Raises:
        FileNotFoundError: no such file.
        ValueError: unreadable file, wrong nesting, or unknown keys (the message names the file).
    """
    from VPT.lib.policy import POLICY_KWARGS_KEYS  # late import: policy.py re-exports this module's functions

    path = Path(path)
    _require_file(path, "model config")
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as e:
            raise ValueError(f"{path}: invalid YAML: {e}") from e
        if not isinstance(data, Mapping) or not isinstance(data.get("policy_kwargs"), Mapping):
            raise ValueError(f"{path}: expected a mapping with a 'policy_kwargs:' block (and optionally 'pi_head_kwargs:')")
        policy_kwargs = data["policy_kwargs"]
        pi_head_kwargs = data.get("pi_head_kwargs") or {}
    else:
        try:
            with open(path, "rb") as f:
                data = _PlainDataUnpickler(f).load()
        except Exception as e:
            raise ValueError(
                f"{path}: cannot read as a VPT .model pickle ({type(e).__name__}: {e}); YAML configs must end in .yaml"
            ) from e
        try:
            args = data["model"]["args"]
            policy_kwargs = args["net"]["args"]
            pi_head_kwargs = args["pi_head_opts"]
        except (KeyError, TypeError) as e:
            raise ValueError(
                f"{path}: not an official VPT .model: expected d['model']['args']['net']['args'] and "
                f"d['model']['args']['pi_head_opts'] (missing {e})"
            ) from e
    if not isinstance(pi_head_kwargs, Mapping):
        raise ValueError(f"{path}: pi_head_kwargs must be a mapping, got {type(pi_head_kwargs).__name__}")
    policy_kwargs = copy.deepcopy(dict(policy_kwargs))
    pi_head_kwargs = copy.deepcopy(dict(pi_head_kwargs))
    unknown = set(policy_kwargs) - POLICY_KWARGS_KEYS
    if unknown:
        raise ValueError(f"{path}: unknown policy_kwargs {sorted(unknown)}; accepted: {sorted(POLICY_KWARGS_KEYS)}")
    if "temperature" in pi_head_kwargs:
        try:
            pi_head_kwargs["temperature"] = float(pi_head_kwargs["temperature"])
        except (TypeError, ValueError) as e:
            raise ValueError(f"{path}: pi_head temperature must be a number, got {pi_head_kwargs['temperature']!r}") from e
    return policy_kwargs, pi_head_kwargs


def read_state_dict(path: PathLike) -> Dict[str, torch.Tensor]:
    """Read a ``torch.save(state_dict)`` weights file onto the CPU, stripping a leading ``policy.`` or
    ``module.policy.`` from every key (STEVE-1 training checkpoints).

    Loading uses ``weights_only=True``: nothing but tensors and containers is unpickled.

    Raises:
        FileNotFoundError: no such file.
        WeightsLoadError: truncated/corrupt file, or not a flat mapping of tensors.
    """
    path = Path(path)
    _require_file(path, "weights")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise WeightsLoadError(
            f"{path}: cannot read the weights file ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}). "
            f"It is probably truncated or corrupt (size {path.stat().st_size} bytes: re-download it), or it is not a "
            "torch.save() state dict"
        ) from e
    if not isinstance(data, Mapping):
        raise WeightsLoadError(f"{path}: expected a state dict (a mapping of tensors), got {type(data).__name__}")
    bad = [k for k, v in data.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise WeightsLoadError(
            f"{path}: expected a flat state dict of tensors, but these entries are not tensors: {_abbreviate(map(str, bad))}"
            " (a training checkpoint? pass its model state dict instead)"
        )
    state_dict = {}
    for key, value in data.items():
        for prefix in STRIPPED_PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix):]
                break
        state_dict[key] = value
    return state_dict


def _diagnose(path: Path, missing: List[str], unexpected: List[str], shape_errors: List[Tuple[str, tuple, tuple]]) -> str:
    """Human-readable explanation of a state-dict mismatch."""
    lines = [f"{path}: the weights do not fit this policy."]
    if missing:
        lines.append(f"  missing keys ({len(missing)}): {_abbreviate(missing)}")
    if unexpected:
        lines.append(f"  unexpected keys ({len(unexpected)}): {_abbreviate(unexpected)}")
    for key, in_file, in_policy in shape_errors[:6]:
        lines.append(f"  shape of {key}: {list(in_file)} in the file, {list(in_policy)} in the policy")
    if len(shape_errors) > 6:
        lines.append(f"  ... ({len(shape_errors) - 6} more shape mismatches)")

    causes = []
    goal_unexpected = [k for k in unexpected if k.startswith(GOAL_KEY_PREFIX)]
    goal_missing = [k for k in missing if k.startswith(GOAL_KEY_PREFIX)]
    if goal_unexpected:
        causes.append(
            "these look like STEVE-1 (goal-conditioned) weights (they have net.mineclip_embed_linear.*): load them "
            "with steve1's MineRLConditionalAgent, or build the policy with policy_kwargs goal_dim=<goal embedding size>"
        )
    if goal_missing:
        causes.append(
            "these look like plain VPT weights (no net.mineclip_embed_linear.*) loaded into a goal-conditioned "
            "policy: load them with VPT.agent.MineRLAgent, or pass strict=False to start goal-conditioned training "
            "from VPT (mineclip_embed_linear keeps its initialisation)"
        )
    for key, in_file, in_policy in shape_errors:
        if key.startswith("pi_head.") and key.endswith(".weight") and len(in_file) == len(in_policy) == 2 \
                and in_file[0] != in_policy[0]:
            head = key[: -len(".linear_layer.weight")] if key.endswith(".linear_layer.weight") else key
            causes.append(
                f"action head {head} has {in_file[0]} outputs in the file but {in_policy[0]} in the policy: the "
                "weights were trained for a different action space (or codebook size)"
            )
    other_shapes = [e for e in shape_errors if not (e[0].startswith("pi_head.") and e[1][1:] == e[2][1:])]
    if other_shapes:
        causes.append(
            "the network sizes differ (e.g. 2x weights into a 1x model): build the policy from the .model/YAML "
            "config that belongs to these weights"
        )
    blocks_missing = [k for k in missing if k.startswith("net.recurrent_layer.blocks.")]
    blocks_unexpected = [k for k in unexpected if k.startswith("net.recurrent_layer.blocks.")]
    if blocks_missing or blocks_unexpected:
        causes.append("the number of transformer blocks differs: check n_recurrence_layers in the config")
    if not causes:
        if missing and unexpected and len(unexpected) >= len(missing):
            causes.append("the key names differ: is this a VPT/STEVE-1 policy state dict (keys net.*, pi_head.*, value_head.*)?")
        elif missing:
            causes.append("the file lacks part of the network (an incomplete or differently configured checkpoint)")
        else:
            causes.append("the file has parameters this policy does not (a different architecture)")
    lines.append("  likely cause: " + "; ".join(dict.fromkeys(causes)))
    return "\n".join(lines)


def load_policy_weights(policy: nn.Module, path: PathLike, strict: bool = True) -> IncompatibleKeys:
    """Load a weights file into ``policy`` (any ``nn.Module``; normally a ``MinecraftAgentPolicy``).

    Official ``.weights`` files are ``torch.save(policy.state_dict())`` without prefix; a leading ``policy.`` /
    ``module.policy.`` is stripped (see :func:`read_state_dict`). Tensors are copied onto the policy's device/dtype.

    Args:
        policy: the module to fill.
        path: the weights file.
        strict: raise on missing or unexpected keys (shape mismatches always raise). With ``strict=False`` the
            matching keys are loaded and the others reported in the return value.

    Returns:
        :class:`IncompatibleKeys` (empty lists after a strict load).

    Raises:
        FileNotFoundError: no such file.
        WeightsLoadError: unreadable file, or keys/shapes that do not fit, with the likely cause (e.g. "these look
            like STEVE-1 weights; load them with steve1's MineRLConditionalAgent").
    """
    path = Path(path)
    state_dict = read_state_dict(path)
    own = policy.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    shape_errors = [
        (k, tuple(state_dict[k].shape), tuple(own[k].shape))
        for k in own
        if k in state_dict and tuple(state_dict[k].shape) != tuple(own[k].shape)
    ]
    if shape_errors or (strict and (missing or unexpected)):
        raise WeightsLoadError(_diagnose(path, missing, unexpected, shape_errors))
    policy.load_state_dict({k: v for k, v in state_dict.items() if k in own}, strict=False)
    return IncompatibleKeys(missing, unexpected)
