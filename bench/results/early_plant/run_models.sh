#!/usr/bin/env bash
# Models trained from nothing on play data with an early plant (issue 18's Crafter score; session 43). The fine-tune
# of ./run_early_plant.sh (models v7's low level + 200k frames on 400k frames of early-plant play data) scores 9.63
# on 400 worlds against its control's 8.94 (the same recipe on the same worlds' player-v8 data) and models v7's
# 8.96: it places a plant in 23.5% of them (v7 0%, the control 0.7%). Models to ship come from the whole pipeline,
# as v6/v7 did.
#
# Steps (W=results/crafter/v9, git-ignored; each resumes when rerun: the generator skips finished episodes, every
# stage of tasks/crafter/train_pipeline.sh is skipped when its output exists and its trainers continue from their
# checkpoints; THREADS torch threads per trainer, default 1):
#   data       1.2M frames of play data (configs/crafter/play_data.yaml, the shipped models' size) with early_plant 1
#              -> $W/ds
#   pipeline   tasks/crafter/train_pipeline.sh on it, every stage as shipped (configs/crafter/*.yaml), with the
#              shipped CrafterCLIP (stage 2 skipped, as for models v7) -> $W/work, $W/ship
#   score      a first look before the codebook and prior: the unconditional Crafter score of stage 4b's low level
#              (float32, as trained; shipped weights are float16) on the report's 100 worlds and on 400 worlds of seed
#              20001 (as ./score400_*.json) -> candidate_score100.json, candidate_score400.json
#   measure    bench/pretraining_report.py with the shipped models' settings on $W/ship -> candidate_report.json
#              (the player section measures the default player of configs/crafter/play_data.yaml; run it with
#              early_plant 1 separately: ./run_early_plant.sh player)
#
#   bash bench/results/early_plant/run_models.sh data pipeline score measure
set -euo pipefail
cd "$(dirname "$0")/../../.."
O=bench/results/early_plant
W=results/crafter/v9
THREADS=${THREADS:-1}
export OMP_NUM_THREADS=$THREADS
[ $# -ge 1 ] || { echo "usage: run_models.sh data|pipeline|score|measure ..." >&2; exit 2; }
for step in "$@"; do
    case $step in
    data)
        python -m tasks.crafter.generate_play_data --config configs/crafter/play_data.yaml --out_dir $W/ds \
            --num_frames 1200000 --workers 2 --early_plant 1 ;;
    pipeline)
        mkdir -p $W/ship
        cmp -s downloads/crafter/crafterclip.pt $W/ship/crafterclip.pt || cp downloads/crafter/crafterclip.pt $W/ship/
        DATA_DIR=$W/ds WORK=$W/work SHIP=$W/ship SAMPLINGS=$W/samplings THREADS=$THREADS \
            bash tasks/crafter/train_pipeline.sh ;;
    score)
        U=$W/work/steve1_unlock
        sed -e "s#^in_weights: .*#in_weights: $U/weights/steve1_crafter_latest.weights#" \
            configs/crafter/highlevel.yaml > $W/highlevel_4b.yaml
        R=$(mktemp -d)
        python bench/pretraining_report.py --sections unconditional_bc_crafter_score --score_episodes 100 \
            --highlevel_config $W/highlevel_4b.yaml --low_level_args $U/training_checkpoint/args.yaml --threads 1 \
            --out_json $O/candidate_score100.json --readme "$R/a.md" > $W/score100.log 2>&1 &
        python bench/pretraining_report.py --sections unconditional_bc_crafter_score --score_episodes 400 \
            --seed 20001 --test_seed 30001 --highlevel_config $W/highlevel_4b.yaml \
            --low_level_args $U/training_checkpoint/args.yaml --threads 1 --out_json $O/candidate_score400.json \
            --readme "$R/b.md" > $W/score400.log 2>&1 &
        wait
        rm -rf "$R" ;;
    measure)
        sed -e "s#downloads/crafter/#$W/ship/#g" configs/crafter/highlevel.yaml > $W/highlevel.yaml
        R=$(mktemp -d)
        python bench/pretraining_report.py --highlevel_config $W/highlevel.yaml --threads 1 \
            --out_json $O/candidate_report.json --readme "$R/r.md"
        rm -rf "$R" ;;
    *) echo "run_models.sh: unknown step '$step' (data, pipeline, score, measure)" >&2; exit 2 ;;
    esac
done
