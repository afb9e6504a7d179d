"""Sampling spread of the unconditional Crafter scores compared in bench/results/README.md ("More passes or more
play data?"): a parametric bootstrap of each report's per-achievement success rates (each achievement an
independent binomial over the report's episodes; the correlation between achievements of one episode is ignored),
scored with tasks.crafter.score.score_from_rates.

    python bench/results/fresh_data/score_spread.py

Writes bench/results/fresh_data/score_spread.json (atomically): per report the score and the bootstrap s.d.
"""
import json
import sys

import numpy as np

from steve1.utils.io import atomic_write_json
from tasks.crafter.score import score_from_rates

REPORTS = {"v5": "bench/results/pretraining.json", "same": "bench/results/fresh_data/score_same.json",
           "fresh": "bench/results/fresh_data/score_fresh.json"}
DRAWS, SEED = 5000, 0


def main() -> None:
    rng = np.random.default_rng(SEED)
    out = {"command": "python " + " ".join(sys.argv), "draws": DRAWS, "seed": SEED, "scores": {}}
    for name, path in REPORTS.items():
        detail = json.load(open(path))["unconditional_bc_detail"]
        n, p = detail["episodes"], np.array(list(detail["success_rates"].values()))
        boot = [score_from_rates(100.0 * rng.binomial(n, p) / n) for _ in range(DRAWS)]
        out["scores"][name] = {"report": path, "episodes": n, "score": round(score_from_rates(100.0 * p), 4),
                               "bootstrap_sd": round(float(np.std(boot)), 4)}
    atomic_write_json("bench/results/fresh_data/score_spread.json", out)
    print(json.dumps(out["scores"], indent=1))


if __name__ == "__main__":
    main()
