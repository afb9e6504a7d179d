"""MineCLIP temporal pooling: per-frame features -> one video feature (spec §3.4, fixtures README §7).

MineCLIP's "attn" variant (``pool_type="attn.d2.nh8.glusw"``) aggregates the 16 per-frame CLIP features with a
small bidirectional transformer and averages it over time. Upstream builds it from ``x-transformers==0.27.1``
(``ContinuousTransformerWrapper`` around an ``Encoder``); this is our own implementation of the same function
with the same parameter names, so the official checkpoint loads strictly without that dependency:

``attn.model.pos_emb.emb`` learned absolute positions (``max_seq_len`` rows, scaled by ``dim ** -0.5``),
``attn.model.attn_layers.layers.<i>`` alternating attention (``i`` even) and feed-forward (``i`` odd) sub-layers,
each ``[norms, block]`` with a pre-norm LayerNorm at ``.0.0`` and a residual add, then ``attn.model.norm``
(final LayerNorm), then the mean over time.

* attention: ``to_q/to_k/to_v`` (no bias, ``heads x 64`` wide), softmax(q k^T / 8), ``to_out`` (no bias);
* feed-forward with ``glu``/``glusw``: ``net.0.proj`` -> split into (value, gate) -> ``value * act(gate)``
  (``act`` = SiLU for ``glusw``, GELU for ``glu``) -> ``net.3`` back to ``dim``; width ``4 * dim``.
"""
from __future__ import annotations

import re
from typing import Optional

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["TemporalTransformer", "TemporalPooling", "parse_temporal_spec"]

DIM_HEAD = 64  # x-transformers' default per-head width


def parse_temporal_spec(spec: str) -> dict:
    """Parse an x-transformers arch spec such as ``"d2.nh8.glusw"`` (the part after ``"attn."``).

    Returns:
        dict with ``depth`` (int), ``heads`` (int), ``ff_glu`` (bool), ``ff_swish`` (bool).

    Raises:
        ValueError: an unknown or unsupported spec part (``i``/``e`` projections, ``rel``, ``onekv`` are not
            used by any released MineCLIP checkpoint and are not implemented).
    """
    cfg = {"depth": None, "heads": None, "ff_glu": False, "ff_swish": False}
    for part in spec.split("."):
        if re.fullmatch(r"d\d+", part):
            cfg["depth"] = int(part[1:])
        elif re.fullmatch(r"nh\d+", part):
            cfg["heads"] = int(part[2:])
        elif part == "glu":
            cfg["ff_glu"] = True
        elif part in ("glusw", "swglu"):
            cfg["ff_glu"] = cfg["ff_swish"] = True
        else:
            raise ValueError(f'unsupported temporal transformer spec part "{part}" in "{spec}"')
    if cfg["depth"] is None or cfg["heads"] is None:
        raise ValueError(f'temporal transformer spec "{spec}" must give the depth (dN) and heads (nhN)')
    return cfg


class _PositionalEmbedding(nn.Module):
    """Learned absolute positions ``emb [max_seq_len, dim]`` times ``dim ** -0.5`` (x-transformers 0.27.1)."""

    def __init__(self, dim: int, max_seq_len: int):
        super().__init__()
        self.scale = dim**-0.5
        self.emb = nn.Embedding(max_seq_len, dim)

    def forward(self, length: int, device: torch.device) -> torch.Tensor:
        return self.emb(torch.arange(length, device=device)) * self.scale


