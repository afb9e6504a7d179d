"""Goal embedders: the interface the pipeline uses to turn 16-frame clips and texts into goal embeddings.

PTGM's goals are embeddings of a 16-frame window of the agent's camera (spec §0, §3.4): the low-level policy is
conditioned on them, the codebook clusters them, and text prompts are embedded into the same space. Which model
makes them is configuration: :class:`MineCLIPEmbedder` for Minecraft, ``CrafterCLIPEmbedder``
(``tasks/crafter/crafterclip``) for Crafter. Both implement :class:`GoalEmbedder`; the pipeline (dataset
embedding, relabeling, codebook, prompting) uses only this interface.
"""
from __future__ import annotations

import abc
import os
from typing import Optional, Sequence, Tuple, Union

import numpy as np
import torch

from steve1.mineclip.frames import resize_for_mineclip
from steve1.mineclip.loading import DEFAULT_MINECLIP_PATH, load_mineclip
from steve1.mineclip.mineclip import MineCLIP
from steve1.mineclip.tokenizer import DEFAULT_VOCAB_PATH, ClipTokenizer

__all__ = ["GoalEmbedder", "MineCLIPEmbedder", "GOAL_WINDOW"]

#: Frames per goal clip (MineCLIP's video length; STEVE-1 goals embed frames ``[t-15, t]``).
GOAL_WINDOW = 16

Frames = Union[np.ndarray, torch.Tensor]


class GoalEmbedder(abc.ABC):
    """Maps clips of ``window`` frames and texts to goal embeddings of size ``embed_dim``.

    Attributes:
        embed_dim: size ``D`` of an embedding.
        window: frames per clip (16).
        frame_size: ``(height, width)`` the model sees; frames of another size are resized by ``encode_video``.
        device: where the model runs; outputs are on this device.

    Embeddings are float32 and **not** L2-normalised (as stored by STEVE-1, spec §3.4); normalise where cosine
    similarity is meant (codebook labels, rewards).

    Optional per-frame path: an embedder whose clip embedding pools independent per-frame features (MineCLIP)
    may also provide ``encode_frames(frames uint8 [N, H, W, 3]) -> float32 [N, F]`` and
    ``pool_frames(features [B, window, F]) -> float32 [B, embed_dim]`` with
    ``pool_frames(stack of encode_frames) == encode_video``; ``steve1.data.generation.window_embedding`` then
    encodes each frame of an episode once instead of ``window`` times.
    """

    embed_dim: int
    window: int = GOAL_WINDOW
    frame_size: Tuple[int, int]
    device: torch.device

    @abc.abstractmethod
    def encode_video(self, frames: Frames) -> torch.Tensor:
        """Embed clips.

        Args:
            frames: uint8 ``[B, window, H, W, 3]`` RGB, channels last (the EpisodeStorage layout), numpy or torch;
                any ``H, W`` (resized to ``frame_size``).

        Returns:
            float32 ``[B, embed_dim]`` on ``device``.

        Raises:
            ValueError: wrong dtype, rank, channel count or number of frames.
        """

    @abc.abstractmethod
    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:
        """Embed texts: list of ``B`` strings -> float32 ``[B, embed_dim]`` on ``device``, in the video space."""

    def check_video(self, frames: Frames) -> Frames:
        """Validate ``frames`` as uint8 ``[B, window, H, W, 3]``; returns them unchanged.

        Raises:
            ValueError: naming what is wrong.
        """
        shape = tuple(frames.shape)
        dtype_ok = frames.dtype == (torch.uint8 if torch.is_tensor(frames) else np.uint8)
        if not dtype_ok or len(shape) != 5 or shape[-1] != 3 or shape[1] != self.window:
            raise ValueError(
                f"{type(self).__name__}.encode_video expects uint8 frames [B, {self.window}, H, W, 3] (RGB, channels "
                f"last); got dtype {frames.dtype} shape {shape}"
            )
        return frames


