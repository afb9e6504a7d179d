"""MineCLIP prompt scoring for the dense shaping reward of the MineDojo tasks (spec §10.4, ``ClipReward``).

:class:`MineCLIPPromptScorer` is the ``scorer`` of :class:`tasks.minedojo.wrappers.ClipRewardWrapper`: per env
step it encodes the current frame with MineCLIP's image encoder, and scores a 16-frame window of image features
(temporal pooling -> video feature -> reward head) against the task prompts, whose text features are computed once
(upstream caches them across the run too).

Differences from upstream: the model is ours (:mod:`steve1.mineclip`, helper D), loaded strictly with clear errors;
the device is an argument (upstream hard-codes ``cuda``); frames must already be 160x256 (MineDojo's
``image_size``), which the wrapper stack forces.
"""
from __future__ import annotations

import os
from typing import Sequence, Union

import numpy as np
import torch

__all__ = ["MineCLIPPromptScorer"]


class MineCLIPPromptScorer:
    """Scores MineDojo frames against text prompts with MineCLIP.

    Args:
        mineclip: a :class:`steve1.mineclip.mineclip.MineCLIP` in eval mode.
        text_tokens: int64 [P, 77] CLIP BPE tokens of the P prompts.
        device: where MineCLIP runs.
    """

    def __init__(self, mineclip: torch.nn.Module, text_tokens: torch.Tensor, device: Union[str, torch.device] = "cpu"):
        self.model = mineclip
        self.device = torch.device(device)
        with torch.inference_mode():
            self.text_features = self.model.encode_text(text_tokens.to(self.device)).float()  # [P, F]

    @classmethod
    def from_checkpoint(cls, prompts: Sequence[str], path: Union[str, os.PathLike] = "downloads/mineclip_attn.pth",
                        device: Union[str, torch.device] = "cpu") -> "MineCLIPPromptScorer":
        """Load the official MineCLIP ``attn.pth`` (md5-checked) and the CLIP tokenizer and build the scorer.

        Raises:
            FileNotFoundError: the checkpoint or the BPE vocabulary is missing (the message says to run
                ``bash downloads.sh``).
            ValueError: a wrong checkpoint.
        """
        from steve1.mineclip.loading import load_mineclip
        from steve1.mineclip.tokenizer import ClipTokenizer

        model = load_mineclip(path, device=device)
        return cls(model, ClipTokenizer()(list(prompts)), device=device)

    @torch.inference_mode()
    def image_features(self, rgb: np.ndarray) -> torch.Tensor:
        """uint8 [3, 160, 256] MineDojo frame -> float32 [F] CLIP image feature (on the CPU)."""
        frame = torch.as_tensor(np.ascontiguousarray(rgb)).to(self.device)
        return self.model.forward_image_features(frame[None]).reshape(-1).float().cpu()

    @torch.inference_mode()
    def logits(self, window: torch.Tensor) -> torch.Tensor:
        """float [16, F] image features (oldest first) -> float32 [P] reward-head logits (logit scale x cosine)."""
        video = self.model.forward_video_features(window[None].to(self.device).float())
        logits_per_video, _ = self.model.forward_reward_head(video, self.text_features)
        return logits_per_video[0].float().cpu()
