#!/usr/bin/env bash
# Session 33: ptgm's success on crafter_iron and crafter_stone_pickaxe is flat from its first 20k env steps to 1M
# (../README.md). Is that its RL, or a task where no choice of codes does much better than where the high level
# starts? crafter_coal (collect coal from a wood pickaxe, 500 env steps) is a task where one code held for the whole
# episode does better than uniform codes (PTGM's high level before any update): measured with no RL by
#   python bench/chain_oracle.py --tasks crafter_coal --arms zero uniform prior fixed --fixed_codes 15 37 \
#       --episodes 200 --out bench/results/benchmark_v7/coal/no_rl.json
# (code 37: collect_coal's best code in the competence section of bench/results/pretraining.json; code 15: the best of
# that section's top codes 37, 39, 23, 15 held for whole episodes in a one-off screen on worlds 9001-9080, not kept:
# 0.39 there, against 0.24 / 0.29 / 0.23 for the others; no_rl.json's 200 worlds include those 80).
# Then ptgm (seeds 1-3) and ptgm_no_prior (seed 1) learn it for 200k env steps with the shipped models v7 and config
# (cond_scale 0), one run at a time per invocation (session 33 ran the two invocations side by side):
#   bash bench/results/benchmark_v7/run_coal.sh                                 # ptgm, seeds 1-3
#   SEEDS=1 METHODS=ptgm_no_prior bash bench/results/benchmark_v7/run_coal.sh
#   BUDGET=600000 SEEDS=1 METHODS=ptgm_no_prior bash bench/results/benchmark_v7/run_coal.sh   # then extended to 600k
#   BUDGET=600000 SEEDS="1 2" JOBS=2 bash bench/results/benchmark_v7/run_coal.sh               # ptgm seeds 1-2 too
# and bench/early_late.py on results/bench_v7_cs0_coal: --methods ptgm for coal/early_late_200k.json, --methods
# ptgm_no_prior --max_env_steps 600000 --early 200000 --late 200000 for coal/early_late_600k_no_prior.json, and the
# same with --methods ptgm --seeds 1 2 for coal/early_late_600k_ptgm.json (the JSONs hold their commands). BUDGET (default 200000) extends finished runs when raised.
set -euo pipefail
cd "$(dirname "$0")"
SEEDS=${SEEDS:-1 2 3} METHODS=${METHODS:-ptgm} JOBS=${JOBS:-1} RUNS_DIR=results/bench_v7_cs0_coal \
    OUT_DIR=bench/results/benchmark_v7/coal LABEL=v7_cs0 exec bash ./run_benchmark_v7.sh crafter_coal
