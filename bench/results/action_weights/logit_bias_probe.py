"""A one-off probe (2026-12-04, session 18): bench/pretraining_report.py with a constant added to the low level's
logits of some actions when it samples (post-hoc logit adjustment; training and the NLL figures untouched).

    BIAS="make_*=2,place_table=2,place_furnace=2" python bench/results/action_weights/logit_bias_probe.py \
        --sections unconditional_bc_crafter_score --score_episodes 100 --threads 1 --out_json X.json --readme X.md

BIAS: comma-separated ACTION=NATS (a trailing * matches every action with that prefix). Patches
VPT.lib.policy's _act_on_pd for the run; not part of the pipeline."""
import os, sys
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path[:0] = [ROOT, os.path.join(ROOT, "bench")]
import torch
from VPT.lib import policy as P
from tasks.crafter.env import ACTION_NAMES
bias = torch.zeros(len(ACTION_NAMES))
for kv in filter(None, os.environ.get("BIAS", "").split(",")):
    k, v = kv.split("=")
    names = [n for n in ACTION_NAMES if n.startswith(k[:-1])] if k.endswith("*") else [k]
    for n in names:
        bias[ACTION_NAMES.index(n)] = float(v)
print("bias", {n: float(b) for n, b in zip(ACTION_NAMES, bias) if b}, flush=True)
cls = [c for c in vars(P).values() if isinstance(c, type) and "_act_on_pd" in vars(c)][0]
orig = cls._act_on_pd
def patched(self, pd, vpred, state_out, stochastic, taken_action, return_pd):
    if taken_action is None and isinstance(pd, torch.Tensor) and pd.shape[-1] == len(ACTION_NAMES):
        pd = pd + bias.to(pd.dtype)
    return orig(self, pd, vpred, state_out, stochastic, taken_action, return_pd)
cls._act_on_pd = patched
import pretraining_report
sys.argv = ["bench/pretraining_report.py"] + sys.argv[1:]
pretraining_report.main()
