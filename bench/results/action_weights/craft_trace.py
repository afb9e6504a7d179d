"""A one-off trace (2026-12-04, session 18): what does the unconditional low level do when it could craft a wood
pickaxe (a table within 1 tile, wood >= 1, no pickaxe), and how much wood does it ever hold? Learner mode of
bench/teacher_agreement.py's ShadowEnv (the low level acts, the scripted player shadows), worlds 9001...

    python bench/results/action_weights/craft_trace.py bench/results/action_weights/highlevel_ft_w.yaml 24 \
        bench/results/action_weights/ft_w_craft_trace.json"""
import os, sys, json, collections, tempfile
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path[:0] = [ROOT, os.path.join(ROOT, "bench")]
import numpy as np, torch
from teacher_agreement import ShadowEnv
from steve1.utils.io import atomic_write_json

import crafter


class CraftEnv(ShadowEnv):
    def step(self, action):
        a = int(np.asarray(action).reshape(-1)[0])
        cenv = self.env.crafter_env
        p = cenv._player
        nearby, _ = cenv._world.nearby(p.pos, 1)
        inv = dict(p.inventory)
        rec = {"table": "table" in nearby, "wood": inv["wood"], "stone": inv["stone"],
               "wp": inv["wood_pickaxe"], "sp": inv["stone_pickaxe"], "ws": inv["wood_sword"]}
        self._extra = getattr(self, "_extra", [])
        out = super().step(action)
        rec["a"] = a; rec["t"] = self._steps[-1][1]
        self._extra.append(rec)
        if out[2] or out[3]:
            self.records[-1]["extra"] = self._extra; self._extra = []
        return out

def main(weights_cfg, n, out):
    from hierarchical.build import make_highlevel_env
    from hierarchical_throughput import task_config
    from pretraining_report import drive, goals_config, zero_goal
    from VPT.lib.loading import load_model_config
    torch.set_num_threads(1)
    cfg = task_config("crafter_score", {"n_envs": 4}, weights_cfg)
    size = int(load_model_config(cfg.in_model)[0]["img_shape"][0])
    with tempfile.TemporaryDirectory() as tmp:
        nn = 4
        run_cfg = goals_config(cfg, tmp, nn, zero_goal(cfg))
        seeds = [[9001 + j for j in range(i, n, nn)] for i in range(nn)]
        envs = [CraftEnv("learner", s, s, size, 1000) for s in seeds]
        venv, _ = make_highlevel_env(run_cfg, torch.device("cpu"), envs=envs)
        drive(venv, envs, [len(s) for s in seeds], False, 9001, "learner")
    recs = [r for e, s in zip(envs, seeds) for r in e.records[:len(s)]]
    names = crafter.Env().action_names
    st = collections.Counter(); acts = collections.Counter(); tacts = collections.Counter()
    per_ep = []
    for r in recs:
        ex = r["extra"]; craftable = 0; made = any(e["wp"] for e in ex)
        for e in ex:
            if e["table"] and e["wood"] >= 1 and e["wp"] == 0:
                craftable += 1; acts[names[e["a"]]] += 1; tacts[names[e["t"]]] += 1
        tbl = any(e["table"] for e in ex)
        per_ep.append({"len": r["length"], "craftable_steps": craftable, "made_wp": made, "table_near_ever": tbl,
                       "max_wood": max(e["wood"] for e in ex)})
    res = {"episodes": len(recs), "craftable_steps": sum(acts.values()),
           "low_level_actions_when_craftable": acts.most_common(), "teacher_actions_when_craftable": tacts.most_common(),
           "eps_with_craftable": sum(p["craftable_steps"] > 0 for p in per_ep),
           "eps_made_wp": sum(p["made_wp"] for p in per_ep), "eps_table_near": sum(p["table_near_ever"] for p in per_ep),
           "per_ep": per_ep}
    atomic_write_json(out, res, indent=1)
    print(json.dumps({k: v for k, v in res.items() if k != "per_ep"}, indent=1))

if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
