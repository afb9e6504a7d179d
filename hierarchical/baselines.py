"""Former home of the baselines of ``ppo_highlevel.py --method``, split by job (issue 20):

* the method registry (names, presets, ``method_overrides``, ``algorithm_class``, ``run_method``, a builder per
  method): :mod:`hierarchical.methods`;
* the episode log and frame recorder: :mod:`hierarchical.episode_log`;
* flat PPO from scratch (``ppo_sb3``, and the envs of ``ppo``): :mod:`hierarchical.flat_baselines`;
* ``bc_ppo``: :mod:`hierarchical.bc_ppo`; ``steve1_prompt``: :mod:`hierarchical.prompt_baseline`.

Only the two names that scripts outside the high-level stage still import from here remain (``run_method`` for
``bench/sample_efficiency.py``, ``prompt_goal_embedding`` for ``bench/low_level_competence.py``); new code imports
them from their homes.
"""
from hierarchical.methods import run_method
from hierarchical.prompt_baseline import prompt_goal_embedding

__all__ = ["run_method", "prompt_goal_embedding"]