class _Attention(nn.Module):
    """Bidirectional multi-head self-attention without biases; float ``[B, L, dim]`` -> ``[B, L, dim]``."""

    def __init__(self, dim: int, heads: int, dim_head: int = DIM_HEAD):
        super().__init__()
        self.heads = heads
        inner = heads * dim_head
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_k = nn.Linear(dim, inner, bias=False)
        self.to_v = nn.Linear(dim, inner, bias=False)
        self.to_out = nn.Linear(inner, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        q, k, v = (proj(x).view(b, n, self.heads, -1).transpose(1, 2) for proj in (self.to_q, self.to_k, self.to_v))
        out = F.scaled_dot_product_attention(q, k, v)  # softmax(q k^T / sqrt(dim_head)) v
        return self.to_out(out.transpose(1, 2).reshape(b, n, -1))


class _GLU(nn.Module):
    def __init__(self, dim_in: int, dim_out: int, activation: nn.Module):
        super().__init__()
        self.act = activation
        self.proj = nn.Linear(dim_in, dim_out * 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        value, gate = self.proj(x).chunk(2, dim=-1)
        return value * self.act(gate)


class _FeedForward(nn.Module):
    """``net = [GLU or Linear+act, Identity, Dropout, Linear]``: the x-transformers indices (``net.0``, ``net.3``)."""

    def __init__(self, dim: int, mult: int = 4, glu: bool = False, swish: bool = False):
        super().__init__()
        inner = dim * mult
        activation = nn.SiLU() if swish else nn.GELU()
        project_in = _GLU(dim, inner, activation) if glu else nn.Sequential(nn.Linear(dim, inner), activation)
        self.net = nn.Sequential(project_in, nn.Identity(), nn.Dropout(0.0), nn.Linear(inner, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class _EncoderLayers(nn.Module):
    """``layers[i] = [norms, block]``; ``norms = [pre-norm LayerNorm, None, None]`` keeps upstream key names."""

    def __init__(self, dim: int, depth: int, heads: int, ff_glu: bool, ff_swish: bool):
        super().__init__()
        self.layers = nn.ModuleList()
        for _ in range(depth):
            for block in (_Attention(dim, heads), _FeedForward(dim, glu=ff_glu, swish=ff_swish)):
                self.layers.append(nn.ModuleList([nn.ModuleList([nn.LayerNorm(dim), None, None]), block]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for norms, block in self.layers:
            x = x + block(norms[0](x))
        return x


class _ContinuousEncoder(nn.Module):
    """Input features + positions -> encoder layers -> final LayerNorm; float ``[B, L, dim]`` -> ``[B, L, dim]``."""

    def __init__(self, dim: int, max_seq_len: int, depth: int, heads: int, ff_glu: bool, ff_swish: bool):
        super().__init__()
        self.max_seq_len = max_seq_len
        self.pos_emb = _PositionalEmbedding(dim, max_seq_len)
        self.attn_layers = _EncoderLayers(dim, depth, heads, ff_glu, ff_swish)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] > self.max_seq_len:
            raise ValueError(f"temporal transformer: {x.shape[1]} frames exceed max_seq_len {self.max_seq_len}")
        x = x + self.pos_emb(x.shape[1], x.device).to(x.dtype)
        return self.norm(self.attn_layers(x))


class TemporalTransformer(nn.Module):
    """Transformer over time then mean over time: float ``[B, L, dim]`` -> ``[B, dim]`` (``L <= max_seq_len``).

    Args:
        dim: feature size (no input projection: the frame features are used as they are).
        max_seq_len: rows of the positional table (32 in MineCLIP).
        depth: attention + feed-forward pairs; heads: attention heads (64 wide each);
        ff_glu, ff_swish: GLU feed-forward and SiLU gate activation.
    """

    def __init__(
        self, dim: int, max_seq_len: int, depth: int, heads: int, ff_glu: bool = False, ff_swish: bool = False
    ):
        super().__init__()
        self.model = _ContinuousEncoder(dim, max_seq_len, depth, heads, ff_glu, ff_swish)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x).mean(dim=1)


def build_adapter_mlp(dim: int, num_layers: int) -> nn.Sequential:
    """MineCLIP adapter MLP of ``num_layers`` linear layers, all ``dim`` wide, ReLU between them.

    Layout ``[Linear, Identity(norm), ReLU, ...,  Linear]`` (so two layers are keys ``0`` and ``3``), orthogonal
    weights with gain ``sqrt(2)`` and zero biases, as upstream ``build_mlp``.
    """
    mods: list = []
    for _ in range(num_layers - 1):
        mods += [nn.Linear(dim, dim), nn.Identity(), nn.ReLU()]
    mods.append(nn.Linear(dim, dim))
    for mod in mods:
        if isinstance(mod, nn.Linear) and not mod.weight.is_meta:
            nn.init.orthogonal_(mod.weight, gain=nn.init.calculate_gain("relu"))
            nn.init.zeros_(mod.bias)
    return nn.Sequential(*mods)


class TemporalPooling(nn.Module):
    """MineCLIP ``temporal_encoder``: optional image adapter, then temporal pooling; ``[B, L, F] -> [B, F]``.

    Args:
        pool_type: ``"avg"`` (mean over time) or ``"attn.<spec>"`` (see :func:`parse_temporal_spec`).
        dim: frame feature size (MineCLIP requires ``image_feature_dim == hidden_dim``).
        layers_before_pool: image-adapter layers (``v<N>`` in ``mlp_adapter_spec``); with N > 0 the features
            become ``sigmoid(residual_weight) x + (1 - sigmoid(residual_weight)) mlp(x)``.
        max_seq_len: positional table rows for ``attn``.

    Raises:
        ValueError: unknown ``pool_type``.
    """

    def __init__(self, pool_type: str, dim: int, layers_before_pool: int = 0, max_seq_len: int = 32):
        super().__init__()
        self.pool_type = pool_type
        self.output_dim = dim
        self.residual_weight: Optional[nn.Parameter] = None
        if layers_before_pool == 0:
            self.mlp_before_pool = nn.Identity()
        else:
            self.mlp_before_pool = build_adapter_mlp(dim, layers_before_pool)
            self.residual_weight = nn.Parameter(torch.tensor(4.0))
            for mod in self.mlp_before_pool:  # upstream starts the image adapter at the identity
                if isinstance(mod, nn.Linear) and not mod.weight.is_meta:
                    with torch.no_grad():
                        mod.weight.copy_(torch.eye(dim))
        if pool_type == "avg":
            self.attn = None
        elif pool_type.startswith("attn."):
            self.attn = TemporalTransformer(dim, max_seq_len, **parse_temporal_spec(pool_type[len("attn.") :]))
        else:
            raise ValueError(f'unknown MineCLIP pool_type "{pool_type}" (expected "avg" or "attn.<spec>")')

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.residual_weight is not None:
            res = torch.sigmoid(self.residual_weight)
            x = res * x + (1.0 - res) * self.mlp_before_pool(x)
        return x.mean(dim=1) if self.attn is None else self.attn(x)

