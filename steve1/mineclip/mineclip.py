"""MineCLIP: a video-text CLIP for Minecraft (Fan et al., MineDojo, NeurIPS 2022; spec §3.4).

``encode_video`` runs the CLIP ViT on every frame of a 16-frame clip and pools the per-frame features over time
(``temporal_encoder``); ``encode_text`` runs the CLIP text tower; the ``reward_head`` adapts the video feature
and scores it against texts by scaled cosine similarity. STEVE-1 and PTGM use ``encode_video`` of 16 consecutive
frames as the goal embedding (not L2-normalised) and ``encode_text`` for text prompts.

Written from the spec and the fixtures, with the official module layout so that the official ``attn.pth`` (and
``shared/fixtures/mineclip_small_attn.pth``) load strictly: the state dict has exactly the keys of
``mineclip_manifest.json`` in the same order. As upstream, ``image_encoder`` *is* ``clip_model.vision_model`` and
``reward_head.clip_model`` *is* ``clip_model``, so every CLIP tensor appears under three prefixes.

Deliberate differences from upstream:

* ``clip_config`` can override the hard-coded ViT-B/16 sizes (upstream builds only the full model); the tests use
  a small configuration (fixtures §7).
* the positional table of the ViT is created at ``resolution`` directly instead of being resized from 224x224
  (the checkpoint stores the resized table, so loaded models are identical);
* ``load_ckpt`` defaults to ``strict=True`` and its errors name the file and the missing/unexpected keys;
* ``encode_text`` takes token ids only: tokenizing (a file read) is done by
  :class:`steve1.mineclip.tokenizer.ClipTokenizer`, outside the model;
* the temporal transformer is our implementation of x-transformers 0.27.1's encoder (:mod:`.temporal`);
* no ``kornia`` resize inside the model: frames must already be ``resolution`` (see
  :class:`steve1.mineclip.embedder.MineCLIPEmbedder` for resizing).
"""
from __future__ import annotations

import os
import re
from typing import Mapping, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from steve1.mineclip.checkpoint import load_mineclip_state_dict
from steve1.mineclip.clip import CLIP
from steve1.mineclip.temporal import TemporalPooling, build_adapter_mlp

__all__ = [
    "MC_IMAGE_MEAN",
    "MC_IMAGE_STD",
    "VIT_B16_CLIP_CONFIG",
    "MINECLIP_CONFIG",
    "VIDEO_SEQ_LEN",
    "CLIPScoreHead",
    "MineCLIP",
    "preprocess_frames",
    "parse_adapter_spec",
]

#: Per-channel RGB mean / std of MineCLIP's pixel normalisation (after dividing by 255).
MC_IMAGE_MEAN: Tuple[float, float, float] = (0.3331, 0.3245, 0.3051)
MC_IMAGE_STD: Tuple[float, float, float] = (0.2439, 0.2493, 0.2873)

#: CLIP sizes hard-coded by upstream MineCLIP for ``arch="vit_base_p16*"`` (ViT-B/16 + 12-layer text tower).
VIT_B16_CLIP_CONFIG = {
    "context_length": 77,
    "embed_dim": 512,
    "image_resolution": 224,
    "text_heads": 8,
    "text_layers": 12,
    "text_width": 512,
    "vision_layers": 12,
    "vision_patch_size": 16,
    "vision_width": 768,
    "vocab_size": 49408,
}

#: The MineCLIP "attn" configuration used by STEVE-1 and PTGM (spec §3.4).
MINECLIP_CONFIG = {
    "arch": "vit_base_p16_fz.v2.t2",
    "hidden_dim": 512,
    "image_feature_dim": 512,
    "mlp_adapter_spec": "v0-2.t0",
    "pool_type": "attn.d2.nh8.glusw",
    "resolution": (160, 256),
}

#: Rows of the temporal positional table: clips of at most 32 frames (MineCLIP uses 16).
VIDEO_SEQ_LEN = 32


