"""The CrafterCLIP model file and :class:`CrafterCLIPEmbedder`, the Crafter :class:`~steve1.mineclip.GoalEmbedder`.

Model file (``downloads/crafter/crafterclip.pt``, written by ``tasks/crafter/crafterclip/train.py``): a
``torch.save`` dict

=================  ==============================================================================================
``format``         ``"crafterclip"``
``version``        :data:`FORMAT_VERSION`
``model_kwargs``   ``CrafterCLIP(**model_kwargs)`` rebuilds the architecture (vocab_size, video, text, embed_dim)
``vocab``          the tokenizer's word list (index = token id), ``max_len`` its length
``state_dict``     float32 weights
``captions``       the caption set the model was trained on (:data:`.captions.CAPTIONS`)
``info``           free-form: config, data, evaluation summary
=================  ==============================================================================================

Loaded with ``weights_only=True`` (no pickled code runs).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import cv2
import numpy as np
import torch

from steve1.mineclip.embedder import Frames, GoalEmbedder
from steve1.utils.io import atomic_torch_save
from tasks.crafter.crafterclip.captions import CAPTIONS, WordTokenizer
from tasks.crafter.crafterclip.model import CrafterCLIP

PathLike = Union[str, os.PathLike]
FORMAT = "crafterclip"
FORMAT_VERSION = 1
DEFAULT_CRAFTERCLIP_PATH = "downloads/crafter/crafterclip.pt"
_REQUIRED_KEYS = ("format", "version", "model_kwargs", "vocab", "max_len", "state_dict")


class CrafterCLIPFileError(ValueError):
    """A CrafterCLIP model file is missing, unreadable or does not match the architecture; names the file."""


def save_crafterclip(path: PathLike, model: CrafterCLIP, model_kwargs: dict, tokenizer: WordTokenizer,
                     info: Optional[dict] = None) -> None:
    """Write the model file atomically (temporary file + ``os.replace``); format in the module docstring."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "model_kwargs": model_kwargs,
        "vocab": list(tokenizer.vocab),
        "max_len": tokenizer.max_len,
        "state_dict": {k: v.detach().float().cpu().clone() for k, v in model.state_dict().items()},
        "captions": list(CAPTIONS),
        "info": info or {},
    }
    atomic_torch_save(payload, path)


