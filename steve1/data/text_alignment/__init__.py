"""STEVE-1's text->goal prior: maps a MineCLIP text embedding to a MineCLIP video (goal) embedding."""
from steve1.data.text_alignment.vae import DEFAULT_PRIOR_PATH, TranslatorVAE, load_text_prior

__all__ = ["DEFAULT_PRIOR_PATH", "TranslatorVAE", "load_text_prior"]
