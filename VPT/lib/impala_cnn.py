"""The IMPALA CNN image encoder of VPT (spec §4.3).

``stacks.{i}``: ``firstconv`` (3x3) -> max-pool (3, stride 2, pad 1) -> ``GroupNorm`` ``n`` -> 2 residual
``blocks`` (``x + conv1(conv0(x))``, each conv GroupNorm-pre-normed and ReLU'd). The first conv of stack 0 has no
norm (and so a bias). ``dense``: LayerNorm over the flattened ``C*H*W`` map -> Linear -> ReLU.

The convolutions run in the channels-last memory format: the ``[N, H, W, C]`` frames need no transpose copy and
oneDNN runs channels-last convolutions without layout reorders. It changes no result beyond float rounding, and
the parameters keep their ordinary shapes in the state dict.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from VPT.lib.util import FanInInitReLULayer

__all__ = ["CnnBasicBlock", "CnnDownStack", "ImpalaCNN"]


class CnnBasicBlock(nn.Module):
    """Residual block ``x + conv1(conv0(x))``; both convs 3x3, channel- and size-preserving.

    Args:
        inchan: channels.
        init_scale: residual-branch init scale, split as ``sqrt`` per conv.
        init_norm_kwargs: norm options of each conv (:class:`FanInInitReLULayer`).
    """

    def __init__(self, inchan: int, init_scale: float = 1.0, init_norm_kwargs: Optional[dict] = None):
        super().__init__()
        s = math.sqrt(init_scale)
        kwargs = dict(kernel_size=3, padding=1, init_scale=s, **(init_norm_kwargs or {}))
        self.conv0 = FanInInitReLULayer(inchan, inchan, **kwargs)
        self.conv1 = FanInInitReLULayer(inchan, inchan, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, C, H, W]`` -> ``[N, C, H, W]``."""
        return x + self.conv1(self.conv0(x))


