"""The CLIP towers inside MineCLIP: a ViT image encoder and a causal text transformer (spec §3.4).

Written from the MineCLIP paper (Fan et al. 2022, §3 "MineCLIP": a CLIP ViT-B/16 image encoder and CLIP text
encoder) and the official ``attn.pth`` state-dict layout (fixtures README §2, §7). Module and parameter names are
those of the official checkpoint, so the checkpoint loads strictly:

* ``VisionTransformer``: ``cls_token``, ``pos_embed``, ``projection``, ``conv1``, ``ln_pre``, ``blocks.<i>``,
  ``ln_post``;
* ``TextTransformer``: ``pos_embed``, ``projection``, ``token_embedding``, ``blocks.<i>``, ``ln_final``;
* each block: ``attn`` (``torch.nn.MultiheadAttention``: ``in_proj_weight``, ``in_proj_bias``, ``out_proj``),
  ``ln_1``, ``mlp.c_fc``, ``mlp.c_proj``, ``ln_2``; pre-norm residual with QuickGELU.

The models do no file I/O; loading lives in :mod:`steve1.mineclip.loading`.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from typing import Optional, Sequence, Tuple

import torch
from torch import nn

__all__ = ["QuickGELU", "ResidualAttentionBlock", "VisionTransformer", "TextTransformer", "CLIP"]


class QuickGELU(nn.Module):
    """CLIP's GELU approximation ``x * sigmoid(1.702 x)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    """Pre-norm transformer block: ``x + attn(ln_1(x))`` then ``x + mlp(ln_2(x))``.

    Args:
        width: model width ``d``.
        heads: attention heads (``width`` must be divisible by it).

    Input/output: float ``[B, L, d]`` (batch first); ``attn_mask`` an optional additive float ``[L, L]`` mask.
    """

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(
            OrderedDict(
                [("c_fc", nn.Linear(width, width * 4)), ("gelu", QuickGELU()), ("c_proj", nn.Linear(width * 4, width))]
            )
        )
        self.ln_2 = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor, attn_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False, attn_mask=attn_mask)[0]
        return x + self.mlp(self.ln_2(x))


class VisionTransformer(nn.Module):
    """ViT image encoder (CLIP ViT-B/16 shape by default): patches -> CLS token -> ``ln_post`` -> ``projection``.

    The positional table is built directly for ``resolution`` (``1 + (H/p)*(W/p)`` rows, 161 for 160x256 with
    patch 16): the official model bicubically resizes its 224x224 table in the constructor, *before* loading, so
    the MineCLIP checkpoint already stores the resized table and no resize is needed here.

    Args:
        resolution: ``(height, width)`` of the input frames in pixels; both divisible by ``patch_size``.
        patch_size: patch side in pixels.
        width: transformer width; ``heads = width // 64`` as in CLIP.
        layers: number of blocks.
        output_dim: embedding size after ``projection``.

    Input: float ``[N, 3, H, W]`` (already normalised). Output: float ``[N, output_dim]``.

    Raises:
        ValueError: ``resolution`` not divisible by ``patch_size``, or an input of another size.
    """

    def __init__(self, resolution: Sequence[int], patch_size: int, width: int, layers: int, output_dim: int):
        super().__init__()
        height, width_px = (int(resolution), int(resolution)) if isinstance(resolution, int) else map(int, resolution)
        if height % patch_size or width_px % patch_size:
            raise ValueError(
                f"VisionTransformer: resolution {(height, width_px)} is not divisible by patch {patch_size}"
            )
        self.resolution: Tuple[int, int] = (height, width_px)
        self.patch_size = patch_size
        self.output_dim = output_dim
        num_patches = (height // patch_size) * (width_px // patch_size)
        scale = width**-0.5
        # parameter registration order = official state_dict order: cls_token, pos_embed, projection, conv1, ...
        self.cls_token = nn.Parameter(scale * torch.randn(width))
        self.pos_embed = nn.Parameter(scale * torch.randn(num_patches + 1, width))
        self.projection = nn.Parameter(scale * torch.randn(width, output_dim))
        self.conv1 = nn.Conv2d(3, width, kernel_size=patch_size, stride=patch_size, bias=False)
        self.ln_pre = nn.LayerNorm(width)
        self.blocks = nn.Sequential(*[ResidualAttentionBlock(width, width // 64) for _ in range(layers)])
        self.ln_post = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) != self.resolution:
            raise ValueError(
                f"VisionTransformer: expected frames of {self.resolution} (height, width), got {tuple(x.shape[-2:])}"
            )
        x = self.conv1(x)  # [N, width, H/p, W/p]
        x = x.flatten(2).transpose(1, 2)  # [N, patches, width]
        cls = self.cls_token.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + self.pos_embed.to(x.dtype)
        x = self.ln_pre(x)
        for block in self.blocks:
            x = block(x)
        return self.ln_post(x[:, 0, :]) @ self.projection


class TextTransformer(nn.Module):
    """CLIP text encoder (called ``GPT`` upstream): causal transformer over ``context_length`` BPE tokens.

    The text embedding is the final-LayerNorm output at the position of the largest token id (the end-of-text
    token, ``vocab_size - 1``), times ``projection``. Because attention is causal, whatever follows the end token
    (zeros as in OpenAI CLIP, or repeated end tokens as HuggingFace pads) does not change the result.

    Args:
        embed_dim: output size; context_length: tokens per text (77); vocab_size: 49408 for CLIP BPE;
        layers, width, heads: transformer size.

    Input: int64 ``[N, context_length]``. Output: float ``[N, embed_dim]``.
    """

    def __init__(self, embed_dim: int, context_length: int, vocab_size: int, layers: int, width: int, heads: int):
        super().__init__()
        self.context_length = context_length
        self.vocab_size = vocab_size
        self.pos_embed = nn.Parameter(torch.empty(context_length, width))
        self.projection = nn.Parameter(torch.empty(width, embed_dim))
        self.token_embedding = nn.Embedding(vocab_size, width)
        self.blocks = nn.Sequential(*[ResidualAttentionBlock(width, heads) for _ in range(layers)])
        self.ln_final = nn.LayerNorm(width)
        # additive causal mask; not part of the checkpoint
        self.register_buffer(
            "attn_mask", torch.full((context_length, context_length), float("-inf")).triu_(1), persistent=False
        )
        self._init_parameters(width, layers)

    def _init_parameters(self, width: int, layers: int) -> None:
        if self.pos_embed.is_meta:
            return
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.pos_embed, std=0.01)
        proj_std = width**-0.5 * (2 * layers) ** -0.5
        for block in self.blocks:
            nn.init.normal_(block.attn.in_proj_weight, std=width**-0.5)
            nn.init.normal_(block.attn.out_proj.weight, std=proj_std)
            nn.init.normal_(block.mlp.c_fc.weight, std=(2 * width) ** -0.5)
            nn.init.normal_(block.mlp.c_proj.weight, std=proj_std)
        nn.init.normal_(self.projection, std=width**-0.5)

    def forward(self, text: torch.Tensor) -> torch.Tensor:
        if text.ndim != 2 or text.shape[1] != self.context_length:
            raise ValueError(f"TextTransformer: expected tokens [N, {self.context_length}], got {tuple(text.shape)}")
        x = self.token_embedding(text) + self.pos_embed
        mask = self.attn_mask.to(x.dtype)
        for block in self.blocks:
            x = block(x, attn_mask=mask)
        x = self.ln_final(x)
        x = x[torch.arange(x.shape[0], device=x.device), text.argmax(dim=-1)]
        return x @ self.projection


class CLIP(nn.Module):
    """CLIP model: ``vision_model``, ``text_model`` and a learned ``logit_scale`` (log of the inverse temperature).

    Args (the keys of a ``clip_config``):
        embed_dim: shared embedding size (512 in MineCLIP).
        image_resolution: the pretraining resolution of the ViT (224); kept for reference only, since
            ``vision_resolution`` sets the positional table.
        vision_layers, vision_width, vision_patch_size: ViT size (12, 768, 16).
        context_length, vocab_size, text_layers, text_width, text_heads: text tower size (77, 49408, 12, 512, 8).
        vision_resolution: ``(height, width)`` of MineCLIP frames, default (160, 256).
    """

    def __init__(
        self,
        embed_dim: int,
        image_resolution: int,
        vision_layers: int,
        vision_width: int,
        vision_patch_size: int,
        context_length: int,
        vocab_size: int,
        text_layers: int,
        text_width: int,
        text_heads: int,
        vision_resolution: Sequence[int] = (160, 256),
    ):
        super().__init__()
        self.image_resolution = image_resolution
        self.vision_model = VisionTransformer(
            resolution=vision_resolution,
            patch_size=vision_patch_size,
            width=vision_width,
            layers=vision_layers,
            output_dim=embed_dim,
        )
        self.text_model = TextTransformer(
            embed_dim=embed_dim,
            context_length=context_length,
            vocab_size=vocab_size,
            layers=text_layers,
            width=text_width,
            heads=text_heads,
        )
        self.logit_scale = nn.Parameter(torch.ones([]) * math.log(1 / 0.07))

    def encode_image(self, image: torch.Tensor) -> torch.Tensor:
        """float ``[N, 3, H, W]`` normalised frames -> float ``[N, embed_dim]``."""
        return self.vision_model(image)

    def encode_text(self, text: torch.Tensor) -> torch.Tensor:
        """int64 ``[N, context_length]`` tokens -> float ``[N, embed_dim]`` (not L2-normalised).

        Raises:
            TypeError: ``text`` is not an integer tensor (tokenize strings with
                :class:`steve1.mineclip.tokenizer.ClipTokenizer` first).
        """
        if not torch.is_tensor(text) or text.dtype not in (torch.int64, torch.int32):
            raise TypeError(
                "CLIP.encode_text expects int64 token ids [N, 77]; tokenize strings with "
                f"steve1.mineclip.tokenizer.ClipTokenizer first (got {type(text).__name__} "
                f"{getattr(text, 'dtype', '')})"
            )
        return self.text_model(text.long())

    def forward(self, image_features: torch.Tensor, text_features: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Cosine-similarity logits between features.

        Args:
            image_features: float ``[N, D]``; text_features: float ``[M, D]``.

        Returns:
            ``(logits_per_image [N, M], logits_per_text [M, N])`` = ``exp(logit_scale) * cos``.
        """
        image_features = image_features / image_features.norm(dim=1, keepdim=True)
        text_features = text_features / text_features.norm(dim=1, keepdim=True)
        logits_per_image = self.logit_scale.exp() * image_features @ text_features.t()
        return logits_per_image, logits_per_image.t()
