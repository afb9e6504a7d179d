#!/usr/bin/env bash
# Session 30: v7's codes drawn from the prior beat the zero goal on crafter_iron at cond_scale 0 (cs0.json: 0.110 vs
# 0.075, 200 episodes each), not at 3 (0.070), the value shipped then. Does PTGM's high level gain from it? A first
# look like ../unlock_low_level/'s (ptgm, 200k env steps, models v7 as shipped) with --cond_scale 0: crafter_iron and
# crafter_stone_pickaxe, seeds 1-2 (session 30 ran each task's pair, then seed 3 of both: SEEDS=3), two runs at a
# time, one torch thread each (~15 min a pair on 2 cores).
#
#   SEEDS="1 2" bash bench/results/prior_driven_knobs_v7/run_first_look_cs0.sh [task ...]   (default: both tasks)
set -euo pipefail
cd "$(dirname "$0")/../../.."
O=bench/results/prior_driven_knobs_v7/first_look_cs0
TASKS=("$@")
[ ${#TASKS[@]} -gt 0 ] || TASKS=(crafter_iron crafter_stone_pickaxe)
read -r -a SEEDS <<< "${SEEDS:-1 2}"
export OMP_NUM_THREADS=1
python bench/sample_efficiency.py --tasks "${TASKS[@]}" --methods ptgm --seeds "${SEEDS[@]}" --budget 200000 --jobs 2 \
    --runs_dir results/bench_v7_cs0 --out_dir $O --models_label v7_cs0 --extra --cond_scale 0
