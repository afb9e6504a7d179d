#!/usr/bin/env bash
# Issue 18's figures for the models of the from-scratch pipeline run (run_pipeline_scratch.sh; shipped as models v6),
# at the protocol of models v3-v5's reports: two parts side by side, one torch thread each, then merged into
# bench/results/pretraining.json and its section of bench/results/README.md, with the shipped models
# (configs/crafter/highlevel.yaml). Session 25 ran it before shipping, on the same files in
# results/crafter/scratch/ship/ (a copy of that config with those paths; model_md5 in the JSON equals the shipped
# files'), and wrote the parts to bench/results/pipeline_scratch/pretraining_parts/ (their "command"), then moved them.
# Session 37 added the competence test starts (--test_episodes 200 --test_worlds 40 --test_seed 20001: the best code
# is measured on other worlds than it was chosen on) and reran both parts on the shipped models v7.
#
#   bash bench/results/pipeline_scratch/run_report.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
P=bench/results/pretraining_parts
mkdir -p "$P"
export OMP_NUM_THREADS=1
COMMON=(--highlevel_config configs/crafter/highlevel.yaml --player_episodes 80 --max_episode_len 10000 --worlds 20
        --screen_worlds 3 --top_codes 5 --test_episodes 200 --test_worlds 40 --test_seed 20001 --horizon 200
        --survival_worlds 20 --task_episodes 200 --score_episodes 100 --threads 1)
python bench/pretraining_report.py --sections competence "${COMMON[@]}" --out_json $P/part_competence.json \
    --readme $P/scratch_a.md > $P/part_competence.log 2>&1 &
python bench/pretraining_report.py --sections player goal_information prior survival_under_prior \
    prior_driven_success unconditional_bc_crafter_score pipeline_hours "${COMMON[@]}" --out_json $P/part_rest.json \
    --readme $P/scratch_b.md > $P/part_rest.log 2>&1 &
wait
rm -f $P/scratch_a.md $P/scratch_b.md
python bench/pretraining_report.py --merge $P/part_competence.json $P/part_rest.json --out_json bench/results/pretraining.json
