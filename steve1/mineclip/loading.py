"""Reading MineCLIP checkpoints (spec §3.4, fixtures README §2).

The official ``attn.pth`` is ``{'state_dict': {'model.' + key: tensor}}`` holding every key of
``MineCLIP().state_dict()``, CLIP tensors under three prefixes (``clip_model.*``, ``image_encoder.*``,
``reward_head.clip_model.*``). Upstream ``load_ckpt`` keeps the keys that start with ``model.``, strips it, and
loads strictly. Here every failure is a clear error naming the file, and the three copies of a shared tensor are
checked to be identical (upstream silently keeps the last one).
"""
from __future__ import annotations

import hashlib
import os
import pickle
import warnings
from pathlib import Path
from typing import Dict, Mapping, Optional, Tuple, Union

import torch

from steve1.mineclip.mineclip import MINECLIP_CONFIG, MineCLIP

__all__ = [
    "MINECLIP_ATTN_MD5",
    "DEFAULT_MINECLIP_PATH",
    "file_md5",
    "read_mineclip_state_dict",
    "load_mineclip_state_dict",
    "load_mineclip",
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
    model: MineCLIP, ckpt_or_path: Union[str, os.PathLike, Mapping], strip_prefix: str = "model.", strict: bool = True
):
    """Load an official-layout checkpoint into ``model`` (upstream ``MineCLIP.load_ckpt``).

    Args:
        model: the :class:`MineCLIP` to fill (its config must match the file's).
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


def load_mineclip(
    path: Union[str, os.PathLike] = DEFAULT_MINECLIP_PATH,
    device: Union[str, torch.device] = "cpu",
    md5: Optional[str] = MINECLIP_ATTN_MD5,
    on_md5_mismatch: str = "raise",
    clip_config: Optional[Mapping[str, int]] = None,
    **mineclip_kwargs,
) -> MineCLIP:
    """Build MineCLIP with the STEVE-1/PTGM configuration (spec §3.4), load ``path`` strictly, ``eval()`` it.

    Args:
        path: checkpoint, default :data:`DEFAULT_MINECLIP_PATH`.
        device: where to put the model.
        md5: expected md5 of the file (the official ``attn.pth`` by default); ``None`` skips the check.
        on_md5_mismatch: ``"raise"`` (default) or ``"warn"``.
        clip_config, mineclip_kwargs: override :data:`MINECLIP_CONFIG` / the CLIP sizes (tests, other variants).

    Returns:
        the :class:`MineCLIP` in eval mode on ``device``.

    Raises:
        FileNotFoundError: missing file; ValueError: md5 mismatch (with ``"raise"``) or a wrong checkpoint.
    """
    if on_md5_mismatch not in ("raise", "warn"):
        raise ValueError(f'on_md5_mismatch must be "raise" or "warn", got "{on_md5_mismatch}"')
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"MineCLIP checkpoint not found: {path} (run `bash downloads.sh` to fetch {DEFAULT_MINECLIP_PATH})"
        )
    if md5 is not None:
        actual = file_md5(path)
        if actual != md5:
            msg = f"{path}: md5 {actual} != expected {md5} (incomplete download or another checkpoint)"
            if on_md5_mismatch == "raise":
                raise ValueError(msg + "; pass md5=None to skip the check")
            warnings.warn(msg, stacklevel=2)
    config = {**MINECLIP_CONFIG, **mineclip_kwargs}
    model = MineCLIP(**config, clip_config=clip_config)
    load_mineclip_state_dict(model, path, strict=True)
    return model.to(device).eval()
