#!/usr/bin/env bash
# Session 31: ptgm's high level did not improve on its start within 1M env steps (../README.md section "Models v7 at
# cond_scale 0 against BC+PPO"), and it starts uniform over the 50 codes, while codes drawn from the goal prior with
# no RL succeed more often on crafter_iron (0.110 vs ~0.085). Does a high level initialised as the goal prior
# (--initialize_with_prior: head and trunk from the prior, hierarchical/build.py) start there and keep it or climb?
# ptgm with the shipped models v7 and config (cond_scale 0), 200k env steps, two runs at a time, one torch thread each
# (run_benchmark_v7.sh with this round's folders).
#
#   SEEDS=1 bash bench/results/benchmark_v7/run_init_prior.sh [task ...]   (default: both tasks)
set -euo pipefail
cd "$(dirname "$0")"
SEEDS=${SEEDS:-1} METHODS=ptgm RUNS_DIR=results/bench_v7_cs0_init_prior OUT_DIR=bench/results/benchmark_v7/init_prior \
    LABEL=v7_cs0_init_prior EXTRA=--initialize_with_prior exec bash ./run_benchmark_v7.sh "$@"
