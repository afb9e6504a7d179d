"""Reading MineCLIP checkpoints and loading them into a model (spec §3.4, fixtures README §2).

The official ``attn.pth`` is ``{'state_dict': {'model.' + key: tensor}}`` holding every key of
``MineCLIP().state_dict()``, CLIP tensors under three prefixes (``clip_model.*``, ``image_encoder.*``,
``reward_head.clip_model.*``). Upstream ``load_ckpt`` keeps the keys that start with ``model.``, strips it, and
loads strictly. Here every failure is a clear error naming the file, and the three copies of a shared tensor are
checked to be identical (upstream silently keeps the last one).

This module does not import the model (:mod:`steve1.mineclip.mineclip` calls it from ``MineCLIP.load_ckpt``);
building the STEVE-1 configuration and loading the official file is :func:`steve1.mineclip.loading.load_mineclip`.
"""
from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path
from typing import Dict, Mapping, Tuple, Union

import torch
from torch import nn

__all__ = [
    "MINECLIP_ATTN_MD5",
    "DEFAULT_MINECLIP_PATH",
    "file_md5",
    "read_mineclip_state_dict",
    "load_mineclip_state_dict",
]

#: md5 of the official ``attn.pth`` (checked by STEVE-1's ``load_mineclip``).
MINECLIP_ATTN_MD5 = "b5ece9198337cfd117a3bfbd921e56da"
#: Where ``downloads.sh`` puts the official checkpoint (relative to the repository root).
DEFAULT_MINECLIP_PATH = "downloads/mineclip_attn.pth"

_MAX_KEYS_SHOWN = 8


def file_md5(path: Union[str, os.PathLike]) -> str:
    """Hex md5 of a file, read in 1 MiB blocks."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _show(keys) -> str:
    keys = sorted(keys)
    more = f" ... and {len(keys) - _MAX_KEYS_SHOWN} more" if len(keys) > _MAX_KEYS_SHOWN else ""
    return ", ".join(keys[:_MAX_KEYS_SHOWN]) + more


def _torch_load(path: Path) -> object:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        # weights_only refuses arbitrary pickled objects; only the official, checksum-verified file is trusted
        if file_md5(path) == MINECLIP_ATTN_MD5:
            return torch.load(path, map_location="cpu", weights_only=False)
        raise ValueError(
            f"{path}: holds pickled objects other than tensors and is not the official MineCLIP checkpoint "
            f"(md5 != {MINECLIP_ATTN_MD5}); refusing to unpickle it ({err})"
        ) from err
    except Exception as err:  # not a torch file, truncated download, ...
        raise ValueError(f"{path}: cannot be read as a torch checkpoint ({type(err).__name__}: {err})") from err


def read_mineclip_state_dict(
    ckpt_or_path: Union[str, os.PathLike, Mapping], strip_prefix: str = "model."
) -> Tuple[Dict[str, torch.Tensor], str]:
    """Read the MineCLIP weights from an official-layout checkpoint.

    Args:
        ckpt_or_path: a path to ``attn.pth``, or the already loaded dict.
        strip_prefix: only keys starting with it are kept, without it (``"model."``; ``""`` keeps all).

    Returns:
        ``(state_dict, source)``: tensors keyed like ``MineCLIP().state_dict()``, and the file name (or
        ``"<dict>"``) for error messages.

    Raises:
        FileNotFoundError: no such file (run ``bash downloads.sh``).
        ValueError: not a torch file, no ``'state_dict'`` dict inside, or no key with ``strip_prefix``.
    """
    if isinstance(ckpt_or_path, Mapping):
        ckpt, source = ckpt_or_path, "<dict>"
    else:
        path = Path(ckpt_or_path).expanduser()
        source = str(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"MineCLIP checkpoint not found: {path} (the official one is fetched by `bash downloads.sh` "
                f"into {DEFAULT_MINECLIP_PATH})"
            )
        ckpt = _torch_load(path)
    if not isinstance(ckpt, Mapping) or not isinstance(ckpt.get("state_dict"), Mapping):
        top = sorted(ckpt)[:_MAX_KEYS_SHOWN] if isinstance(ckpt, Mapping) else type(ckpt).__name__
        raise ValueError(
            f"{source}: not a MineCLIP checkpoint: expected a dict with a 'state_dict' dict "
            f"(keys 'model.<name>'), found {top}"
        )
    state = {k[len(strip_prefix) :]: v for k, v in ckpt["state_dict"].items() if k.startswith(strip_prefix)}
    if not state:
        raise ValueError(
            f"{source}: no key of 'state_dict' starts with '{strip_prefix}' "
            f"(first keys: {_show(list(ckpt['state_dict'])[:_MAX_KEYS_SHOWN])})"
        )
    return state, source


def load_mineclip_state_dict(
    model: nn.Module, ckpt_or_path: Union[str, os.PathLike, Mapping], strip_prefix: str = "model.", strict: bool = True
):
    """Load an official-layout checkpoint into ``model`` (upstream ``MineCLIP.load_ckpt``).

    Args:
        model: the :class:`~steve1.mineclip.mineclip.MineCLIP` to fill (its config must match the file's; its
            ``resolution`` and ``clip_config`` are named in errors).
        ckpt_or_path: path to ``attn.pth`` or the loaded dict.
        strip_prefix: see :func:`read_mineclip_state_dict`.
        strict: require exactly the model's keys (default, as STEVE-1 loads it).

    Returns:
        ``torch.nn.modules.module._IncompatibleKeys`` listing what was missing/unexpected (empty when strict).

    Raises:
        FileNotFoundError: no such file.
        ValueError: unreadable file; missing or unexpected keys (strict), naming up to 8 of each and the
            counts; a tensor whose shape differs from the model's (a checkpoint for another configuration);
            copies of a shared tensor that differ between the ``clip_model.*``, ``image_encoder.*`` and
            ``reward_head.clip_model.*`` prefixes.
    """
    state, source = read_mineclip_state_dict(ckpt_or_path, strip_prefix)
    own = model.state_dict(keep_vars=True)
    missing = set(own) - set(state)
    unexpected = set(state) - set(own)
    if strict and (missing or unexpected):
        raise ValueError(
            f"{source}: does not match MineCLIP(resolution={model.resolution}, clip_config embed_dim="
            f"{model.clip_config['embed_dim']}): {len(missing)} missing keys [{_show(missing)}], "
            f"{len(unexpected)} unexpected keys [{_show(unexpected)}]"
        )
    bad_shapes = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    if bad_shapes:
        raise ValueError(
            f"{source}: {len(bad_shapes)} tensors have the wrong shape for this MineCLIP configuration "
            f"(a checkpoint of another size?): {'; '.join(bad_shapes[:_MAX_KEYS_SHOWN])}"
        )
    _check_shared_copies(own, state, source)
    return model.load_state_dict(state, strict=strict)


def _check_shared_copies(own: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor], source: str) -> None:
    first_key_of: Dict[int, str] = {}
    for key, param in own.items():
        if key not in state:
            continue
        first = first_key_of.setdefault(id(param), key)
        if first != key and not torch.equal(state[first], state[key]):
            raise ValueError(
                f"{source}: '{first}' and '{key}' are the same tensor in MineCLIP but differ in the checkpoint "
                "(a corrupted or hand-edited file)"
            )
