"""VPT's recurrent self-attention: transformer-XL style attention over a key/value memory (spec §4.4).

Per block, a query at frame ``i`` of the current chunk attends to itself and the ``maxlen - 1`` frames before it
(``maxlen = attention_memory_size - timesteps``; 128 for the released models), taken from the memory of past
chunks (the recurrent state) and from earlier frames of the same chunk ("clipped causal" band). Logits are
``Q·Kᵀ / head_dim`` (the muP factor, not ``1/sqrt(head_dim)``) plus a learned relative-position bias
``Σ_n R[t, h, n] · b_nd[n, d]`` where ``R = r_layer(x)`` gives 10 basis weights per query and head and ``d`` is the
time offset of the key (0 = the query's own frame).

The recurrent state of a block has the official structure ``(state_mask, (K, V))``: ``state_mask`` is ``None``
(initial state: nothing valid) or bool ``[B, 1, maxlen]`` (which memory slots belong to the current episode), and
``K``/``V`` are float ``[B, maxlen, hidsize]`` (keys and values of the last ``maxlen`` frames, oldest first).

Where we deliberately differ from the official code (``lib/masked_attention.py`` + ``lib/xf.py``):

* **Episode starts at any frame.** Upstream only honours ``first`` at the first frame of a chunk (an episode start
  later in the chunk is silently ignored, so frames attend across the episode boundary). Here every query masks
  all keys from before the latest episode start at or before it, both in the memory and earlier in the chunk, and
  the state mask passed on marks exactly the memory slots of the episode that is running at the end of the chunk.
  With ``first`` only at chunk starts this is exactly the official behaviour.
* **Fused attention.** The attention runs in ``torch.nn.functional.scaled_dot_product_attention`` with an explicit
  additive mask holding the relative-position bias and the band/episode mask (``-1e9`` where masked, as
  upstream) and ``scale = 1/head_dim``; logits and softmax stay in float32.
* **No per-step reallocation of the memory when stepping.** When no gradient is needed and the chunk is shorter
  than the memory, new keys/values are appended into a preallocated buffer with room for ``maxlen`` more frames
  instead of concatenating a fresh ``[B, maxlen + T, hidsize]`` tensor each call. The returned ``K``/``V`` are
  views into that buffer that are never written again (appends go past their end; a full buffer is replaced, not
  shifted), so states stay immutable values: a state may be kept, re-used or branched from, and a branch simply
  gets its own buffer. Treat returned states as read-only (do not modify them in place).
* Only ``mask="clipped_causal"`` (the only style of the released models) is implemented.
"""
from __future__ import annotations

import math
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["MaskedAttention", "MaskedAttentionState", "SelfAttentionLayer", "episode_attention_mask", "normed_linear"]

#: ``(state_mask, (K, V))`` of one block; ``state_mask`` is None or bool ``[B, 1, maxlen]``, K and V ``[B, maxlen, E]``.
MaskedAttentionState = Tuple[Optional[torch.Tensor], Tuple[torch.Tensor, torch.Tensor]]

_MASKED_LOGIT = -1e9  # added to the logits of keys a query may not attend to (as upstream)
_N_BASIS = 10  # basis functions of the relative-position bias per head


def normed_linear(in_features: int, out_features: int, scale: float, bias: bool = True) -> nn.Linear:
    """``nn.Linear`` whose weight rows are rescaled to L2 norm ``scale`` and whose bias is zero (init only)."""
    layer = nn.Linear(in_features, out_features, bias=bias)
    with torch.no_grad():
        layer.weight.mul_(scale / layer.weight.norm(dim=1, keepdim=True))
        if bias:
            layer.bias.zero_()
    return layer


