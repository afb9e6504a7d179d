"""Which codes does a trained PTGM high level pick? Code usage at a benchmark round's first and last checkpoints.

A success rate that stays flat during RL can hide a high level that RL moved: one that went from uniform codes to a
few, which do no better. For each run ``<runs_dir>/<task>/<method>/seed<k>`` of ``bench/sample_efficiency.py`` whose
method picks codes of a discrete codebook (``ptgm``, ``ptgm_no_prior``), this evaluates two checkpoints of its
newest ``run_*`` folder with :func:`hierarchical.evaluate.evaluate` (``--episodes`` episodes from world seed
``--seed``, codes sampled as in training, no GIFs):

* ``first``: the ``checkpoints/iter_*_envsteps_<N>.zip`` with the fewest env steps (``save_freq`` PPO iterations
  in, ~20k env steps with the Crafter config: close to the high level's start);
* ``last``: ``checkpoints/final.zip``, at the env steps of the run's ``results.json``.

Per checkpoint: the success rate over those episodes, ``code_entropy`` (nats of the shares of decisions per code:
ln ``n_codes`` for uniform picks, 0 for one code), the ``--top`` most picked codes with their shares of the
decisions, and every code's count. Whether the codes a high level settled on are worth holding is what
``bench/chain_oracle.py --arms fixed --fixed_codes ...`` measures on the same task::

    python bench/code_usage.py --runs_dir results/bench_v7_cs0_coal --tasks crafter_coal \\
        --out bench/results/benchmark_v7/coal/code_usage.json

``--out`` is rewritten (atomically) after every checkpoint; a rerun keeps the entries already there that were
measured with the same ``--episodes`` and ``--seed`` from the same checkpoint file (path, size and modification
time), so an interrupted measurement resumes and an extended run's ``last`` is measured again. A bad flag, or no
run with both checkpoints, ends with one line and exit code 2 before anything is evaluated.
"""
from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
import time
from pathlib import Path
from typing import Any, Optional, Sequence

from steve1.utils.cli import UsageError, fail
from steve1.utils.io import atomic_write_text

# ``python bench/x.py`` puts bench/ on the module path
from early_late import filters_text, select_runs

__all__ = ["CODE_METHODS", "find_checkpoints", "usage_entry", "main"]

#: The methods whose high level picks codes of a discrete codebook (hierarchical/methods.py).
CODE_METHODS = ("ptgm", "ptgm_no_prior")
_ENV_STEPS = re.compile(r"^iter_\d+_envsteps_(\d+)\.zip$")


def find_checkpoints(runs_dir: Path, tasks: Optional[Sequence[str]] = None, methods: Optional[Sequence[str]] = None,
                     seeds: Optional[Sequence[int]] = None) -> list[dict[str, Any]]:
    """The runs to measure: ``[{"task", "method", "seed", "first": (zip path, env steps), "last": (zip path, env
    steps)}]`` in sorted order, from the newest ``run_*`` of each ``<task>/<method>/seed<k>`` (methods of
    :data:`CODE_METHODS` only, further filtered by ``tasks``, ``methods``, ``seeds``; None: all).

    Raises:
        UsageError: no run under ``runs_dir`` has both an ``iter_*_envsteps_<N>.zip`` checkpoint and a
            ``final.zip`` with a ``results.json`` (the message names the filters).
    """
    found = []
    code_methods = [m for m in CODE_METHODS if methods is None or m in methods]
    for root in select_runs(runs_dir, seeds, code_methods, tasks):
        runs = sorted(root.glob("run_*/checkpoints/final.zip"))
        if not runs:
            continue
        run = runs[-1].parent.parent
        iters = sorted((int(m.group(1)), p) for p in (run / "checkpoints").glob("iter_*.zip")
                       if (m := _ENV_STEPS.match(p.name)))
        results = run / "results.json"
        if not iters or not results.is_file():
            continue
        last_steps = int(json.loads(results.read_text())["env_steps"])
        found.append({"task": root.parent.parent.name, "method": root.parent.name, "seed": int(root.name[4:]),
                      "first": (iters[0][1], iters[0][0]), "last": (runs[-1], last_steps)})
    if not found:
        raise UsageError(f"--runs_dir {runs_dir}: no <task>/<method>/seed<k>/run_*/checkpoints with an "
                         f"iter_*_envsteps_<N>.zip and a final.zip (and results.json) of {', '.join(CODE_METHODS)}"
                         + filters_text(seeds, methods, tasks))
    return found


def _file_key(path: Path) -> dict[str, Any]:
    st = path.stat()
    return {"checkpoint": str(path), "size": st.st_size, "mtime": round(st.st_mtime, 3)}


