#!/usr/bin/env bash
# Models v8 candidate (issue 18; session 38): models v7's recipe for the low level (the next-unlock fine-tune of the
# v6 low level, configs/crafter/steve1_unlock.yaml: 500k frames at 1e-4, unlock_horizon 100) with one change, the
# BC loss weight of the 3 frames ending at each action that collected coal, iron or diamond, made a stone or iron
# pickaxe or placed a furnace, x7.4 (achievement_loss_weights in steve1_unlock_achievement_weights.yaml here;
# steve1/data/minecraft_dataset.py, "Achievement loss weights"). Why: from the report's test starts the low level came
# next to coal or iron without turning to it and pressing do, and stood by a table without crafting
# (bench/results/README.md, "Why the late links miss"). The goal prior, codebook and CrafterCLIP stay models v7's.
#
# Steps (each resumes when rerun; THREADS torch threads per process, default 2 for the fine-tune):
#   prepare   the play data, split, goal embeddings, the v6 low level and the codebook under results/crafter/scratch/
#             (../models_v8_candidate/run_candidate.sh prepare: the generator is deterministic, so these are the
#             frames models v6 and v7 were trained on)
#   low       ../unlock_low_level/finetune.sh 100 with this folder's config -> results/crafter/v8_achw/low/
#   measure   bench/pretraining_report.py --sections competence on the report's protocol (run_report.sh's COMMON:
#             selection starts of seed 9001, test starts of seed 20001), two processes side by side on halves of
#             the links, their competence entries together in competence.json here
#
#   bash bench/results/achievement_weights/run_achievement_weights.sh prepare low measure
set -euo pipefail
cd "$(dirname "$0")/../../.."
O=bench/results/achievement_weights
W=results/crafter/v8_achw
THREADS=${THREADS:-2}
[ $# -ge 1 ] || { echo "usage: run_achievement_weights.sh prepare|low|measure ..." >&2; exit 2; }
for step in "$@"; do
    case $step in
    prepare)
        THREADS=1 bash bench/results/models_v8_candidate/run_candidate.sh prepare ;;
    low)
        CONFIG=$O/steve1_unlock_achievement_weights.yaml THREADS=$THREADS \
            bash bench/results/unlock_low_level/finetune.sh 100 $W/low $O/steve1_args.yaml ;;
    measure)
        sed -e "s#^in_weights: .*#in_weights: $W/low/steve1_crafter_latest.weights#" \
            -e "s#^weights: .*#weights: $W/low/steve1_crafter_latest.weights#" \
            configs/crafter/highlevel.yaml > $W/highlevel.yaml
        cp $W/highlevel.yaml $O/highlevel_v8_candidate.yaml
        export OMP_NUM_THREADS=1
        COMMON=(--highlevel_config $W/highlevel.yaml --low_level_args $W/low/ckpt/args.yaml --player_episodes 80
                --max_episode_len 10000 --worlds 20 --screen_worlds 3 --top_codes 5 --test_episodes 200
                --test_worlds 40 --test_seed 20001 --horizon 200 --threads 1)
        R=$(mktemp -d)
        python bench/pretraining_report.py --sections competence "${COMMON[@]}" \
            --achievements collect_wood place_table make_wood_pickaxe collect_stone make_stone_pickaxe collect_drink \
            --out_json $W/competence_a.json --readme "$R/a.md" > $W/competence_a.log 2>&1 &
        python bench/pretraining_report.py --sections competence "${COMMON[@]}" \
            --achievements collect_coal eat_cow place_furnace collect_iron make_iron_pickaxe \
            --out_json $W/competence_b.json --readme "$R/b.md" > $W/competence_b.log 2>&1 &
        wait
        # the two halves' competence links in one file (pretraining_report --merge takes each section from one part)
        python - $W/competence_a.json $W/competence_b.json $O/competence.json <<'PY'
import json, os, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a["complete"] and b["complete"] and a["model_md5"] == b["model_md5"], "unfinished or mismatched parts"
out = {"command": "bash bench/results/achievement_weights/run_achievement_weights.sh measure",
       "parts": [a["command"], b["command"]], "model_md5": a["model_md5"], "counts": a["counts"],
       "seconds": [a["seconds"], b["seconds"]], "competence": {**a["competence"], **b["competence"]}}
json.dump(out, open(sys.argv[3] + ".tmp", "w"), indent=1)
os.replace(sys.argv[3] + ".tmp", sys.argv[3])
PY
        rm -rf "$R" ;;
    *) echo "run_achievement_weights.sh: unknown step '$step' (prepare, low, measure)" >&2; exit 2 ;;
    esac
done