class MineCLIPEmbedder(GoalEmbedder):
    """:class:`GoalEmbedder` backed by MineCLIP (the STEVE-1/PTGM goal space, spec §3.3-§3.4).

    Frames are resized to 160x256 exactly as STEVE-1 does for MineCLIP
    (:func:`steve1.mineclip.frames.resize_for_mineclip`: ``cv2.INTER_LINEAR``), then channels-first into
    ``MineCLIP.encode_video``. Give it the **raw** 360x640 env frames when you have them: that reproduces the
    official dataset embeddings. Frames already 160x256 are used as they are. With only 128x128 agent frames
    (the frames.mp4 an EpisodeStorage keeps), they are upsampled to 160x256; this restores the aspect ratio but
    not the detail lost at 128x128, so those embeddings are close to, not equal to, the official ones: embed a
    dataset from raw frames at conversion time when it must match STEVE-1 checkpoints.

    Args:
        model: a loaded :class:`MineCLIP` (put in eval mode here).
        tokenizer: CLIP BPE tokenizer; if ``None`` one is read from ``vocab_path`` on the first ``encode_text``.
        vocab_path: the BPE vocabulary, default ``downloads/bpe_simple_vocab_16e6.txt.gz``.
        amp: on CUDA, run under float16 autocast as STEVE-1's dataset generation did (outputs still float32).
    """

    def __init__(
        self,
        model: MineCLIP,
        tokenizer: Optional[ClipTokenizer] = None,
        vocab_path: Union[str, os.PathLike] = DEFAULT_VOCAB_PATH,
        amp: bool = False,
    ):
        self.model = model.eval()
        self._tokenizer = tokenizer
        self._vocab_path = vocab_path
        self.amp = amp
        self.embed_dim = model.feature_dim
        self.frame_size = model.resolution
        self.context_length = model.clip_config["context_length"]
        self.device = next(model.parameters()).device

    @classmethod
    def from_checkpoint(
        cls,
        path: Union[str, os.PathLike] = DEFAULT_MINECLIP_PATH,
        device: Union[str, torch.device] = "cpu",
        vocab_path: Union[str, os.PathLike] = DEFAULT_VOCAB_PATH,
        amp: bool = False,
        **load_kwargs,
    ) -> "MineCLIPEmbedder":
        """Load MineCLIP with :func:`~steve1.mineclip.loading.load_mineclip` (``load_kwargs`` passed on)."""
        return cls(load_mineclip(path, device=device, **load_kwargs), vocab_path=vocab_path, amp=amp)

    @property
    def tokenizer(self) -> ClipTokenizer:
        if self._tokenizer is None:
            self._tokenizer = ClipTokenizer(self._vocab_path)
            if self._tokenizer.vocab_size != self.model.clip_config["vocab_size"]:
                raise ValueError(
                    f"{self._vocab_path}: vocabulary of {self._tokenizer.vocab_size} tokens, but the MineCLIP text "
                    f"tower has {self.model.clip_config['vocab_size']}"
                )
        return self._tokenizer

    def _autocast(self):
        enabled = self.amp and self.device.type == "cuda"
        return torch.autocast(device_type=self.device.type, dtype=torch.float16, enabled=enabled)

    def _to_model_frames(self, frames: Frames) -> torch.Tensor:
        """uint8 ``[..., H, W, 3]`` -> uint8 ``[..., 3, 160, 256]`` on ``device`` (resized if needed)."""
        if tuple(frames.shape[-3:-1]) != self.frame_size:
            array = frames.cpu().numpy() if torch.is_tensor(frames) else np.asarray(frames)
            flat = array.reshape(-1, *array.shape[-3:])
            resized = np.stack([resize_for_mineclip(np.ascontiguousarray(f)) for f in flat])
            frames = resized.reshape(*array.shape[:-3], *self.frame_size, 3)
        video = frames if torch.is_tensor(frames) else torch.from_numpy(np.ascontiguousarray(frames))
        return video.to(self.device).movedim(-1, -3)

    @torch.no_grad()
    def encode_video(self, frames: Frames) -> torch.Tensor:
        """uint8 ``[B, 16, H, W, 3]`` RGB -> float32 ``[B, 512]`` MineCLIP video embeddings (see the class doc)."""
        video = self._to_model_frames(self.check_video(frames))
        with self._autocast():
            return self.model.encode_video(video).float()

    @torch.no_grad()
    def encode_frames(self, frames: Frames) -> torch.Tensor:
        """Per-frame path: uint8 ``[N, H, W, 3]`` RGB -> float32 ``[N, 512]`` per-frame MineCLIP image features.

        Raises:
            ValueError: not uint8 ``[N, H, W, 3]``.
        """
        is_uint8 = frames.dtype == (torch.uint8 if torch.is_tensor(frames) else np.uint8)
        if not is_uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(
                f"MineCLIPEmbedder.encode_frames expects uint8 frames [N, H, W, 3]; got {frames.dtype} "
                f"{tuple(frames.shape)}"
            )
        with self._autocast():
            return self.model.forward_image_features(self._to_model_frames(frames)).float()

    @torch.no_grad()
    def pool_frames(self, features: torch.Tensor) -> torch.Tensor:
        """Per-frame path: float ``[B, 16, 512]`` features of :meth:`encode_frames` -> float32 ``[B, 512]`` goal
        embeddings, equal to :meth:`encode_video` of the same frames."""
        with self._autocast():
            return self.model.forward_video_features(features.to(self.device)).float()

    @torch.no_grad()
    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:
        """List of ``B`` strings -> float32 ``[B, 512]`` MineCLIP text embeddings (STEVE-1 feeds them to the
        text->goal prior :class:`steve1.data.text_alignment.vae.TranslatorVAE`)."""
        if isinstance(texts, str):
            raise TypeError("encode_text expects a list of strings, got a single str")
        tokens = self.tokenizer(list(texts), context_length=self.context_length).to(self.device)
        with self._autocast():
            return self.model.encode_text(tokens).float()