def usage_entry(report: dict[str, Any], env_steps: int, top: int) -> dict[str, Any]:
    """One checkpoint's entry from an :func:`hierarchical.evaluate.evaluate` report of a codebook method:
    ``{"env_steps", "episodes", "successes", "success_rate", "n_codes", "decisions", "code_entropy" (nats),
    "top_codes": [[code, share of decisions], ...] (``top`` most picked, shares rounded to 4 places),
    "code_counts": {code: decisions}}``.

    Raises:
        KeyError: the report has no ``code_counts`` (not a discrete-codebook method).
    """
    counts = report["code_counts"]
    decisions = sum(counts.values())
    return {"env_steps": env_steps, "episodes": report["n_episodes"], "successes": report["successes"],
            "success_rate": round(report["success_rate"], 4), "n_codes": report["n_codes"], "decisions": decisions,
            "code_entropy": round(report["code_entropy"], 4),
            "top_codes": [[int(c), round(k / decisions, 4)] for c, k in list(counts.items())[:top]],
            "code_counts": counts}


def build_parser() -> argparse.ArgumentParser:
    """The command line (see ``--help``)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs_dir", required=True, help="the --runs_dir of a bench/sample_efficiency.py round")
    p.add_argument("--tasks", nargs="+", default=None, help="only these tasks' runs (default: all)")
    p.add_argument("--methods", nargs="+", default=None, help=f"only these of {', '.join(CODE_METHODS)} "
                                                              "(default: both)")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="only these seeds' runs (default: all)")
    p.add_argument("--episodes", type=int, default=100, help="evaluation episodes per checkpoint")
    p.add_argument("--seed", type=int, default=0, help="evaluation seed (torch, NumPy and the env's worlds)")
    p.add_argument("--top", type=int, default=5, help="how many of the most picked codes to list per checkpoint")
    p.add_argument("--out", required=True, help="JSON file to write (atomically, after every checkpoint)")
    return p


def main(argv: Optional[Sequence[str]] = None) -> dict[str, Any]:
    """Measure, write ``--out`` and print one line per checkpoint."""
    args = build_parser().parse_args(argv)
    try:
        if args.methods is not None and set(args.methods) - set(CODE_METHODS):
            raise UsageError(f"--methods {' '.join(args.methods)}: expected some of {', '.join(CODE_METHODS)} "
                             "(the methods with a discrete codebook)")
        for flag, value in (("--episodes", args.episodes), ("--top", args.top)):
            if value < 1:
                raise UsageError(f"{flag} {value}: expected at least 1")
        if Path(args.out).is_dir():
            raise UsageError(f"--out {args.out}: is a folder, expected a JSON file path")
        runs = find_checkpoints(Path(args.runs_dir), args.tasks, args.methods, args.seeds)
    except UsageError as exc:
        fail("bench/code_usage.py", exc)
    import torch

    from hierarchical.evaluate import DEFAULT_CONFIG, EvaluationConfig, evaluate
    from steve1.utils.config import load_config

    torch.set_num_threads(1)
    settings = {"n_episodes": args.episodes, "seed": args.seed, "deterministic": False, "n_gifs": 0}
    config, _ = load_config(EvaluationConfig, Path(__file__).resolve().parents[1] / DEFAULT_CONFIG, settings)
    out = Path(args.out)
    before = json.loads(out.read_text()) if out.is_file() else {}
    # entries of an earlier run are kept only when measured the same way
    old = before.get("result", {}) if (before.get("seed"), before.get("episodes")) == (args.seed, args.episodes) else {}
    result: dict[str, Any] = {
        "command": "python bench/code_usage.py " + " ".join(
            shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])),
        "runs_dir": args.runs_dir, "episodes": args.episodes, "seed": args.seed, "top": args.top,
        "sampling": "codes sampled from the high level, as in training", "result": {}}
    for run in runs:
        seeds = result["result"].setdefault(run["task"], {}).setdefault(run["method"], {})
        entry = seeds.setdefault(f"seed{run['seed']}", {})
        for which in ("first", "last"):
            path, env_steps = run[which]
            key = _file_key(path)
            prev = old.get(run["task"], {}).get(run["method"], {}).get(f"seed{run['seed']}", {}).get(which)
            if prev and {k: prev.get(k) for k in key} == key:
                entry[which] = prev
            else:
                report = evaluate(path, config, "cpu")
                entry[which] = {**key, **usage_entry(report, env_steps, args.top)}
            e = entry[which]
            print(f"{run['task']:20s} {run['method']:14s} seed {run['seed']} {which:5s} {e['env_steps']:>8d} env "
                  f"steps: success {e['success_rate']:.3f}, code entropy {e['code_entropy']:.3f} nats, top "
                  + " ".join(f"{c}:{s:.2f}" for c, s in e["top_codes"]), flush=True)
            result["updated_utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            atomic_write_text(out, json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
