"""Building blocks of the VPT network: the fan-in-initialised layer and the residual recurrent (transformer) blocks.

Spec §4.3 (``FanInInitReLULayer``) and §4.4 (``ResidualRecurrentBlock``). Attribute names follow the official
state-dict keys (``norm``, ``layer``, ``mlp0``, ``mlp1``, ``pre_r_ln``, ``r``).
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from VPT.lib.masked_attention import MaskedAttention, MaskedAttentionState

__all__ = ["FanInInitReLULayer", "ResidualRecurrentBlock", "ResidualRecurrentBlocks"]


class FanInInitReLULayer(nn.Module):
    """Optional input norm -> conv or linear -> optional ReLU, with fan-in weight init (spec §4.3).

    The norm is applied to the layer *input*: ``BatchNorm2d`` if ``batch_norm``, else ``GroupNorm(group_norm_groups)``
    if given, else ``LayerNorm`` if ``layer_norm``. The layer has a bias only when there is no norm. At init every
    output unit's weight vector is rescaled to L2 norm ``init_scale`` and the bias is zero.

    Args:
        inchan: input channels (conv) or features (linear).
        outchan: output channels or features.
        *layer_args: extra positional arguments for the layer class.
        layer_type: ``"conv"`` (``nn.Conv2d``) or ``"linear"``.
        init_scale: L2 norm of each output unit's initial weights.
        batch_norm, batch_norm_kwargs, group_norm_groups, layer_norm: the input norm (see above).
        use_activation: apply ReLU after the layer.
        **layer_kwargs: keyword arguments for the layer class (``kernel_size``, ``padding``...).

    Raises:
        ValueError: unknown ``layer_type``.
    """

    def __init__(
        self,
        inchan: int,
        outchan: int,
        *layer_args,
        layer_type: str = "conv",
        init_scale: float = 1.0,
        batch_norm: bool = False,
        batch_norm_kwargs: Optional[dict] = None,
        group_norm_groups: Optional[int] = None,
        layer_norm: bool = False,
        use_activation: bool = True,
        log_scope: Optional[str] = None,  # accepted for signature compatibility; unused
        **layer_kwargs,
    ):
        super().__init__()
        layer_classes = {"conv": nn.Conv2d, "linear": nn.Linear}
        if layer_type not in layer_classes:
            raise ValueError(f"FanInInitReLULayer: layer_type must be one of {sorted(layer_classes)}, got {layer_type!r}")
        self.norm: Optional[nn.Module] = None
        if batch_norm:
            self.norm = nn.BatchNorm2d(inchan, **(batch_norm_kwargs or {}))
        elif group_norm_groups is not None:
            self.norm = nn.GroupNorm(group_norm_groups, inchan)
        elif layer_norm:
            self.norm = nn.LayerNorm(inchan)
        self.layer = layer_classes[layer_type](inchan, outchan, *layer_args, bias=self.norm is None, **layer_kwargs)
        self.use_activation = use_activation
        with torch.no_grad():
            w = self.layer.weight
            w.mul_(init_scale / torch.linalg.vector_norm(w, dim=tuple(range(1, w.ndim)), keepdim=True))
            if self.layer.bias is not None:
                self.layer.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``[N, inchan, H, W]`` (conv) or ``[..., inchan]`` (linear) -> same layout with ``outchan``."""
        if self.norm is not None:
            x = self.norm(x)
        x = self.layer(x)
        if self.use_activation:
            x = F.relu(x, inplace=True)
        return x


