"""Reading VPT model configs and weight files (spec §4.1, §5.3); the models themselves do no file I/O.

* :func:`load_model_config` reads the hyperparameters from an official ``.model`` pickle
  (``d['model']['args']['net']['args']`` and ``d['model']['args']['pi_head_opts']``) or from a YAML file with the
  two blocks ``policy_kwargs:`` and ``pi_head_kwargs:`` (how the Crafter models are configured).
* :func:`load_policy_weights` loads a ``torch.save(state_dict)`` file into a policy, strictly by default, and
  explains a mismatch (a different action space, a different size, whole modules that only one side has, i.e. the
  weights of an extended policy into the base one or the reverse). A package that extends the policy adds its own
  explanations through the ``explain`` argument or the policy's ``explain_weights_mismatch`` method.

Where we deliberately differ from upstream: the official agents load with ``strict=False`` and so silently accept
a wrong file (spec §12.1.12); here a mismatch raises :class:`WeightsLoadError` unless ``strict=False`` is asked for.
``.model`` pickles are read with an unpickler that only builds plain containers and numbers (no code runs).
"""
from __future__ import annotations

import copy
import os
import pickle
from pathlib import Path
from typing import Any, Callable, Collection, Dict, Iterable, List, Mapping, NamedTuple, Optional, Tuple, Union

import torch
import yaml
from torch import nn

from VPT.lib.policy_kwargs import POLICY_KWARGS_KEYS

__all__ = ["WeightsLoadError", "load_model_config", "read_state_dict", "load_policy_weights", "IncompatibleKeys",
           "ShapeError", "Explainer"]

PathLike = Union[str, os.PathLike]

#: Key prefixes stripped from weight files: training loops that wrap the policy save ``policy.*``
#: (``module.policy.*`` with DistributedDataParallel).
STRIPPED_PREFIXES = ("module.policy.", "policy.")

#: ``(key, shape in the file, shape in the policy)`` of a tensor whose shapes differ.
ShapeError = Tuple[str, tuple, tuple]
#: ``explain(missing, unexpected, shape_errors) -> likely causes`` (sentences, most specific first), see
#: :func:`load_policy_weights`.
Explainer = Callable[[List[str], List[str], List[ShapeError]], List[str]]


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


def load_model_config(path: PathLike, extra_keys: Collection[str] = ()) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """Read ``(policy_kwargs, pi_head_kwargs)`` from an official ``.model`` pickle or a YAML config.

    * ``.yaml`` / ``.yml``: a mapping with ``policy_kwargs:`` (required) and ``pi_head_kwargs:`` (optional, default
      ``{}``); other top-level keys are ignored, so a stage config may hold the model config.
    * anything else: a pickle of ``{'model': {'args': {'net': {'args': policy_kwargs}, 'pi_head_opts':
      pi_head_kwargs}}}`` (other keys ignored).

    ``pi_head_kwargs['temperature']`` is cast with ``float()``. The ``policy_kwargs`` keys are checked against
    :data:`VPT.lib.policy_kwargs.POLICY_KWARGS_KEYS` plus ``extra_keys``.

    Args:
        path: the config file.
        extra_keys: ``policy_kwargs`` names accepted besides VPT's own: the extra arguments of an extended network
            (a ``MinecraftAgentPolicy.net_class`` subclass). They are returned in ``policy_kwargs``; a plain
            ``MinecraftPolicy`` refuses them, so whoever builds one from such a config removes them first.

    Returns:
        ``(policy_kwargs, pi_head_kwargs)``, deep copies.

    Raises:
        FileNotFoundError: no such file.
        ValueError: unreadable file, wrong nesting, or unknown keys (the message names the file).
    """
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
    accepted = POLICY_KWARGS_KEYS | frozenset(extra_keys)
    unknown = set(policy_kwargs) - accepted
    if unknown:
        raise ValueError(f"{path}: unknown policy_kwargs {sorted(unknown)}; accepted: {sorted(accepted)}")
    if "temperature" in pi_head_kwargs:
        try:
            pi_head_kwargs["temperature"] = float(pi_head_kwargs["temperature"])
        except (TypeError, ValueError) as e:
            raise ValueError(f"{path}: pi_head temperature must be a number, got {pi_head_kwargs['temperature']!r}") from e
    return policy_kwargs, pi_head_kwargs


