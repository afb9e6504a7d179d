#!/usr/bin/env bash
# The shipped v6 low level sampled at softmax temperature 1.15 / 1.3 / 1.6 instead of 1.0 (the shipped architecture
# file with only pi_head_kwargs.temperature changed, v6_steve1_crafter_t<T>.yaml): the unconditional Crafter score on
# 200 worlds from seed 20001 (where v6 at 1.0 scores 8.88, ../pipeline_scratch/score_200_seed20001.json), and the
# best of them on the report's 100 worlds (seed 9001; v6 at 1.0: 9.45). Session 28 ran these commands with the
# files in /tmp/tt/ (the JSONs' commands name them), two at a time, one torch thread each.
#
# It reads the shipped files: for models v6, restore them first (`git checkout 40adc4e -- downloads/crafter`;
# bench/results/README.md, "Which models a script measures").
#
#   bash bench/results/low_level_temperature/run_v6_temperature.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
O=bench/results/low_level_temperature
R=$(mktemp -d)
export OMP_NUM_THREADS=1
for T in 1.15 1.3 1.6; do
    sed -e "s#^in_model: .*#in_model: $O/v6_steve1_crafter_t$T.yaml#" configs/crafter/highlevel.yaml > "$R/hl_t$T.yaml"
    python bench/pretraining_report.py --highlevel_config "$R/hl_t$T.yaml" \
        --low_level_args downloads/crafter/steve1_crafter_args.yaml --threads 1 \
        --sections unconditional_bc_crafter_score --score_episodes 200 --seed 20001 \
        --out_json $O/v6_score_200_seed20001_t$T.json --readme "$R/r$T.md"
done
python bench/pretraining_report.py --highlevel_config "$R/hl_t1.3.yaml" \
    --low_level_args downloads/crafter/steve1_crafter_args.yaml --threads 1 \
    --sections unconditional_bc_crafter_score --score_episodes 100 --seed 9001 \
    --out_json $O/v6_score_100_seed9001_t1.3.json --readme "$R/r9001.md"
rm -rf "$R"