class ResidualRecurrentBlock(nn.Module):
    """One transformer block of the VPT core (spec §4.4)::

        h = pre_r_ln(x)
        h = h + attention(h)              # the residual is on the *normed* input (official behaviour)
        out = h + mlp1(mlp0(h))           # mlp0 = LayerNorm -> Linear(hid, ratio*hid) -> ReLU; mlp1 = Linear

    Args:
        hidsize: model width.
        timesteps: frames per training chunk (the memory keeps ``attention_memory_size - timesteps`` frames).
        init_scale: residual init scale (``n_blocks**-0.5``); the MLP output gets a further ``2**-0.5``.
        recurrence_type: only ``"transformer"``.
        is_residual: add the MLP residual.
        use_pointwise_layer, pointwise_ratio, pointwise_use_activation: the pointwise MLP.
        attention_heads, attention_memory_size, attention_mask_style: see :class:`MaskedAttention`.

    Raises:
        ValueError: a recurrence type other than ``"transformer"`` (the LSTM variants are not implemented).
    """

    def __init__(
        self,
        hidsize: int,
        timesteps: int,
        init_scale: float = 1.0,
        recurrence_type: str = "transformer",
        is_residual: bool = True,
        use_pointwise_layer: bool = True,
        pointwise_ratio: int = 4,
        pointwise_use_activation: bool = False,
        attention_heads: int = 8,
        attention_memory_size: int = 2048,
        attention_mask_style: str = "clipped_causal",
        block_number: int = 0,
    ):
        super().__init__()
        if recurrence_type != "transformer":
            raise ValueError(
                f"ResidualRecurrentBlock: recurrence_type {recurrence_type!r} is not implemented (only 'transformer', "
                "the type of every released VPT model)"
            )
        self.is_residual = is_residual
        self.use_pointwise_layer = use_pointwise_layer
        s = init_scale
        if use_pointwise_layer:
            if is_residual:
                s *= 2**-0.5  # second residual branch of the block
            self.mlp0 = FanInInitReLULayer(
                hidsize, hidsize * pointwise_ratio, layer_type="linear", init_scale=1.0, layer_norm=True
            )
            self.mlp1 = FanInInitReLULayer(
                hidsize * pointwise_ratio,
                hidsize,
                layer_type="linear",
                init_scale=s,
                use_activation=pointwise_use_activation,
            )
        self.pre_r_ln = nn.LayerNorm(hidsize)
        self.r = MaskedAttention(
            input_size=hidsize,
            memory_size=attention_memory_size,
            heads=attention_heads,
            timesteps=timesteps,
            mask=attention_mask_style,
            init_scale=s,
        )

    def forward(
        self, x: torch.Tensor, first: torch.Tensor, state: MaskedAttentionState
    ) -> Tuple[torch.Tensor, MaskedAttentionState]:
        """``x`` float ``[B, T, hidsize]``, ``first`` bool ``[B, T]`` -> (``[B, T, hidsize]``, new state)."""
        h = self.pre_r_ln(x)
        h, state_out = self.r(h, first, state)
        if self.use_pointwise_layer:
            mlp_out = self.mlp1(self.mlp0(h))
            h = h + mlp_out if self.is_residual else mlp_out
        return h, state_out


class ResidualRecurrentBlocks(nn.Module):
    """A stack of :class:`ResidualRecurrentBlock` (attribute ``blocks``); the state is a list with one
    ``(state_mask, (K, V))`` per block.

    Args:
        n_block: number of blocks.
        recurrence_type: only ``"transformer"``.
        is_residual: residual blocks (also sets the init scale ``n_block**-0.5``).
        **block_kwargs: passed to every :class:`ResidualRecurrentBlock`.
    """

    def __init__(self, n_block: int = 2, recurrence_type: str = "transformer", is_residual: bool = True, **block_kwargs):
        super().__init__()
        init_scale = n_block**-0.5 if is_residual else 1.0
        self.blocks = nn.ModuleList(
            [
                ResidualRecurrentBlock(
                    **block_kwargs,
                    recurrence_type=recurrence_type,
                    is_residual=is_residual,
                    init_scale=init_scale,
                    block_number=i,
                )
                for i in range(n_block)
            ]
        )

    def forward(
        self, x: torch.Tensor, first: torch.Tensor, state: Sequence[MaskedAttentionState]
    ) -> Tuple[torch.Tensor, List[MaskedAttentionState]]:
        """Run the blocks in order. Raises ``ValueError`` if ``len(state)`` differs from the number of blocks."""
        if len(state) != len(self.blocks):
            raise ValueError(f"recurrent state has {len(state)} entries but the network has {len(self.blocks)} blocks")
        state_out = []
        for block, block_state in zip(self.blocks, state):
            x, block_state_out = block(x, first, block_state)
            state_out.append(block_state_out)
        return x, state_out

    def initial_state(self, batch_size: int, device=None, dtype: torch.dtype = torch.float32) -> List[MaskedAttentionState]:
        """One ``(None, (zeros [B, maxlen, hidsize], zeros [B, maxlen, hidsize]))`` per block."""
        return [block.r.initial_state(batch_size, device=device, dtype=dtype) for block in self.blocks]