def parse_adapter_spec(spec: str) -> Tuple[int, int, int]:
    """``"v<image>-<video>.t<text>"`` -> (image, video, text) adapter MLP depths, e.g. ``"v0-2.t0"`` -> (0, 2, 0).

    Raises:
        ValueError: the spec does not have that form.
    """
    m = re.fullmatch(r"v(\d+)-(\d+)\.t(\d+)", spec)
    if m is None:
        raise ValueError(f'mlp_adapter_spec must look like "v0-2.t0", got "{spec}"')
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def preprocess_frames(frames: torch.Tensor) -> torch.Tensor:
    """MineCLIP pixel normalisation: ``(frames / 255 - MC_IMAGE_MEAN) / MC_IMAGE_STD`` per RGB channel.

    Args:
        frames: uint8 or float ``[..., 3, H, W]`` holding raw 0-255 RGB values (channels first).

    Returns:
        float32 ``[..., 3, H, W]``.

    Raises:
        ValueError: the channel axis (third from last) is not 3.
    """
    if frames.ndim < 3 or frames.shape[-3] != 3:
        raise ValueError(f"MineCLIP frames must be [..., 3, H, W] RGB, channels first; got shape {tuple(frames.shape)}")
    x = frames.float() / 255.0
    mean = torch.tensor(MC_IMAGE_MEAN, dtype=x.dtype, device=x.device).view(3, 1, 1)
    std = torch.tensor(MC_IMAGE_STD, dtype=x.dtype, device=x.device).view(3, 1, 1)
    return (x - mean) / std


def _adapter(dim: int, layers: int) -> nn.Module:
    return build_adapter_mlp(dim, layers) if layers > 0 else nn.Identity()


