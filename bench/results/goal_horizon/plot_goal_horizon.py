"""Plot of bench/results/goal_horizon/: the goal information gap of low levels fine-tuned alike but for the goal
horizon of their hindsight relabeling, overall and by the frame's goal horizon (pretraining_report's
``by_goal_horizon``). One-off figure script of session 19:

    python bench/results/goal_horizon/plot_goal_horizon.py      # reads the JSONs beside it, writes goal_horizon.png
"""
import io
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(HERE))))
from steve1.utils.io import atomic_write_bytes  # noqa: E402


def main() -> str:
    models = {}
    for name in sorted(os.listdir(HERE)):
        if name.startswith("goal_information") and name.endswith(".json"):
            with open(os.path.join(HERE, name)) as f:
                models.update(json.load(f)["models"])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    names = [n for n in models if n.startswith("ft_h")]
    names.sort(key=lambda n: int(n.split("-")[1]))
    xs = [int(n.split("-")[1]) for n in names]
    ax1.plot(xs, [models[n]["gap"] for n in names], marker="o", label="fine-tuned 100k frames (v4 candidate + ...)")
    if "v3_shipped" in models:
        ax1.scatter([75], [models["v3_shipped"]["gap"]], color="k", marker="x", label="v3 shipped (16-75)")
    ax1.axhline(0.15, color="grey", linestyle="--", label="issue 18 target")
    ax1.set_xlabel("longest goal horizon in training (env steps; shortest 16)")
    ax1.set_ylabel("gap = NLL no goal - NLL true goal (nats/frame)")
    ax1.set_title("gap on held-out episodes, own relabeling", fontsize=10)
    ax1.legend(fontsize=8)
    for n in names + ["v3_shipped"]:
        rows = models.get(n, {}).get("by_goal_horizon", {})
        if rows:
            keys = list(rows)
            ax2.plot(range(len(keys)), [rows[k]["gap"] for k in keys], marker="o", label=n)
            ax2.set_xticks(range(len(keys)), keys)
    ax2.set_xlabel("the frame's goal horizon (env steps)")
    ax2.set_ylabel("gap (nats/frame)")
    ax2.set_title("gap by the frame's goal horizon", fontsize=10)
    ax2.legend(fontsize=8)
    fig.suptitle("Crafter, STEVE-1 low level (PTGM pre-training): goal information vs the goal horizon, "
                 "40 held-out player-v8 episodes", fontsize=10)
    fig.tight_layout()
    out = os.path.join(HERE, "goal_horizon.png")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    atomic_write_bytes(out, buf.getvalue())
    return out


if __name__ == "__main__":
    print(main())