def episode_attention_mask(
    first: torch.Tensor, state_mask: Optional[torch.Tensor], maxlen: int
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Which keys each query may attend to, and the state mask to pass on.

    Keys are the ``maxlen`` memory slots followed by the ``T`` frames of the chunk (``T_all = maxlen + T`` columns).
    Query ``i`` (column ``maxlen + i``) may attend to key ``j`` iff

    * ``i + 1 <= j <= i + maxlen`` (itself and the ``maxlen - 1`` frames before it: the clipped-causal band), and
    * the key belongs to the query's episode: no ``first`` in ``(key frame, i]``; memory slots must also be valid
      in ``state_mask``.

    Args:
        first: bool ``[B, T]``, True at the first frame of an episode.
        state_mask: None (no valid memory) or bool ``[B, 1, maxlen]``.
        maxlen: memory length.

    Returns:
        ``(valid, state_mask_out)``: bool ``[B, T, maxlen + T]`` and bool ``[B, 1, maxlen]`` (validity of the
        next call's memory slots, i.e. the last ``maxlen`` keys, for the episode running at the chunk's end).
    """
    batch, t = first.shape
    device = first.device
    if state_mask is None:
        memory_valid = torch.zeros((batch, maxlen), dtype=torch.bool, device=device)
    else:
        memory_valid = state_mask[:, 0, :].to(torch.bool)
    # Episode index of each chunk frame, counted from the chunk start (0 = the episode running in the memory).
    episode = first.to(torch.long).cumsum(dim=1)
    # Memory slots belong to episode 0 when valid; -1 never matches a query.
    key_episode = torch.cat([torch.where(memory_valid, 0, -1), episode], dim=1)  # [B, maxlen + T]
    query_pos = torch.arange(t, device=device)[:, None]
    key_pos = torch.arange(maxlen + t, device=device)[None, :]
    band = (key_pos > query_pos) & (key_pos <= query_pos + maxlen)  # [T, maxlen + T]
    valid = band[None] & (key_episode[:, None, :] == episode[:, :, None])
    state_mask_out = (key_episode[:, -maxlen:] == episode[:, -1:])[:, None, :]
    return valid, state_mask_out


class SelfAttentionLayer(nn.Module):
    """Multi-head self-attention with a relative-position bias (official ``xf.SelfAttentionLayer`` with
    ``relattn=True``, ``norm="none"``, ``use_muP_factor=True``); ``MaskedAttention.orc_block``.

    Parameters (state-dict order): ``b_nd [10, maxlen]``, ``q_layer`` (bias), ``k_layer``, ``v_layer`` (no bias),
    ``proj_layer`` (bias), ``r_layer`` (``hidsize -> 10 * heads``, bias). Init: rows of q/k/r scaled to 0.1/0.2/0.1,
    v/proj to ``sqrt(init_scale)``, ``b_nd ~ N(0, 0.2²)``.

    Args:
        x_size: model width ``E`` (divisible by ``heads``).
        heads: attention heads.
        maxlen: memory length (the relative-position table covers offsets ``0..maxlen-1``).
        init_scale: residual init scale.

    Raises:
        ValueError: ``x_size`` not divisible by ``heads``, or ``maxlen < 1``.
    """

    def __init__(self, x_size: int, heads: int, maxlen: int, init_scale: float = 1.0):
        super().__init__()
        if x_size % heads != 0:
            raise ValueError(f"attention: hidsize {x_size} is not divisible by attention_heads {heads}")
        if maxlen < 1:
            raise ValueError(f"attention: memory length must be >= 1, got {maxlen}")
        self.x_size = x_size
        self.heads = heads
        self.head_dim = x_size // heads
        self.maxlen = maxlen
        s = math.sqrt(init_scale)
        self.b_nd = nn.Parameter(torch.randn(_N_BASIS, maxlen) * 0.2)
        self.q_layer = normed_linear(x_size, x_size, 0.1)
        self.k_layer = normed_linear(x_size, x_size, 0.2, bias=False)
        self.v_layer = normed_linear(x_size, x_size, s, bias=False)
        self.proj_layer = normed_linear(x_size, x_size, s)
        self.r_layer = normed_linear(x_size, _N_BASIS * heads, 0.1)

    def relative_position_bias(self, x: torch.Tensor, n_keys: int) -> torch.Tensor:
        """Additive logit bias ``[B, heads, T, n_keys]`` (float32) for queries ``x [B, T, E]`` at the last ``T`` of
        ``n_keys`` key positions; zero outside the offset range ``0..maxlen-1``."""
        batch, t, _ = x.shape
        r = self.r_layer(x).float().view(batch, t, self.heads, _N_BASIS)
        # Bias for each offset d = (query position) - (key position) in 0..maxlen-1: [B, heads, T, maxlen].
        by_offset = torch.einsum("bthn,nd->bhtd", r, self.b_nd.float())
        offset = (n_keys - t) + torch.arange(t, device=x.device)[:, None] - torch.arange(n_keys, device=x.device)
        in_range = (offset >= 0) & (offset < self.maxlen)
        index = offset.clamp(0, self.maxlen - 1).expand(batch, self.heads, t, n_keys)
        return by_offset.gather(-1, index).masked_fill(~in_range, 0.0)

    def attend(
        self, x: torch.Tensor, q: torch.Tensor, k_all: torch.Tensor, v_all: torch.Tensor, valid: torch.Tensor
    ) -> torch.Tensor:
        """Residual attention output ``x + proj(attention)``.

        Args:
            x: float ``[B, T, E]`` (the layer input, used for the relative-position bias and the residual).
            q: ``q_layer(x)``, ``[B, T, E]``.
            k_all, v_all: keys/values ``[B, T_all, E]`` (memory then chunk; may be strided views).
            valid: bool ``[B, T, T_all]`` attention mask from :func:`episode_attention_mask`.

        Returns:
            ``[B, T, E]`` in ``x``'s dtype.
        """
        batch, t, _ = q.shape
        n_keys = k_all.shape[1]
        bias = self.relative_position_bias(x, n_keys)
        bias = bias.masked_fill(~valid[:, None], _MASKED_LOGIT)

        def heads_first(z: torch.Tensor) -> torch.Tensor:  # [B, L, E] -> [B, heads, L, head_dim], float32
            return z.float().view(batch, z.shape[1], self.heads, self.head_dim).transpose(1, 2)

        out = F.scaled_dot_product_attention(
            heads_first(q), heads_first(k_all), heads_first(v_all), attn_mask=bias, scale=1.0 / self.head_dim
        )
        out = out.transpose(1, 2).reshape(batch, t, self.x_size).to(v_all.dtype)
        return x + self.proj_layer(out)


class _MemoryBuffer:
    """Preallocated key/value memory ``[B, capacity, E]`` whose live window starts at ``start`` (no-grad path)."""

    __slots__ = ("keys", "values", "start", "k_view", "v_view")

    def __init__(self, keys: torch.Tensor, values: torch.Tensor):
        self.keys = keys
        self.values = values
        self.start = 0
        self.k_view: Optional[torch.Tensor] = None
        self.v_view: Optional[torch.Tensor] = None


class MaskedAttention(nn.Module):
    """Self-attention over the current chunk and a memory of past frames, with episode masking (spec §4.4).

    ``maxlen = memory_size - timesteps`` frames of keys/values are carried in the state (see the module docstring
    for the state layout and the differences from upstream). State-dict key prefix: ``orc_block.``.

    Args:
        input_size: model width ``E``.
        memory_size: ``attention_memory_size`` (256 for the released models).
        heads: attention heads.
        timesteps: training chunk length (128 for the released models).
        mask: only ``"clipped_causal"``.
        init_scale: residual init scale.

    Raises:
        ValueError: ``mask`` is not ``"clipped_causal"``, or ``memory_size - timesteps < 1``.
    """

    #: Keep at most this many preallocated memory buffers (one per live state stream, e.g. several agents).
    max_memory_buffers = 4

    def __init__(
        self,
        input_size: int,
        memory_size: int,
        heads: int,
        timesteps: int,
        mask: str = "clipped_causal",
        init_scale: float = 1.0,
    ):
        super().__init__()
        if mask != "clipped_causal":
            raise ValueError(f"MaskedAttention: attention_mask_style {mask!r} is not implemented (only 'clipped_causal')")
        self.maxlen = memory_size - timesteps
        if self.maxlen < 1:
            raise ValueError(
                f"MaskedAttention: attention_memory_size ({memory_size}) must exceed timesteps ({timesteps}); the "
                "memory keeps attention_memory_size - timesteps frames"
            )
        self.input_size = input_size
        self.heads = heads
        self.timesteps = timesteps
        self.orc_block = SelfAttentionLayer(input_size, heads, self.maxlen, init_scale=init_scale)
        self._memory_buffers: Dict[int, _MemoryBuffer] = {}

    def __getstate__(self):
        state = super().__getstate__()
        state = dict(state)
        state["_memory_buffers"] = {}  # a cache of activations, not part of the module's value
        return state

    def initial_state(self, batch_size: int, device=None, dtype: torch.dtype = torch.float32) -> MaskedAttentionState:
        """``(None, (zeros [B, maxlen, E], zeros [B, maxlen, E]))``: an empty memory."""
        shape = (batch_size, self.maxlen, self.input_size)
        return None, (torch.zeros(shape, dtype=dtype, device=device), torch.zeros(shape, dtype=dtype, device=device))

    def _check_state(self, x: torch.Tensor, first: torch.Tensor, state: MaskedAttentionState) -> None:
        batch, t, width = x.shape
        if first.shape != (batch, t):
            raise ValueError(f"'first' must have shape [B, T] = {[batch, t]}, got {list(first.shape)}")
        try:
            state_mask, (k_cache, v_cache) = state
        except (TypeError, ValueError):
            raise ValueError("a block's recurrent state must be (state_mask, (K, V)) as returned by initial_state")
        expected = (batch, self.maxlen, width)
        for name, tensor in (("K", k_cache), ("V", v_cache)):
            if tuple(tensor.shape) != expected:
                raise ValueError(
                    f"recurrent state {name} has shape {list(tensor.shape)}, expected [B, maxlen, hidsize] = "
                    f"{list(expected)} (maxlen = attention_memory_size - timesteps); was the state made by "
                    "initial_state() of a model with the same config and batch size?"
                )
        if state_mask is not None and tuple(state_mask.shape) != (batch, 1, self.maxlen):
            raise ValueError(
                f"recurrent state mask has shape {list(state_mask.shape)}, expected {[batch, 1, self.maxlen]}"
            )

    def _extend_memory(
        self, k_cache: torch.Tensor, v_cache: torch.Tensor, k_new: torch.Tensor, v_new: torch.Tensor, grad_needed: bool
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Keys/values of ``[memory | chunk]`` (``[B, maxlen + T, E]``) and of the new memory (last ``maxlen``)."""
        m, t = self.maxlen, k_new.shape[1]
        use_buffer = (
            not grad_needed
            and t < m
            and k_cache.dtype == v_cache.dtype == k_new.dtype == v_new.dtype
            and k_cache.device == k_new.device
        )
        if not use_buffer:
            k_all = torch.cat([k_cache, k_new], dim=1)
            v_all = torch.cat([v_cache, v_new], dim=1)
            return k_all, v_all, k_all[:, -m:], v_all[:, -m:]

        buf = self._memory_buffers.pop(id(k_cache), None)
        writable = buf is not None and (not buf.keys.is_inference() or torch.is_inference_mode_enabled())
        if not (writable and buf.k_view is k_cache and buf.v_view is v_cache and buf.start + m + t <= buf.keys.shape[1]):
            # New buffer with room for `m` appended frames; older views keep the old buffer alive and unchanged.
            batch, _, width = k_new.shape
            buf = _MemoryBuffer(k_new.new_empty((batch, 2 * m, width)), v_new.new_empty((batch, 2 * m, width)))
            buf.keys[:, :m].copy_(k_cache)
            buf.values[:, :m].copy_(v_cache)
        s = buf.start
        buf.keys[:, s + m : s + m + t].copy_(k_new)
        buf.values[:, s + m : s + m + t].copy_(v_new)
        k_all, v_all = buf.keys[:, s : s + m + t], buf.values[:, s : s + m + t]
        buf.start = s + t
        buf.k_view, buf.v_view = buf.keys[:, s + t : s + t + m], buf.values[:, s + t : s + t + m]
        self._memory_buffers[id(buf.k_view)] = buf
        while len(self._memory_buffers) > self.max_memory_buffers:
            self._memory_buffers.pop(next(iter(self._memory_buffers)))
        return k_all, v_all, buf.k_view, buf.v_view

    def forward(
        self, x: torch.Tensor, first: torch.Tensor, state: MaskedAttentionState
    ) -> Tuple[torch.Tensor, MaskedAttentionState]:
        """Attend over ``[memory | chunk]``.

        Args:
            x: float ``[B, T, E]`` (already layer-normed by the block).
            first: bool ``[B, T]``, True at episode starts (any frame; see the module docstring).
            state: ``(state_mask, (K, V))`` from :meth:`initial_state` or a previous call.

        Returns:
            ``(x + attention(x), (state_mask_out, (K_out, V_out)))`` with ``[B, T, E]`` output, bool
            ``[B, 1, maxlen]`` mask and ``[B, maxlen, E]`` keys/values.

        Raises:
            ValueError: ``first`` or the state do not match ``x`` (shapes listed in the message).
        """
        self._check_state(x, first, state)
        state_mask, (k_cache, v_cache) = state
        attn = self.orc_block
        q = attn.q_layer(x)
        k_new = attn.k_layer(x)
        v_new = attn.v_layer(x)
        grad_needed = torch.is_grad_enabled() and any(z.requires_grad for z in (x, q, k_new, v_new, k_cache, v_cache))
        k_all, v_all, k_out, v_out = self._extend_memory(k_cache, v_cache, k_new, v_new, grad_needed)
        valid, state_mask_out = episode_attention_mask(first.to(torch.bool), state_mask, self.maxlen)
        out = attn.attend(x, q, k_all, v_all, valid)
        return out, (state_mask_out, (k_out, v_out))
