"""CrafterCLIP: a small video-text model that gives Crafter the goal space MineCLIP gives Minecraft (spec §3.4).

Two towers map a 16-frame clip and a caption into one ``embed_dim``-d space (512, as MineCLIP), trained with a
CLIP contrastive loss with a learned logit scale (Radford et al. 2021; MineCLIP, Fan et al. 2022 §4):

* :class:`VideoEncoder`: a per-frame CNN on 64x64 RGB frames (NatureCNN-shaped: 8x8/4, 4x4/2, 3x3/1 convolutions,
  then a linear layer to ``width``), learned temporal position embeddings, a small transformer over the 16 frame
  features, mean pooling and a linear projection. The per-frame part (:meth:`VideoEncoder.encode_frames`) and the
  temporal part (:meth:`VideoEncoder.pool`) are separate so a whole episode's clips share the frame features.
* :class:`TextEncoder`: word embeddings of the closed caption vocabulary (:mod:`.captions`), position embeddings,
  a small transformer, masked mean pooling and a linear projection.

:func:`clip_loss` is the symmetric CLIP loss adapted to a closed caption set: a batch holds many clips with the same
caption, so texts are de-duplicated and every clip of a text is its positive (text -> video averages over them),
and a caption that is *true* of a clip without being its target (e.g. "walk left" for a clip captioned "collect
wood" in which the player also walked left) is left out of that clip's softmax instead of counting as a negative.

The model does no file I/O; saving/loading lives in :mod:`.embedder`.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

#: Pixel normalisation: uint8 -> [0, 1] -> (x - mean) / std, per channel (RGB).
PIXEL_MEAN = (0.5, 0.5, 0.5)
PIXEL_STD = (0.25, 0.25, 0.25)


class FrameCNN(nn.Module):
    """Per-frame encoder: float [N, 3, H, W] (normalised) -> float [N, width].

    Three ReLU convolutions (``channels[0]`` 8x8 stride 4, ``channels[1]`` 4x4 stride 2, ``channels[2]`` 3x3
    stride 1; on 64x64 frames: 15x15, 6x6, 4x4 maps), flattened, then Linear -> ``width`` and ReLU.
    """

    def __init__(self, frame_size: tuple[int, int] = (64, 64), channels: tuple[int, int, int] = (32, 64, 64),
                 width: int = 256):
        super().__init__()
        c1, c2, c3 = channels
        self.convs = nn.Sequential(
            nn.Conv2d(3, c1, 8, stride=4), nn.ReLU(),
            nn.Conv2d(c1, c2, 4, stride=2), nn.ReLU(),
            nn.Conv2d(c2, c3, 3, stride=1), nn.ReLU(),
        )
        h, w = frame_size
        for k, s in ((8, 4), (4, 2), (3, 1)):
            h, w = (h - k) // s + 1, (w - k) // s + 1
        if h < 1 or w < 1:
            raise ValueError(f"frame_size {frame_size} is too small for the CNN (needs >= 36x36 pixels)")
        self.fc = nn.Linear(c3 * h * w, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.convs(x.contiguous(memory_format=torch.channels_last))
        return F.relu(self.fc(x.flatten(1)))


def _transformer(width: int, heads: int, layers: int, dropout: float) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(width, heads, dim_feedforward=2 * width, dropout=dropout, activation="gelu",
                                       batch_first=True, norm_first=True)
    return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)


class VideoEncoder(nn.Module):
    """Clip encoder: uint8 [B, T, H, W, 3] RGB -> float32 [B, embed_dim] (not normalised).

    Args:
        frame_size: (H, W) of the frames (64x64 for Crafter).
        frames_per_clip: T (16, as MineCLIP).
        channels, width: the per-frame CNN's channels and feature size.
        heads, layers: the temporal transformer's size (``layers = 0``: mean pooling only).
        embed_dim: output size.
        dropout: in the temporal transformer.
    """

    def __init__(self, frame_size: tuple[int, int] = (64, 64), frames_per_clip: int = 16,
                 channels: tuple[int, int, int] = (32, 64, 64), width: int = 256, heads: int = 4, layers: int = 1,
                 embed_dim: int = 512, dropout: float = 0.0):
        super().__init__()
        self.frame_size = tuple(frame_size)
        self.frames_per_clip = int(frames_per_clip)
        self.cnn = FrameCNN(self.frame_size, tuple(channels), width)
        self.pos_embed = nn.Parameter(torch.zeros(self.frames_per_clip, width))
        nn.init.normal_(self.pos_embed, std=0.02)
        self.temporal = _transformer(width, heads, layers, dropout) if layers > 0 else None
        self.norm = nn.LayerNorm(width)
        self.proj = nn.Linear(width, embed_dim)
        self.register_buffer("pixel_mean", torch.tensor(PIXEL_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(PIXEL_STD).view(1, 3, 1, 1), persistent=False)

    def encode_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 [N, H, W, 3] RGB -> float [N, width] per-frame features.

        Raises:
            ValueError: wrong dtype or shape.
        """
        if frames.dtype != torch.uint8 or frames.ndim != 4 or tuple(frames.shape[1:]) != (*self.frame_size, 3):
            raise ValueError(f"expected uint8 frames [N, {self.frame_size[0]}, {self.frame_size[1]}, 3], "
                             f"got {frames.dtype} {list(frames.shape)}")
        x = frames.permute(0, 3, 1, 2).float().div_(255.0)
        x = (x - self.pixel_mean) / self.pixel_std
        return self.cnn(x)

    def pool(self, features: torch.Tensor) -> torch.Tensor:
        """float [B, T, width] frame features of B clips -> float [B, embed_dim] clip embeddings."""
        if features.ndim != 3 or features.shape[1] != self.frames_per_clip:
            raise ValueError(f"expected frame features [B, {self.frames_per_clip}, width], got {list(features.shape)}")
        x = features + self.pos_embed
        if self.temporal is not None:
            x = self.temporal(x)
        return self.proj(self.norm(x.mean(dim=1)))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 [B, T, H, W, 3] RGB -> float [B, embed_dim].

        Raises:
            ValueError: wrong dtype, rank, T or frame size.
        """
        if frames.ndim != 5 or frames.shape[1] != self.frames_per_clip:
            raise ValueError(f"expected uint8 clips [B, {self.frames_per_clip}, H, W, 3], got {list(frames.shape)}")
        b, t = frames.shape[:2]
        features = self.encode_frames(frames.reshape(b * t, *frames.shape[2:]))
        return self.pool(features.view(b, t, -1))


class TextEncoder(nn.Module):
    """Caption encoder: int64 tokens [B, L] (0 = padding) -> float32 [B, embed_dim] (not normalised).

    Args:
        vocab_size: words in the tokenizer's vocabulary (including ``<pad>`` and ``<unk>``).
        max_len: tokens per text L.
        width, heads, layers: the transformer's size (``layers = 0``: bag of word embeddings).
        embed_dim: output size.
    """

    def __init__(self, vocab_size: int, max_len: int = 16, width: int = 128, heads: int = 4, layers: int = 1,
                 embed_dim: int = 512, dropout: float = 0.0):
        super().__init__()
        self.max_len = int(max_len)
        self.token_embed = nn.Embedding(vocab_size, width, padding_idx=0)
        self.pos_embed = nn.Parameter(torch.zeros(self.max_len, width))
        nn.init.normal_(self.pos_embed, std=0.02)
        self.transformer = _transformer(width, heads, layers, dropout) if layers > 0 else None
        self.norm = nn.LayerNorm(width)
        self.proj = nn.Linear(width, embed_dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if tokens.dtype != torch.int64 or tokens.ndim != 2 or tokens.shape[1] != self.max_len:
            raise ValueError(f"expected int64 tokens [B, {self.max_len}], got {tokens.dtype} {list(tokens.shape)}")
        mask = tokens != 0  # [B, L]
        x = self.token_embed(tokens) + self.pos_embed
        if self.transformer is not None:
            x = self.transformer(x, src_key_padding_mask=~mask)
        weights = mask.unsqueeze(-1).float()
        x = (x * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        return self.proj(self.norm(x))


class CrafterCLIP(nn.Module):
    """The two towers and the learned logit scale (init 1/0.07 as CLIP, clamped to <= 100).

    Args:
        vocab_size: size of the caption vocabulary.
        video: kwargs of :class:`VideoEncoder` (its ``embed_dim`` is set to ``embed_dim``).
        text: kwargs of :class:`TextEncoder` (idem).
        embed_dim: size D of the shared space (512, as MineCLIP).
    """

    def __init__(self, vocab_size: int, video: Optional[dict] = None, text: Optional[dict] = None,
                 embed_dim: int = 512):
        super().__init__()
        self.embed_dim = int(embed_dim)
        self.video = VideoEncoder(**{**(video or {}), "embed_dim": self.embed_dim})
        self.text = TextEncoder(vocab_size, **{**(text or {}), "embed_dim": self.embed_dim})
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def encode_video(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 [B, 16, H, W, 3] RGB -> float [B, D] (not normalised)."""
        return self.video(frames)

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        """int64 [B, L] -> float [B, D] (not normalised)."""
        return self.text(tokens)

    def scale(self) -> torch.Tensor:
        """exp(logit_scale), clamped to at most 100 (CLIP)."""
        return self.logit_scale.clamp(max=math.log(100.0)).exp()


