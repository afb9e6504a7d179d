"""Draw nav_oracle.png from the agreement JSONs beside this file (session 23; run from the repository root):

    python bench/results/nav_oracle/plot_nav_oracle.py

Per low level and goal: agreement with the shadowing player on the low level's own night states (from dusk) and the
share of the 40 worlds in which it is alive at the morning (env step 320). Written atomically."""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
#: (label, JSON stem): the conditions in the README's table order; missing files are skipped.
RUNS = [("v4, zero goal", "v4_zero_goal"), ("nav model, zero", "nav_model_zero_goal"),
        ("nav model, nav goal", "nav_goal"), ("intent model, zero", "intent_model_zero_goal"),
        ("intent model, intent", "intent_goal"), ("intent + DAgger, intent", "intentdagger_goal"),
        ("intent+facing, zero", "intentfacing_model_zero_goal"),
        ("intent+facing, intent+facing", "intentfacing_goal"), ("facing model, zero", "facing_model_zero_goal"),
        ("facing model, facing", "facing_goal"), ("intent, from scratch", "scratch_small_intent_goal"),
        ("intent, scratch, encoder x2", "scratch_w2_intent_goal")]


def main() -> None:
    sys.path.insert(0, os.path.join(HERE, "..", "..", ".."))
    from steve1.utils.io import atomic_write_bytes

    labels, agree, alive = [], [], []
    for label, stem in RUNS:
        path = os.path.join(HERE, f"agreement_{stem}.json")
        if not os.path.exists(path):
            continue
        s = json.load(open(path))["conditions"]["learner"]
        labels.append(label)
        agree.append(s["agreement_night"])
        alive.append(s["alive_at_end"])
    fig, ax = plt.subplots(figsize=(10, 4.5))
    x = range(len(labels))
    ax.bar([i - 0.2 for i in x], agree, 0.4, label="agreement with the player, own night states")
    ax.bar([i + 0.2 for i in x], alive, 0.4, label="alive at the morning (env step 320)")
    ax.set_xticks(list(x))
    ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("share (40 worlds)")
    ax.set_title("Crafter, first night from dusk: low levels told the player's intent (nav_oracle, session 23)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    atomic_write_bytes(os.path.join(HERE, "nav_oracle.png"), buf.getvalue())


if __name__ == "__main__":
    main()