def read_state_dict(path: PathLike) -> Dict[str, torch.Tensor]:
    """Read a ``torch.save(state_dict)`` weights file onto the CPU, stripping a leading ``policy.`` or
    ``module.policy.`` from every key (:data:`STRIPPED_PREFIXES`: checkpoints of training loops that wrap the policy).

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


def _module_of(key: str) -> str:
    return key.rsplit(".", 1)[0]


def _extension_causes(own_keys: List[str], missing: List[str], unexpected: List[str]) -> List[str]:
    """Causes for the signature of an extended policy: one side has whole modules the other lacks entirely, and the
    keys agree otherwise (transformer blocks are left to the block-count cause)."""
    blocks = "net.recurrent_layer.blocks."
    missing = [k for k in missing if not k.startswith(blocks)]
    unexpected = [k for k in unexpected if not k.startswith(blocks)]
    own_modules = {_module_of(k) for k in own_keys}
    missing_set = set(missing)
    file_modules = {_module_of(k) for k in own_keys if k not in missing_set} | {_module_of(k) for k in unexpected}
    if unexpected and not missing and not {_module_of(k) for k in unexpected} & own_modules:
        modules = sorted({_module_of(k) for k in unexpected})
        return [f"the file has whole modules this policy lacks ({_abbreviate(modules)}): these are the weights of a "
                "policy that extends this network with them (a MinecraftAgentPolicy subclass with another "
                "net_class, e.g. a conditioned policy): load them with that policy, or pass strict=False to ignore "
                "those tensors"]
    if missing and not unexpected and not {_module_of(k) for k in missing} & file_modules:
        modules = sorted({_module_of(k) for k in missing})
        return [f"the file lacks whole modules of this policy ({_abbreviate(modules)}): these are the weights of "
                "the network it extends: load them into that network, or pass strict=False to load the rest and "
                "keep those modules' initialisation"]
    return []


def _diagnose(path: Path, own_keys: List[str], missing: List[str], unexpected: List[str],
              shape_errors: List[ShapeError], explain: Optional[Explainer] = None) -> str:
    """Human-readable explanation of a state-dict mismatch: the keys, then the likely causes (``explain``'s first)."""
    lines = [f"{path}: the weights do not fit this policy."]
    if missing:
        lines.append(f"  missing keys ({len(missing)}): {_abbreviate(missing)}")
    if unexpected:
        lines.append(f"  unexpected keys ({len(unexpected)}): {_abbreviate(unexpected)}")
    for key, in_file, in_policy in shape_errors[:6]:
        lines.append(f"  shape of {key}: {list(in_file)} in the file, {list(in_policy)} in the policy")
    if len(shape_errors) > 6:
        lines.append(f"  ... ({len(shape_errors) - 6} more shape mismatches)")

    causes = list(explain(missing, unexpected, shape_errors)) if explain is not None else []
    if not causes:
        causes += _extension_causes(own_keys, missing, unexpected)
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
            causes.append("the key names differ: is this a VPT policy state dict (keys net.*, pi_head.*, value_head.*)?")
        elif missing:
            causes.append("the file lacks part of the network (an incomplete or differently configured checkpoint)")
        else:
            causes.append("the file has parameters this policy does not (a different architecture)")
    lines.append("  likely cause: " + "; ".join(dict.fromkeys(causes)))
    return "\n".join(lines)


def load_policy_weights(policy: nn.Module, path: PathLike, strict: bool = True, explain: Optional[Explainer] = None,
                        state_dict: Optional[Mapping[str, torch.Tensor]] = None) -> IncompatibleKeys:
    """Load a weights file into ``policy`` (any ``nn.Module``; normally a ``MinecraftAgentPolicy``).

    Official ``.weights`` files are ``torch.save(policy.state_dict())`` without prefix; a leading ``policy.`` /
    ``module.policy.`` is stripped (see :func:`read_state_dict`). Tensors are copied onto the policy's device/dtype.

    Args:
        policy: the module to fill.
        path: the weights file (named in errors).
        strict: raise on missing or unexpected keys (shape mismatches always raise). With ``strict=False`` the
            matching keys are loaded and the others reported in the return value.
        explain: ``explain(missing keys, unexpected keys, [(key, shape in file, shape in policy)])`` -> list of
            likely causes (sentences) for a mismatch; a package that extends the policy passes one that recognises
            its own modules. Default: the policy's ``explain_weights_mismatch`` method when it has one
            (``MinecraftAgentPolicy`` and its subclasses). Its causes come first and replace the generic "whole
            modules" cause.
        state_dict: the file's tensors when the caller already read them with :func:`read_state_dict` (the file
            is then not read again).

    Returns:
        :class:`IncompatibleKeys` (empty lists after a strict load).

    Raises:
        FileNotFoundError: no such file.
        WeightsLoadError: unreadable file, or keys/shapes that do not fit, with the likely cause (e.g. "the file
            has whole modules this policy lacks (net.x): these are the weights of a policy that extends this
            network with them ...").
    """
    path = Path(path)
    state_dict = read_state_dict(path) if state_dict is None else dict(state_dict)
    own = policy.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    shape_errors = [
        (k, tuple(state_dict[k].shape), tuple(own[k].shape))
        for k in own
        if k in state_dict and tuple(state_dict[k].shape) != tuple(own[k].shape)
    ]
    if shape_errors or (strict and (missing or unexpected)):
        if explain is None:
            explain = getattr(policy, "explain_weights_mismatch", None)
        raise WeightsLoadError(_diagnose(path, list(own), missing, unexpected, shape_errors, explain))
    policy.load_state_dict({k: v for k, v in state_dict.items() if k in own}, strict=False)
    return IncompatibleKeys(missing, unexpected)