class CnnDownStack(nn.Module):
    """``firstconv`` -> max-pool /2 -> optional ``GroupNorm(post_pool_groups)`` -> ``nblock`` residual blocks.

    Args:
        inchan, outchan: channels in and out.
        nblock: residual blocks.
        init_scale: init scale of the stack (blocks get ``init_scale / sqrt(nblock)``).
        pool: downsample with max-pool.
        post_pool_groups: groups of the post-pool GroupNorm ``n`` (None: no norm).
        init_norm_kwargs: norm options of the convs.
        first_conv_norm: give ``firstconv`` its input norm too (False for the first stack).
    """

    def __init__(
        self,
        inchan: int,
        nblock: int,
        outchan: int,
        init_scale: float = 1.0,
        pool: bool = True,
        post_pool_groups: Optional[int] = None,
        init_norm_kwargs: Optional[dict] = None,
        first_conv_norm: bool = False,
    ):
        super().__init__()
        init_norm_kwargs = dict(init_norm_kwargs or {})
        self.inchan = inchan
        self.outchan = outchan
        self.pool = pool
        first_kwargs = dict(init_norm_kwargs)
        if not first_conv_norm:
            first_kwargs.update(group_norm_groups=None, batch_norm=False)
        self.firstconv = FanInInitReLULayer(inchan, outchan, kernel_size=3, padding=1, **first_kwargs)
        self.post_pool_groups = post_pool_groups
        if post_pool_groups is not None:
            self.n = nn.GroupNorm(post_pool_groups, outchan)
        self.blocks = nn.ModuleList(
            [
                CnnBasicBlock(outchan, init_scale=init_scale / math.sqrt(nblock), init_norm_kwargs=init_norm_kwargs)
                for _ in range(nblock)
            ]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, inchan, H, W]`` -> ``[N, outchan, ceil(H/2), ceil(W/2)]`` (``H, W`` kept without pooling)."""
        x = self.firstconv(x)
        if self.pool:
            x = F.max_pool2d(x, kernel_size=3, stride=2, padding=1)
            if self.post_pool_groups is not None:
                x = self.n(x)
        for block in self.blocks:
            x = block(x)
        return x

    def output_shape(self, inshape: Tuple[int, int, int]) -> Tuple[int, int, int]:
        """``(C, H, W)`` in -> ``(outchan, H', W')`` out."""
        c, h, w = inshape
        if c != self.inchan:
            raise ValueError(f"CnnDownStack: expected {self.inchan} input channels, got {c}")
        if self.pool:
            return self.outchan, (h + 1) // 2, (w + 1) // 2
        return self.outchan, h, w


class ImpalaCNN(nn.Module):
    """IMPALA CNN: down-sampling stacks then a dense layer, frame by frame.

    Args:
        inshape: input image shape ``(height, width, channels)``, e.g. ``(128, 128, 3)`` or Crafter's ``(64, 64, 3)``.
        chans: output channels of each stack (``impala_width * impala_chans``).
        outsize: size of the dense output (256 in VPT).
        nblock: residual blocks per stack.
        init_norm_kwargs: norm options of the convs (``group_norm_groups=1`` in VPT).
        dense_init_norm_kwargs: norm options of the dense layer (``layer_norm=True`` in VPT).
        first_conv_norm: norm the input of the very first conv.
        post_pool_groups: GroupNorm groups after each max-pool.
        frames_per_pass: the convolutions run on at most this many frames at a time, which bounds the activation
            memory of long chunks (a ``128x128`` frame takes ~8 MB per conv activation at width 8). Results do not
            depend on it.
    """

    def __init__(
        self,
        inshape: Sequence[int],
        chans: Sequence[int],
        outsize: int,
        nblock: int,
        init_norm_kwargs: Optional[dict] = None,
        dense_init_norm_kwargs: Optional[dict] = None,
        first_conv_norm: bool = False,
        post_pool_groups: Optional[int] = None,
        frames_per_pass: int = 32,
    ):
        super().__init__()
        h, w, c = inshape
        self.inshape = (int(h), int(w), int(c))
        self.frames_per_pass = frames_per_pass
        shape = (int(c), int(h), int(w))
        self.stacks = nn.ModuleList()
        for i, outchan in enumerate(chans):
            stack = CnnDownStack(
                shape[0],
                nblock=nblock,
                outchan=outchan,
                init_scale=math.sqrt(len(chans)),
                post_pool_groups=post_pool_groups,
                init_norm_kwargs=init_norm_kwargs,
                first_conv_norm=first_conv_norm if i == 0 else True,
            )
            self.stacks.append(stack)
            shape = stack.output_shape(shape)
        self.output_map_shape = shape
        self.dense = FanInInitReLULayer(
            math.prod(shape), outsize, layer_type="linear", init_scale=1.4, **(dense_init_norm_kwargs or {})
        )
        self.outsize = outsize
        self.to(memory_format=torch.channels_last)

    def conv_features(self, img: torch.Tensor) -> torch.Tensor:
        """``img`` float ``[N, H, W, C]`` -> flattened conv features ``[N, C'*H'*W']`` (in ``C, H, W`` order)."""
        x = img.permute(0, 3, 1, 2)  # a channels-last view, no copy
        x = x.contiguous(memory_format=torch.channels_last)
        for stack in self.stacks:
            x = stack(x)
        return x.reshape(x.shape[0], -1)  # logical CHW order, as upstream's flatten

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        """``img`` float ``[B, T, H, W, C]`` -> ``[B, T, outsize]``.

        Raises:
            ValueError: the frames are not ``[..., H, W, C]`` = ``inshape``.
        """
        if tuple(img.shape[-3:]) != self.inshape:
            raise ValueError(
                f"ImpalaCNN: frames must have shape [B, T, {', '.join(map(str, self.inshape))}] (img_shape), "
                f"got {list(img.shape)}"
            )
        b, t = img.shape[:-3]
        frames = img.reshape(b * t, *self.inshape)
        step = max(int(self.frames_per_pass), 1)
        features = [self.conv_features(frames[i : i + step]) for i in range(0, frames.shape[0], step)]
        x = features[0] if len(features) == 1 else torch.cat(features, dim=0)
        return self.dense(x.reshape(b, t, -1))
