"""The Crafter benchmark score (Hafner 2022, ``analysis/common.py``), beside the env whose episodes it scores.

The pipeline finds it through the simulator registry (``tasks.get_plugin(sim).benchmark_score``) for the tasks whose
spec sets ``benchmark_score: true`` (``tasks/task_specs.yaml``), and never names Crafter.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from tasks.crafter.env import ACHIEVEMENTS

__all__ = ["benchmark_score", "score_from_rates", "PROTOCOL"]

#: What the score measures, in words (written beside the scores).
PROTOCOL = ("Crafter (Hafner 2022): success rate of each achievement over all training episodes within the run's "
            "env-step budget, score = exp(mean ln(1 + s_i)) - 1 over the 22 rates in %")


def benchmark_score(episodes: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Crafter's protocol over ``episodes`` (each ``{"achievements": [names unlocked at least once], ...}``, the
    lines of a run's ``episodes.jsonl``): ``success_rates[a]`` = % of the episodes that unlocked achievement ``a``;
    ``score = exp(mean_a ln(1 + s_a)) - 1`` over the 22 achievements of :data:`tasks.crafter.env.ACHIEVEMENTS`.

    Returns:
        ``{"episodes": n, "score": float (rounded to 4 places), "success_rates": {achievement: %}}``.
    Raises:
        ValueError: no episodes.
    """
    if not episodes:
        raise ValueError("benchmark_score: no episodes")
    rates = {a: 100.0 * float(np.mean([a in e.get("achievements", ()) for e in episodes])) for a in ACHIEVEMENTS}
    score = score_from_rates(list(rates.values()))
    return {"episodes": len(episodes), "score": round(score, 4),
            "success_rates": {k: round(v, 4) for k, v in rates.items()}}


def score_from_rates(success_rates: Sequence[float]) -> float:
    """``exp(mean_i ln(1 + s_i)) - 1`` over success rates ``s_i`` in percent (one per achievement).

    Raises:
        ValueError: no rates.
    """
    if len(success_rates) == 0:
        raise ValueError("score_from_rates: no success rates")
    return math.exp(float(np.mean([math.log(1.0 + float(s)) for s in success_rates]))) - 1.0