def clip_loss(video_embeds: torch.Tensor, text_embeds: torch.Tensor, target: torch.Tensor,
              ignore: Optional[torch.Tensor], scale: torch.Tensor) -> torch.Tensor:
    """Symmetric CLIP loss over B clips and M distinct texts.

    Args:
        video_embeds: float [B, D] (normalised here).
        text_embeds: float [M, D] of the distinct texts of the batch (normalised here).
        target: int64 [B], index in [0, M) of each clip's text.
        ignore: optional bool [B, M]: pairs left out of both softmaxes (texts true of a clip but not its target);
            ``ignore[i, target[i]]`` must be False.
        scale: the logit scale (a scalar tensor).

    Returns:
        scalar: ``(CE(video -> text) + mean over texts of the mean -log p(video | text) over its clips)) / 2``;
        with M = B distinct texts and no ignored pair this is exactly CLIP's loss.
    """
    v = F.normalize(video_embeds.float(), dim=-1)
    t = F.normalize(text_embeds.float(), dim=-1)
    logits = scale * v @ t.T  # [B, M]
    if ignore is not None:
        logits = logits.masked_fill(ignore, float("-inf"))
    loss_v2t = F.cross_entropy(logits, target)
    positive = F.one_hot(target, t.shape[0]).bool()  # [B, M]
    log_p_video = torch.log_softmax(logits, dim=0).masked_fill(~positive, 0.0)
    counts = positive.sum(0)
    present = counts > 0
    loss_t2v = -(log_p_video.sum(0)[present] / counts[present]).mean()
    return (loss_v2t + loss_t2v) / 2