def load_crafterclip(path: PathLike = DEFAULT_CRAFTERCLIP_PATH, device: Union[str, torch.device] = "cpu"
                     ) -> tuple[CrafterCLIP, WordTokenizer, dict[str, Any]]:
    """Read a model file. Returns ``(model in eval mode on device, tokenizer, the file's dict without weights)``.

    Raises:
        FileNotFoundError: no such file (the message says how to make one).
        CrafterCLIPFileError: not a CrafterCLIP file, another format version, or weights that do not fit.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"CrafterCLIP model file not found: {path} (train one with "
                                f"`python tasks/crafter/crafterclip/train.py --out {path}`)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise CrafterCLIPFileError(f"{path}: cannot read as a torch file: {type(e).__name__}: {e}") from e
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CrafterCLIPFileError(f"{path}: not a CrafterCLIP model file (format {found!r}, expected {FORMAT!r})")
    missing = [k for k in _REQUIRED_KEYS if k not in payload]
    if missing:
        raise CrafterCLIPFileError(f"{path}: CrafterCLIP file lacks {missing}")
    if payload["version"] != FORMAT_VERSION:
        raise CrafterCLIPFileError(f"{path}: CrafterCLIP file version {payload['version']}, this code reads "
                                   f"version {FORMAT_VERSION}")
    try:
        tokenizer = WordTokenizer(payload["vocab"], payload["max_len"])
        model = CrafterCLIP(**payload["model_kwargs"])
        model.load_state_dict(payload["state_dict"], strict=True)
    except (TypeError, ValueError, RuntimeError) as e:
        raise CrafterCLIPFileError(f"{path}: weights do not fit the stored architecture: {e}") from e
    meta = {k: v for k, v in payload.items() if k != "state_dict"}
    return model.to(device).eval(), tokenizer, meta


class CrafterCLIPEmbedder(GoalEmbedder):
    """:class:`~steve1.mineclip.GoalEmbedder` backed by CrafterCLIP (``embed_dim`` 512, ``window`` 16, 64x64).

    Embeddings are float32 and not L2-normalised, as MineCLIP's (spec §3.4).

    Args:
        model: a :class:`CrafterCLIP` (put in eval mode here).
        tokenizer: its :class:`WordTokenizer`.
    """

    def __init__(self, model: CrafterCLIP, tokenizer: WordTokenizer):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.embed_dim = model.embed_dim
        self.window = model.video.frames_per_clip
        self.frame_size = tuple(model.video.frame_size)
        self.device = next(model.parameters()).device

    @classmethod
    def from_checkpoint(cls, path: PathLike = DEFAULT_CRAFTERCLIP_PATH, device: Union[str, torch.device] = "cpu"
                        ) -> "CrafterCLIPEmbedder":
        """Load a model file (:func:`load_crafterclip`; same errors)."""
        model, tokenizer, _ = load_crafterclip(path, device)
        return cls(model, tokenizer)

    def _to_frames(self, frames: Frames, leading: int) -> torch.Tensor:
        """uint8 [..., H, W, 3] (numpy or torch) -> uint8 torch on device, resized to ``frame_size`` (INTER_AREA)."""
        if tuple(frames.shape[leading:leading + 2]) != self.frame_size:
            array = frames.cpu().numpy() if torch.is_tensor(frames) else np.asarray(frames)
            lead = array.shape[:leading]
            flat = array.reshape(-1, *array.shape[leading:])
            h, w = self.frame_size
            flat = np.stack([cv2.resize(np.ascontiguousarray(f), (w, h), interpolation=cv2.INTER_AREA) for f in flat])
            frames = flat.reshape(*lead, h, w, 3)
        video = frames if torch.is_tensor(frames) else torch.from_numpy(np.ascontiguousarray(frames))
        return video.to(self.device)

    @torch.no_grad()
    def encode_video(self, frames: Frames) -> torch.Tensor:
        """uint8 ``[B, 16, H, W, 3]`` RGB -> float32 ``[B, 512]`` (frames of another size are resized to 64x64).

        Raises:
            ValueError: wrong dtype, rank, channel count or number of frames.
        """
        video = self._to_frames(self.check_video(frames), leading=2)
        return self.model.encode_video(video).float()

    @torch.no_grad()
    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:
        """List of ``B`` strings -> float32 ``[B, 512]``; words outside the caption vocabulary become ``<unk>``.

        Raises:
            TypeError: a single str instead of a list.
        """
        tokens = torch.from_numpy(self.tokenizer(texts)).to(self.device)
        return self.model.encode_text(tokens).float()

    @torch.no_grad()
    def encode_frames(self, frames: Frames) -> torch.Tensor:
        """Per-frame features, the first half of :meth:`encode_video` (used by
        :func:`steve1.data.generation.window_embedding.embed_episode_windows` to encode each frame of an episode once
        instead of once per clip).

        Args:
            frames: uint8 ``[N, H, W, 3]`` RGB (resized to 64x64 if needed).

        Returns:
            float32 ``[N, width]`` on ``device``.

        Raises:
            ValueError: wrong dtype or shape.
        """
        shape = tuple(frames.shape)
        is_uint8 = frames.dtype == (torch.uint8 if torch.is_tensor(frames) else np.uint8)
        if not is_uint8 or len(shape) != 4 or shape[-1] != 3:
            raise ValueError(f"{type(self).__name__}.encode_frames expects uint8 frames [N, H, W, 3], got dtype "
                             f"{frames.dtype} shape {shape}")
        return self.model.video.encode_frames(self._to_frames(frames, leading=1)).float()

    @torch.no_grad()
    def pool_frames(self, features: torch.Tensor) -> torch.Tensor:
        """Clip embeddings from per-frame features, the second half of :meth:`encode_video`:
        float ``[B, 16, width]`` -> float32 ``[B, 512]``; ``pool_frames(encode_frames(clip frames))`` equals
        ``encode_video`` up to float rounding."""
        return self.model.video.pool(features.to(self.device)).float()
