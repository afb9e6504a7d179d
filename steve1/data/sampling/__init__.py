"""Train/val splits of an episode dataset (spec §3.7): ``python -m steve1.data.sampling.generate_sampling``."""
