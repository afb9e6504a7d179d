#!/usr/bin/env bash
# Session 32: one PPO update moves bc_ppo 1.75 nats per env step from its BC policy, and a zero-initialised value
# head with a 10x lower learning rate keeps it at 0.008 (../bc_ppo_drift/, bench/bc_ppo_drift.py): VPT's value-head
# init gives values of order 1 against returns of order 0.1, and PPO follows that random value function's errors.
# PTGM's high level has the same head (sb3_vpt/policy.py VPTHeadPolicy). Does its RL learn with a zero value head?
#   ptgm:      --value_init zero                      (the config's PPO otherwise: lr 3e-4, 512 decisions per update)
#   bc_ppo_kl: --value_init zero --lr 3e-5            (the KL term to the BC policy at the file's kl_reward 0.05)
# The shipped models v7 and config (cond_scale 0), 200k env steps, two runs at a time, one torch thread each
# (run_benchmark_v7.sh with this round's folders; ptgm and bc_ppo_kl each in their own runs folder).
#
#   METHOD=ptgm SEEDS="1 2 3" bash bench/results/benchmark_v7/run_value_init.sh [task ...]   (default: both tasks)
#   METHOD=bc_ppo_kl SEEDS="1 2 3" bash bench/results/benchmark_v7/run_value_init.sh [task ...]
set -euo pipefail
cd "$(dirname "$0")"
METHOD=${METHOD:-ptgm}
case "$METHOD" in
    ptgm) EXTRA="--value_init zero" ;;
    bc_ppo_kl) EXTRA="--value_init zero --lr 3e-5" ;;
    *) echo "run_value_init.sh: METHOD must be ptgm or bc_ppo_kl, got $METHOD" >&2; exit 2 ;;
esac
SEEDS=${SEEDS:-1 2 3} METHODS=$METHOD RUNS_DIR=results/bench_v7_cs0_value0_$METHOD \
    OUT_DIR=bench/results/benchmark_v7/value_init_$METHOD LABEL=v7_cs0_value0 EXTRA=$EXTRA \
    exec bash ./run_benchmark_v7.sh "$@"
