"""The codebook-size probe in one table (bench/results/README.md, section "Fewer codes"): for 10, 25 and 50 codes,
crafter_coal with no RL (uniform codes every 20 env steps, and the best code held for whole episodes, 100 worlds from
seed 9001) and ptgm_no_prior's success over 400k env steps of RL (per seed, first and last 100k), with Welch's t-test
of each smaller codebook's per-seed rates against the shipped 50 codes' (session 34's runs).

    python bench/results/codebook_size/summarize.py

Reads the JSONs that run_codebook_size.sh writes beside this file and ../benchmark_v7/coal/early_late_400k.json;
writes summary.json here (atomically). A missing input is reported as null, not guessed.
"""
import argparse
import json
import sys
from pathlib import Path

from scipy.stats import chi2_contingency, norm, ttest_ind

from steve1.utils.io import atomic_write_json

HERE = Path(__file__).resolve().parent
SHIPPED_RL = HERE.parent / "benchmark_v7" / "coal" / "early_late_400k.json"
METHOD, TASK = "ptgm_no_prior", "crafter_coal"


def _load(path: Path):
    return json.load(open(path)) if path.is_file() else None


def _no_rl(held: dict | None) -> dict | None:
    """Uniform codes and every held code's success, the best held code first, and whether the held codes differ at
    all: a chi-square test of homogeneity over the codes' success counts (``codes_differ_p``; a best code picked
    from many on the same worlds is biased upwards, and only a small p says that some code is better than others)."""
    if held is None:
        return None
    arms = held["tasks"][TASK]
    n = held["episodes"]
    codes = {k: v["success"] for k, v in arms.items() if k.startswith("code_")}
    best = max(codes, key=codes.get) if codes else None
    differ_p = None
    if len(codes) >= 2:
        wins = [round(r * n) for r in codes.values()]
        differ_p = round(float(chi2_contingency([wins, [n - w for w in wins]])[1]), 4)
    return {"uniform": arms.get("uniform", {}).get("success"), "best_code": best,
            "best_code_success": codes.get(best), "episodes": n, "codes_differ_p": differ_p,
            "codes_by_success": dict(sorted(codes.items(), key=lambda kv: -kv[1]))}


def _rl(early_late: dict | None) -> dict | None:
    """Per-seed success over the whole budget, and the first and last windows pooled over seeds, with a two-sided
    two-proportion z-test between them (episodes treated as independent)."""
    if early_late is None:
        return None
    r = early_late["result"][TASK][METHOD]
    (k1, n1), (k2, n2) = [(r[w]["successes"], r[w]["episodes"]) for w in ("early", "late")]
    pooled = (k1 + k2) / (n1 + n2)
    z = (k2 / n2 - k1 / n1) / (pooled * (1 - pooled) * (1 / n1 + 1 / n2)) ** 0.5
    return {"per_seed": {s: v["rate"] for s, v in r["seeds"].items()},
            "first_100k": r["early"]["rate"], "last_100k": r["late"]["rate"],
            "first_vs_last_two_proportion_z": round(z, 4), "first_vs_last_p": round(float(2 * norm.sf(abs(z))), 4),
            "first_100k_wilson95": r["early"]["wilson95"], "last_100k_wilson95": r["late"]["wilson95"]}


def main() -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    rows = {}
    for k in (10, 25, 50):
        held = _load(HERE / f"held_n{k}.json")
        if k == 50:  # the rebuilt 50-code codebook: uniform only (a full screen of 50 codes was not run)
            held = _load(HERE / "held_n50_uniform.json")
        rows[f"n{k}_rebuilt"] = {"no_rl": _no_rl(held),
                                 "rl": _rl(_load(HERE / f"coal_n{k}" / "early_late.json"))}
    shipped_uniform = _load(HERE / "held_shipped_uniform.json")
    rows["n50_shipped"] = {"no_rl": _no_rl(shipped_uniform), "rl": _rl(_load(SHIPPED_RL))}
    welch = {}
    base = rows["n50_shipped"]["rl"]
    for name in ("n10_rebuilt", "n25_rebuilt"):
        rl = rows[name]["rl"]
        if rl and base and len(rl["per_seed"]) >= 2:
            a, b = list(rl["per_seed"].values()), list(base["per_seed"].values())
            t, p = ttest_ind(a, b, equal_var=False)
            welch[f"{name} vs n50_shipped"] = {"t": round(float(t), 4), "p": round(float(p), 4),
                                               "seeds": [len(a), len(b)]}
    atomic_write_json(HERE / "summary.json", {
        "command": "python " + " ".join(sys.argv), "task": TASK, "method": METHOD,
        "note": "no_rl: bench/chain_oracle.py, 100 worlds from seed 9001 (the shipped codebook's uniform arm on the "
                "same 100 worlds: held_shipped_uniform.json); rl: 400k env steps, seeds 1-3, models v7, cond_scale 0 "
                "(n50_shipped: session 34's runs, results/bench_v7_cs0_coal)",
        "rows": rows, "welch_per_seed_rates": welch})
    print(json.dumps({k: {"uniform": (v["no_rl"] or {}).get("uniform"),
                          "best_code": (v["no_rl"] or {}).get("best_code_success"),
                          "codes_differ_p": (v["no_rl"] or {}).get("codes_differ_p"),
                          "rl": (v["rl"] or {}).get("per_seed")} for k, v in rows.items()}, indent=1))
    print(json.dumps(welch))


if __name__ == "__main__":
    main()
