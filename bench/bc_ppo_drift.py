"""How far does one PPO update move ``bc_ppo``'s policy from the BC policy it starts at, and which part of the update
moves it?

``bc_ppo`` (and ``bc_ppo_kl``, whose KL term to the BC policy enters only the rewards of later rollouts) start at
the BC policy and lose its success within the first update (``bench/results/benchmark_v7/``). This script builds
``bc_ppo`` exactly as ``ppo_highlevel.py --method bc_ppo`` does (:func:`hierarchical.bc_ppo.make_bc_trunk_venv`,
:func:`hierarchical.bc_ppo.make_bc_ppo`; SB3's PPO defaults), collects one rollout and makes one PPO update
(``model.learn`` over ``n_steps * n_envs`` env steps), once per variant of PPO's keyword arguments, each from the same
seed (the same rollout: the policy that collects it is the BC policy in every variant). It then measures, on the
rollout's own observations (the frozen trunk's features, float32 [n_steps * n_envs, hidsize]):

* ``kl_mean``: mean KL(pi_after || pi_BC) in nats per env step (the quantity ``bc_ppo_kl`` penalises);
* ``kl_median``, ``kl_p90``: its median and 90th percentile over the steps;
* ``argmax_agreement``: the share of steps where the most likely action is the BC policy's;
* ``entropy_after`` / ``entropy_bc``: mean entropy (nats) of the two distributions.

Variants are ``name`` or ``name:key=value,key=value`` with SB3 ``PPO`` keyword arguments (``vf_coef``,
``learning_rate``, ``n_epochs``, ``batch_size``, ``clip_range``, ``ent_coef``, ``max_grad_norm``), the key
``value_latent=own`` (the value head on its own copy of ``lastlayer``/``final_ln``,
:class:`sb3_vpt.policy.VPTHeadPolicy` ``value_latent``), or ``value_init=zero`` (``VPTHeadPolicy``'s
``value_init``: the value head's linear layer zeroed, so the value is 0 everywhere before the update instead of VPT's
init: rows of norm 1 on a layer-normed latent, values of order 1 against returns of order 0.1). Example (the command
of ``bench/results/bc_ppo_drift/drift.json``)::

    python bench/bc_ppo_drift.py --task crafter_iron --seed 1 --out bench/results/bc_ppo_drift/drift.json \\
        --variants default vf0:vf_coef=0 lr3e-5:learning_rate=3e-5

Writes one JSON (atomically, after each variant) with the command and a record per variant (with the BC policy's
model files, ``in_model`` / ``in_weights`` of ``configs/<sim>/highlevel.yaml``). A bad flag gets one line and
exit code 2 before anything runs.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: SB3 PPO keyword arguments a variant may set, with their types.
VARIANT_KEYS = {"vf_coef": float, "learning_rate": float, "n_epochs": int, "batch_size": int, "clip_range": float,
                "ent_coef": float, "max_grad_norm": float, "value_latent": str, "value_init": str}


def parse_variant(text: str) -> tuple[str, dict]:
    """``"name"`` or ``"name:key=value,..."`` -> ``(name, {key: value})``.

    Raises:
        ValueError: an unknown key, a value of the wrong type, or an empty name.
    """
    name, _, rest = text.partition(":")
    if not name:
        raise ValueError(f"--variants: {text!r} has no name (name or name:key=value,...)")
    kwargs = {}
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        if not eq or key not in VARIANT_KEYS:
            raise ValueError(f"--variants: {text!r}: {item!r} is not key=value with a key of "
                             f"{', '.join(VARIANT_KEYS)}")
        try:
            kwargs[key] = VARIANT_KEYS[key](value)
        except ValueError:
            raise ValueError(f"--variants: {text!r}: {key} must be a {VARIANT_KEYS[key].__name__}, got {value!r}")
    if kwargs.get("value_latent", "shared") not in ("shared", "own"):
        raise ValueError(f"--variants: {text!r}: value_latent must be shared or own")
    if kwargs.get("value_init", "vpt") not in ("vpt", "zero"):
        raise ValueError(f"--variants: {text!r}: value_init must be vpt or zero")
    return name, kwargs


def drift(policy_logp, bc_logp) -> dict:
    """Drift figures of float [S, A] log-probabilities after the update against the BC policy's (module docstring)."""
    import torch

    from hierarchical.high_level_wrapper import categorical_kl

    kl = categorical_kl(policy_logp, bc_logp).double().numpy()
    ent = lambda lp: float(-(lp.exp() * lp).sum(-1).double().mean())  # noqa: E731
    agree = (policy_logp.argmax(-1) == bc_logp.argmax(-1)).double().mean()
    return {"kl_mean": round(float(kl.mean()), 4), "kl_median": round(float(np.median(kl)), 4),
            "kl_p90": round(float(np.quantile(kl, 0.9)), 4), "argmax_agreement": round(float(agree), 4),
            "entropy_after": round(ent(policy_logp), 4), "entropy_bc": round(ent(bc_logp), 4),
            "steps": int(kl.shape[0]), "finite": bool(torch.isfinite(policy_logp).all())}


