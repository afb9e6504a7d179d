"""Helpers around the goal-conditioned policy: building an agent from files (:mod:`steve1.utils.load_agent`) and
turning text prompts into goal embeddings (:mod:`steve1.utils.embed_utils`)."""
