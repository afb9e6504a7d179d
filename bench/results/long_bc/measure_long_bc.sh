#!/usr/bin/env bash
# The low level of run_long_bc.sh (3.3M BC frames) measured where it could beat models v6 (session 26): the
# unconditional Crafter score on the report's 100 worlds (seed 9001) and on 200 other worlds (seed 20001, as
# bench/results/pipeline_scratch/score_200_seed20001.json for v6), then the goal information gap on the report's 80
# held-out player episodes. The high-level config is configs/crafter/highlevel.yaml with the low level pointed at the
# run's final weights (the goal prior and codebook stay v6's: these figures do not use them). Session 26 ran the same
# commands by hand (~4 min for the scores side by side, ~6 min for the goal information, AVX-512 2-core machine).
#
#   bash bench/results/long_bc/measure_long_bc.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
L=results/crafter/long_bc
W=$L/work/steve1
O=bench/results/long_bc
[[ -f "$W/weights/steve1_crafter_latest.weights" ]] || { echo "measure_long_bc.sh: $W/weights/steve1_crafter_latest.weights is missing: run run_long_bc.sh first" >&2; exit 2; }
sed -e "s#^in_model: downloads/crafter/steve1_crafter.yaml#in_model: configs/crafter/vpt_small.yaml#" \
    -e "s#^in_weights: downloads/crafter/steve1_crafter.weights#in_weights: $W/weights/steve1_crafter_latest.weights#" \
    -e "s#^weights: downloads/crafter/steve1_crafter.weights#weights: $W/weights/steve1_crafter_latest.weights#" \
    configs/crafter/highlevel.yaml > "$L/highlevel_bconly.yaml"
export OMP_NUM_THREADS=1
A=(--highlevel_config "$L/highlevel_bconly.yaml" --low_level_args "$W/training_checkpoint/args.yaml" --threads 1)
python bench/pretraining_report.py "${A[@]}" --sections unconditional_bc_crafter_score --score_episodes 100 \
    --seed 9001 --out_json $O/score_100_seed9001.json --readme "$L/readme_a.md" > "$L/score_a.log" 2>&1 &
python bench/pretraining_report.py "${A[@]}" --sections unconditional_bc_crafter_score --score_episodes 200 \
    --seed 20001 --out_json $O/score_200_seed20001.json --readme "$L/readme_b.md" > "$L/score_b.log" 2>&1 &
wait
python bench/pretraining_report.py "${A[@]}" --sections goal_information --player_episodes 80 --max_episode_len 10000 \
    --out_json $O/goal_information.json --readme "$L/readme_c.md"
