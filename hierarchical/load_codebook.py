"""Moved to :mod:`goal_prior.codebook` (the codebook format belongs to pre-training); kept for old imports."""
from goal_prior.codebook import KMeansCodebook, nearest_code, read_codebook_file  # noqa: F401