def run_variant(task: str, seed: int, n_envs: int, name: str, kwargs: dict, n_steps: int = 2048) -> dict:
    """One rollout of ``n_steps`` per env + one PPO update of ``bc_ppo`` with ``kwargs`` over SB3's defaults -> the
    drift record."""
    import torch
    from stable_baselines3.common.utils import set_random_seed

    import tasks
    from hierarchical.bc_ppo import make_bc_ppo, make_bc_reference, make_bc_trunk_venv
    from hierarchical.build import make_envs
    from hierarchical.methods import resolve_config

    device = torch.device("cpu")
    cfg, sources = resolve_config(tasks.get_specs(task), {"n_envs": n_envs, "seed": seed}, method="bc_ppo")
    set_random_seed(seed)
    venv, bc = make_bc_trunk_venv(cfg, None, device, envs=make_envs(cfg, n_envs, device), sources=sources,
                                  with_kl=False)
    venv.seed(seed)
    model = make_bc_ppo(venv, bc, seed, device, ppo_kwargs={**kwargs, "n_steps": n_steps})
    reference = make_bc_reference(bc, venv.observation_space, venv.action_space, device)
    model.set_random_seed(seed)  # every variant collects its rollout from the same RNG state (and env seeds)
    start = time.time()
    model.learn(total_timesteps=model.n_steps * n_envs)
    obs = torch.as_tensor(model.rollout_buffer.observations.reshape(-1, venv.observation_space.shape[0]))
    with torch.no_grad():
        record = drift(model.policy.action_log_probs(obs), reference.action_log_probs(obs))
    venv.close()
    logs = {k: (None if v is None else round(float(v), 5)) for k, v in model.logger.name_to_value.items()}
    return {"name": name, "ppo_kwargs": kwargs, "in_model": cfg.in_model, "in_weights": cfg.in_weights, **record, "n_steps": model.n_steps, "n_envs": n_envs,
            "n_epochs": model.n_epochs, "batch_size": model.batch_size, "vf_coef": model.vf_coef,
            "value_loss": logs.get("train/value_loss"), "explained_variance": logs.get("train/explained_variance"),
            "approx_kl_last_epoch": logs.get("train/approx_kl"), "clip_fraction": logs.get("train/clip_fraction"),
            "seconds": round(time.time() - start, 1)}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--task", default="crafter_iron", help="task in tasks/task_specs.yaml (default crafter_iron)")
    p.add_argument("--seed", type=int, default=1, help="seed of every variant (the same rollout)")
    p.add_argument("--n_envs", type=int, default=8, help="envs (bc_ppo uses 8)")
    p.add_argument("--n_steps", type=int, default=2048, help="rollout env steps per env (SB3's default, bc_ppo's)")
    p.add_argument("--variants", nargs="+", default=["default"],
                   help="name or name:key=value,... (keys: " + ", ".join(VARIANT_KEYS) + ")")
    p.add_argument("--out", required=True, help="JSON to write")
    return p


def main(argv=None):
    """Run the variants and write ``--out``; returns the written dict, or 2 after a one-line error on a bad flag."""
    p = build_parser()
    args = p.parse_args(argv)
    try:
        import tasks

        tasks.get_specs(args.task)
        variants = [parse_variant(v) for v in args.variants]
        if args.n_envs < 1 or args.n_steps < 2:
            raise ValueError(f"--n_envs must be >= 1 and --n_steps >= 2, got {args.n_envs} and {args.n_steps}")
        if len({n for n, _ in variants}) != len(variants):
            raise ValueError("--variants: names must differ")
    except (KeyError, ValueError) as e:
        print(f"bc_ppo_drift: {e.args[0] if e.args else e}", file=sys.stderr)
        return 2
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    from steve1.utils.io import atomic_write_json

    torch.set_num_threads(1)
    records = []
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    data = {}
    for name, kwargs in variants:
        records.append(run_variant(args.task, args.seed, args.n_envs, name, kwargs, args.n_steps))
        print(json.dumps(records[-1]), flush=True)
        data = {"command": "python bench/bc_ppo_drift.py " + " ".join(sys.argv[1:] if argv is None else argv),
                "task": args.task, "seed": args.seed, "method": "bc_ppo (one rollout, one PPO update)",
                "variants": records}
        atomic_write_json(out, data)  # after every variant: a stopped run keeps the finished ones
    return data


if __name__ == "__main__":
    sys.exit(0 if isinstance(main(), dict) else 2)
