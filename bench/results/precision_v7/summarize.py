"""Issue 18's figures of the shipped models v7 near their targets, measured again on fresh worlds and pooled.

Issue 18's report (``bench/results/pretraining.json``) measures the prior-driven figure on 200 episodes per task and
goal source and the unconditional Crafter score on 100 episodes, all on worlds from seed 9001. Near a target those
counts cannot say which side of it a figure is on (the stone-pickaxe arms differ by 5 successes of 200). This script
reads the same sections measured again on fresh worlds (``run_precision.sh``: 500 episodes per task and goal source
from seeds 20001 and 30001, 400 score episodes from seed 20001) and writes ``summary.json``:

* ``prior_driven``: per task and goal source (``prior``, ``zero``) the successes and episodes of each run, pooled
  over the fresh worlds and over all worlds, with Wilson 95% intervals; the difference prior - zero with its
  standard error and a two-proportion z-test (unpaired, although both goal sources play the same worlds: the
  report keeps no per-episode outcome, so the test is conservative).
* ``score``: the Crafter score (``tasks.crafter.score.score_from_rates``) of each run and of the episodes pooled,
  with a delta-method standard error from the per-achievement rates, which leaves out their covariance across
  episodes (an episode that lives longer unlocks more), so it is a lower bound.
* ``chain_oracle``: ``bench/chain_oracle.py``'s oracle arm (each link's best code, named from the true inventory)
  on the same fresh worlds, per task and setting: guidance ``cond_scale`` 0 (shipped), 1 or 3, with the best codes
  of the report (chosen at ``cond_scale`` 0) or, at 3, of ``models_v7_cs3/pretraining.json`` (chosen at 3);
  against the zero goal and the prior there.
* ``coal_code15``: on ``crafter_coal``, code 15 held for whole episodes (the best of four held codes in session 33,
  picked on 80 of the report's worlds) against the zero goal, on the same fresh worlds (``bench/chain_oracle.py``
  arms ``fixed`` and ``zero``).
* ``competence`` (from ``competence_fresh.json``): per link the report's best code and the zero goal on fresh
  next-link starts, with Wilson 95% intervals and where the interval lies against the issue's target (0.8; 0.5 for
  ``place_furnace``, ``collect_iron``, ``make_iron_pickaxe``).

Usage (from anywhere; paths resolve from this file)::

    python bench/results/precision_v7/summarize.py
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path[:0] = [ROOT, os.path.join(ROOT, "bench")]

from hierarchical.evaluate import wilson_interval  # noqa: E402
from pretraining_report import COMPETENCE_TARGET_DEFAULT, COMPETENCE_TARGETS  # noqa: E402
from steve1.utils.io import atomic_write_json  # noqa: E402
from tasks.crafter.env import ACHIEVEMENTS  # noqa: E402
from tasks.crafter.score import score_from_rates  # noqa: E402

REPORT = os.path.join(ROOT, "bench", "results", "pretraining.json")
PRIOR_RUNS = {"seed20001": "prior_driven_seed20001.json", "seed30001": "prior_driven_seed30001.json"}
SCORE_RUNS = {"seed20001": "score_seed20001.json"}
COMPETENCE = "competence_fresh.json"
#: Oracle settings: (task, cond_scale, where the codes were chosen) -> file names by seed.
ORACLE_RUNS = {
    ("crafter_stone_pickaxe", 0, "cs0"): {s: f"chain_oracle_stone_seed{s}.json" for s in (20001, 30001)},
    ("crafter_stone_pickaxe", 1, "cs0"): {s: f"chain_oracle_stone_cs1_seed{s}.json" for s in (20001, 30001)},
    ("crafter_stone_pickaxe", 3, "cs0"): {s: f"chain_oracle_stone_cs3_seed{s}.json" for s in (20001, 30001)},
    ("crafter_stone_pickaxe", 3, "cs3"): {s: f"chain_oracle_stone_cs3_codes_cs3_seed{s}.json" for s in (20001, 30001)},
    ("crafter_iron", 0, "cs0"): {s: f"chain_oracle_iron_cs0_seed{s}.json" for s in (20001, 30001)},
    ("crafter_iron", 3, "cs3"): {s: f"chain_oracle_iron_cs3_codes_cs3_seed{s}.json" for s in (20001, 30001)},
}
COAL_RUNS = {s: f"coal_code15_seed{s}.json" for s in (20001, 30001)}
#: The links of the tasks' chains, for the oracle's per-link rates.
CHAIN = ("collect_wood", "place_table", "make_wood_pickaxe", "collect_stone", "make_stone_pickaxe", "collect_iron")


def wilson(k: int, n: int) -> list[float]:
    """Wilson 95% interval of ``k / n`` (:func:`hierarchical.evaluate.wilson_interval`), rounded to 4 places."""
    return [round(x, 4) for x in wilson_interval(k, n)]


def two_proportion(k1: int, n1: int, k2: int, n2: int) -> dict:
    """Difference ``k1/n1 - k2/n2``, its unpooled standard error and the two-sided p of the pooled z-test."""
    p1, p2, pp = k1 / n1, k2 / n2, (k1 + k2) / (n1 + n2)
    se = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    se0 = math.sqrt(pp * (1 - pp) * (1 / n1 + 1 / n2))
    z = (p1 - p2) / se0 if se0 > 0 else 0.0
    return {"difference": round(p1 - p2, 4), "se": round(se, 4), "z": round(z, 3),
            "p_two_sided": round(math.erfc(abs(z) / math.sqrt(2)), 4)}


def load(path: str) -> dict:
    with open(path) as f:
        return json.load(f)


def count(rate: float, n: int, what: str) -> int:
    """The successes behind a success ``rate`` over ``n`` episodes; raises ValueError if none fits."""
    k = round(rate * n)
    if n < 1 or abs(k / n - rate) > 1e-3:
        raise ValueError(f"{what}: rate {rate} is not a count over {n} episodes")
    return k


def tally(k: int, n: int) -> dict:
    """Successes, episodes, rate and Wilson 95% interval."""
    return {"successes": k, "episodes": n, "rate": round(k / n, 4), "wilson95": wilson(k, n)}


def counts(report: dict, task: str, goals: str) -> tuple[int, int]:
    """Successes and episodes of one task and goal source of a report."""
    n = report["prior_driven_success_episodes"][f"{task}/{goals}"]["episodes"]
    rate = (report["prior_driven_success"] if goals == "prior" else report["unconditional_success"])[task]
    return count(rate, n, f"{task}/{goals}"), n


def score_with_se(rates: dict[str, float], n: int) -> dict:
    """Crafter score of per-achievement rates (fractions over ``n`` episodes) and its delta-method s.e."""
    pct = [100.0 * rates.get(a, 0.0) for a in ACHIEVEMENTS]
    s = score_from_rates(pct)
    grad = [(s + 1.0) / len(pct) * 100.0 / (1.0 + q) for q in pct]
    var = sum(g * g * (q / 100) * (1 - q / 100) / n for g, q in zip(grad, pct))
    return {"episodes": n, "score": round(s, 3), "se_delta": round(math.sqrt(var), 3)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=os.path.join(HERE, "summary.json"), help="summary JSON to write")
    args = p.parse_args()
    report = load(REPORT)
    runs = {"seed9001 (the report)": report}
    runs.update({k: load(os.path.join(HERE, v)) for k, v in PRIOR_RUNS.items()})
    score_files = {k: load(os.path.join(HERE, v)) for k, v in SCORE_RUNS.items()}
    for name, r in [*runs.items(), *score_files.items()]:
        if r.get("model_md5") != report["model_md5"] or not r.get("complete", False):
            raise SystemExit(f"{name}: not a complete report of the models of {REPORT} (model_md5 or complete)")
    fresh = list(PRIOR_RUNS)
    prior_driven = {}
    for task in report["prior_driven_success"]:
        t = {}
        for goals in ("prior", "zero"):
            per = {name: counts(r, task, goals) for name, r in runs.items()}
            k_f, n_f = (sum(per[x][i] for x in fresh) for i in (0, 1))
            k_a, n_a = (sum(v[i] for v in per.values()) for i in (0, 1))
            t[goals] = {"runs": {name: {"successes": k, "episodes": n, "rate": round(k / n, 4)}
                                 for name, (k, n) in per.items()},
                        "fresh_worlds": tally(k_f, n_f), "all_worlds": tally(k_a, n_a)}
        for scope in ("fresh_worlds", "all_worlds"):
            a, b = t["prior"][scope], t["zero"][scope]
            t[f"prior_minus_zero_{scope}"] = two_proportion(a["successes"], a["episodes"], b["successes"],
                                                            b["episodes"])
        prior_driven[task] = t
    score_runs = {"seed9001 (the report)": report["unconditional_bc_detail"]}
    score_runs.update({k: r["unconditional_bc_detail"] for k, r in score_files.items()})
    score = {name: {**score_with_se(d["success_rates"], d["episodes"]),
                    "median_episode_length": d["median_episode_length"]} for name, d in score_runs.items()}
    n_all = sum(d["episodes"] for d in score_runs.values())
    pooled = {a: sum(d["success_rates"].get(a, 0.0) * d["episodes"] for d in score_runs.values()) / n_all
              for a in ACHIEVEMENTS}
    score["pooled"] = {**score_with_se(pooled, n_all), "success_rates": {a: round(v, 4) for a, v in pooled.items()}}
    cf = load(os.path.join(HERE, COMPETENCE))
    if cf.get("model_md5") != report["model_md5"] or not cf.get("complete"):
        raise SystemExit(f"{COMPETENCE}: not a complete run on the models of {REPORT}")
    competence = {}
    for a, v in cf["links"].items():
        target, ci = COMPETENCE_TARGETS.get(a, COMPETENCE_TARGET_DEFAULT), v["fresh"]["wilson95"]
        competence[a] = {"code": v["code"], "target": target, "worlds": v["worlds"], "start": v["start"],
                         "fresh": v["fresh"]["success"], "fresh_wilson95": ci,
                         "fresh_zero_goal": v["fresh"]["zero_goal"],
                         "against_target": "above" if ci[0] >= target else "below" if ci[1] < target else "within",
                         "report": v["report"]}
    chain_oracle = []
    for (task, cond_scale, chosen), files in ORACLE_RUNS.items():
        runs_o = {}
        for seed, f in files.items():
            o = load(os.path.join(HERE, f))
            if float(o["cond_scale"]) != cond_scale:
                raise SystemExit(f"{f}: cond_scale {o['cond_scale']}, expected {cond_scale}")
            arm = o["tasks"][task]["oracle"]
            runs_o[f"seed{seed}"] = {"successes": count(arm["success"], o["episodes"], f), "episodes": o["episodes"],
                                     "achievement_rates": {a: arm["achievement_rates"].get(a, 0.0) for a in CHAIN},
                                     "links_named": arm["links_named"], "best_codes": o["best_codes"]}
        k_o, n_o = (sum(r[key] for r in runs_o.values()) for key in ("successes", "episodes"))
        pooled_links = {a: round(sum(r["achievement_rates"][a] * r["episodes"] for r in runs_o.values()) / n_o, 4)
                        for a in CHAIN}
        base = prior_driven[task]
        chain_oracle.append({
            "task": task, "cond_scale": cond_scale, "codes_chosen_at_cond_scale": int(chosen[2:]),
            "runs": runs_o, "fresh_worlds": {**tally(k_o, n_o), "link_rates": pooled_links},
            **{f"oracle_minus_{g}": two_proportion(k_o, n_o, base[g]["fresh_worlds"]["successes"],
                                                    base[g]["fresh_worlds"]["episodes"]) for g in ("zero", "prior")}})
    coal = {"runs": {}}
    for seed, f in COAL_RUNS.items():
        o = load(os.path.join(HERE, f))
        arms = o["tasks"]["crafter_coal"]
        coal["runs"][f"seed{seed}"] = {arm: {"successes": count(v["success"], o["episodes"], f),
                                             "episodes": o["episodes"]}
                                       for arm, v in arms.items() if arm in ("zero", "code_15")}
    for arm in ("code_15", "zero"):
        k, n = (sum(r[arm][key] for r in coal["runs"].values()) for key in ("successes", "episodes"))
        coal[arm] = tally(k, n)
    coal["code_15_minus_zero"] = two_proportion(coal["code_15"]["successes"], coal["code_15"]["episodes"],
                                                coal["zero"]["successes"], coal["zero"]["episodes"])
    out = {"command": "python bench/results/precision_v7/summarize.py",
           "inputs": {"report": os.path.relpath(REPORT, ROOT),
                      "prior_driven": [f"bench/results/precision_v7/{v}" for v in PRIOR_RUNS.values()],
                      "score": [f"bench/results/precision_v7/{v}" for v in SCORE_RUNS.values()],
                      "chain_oracle": [f"bench/results/precision_v7/{f}" for files in ORACLE_RUNS.values()
                                       for f in files.values()],
                      "coal_code15": [f"bench/results/precision_v7/{f}" for f in COAL_RUNS.values()],
                      "competence": f"bench/results/precision_v7/{COMPETENCE}"},
           "models_md5": report["model_md5"],
           "targets": {"prior_driven": "prior >= zero", "score": 10,
                       "competence": {"default": COMPETENCE_TARGET_DEFAULT, **COMPETENCE_TARGETS}},
           "prior_driven": prior_driven, "score": score, "chain_oracle": chain_oracle, "coal_code15": coal,
           "competence": competence}
    atomic_write_json(args.out, out)
    for task, t in prior_driven.items():
        print(task, {g: t[g]["all_worlds"]["rate"] for g in ("prior", "zero")}, t["prior_minus_zero_all_worlds"])
    print("score", {k: (v["score"], v["se_delta"]) for k, v in score.items()})
    for o in chain_oracle:
        print("oracle", o["task"], o["cond_scale"], o["codes_chosen_at_cond_scale"], o["fresh_worlds"]["rate"],
              o["fresh_worlds"]["link_rates"], o["oracle_minus_zero"]["p_two_sided"])
    print("coal", coal["code_15"]["rate"], coal["zero"]["rate"], coal["code_15_minus_zero"])
    for a, v in competence.items():
        print(a, v["fresh"], v["fresh_wilson95"], "zero", v["fresh_zero_goal"], v["against_target"], "report",
              v["report"]["success"])


if __name__ == "__main__":
    main()
