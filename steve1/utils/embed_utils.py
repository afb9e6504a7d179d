"""Text prompts -> goal embeddings for the goal-conditioned policy (STEVE-1 §3.2; upstream ``get_prior_embed``).

A text embedding from the goal embedder's text tower lives in the same space as the video (goal) embeddings the
policy was trained on, but not at the same place; STEVE-1 therefore maps it through a learned prior, the
conditional VAE :class:`steve1.data.text_alignment.vae.TranslatorVAE`, to a likely *visual* goal embedding::

    from steve1.data.text_alignment.vae import load_text_prior
    goal = text_goal_embedding(["chop a tree"], embedder, prior=load_text_prior("downloads/steve1/steve1_prior.pt"))
    agent.get_action(obs, goal)          # goal: float32 (1, 512)

Without a prior the raw text embedding is returned (works less well; useful to compare).
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np
import torch

__all__ = ["text_goal_embedding"]


@torch.no_grad()
def text_goal_embedding(texts: Union[str, Sequence[str]], embedder, prior: Optional[torch.nn.Module] = None,
                        deterministic: bool = True) -> np.ndarray:
    """Goal embeddings for text prompts.

    Args:
        texts: one prompt or a list of ``B`` prompts.
        embedder: a :class:`steve1.mineclip.embedder.GoalEmbedder` (MineCLIP, the Crafter embedder); its
            ``encode_text`` gives float32 ``[B, D]``.
        prior: optional text->visual prior (``TranslatorVAE``, ``forward(text_embeddings [B, D], deterministic)``).
        deterministic: with a prior, decode the prior's mean latent (zeros) instead of a random one.

    Returns:
        float32 ``[B, D]`` numpy array (``B = 1`` for a single string: the ``(1, D)`` goal ``get_action`` takes).

    Raises:
        ValueError: an empty prompt list, or a prior whose input size is not the embedder's ``D``.
    """
    if isinstance(texts, str):
        texts = [texts]
    texts = list(texts)
    if not texts:
        raise ValueError("text_goal_embedding: no prompt given")
    text_embeds = torch.as_tensor(embedder.encode_text(texts)).float()
    if prior is not None:
        input_dim = getattr(prior, "input_dim", text_embeds.shape[1])
        if input_dim != text_embeds.shape[1]:
            raise ValueError(f"text_goal_embedding: the prior takes {input_dim}-d embeddings, the embedder gives "
                             f"{text_embeds.shape[1]}-d")
        param = next(prior.parameters(), None)
        device = param.device if param is not None else text_embeds.device
        text_embeds = prior(text_embeds.to(device), deterministic=deterministic).float()
    return text_embeds.detach().cpu().numpy().astype(np.float32)