class CLIPScoreHead(nn.Module):
    """MineCLIP ``reward_head``: residual adapters on the video (and text) feature, then CLIP cosine logits.

    ``adapted = sigmoid(w) * f + (1 - sigmoid(w)) * adapter(f)`` with a learned scalar ``w`` (init 4.0) when the
    adapter has layers, else ``f`` unchanged.

    Args:
        clip_model: the shared :class:`CLIP` (registered here too, as upstream).
        video_adapter_layers, text_adapter_layers: adapter depths (``mlp_adapter_spec``).
        feature_dim: feature size ``F``.
    """

    def __init__(self, clip_model: CLIP, video_adapter_layers: int, text_adapter_layers: int, feature_dim: int):
        super().__init__()
        self.video_residual_weight: Optional[nn.Parameter] = None
        self.text_residual_weight: Optional[nn.Parameter] = None
        if video_adapter_layers > 0:
            self.video_residual_weight = nn.Parameter(torch.tensor(4.0))
        if text_adapter_layers > 0:
            self.text_residual_weight = nn.Parameter(torch.tensor(4.0))
        self.clip_model = clip_model
        self.video_adapter = _adapter(feature_dim, video_adapter_layers)
        self.text_adapter = _adapter(feature_dim, text_adapter_layers)

    @staticmethod
    def _residual(f: torch.Tensor, weight: Optional[torch.Tensor], adapter: nn.Module) -> torch.Tensor:
        if weight is None:
            return adapter(f)
        res = torch.sigmoid(weight)
        return res * f + (1.0 - res) * adapter(f)

    def adapt_video(self, video_features: torch.Tensor) -> torch.Tensor:
        """float ``[B, F]`` -> adapted float ``[B, F]``."""
        return self._residual(video_features, self.video_residual_weight, self.video_adapter)

    def adapt_text(self, text_features: torch.Tensor) -> torch.Tensor:
        """float ``[N, F]`` -> adapted float ``[N, F]``."""
        return self._residual(text_features, self.text_residual_weight, self.text_adapter)

    def forward(self, video_features: torch.Tensor, texts: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Logits between B videos and N texts.

        Args:
            video_features: float ``[B, F]`` (output of ``MineCLIP.encode_video``).
            texts: int64 tokens ``[N, 77]``, or float text features ``[N, F]`` from ``encode_text`` (precomputed
                prompts, as ``ClipReward`` does).

        Returns:
            ``(logits_per_video [B, N], logits_per_text [N, B])``.
        """
        text_features = texts if texts.is_floating_point() else self.clip_model.encode_text(texts)
        return self.clip_model(self.adapt_video(video_features), self.adapt_text(text_features))


class MineCLIP(nn.Module):
    """MineCLIP video/text encoder (upstream ``mineclip.MineCLIP``, spec §3.4).

    Args:
        arch: ``"vit_base_p16..."`` (the only architecture upstream supports).
        resolution: ``(height, width)`` of input frames, ``(160, 256)`` for the released checkpoint.
        pool_type: ``"attn.d2.nh8.glusw"`` (attention pooling) or ``"avg"``.
        image_feature_dim, hidden_dim: feature size; both must equal the CLIP ``embed_dim`` (512).
        mlp_adapter_spec: ``"v<image>-<video>.t<text>"`` adapter depths, ``"v0-2.t0"`` for the release.
        clip_config: overrides of :data:`VIT_B16_CLIP_CONFIG` (any subset of its keys); ``None`` = ViT-B/16.

    Submodules (shared, as upstream): ``clip_model`` (:class:`CLIP`), ``image_encoder`` = ``clip_model.vision_model``,
    ``temporal_encoder`` (:class:`TemporalPooling`), ``reward_head`` (:class:`CLIPScoreHead`, holding
    ``clip_model`` again).

    Raises:
        ValueError: unsupported ``arch``, unknown ``clip_config`` keys, feature sizes that disagree, bad specs.
    """

    def __init__(
        self,
        arch: str = MINECLIP_CONFIG["arch"],
        *,
        resolution: Sequence[int] = MINECLIP_CONFIG["resolution"],
        pool_type: str = MINECLIP_CONFIG["pool_type"],
        image_feature_dim: int = MINECLIP_CONFIG["image_feature_dim"],
        mlp_adapter_spec: str = MINECLIP_CONFIG["mlp_adapter_spec"],
        hidden_dim: int = MINECLIP_CONFIG["hidden_dim"],
        clip_config: Optional[Mapping[str, int]] = None,
    ):
        super().__init__()
        if not arch.startswith("vit_base_p16"):
            raise ValueError(f'MineCLIP: unsupported arch "{arch}" (only "vit_base_p16*" exists)')
        unknown = set(clip_config or {}) - set(VIT_B16_CLIP_CONFIG)
        if unknown:
            raise ValueError(
                f"MineCLIP: unknown clip_config keys {sorted(unknown)}; known: {sorted(VIT_B16_CLIP_CONFIG)}"
            )
        config = {**VIT_B16_CLIP_CONFIG, **(clip_config or {})}
        if not image_feature_dim == hidden_dim == config["embed_dim"]:
            raise ValueError(
                f"MineCLIP: image_feature_dim ({image_feature_dim}), hidden_dim ({hidden_dim}) and the CLIP "
                f"embed_dim ({config['embed_dim']}) must be equal"
            )
        image_layers, video_layers, text_layers = parse_adapter_spec(mlp_adapter_spec)
        self.arch = arch
        self.resolution: Tuple[int, int] = (int(resolution[0]), int(resolution[1]))
        self.clip_config = config
        self.feature_dim = hidden_dim

        clip_model = CLIP(**config, vision_resolution=self.resolution)
        # registration order = official state_dict order: image_encoder, temporal_encoder, reward_head, clip_model
        self.image_encoder = clip_model.vision_model
        self.temporal_encoder = TemporalPooling(pool_type, hidden_dim, image_layers, VIDEO_SEQ_LEN)
        self.reward_head = CLIPScoreHead(clip_model, video_layers, text_layers, hidden_dim)
        self.clip_model = clip_model

    # ---- encoders -------------------------------------------------------------------------------------------
    def forward_image_features(self, frames: torch.Tensor) -> torch.Tensor:
        """Per-frame CLIP image features.

        Args:
            frames: uint8 or float ``[..., 3, H, W]`` raw 0-255 RGB, ``(H, W) == resolution``.

        Returns:
            float32 ``[..., F]``.

        Raises:
            ValueError: wrong channel count or frame size.
        """
        if frames.ndim < 4:
            raise ValueError(f"MineCLIP.forward_image_features: expected [..., 3, H, W], got {tuple(frames.shape)}")
        lead = frames.shape[:-3]
        x = preprocess_frames(frames.reshape(-1, *frames.shape[-3:]))
        features = self.image_encoder(x)
        return features.reshape(*lead, features.shape[-1])

    def forward_video_features(self, image_features: torch.Tensor) -> torch.Tensor:
        """Temporal pooling: float ``[B, L, F]`` (``L <= 32``) -> float ``[B, F]``."""
        if image_features.ndim != 3:
            raise ValueError(
                f"MineCLIP.forward_video_features: expected [B, L, F], got {tuple(image_features.shape)}"
            )
        return self.temporal_encoder(image_features)

    def encode_video(self, videos: torch.Tensor) -> torch.Tensor:
        """Video (goal) embedding of clips.

        Args:
            videos: uint8 or float ``[B, L, 3, H, W]`` raw 0-255 RGB frames (L = 16 for STEVE-1 goals).

        Returns:
            float32 ``[B, F]``, not L2-normalised.
        """
        if videos.ndim != 5:
            raise ValueError(f"MineCLIP.encode_video: expected [B, L, 3, H, W], got {tuple(videos.shape)}")
        return self.forward_video_features(self.forward_image_features(videos))

    def encode_text(self, text_tokens: torch.Tensor) -> torch.Tensor:
        """int64 ``[N, 77]`` CLIP BPE tokens -> float32 ``[N, F]`` text embeddings (not L2-normalised)."""
        return self.clip_model.encode_text(text_tokens)

    def forward_reward_head(
        self, video_features: torch.Tensor, text_tokens: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Scaled cosine logits ``(logits_per_video [B, N], logits_per_text [N, B])``; see :class:`CLIPScoreHead`."""
        return self.reward_head(video_features, text_tokens)

    def forward(
        self, videos: torch.Tensor, text_tokens: torch.Tensor, is_video_features: bool = False
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Logits between videos (``[B, L, 3, H, W]`` frames, or ``[B, F]`` features if ``is_video_features``)
        and texts (tokens ``[N, 77]`` or features ``[N, F]``)."""
        video_features = videos if is_video_features else self.encode_video(videos)
        return self.forward_reward_head(video_features, text_tokens)

    @torch.no_grad()
    def clamp_logit_scale(self, value: float = 100.0) -> None:
        """Clamp ``logit_scale`` to ``[-log(value), log(value)]`` (CLIP training trick)."""
        bound = torch.log(torch.tensor(value)).item()
        self.clip_model.logit_scale.clamp_(-bound, bound)

    # ---- checkpoint -----------------------------------------------------------------------------------------
    def load_ckpt(
        self, ckpt_or_path: Union[str, os.PathLike, Mapping], strip_prefix: str = "model.", strict: bool = True
    ):
        """Load an official-layout checkpoint (``{'state_dict': {'model.' + key: tensor}}``).

        Thin wrapper over :func:`steve1.mineclip.checkpoint.load_mineclip_state_dict` (file reading lives there).
        Unlike upstream (``strict=False``) the default is strict.

        Returns:
            ``torch.nn.modules.module._IncompatibleKeys`` (empty when strict).

        Raises:
            FileNotFoundError, ValueError: see :func:`~steve1.mineclip.checkpoint.load_mineclip_state_dict`.
        """
        return load_mineclip_state_dict(self, ckpt_or_path, strip_prefix=strip_prefix, strict=strict)
