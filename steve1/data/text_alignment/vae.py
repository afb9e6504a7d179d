"""STEVE-1's text->goal prior ``TranslatorVAE`` (Lifshitz et al. 2023, STEVE-1 §3.2 "prior"; fixtures README §8).

A conditional VAE over MineCLIP embeddings: the encoder maps (visual goal embedding, text embedding) to a Gaussian
latent, the decoder maps (latent, text embedding) back to a visual goal embedding. At inference the latent is
drawn from the standard-normal prior (or set to its mean with ``deterministic=True``), so a text prompt becomes a
goal embedding for the low-level policy. The official ``steve1_prior.pt`` is a plain state dict (20 tensors,
``encoder.{0,1,3,4,6}``, ``decoder.{0,1,3,4,6}``) loaded strictly; :func:`load_text_prior` does that with clear
errors. The training script (``vae_pipeline/train_vae.py`` upstream) is not part of PTGM and is not reproduced.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Union

import torch
from torch import nn

__all__ = ["DEFAULT_PRIOR_PATH", "TranslatorVAE", "load_text_prior"]

#: Where STEVE-1's config expects the prior (spec §12.2; not fetched by downloads.sh, see README).
DEFAULT_PRIOR_PATH = "downloads/steve1/steve1_prior.pt"


def _mlp(dim_in: int, hidden_dim: int, dim_out: int) -> nn.Sequential:
    """``Linear -> LayerNorm -> ReLU -> Linear -> LayerNorm -> ReLU -> Linear`` (keys 0, 1, 3, 4, 6)."""
    return nn.Sequential(
        nn.Linear(dim_in, hidden_dim),
        nn.LayerNorm(hidden_dim),
        nn.ReLU(),
        nn.Linear(hidden_dim, hidden_dim),
        nn.LayerNorm(hidden_dim),
        nn.ReLU(),
        nn.Linear(hidden_dim, dim_out),
    )


class TranslatorVAE(nn.Module):
    """Conditional MLP VAE from text embeddings to visual (goal) embeddings.

    Args:
        input_dim: MineCLIP embedding size (512).
        hidden_dim: MLP width (512 in the released prior).
        latent_dim: latent size (512 in the released prior).

    Shapes: embeddings are float ``[B, input_dim]``; latents ``[B, latent_dim]``.
    """

    def __init__(self, input_dim: int = 512, hidden_dim: int = 512, latent_dim: int = 512):
        super().__init__()
        self.input_dim = input_dim
        self.hidden_dim = hidden_dim
        self.latent_dim = latent_dim
        self.encoder = _mlp(2 * input_dim, hidden_dim, 2 * latent_dim)
        self.decoder = _mlp(latent_dim + input_dim, hidden_dim, input_dim)

    def encode(self, visual_embeddings: torch.Tensor, text_embeddings: torch.Tensor) -> torch.Tensor:
        """Posterior parameters: ``encoder([visual, text])`` = ``mu ‖ logvar``, float ``[B, 2 * latent_dim]``."""
        return self.encoder(torch.cat([visual_embeddings, text_embeddings], dim=1))

    @staticmethod
    def sample(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """Reparameterised sample ``mu + eps * exp(logvar / 2)``, ``eps ~ N(0, I)``."""
        return mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)

    def decode(self, latent: torch.Tensor, text_embeddings: torch.Tensor) -> torch.Tensor:
        """``decoder([latent, text])`` -> visual embedding float ``[B, input_dim]``."""
        return self.decoder(torch.cat([latent, text_embeddings], dim=1))

    def forward(self, text_embeddings: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        """Text embeddings float ``[B, input_dim]`` -> predicted visual goal embeddings float ``[B, input_dim]``.

        The latent comes from the prior N(0, I): its mean (zeros) if ``deterministic``, else a sample.

        Raises:
            ValueError: ``text_embeddings`` is not ``[B, input_dim]``.
        """
        if text_embeddings.ndim != 2 or text_embeddings.shape[1] != self.input_dim:
            raise ValueError(
                f"TranslatorVAE: expected text embeddings [B, {self.input_dim}], got {tuple(text_embeddings.shape)}"
            )
        zeros = text_embeddings.new_zeros(text_embeddings.shape[0], self.latent_dim)
        latent = zeros if deterministic else self.sample(zeros, zeros)
        return self.decode(latent, text_embeddings)


def load_text_prior(
    path: Union[str, os.PathLike] = DEFAULT_PRIOR_PATH,
    device: Union[str, torch.device] = "cpu",
    input_dim: Optional[int] = None,
    hidden_dim: Optional[int] = None,
    latent_dim: Optional[int] = None,
) -> TranslatorVAE:
    """Build a :class:`TranslatorVAE` and load a plain state-dict file strictly; returns it in eval mode.

    Sizes left ``None`` are read from the file (``decoder.6`` rows = input, ``encoder.0`` rows = hidden,
    ``encoder.6`` rows / 2 = latent; 512/512/512 for the official prior); sizes given must match it.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is not a state dict, has missing/unexpected keys, or tensors of other shapes
            (e.g. a prior of another size: pass its ``hidden_dim``/``latent_dim``), naming the file.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"STEVE-1 text prior not found: {path} (the official steve1_prior.pt, see README)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(f"{path}: cannot be read as a torch state dict ({type(err).__name__}: {err})") from err
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise ValueError(
            f"{path}: expected a plain state dict of tensors (steve1_prior.pt layout), got {type(state).__name__}"
        )

    def rows(key: str, default: int = 512) -> int:  # a missing key is reported below as a missing key
        return int(state[key].shape[0]) if key in state and state[key].ndim == 2 else default

    input_dim = rows("decoder.6.weight") if input_dim is None else input_dim
    hidden_dim = rows("encoder.0.weight") if hidden_dim is None else hidden_dim
    latent_dim = rows("encoder.6.weight", 1024) // 2 if latent_dim is None else latent_dim
    model = TranslatorVAE(input_dim, hidden_dim, latent_dim)
    own = model.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    if missing or unexpected:
        raise ValueError(
            f"{path}: not a TranslatorVAE state dict: missing keys {missing[:8]}, unexpected keys {unexpected[:8]}"
        )
    wrong = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(v.shape)}"
        for k, v in own.items()
        if state[k].shape != v.shape
    ]
    if wrong:
        raise ValueError(
            f"{path}: shapes do not match TranslatorVAE(input_dim={input_dim}, hidden_dim={hidden_dim}, "
            f"latent_dim={latent_dim}): {'; '.join(wrong[:4])}"
        )
    model.load_state_dict(state, strict=True)
    return model.to(device).eval()
