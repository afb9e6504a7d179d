#!/usr/bin/env bash
# Session 31: does PTGM beat BC+PPO with the shipped models v7 (cond_scale 0, configs/crafter/highlevel.yaml)?
# bc_ppo (hierarchical/bc_ppo.py: v7's low level with the zero goal, its head fine-tuned by PPO on the raw actions)
# on crafter_iron and crafter_stone_pickaxe, in the same runs folder as session 30's PTGM first look at cond_scale 0
# (../prior_driven_knobs_v7/run_first_look_cs0.sh), so this folder's report holds both methods. Two runs at a time,
# one torch thread each (JOBS). BUDGET (default 200000) extends finished runs when raised
# (bench/sample_efficiency.py resumes from each run's newest checkpoint). Session 31 ran, in this order:
#   bash bench/results/benchmark_v7/run_benchmark_v7.sh                          # bc_ppo, seeds 1-3, 200k (at_200k/)
#   SEEDS=1 METHODS="ptgm bc_ppo" BUDGET=1000000 bash bench/results/benchmark_v7/run_benchmark_v7.sh
#   (stopped before it extended bc_ppo on crafter_stone_pickaxe, which stays at 200k: its last 50k were at 0.001)
#   JOBS=1 METHODS=ptgm_no_prior SEEDS=1 bash bench/results/benchmark_v7/run_benchmark_v7.sh   # beside the 1M runs
#   JOBS=1 METHODS=ptgm_no_prior SEEDS=2 bash bench/results/benchmark_v7/run_benchmark_v7.sh
#   METHODS=ptgm_no_prior SEEDS=3 bash bench/results/benchmark_v7/run_benchmark_v7.sh
# session 33 (stopped once the ptgm runs were done; bc_ppo seeds 2-3 stay at 200k, and rerunning it extends them):
#   SEEDS="2 3" METHODS="ptgm bc_ppo" BUDGET=1000000 bash bench/results/benchmark_v7/run_benchmark_v7.sh crafter_iron
# and `python bench/early_late.py --runs_dir results/bench_v7_cs0 ...` (the early_late*.json hold their commands).
#
# RUNS_DIR, OUT_DIR, LABEL and EXTRA (further ppo_highlevel.py flags) set another round's folders (run_init_prior.sh).
#
#   SEEDS="1 2 3" METHODS="bc_ppo" BUDGET=200000 JOBS=2 bash bench/results/benchmark_v7/run_benchmark_v7.sh [task ...]
set -euo pipefail
cd "$(dirname "$0")/../../.."
TASKS=("$@")
[ ${#TASKS[@]} -gt 0 ] || TASKS=(crafter_iron crafter_stone_pickaxe)
read -r -a SEEDS <<< "${SEEDS:-1 2 3}"
read -r -a METHODS <<< "${METHODS:-bc_ppo}"
export OMP_NUM_THREADS=1
python bench/sample_efficiency.py --tasks "${TASKS[@]}" --methods "${METHODS[@]}" --seeds "${SEEDS[@]}" \
    --budget "${BUDGET:-200000}" --jobs "${JOBS:-2}" --runs_dir "${RUNS_DIR:-results/bench_v7_cs0}" \
    --out_dir "${OUT_DIR:-bench/results/benchmark_v7}" --models_label "${LABEL:-v7_cs0}" ${EXTRA:+--extra $EXTRA}
