#!/usr/bin/env bash
# Session 34: PTGM's high level does move during RL. Which codes does it settle on, are they worth holding, and does
# an entropy bonus keep it from settling on the wrong ones? The models v7 and the shipped config (cond_scale 0)
# throughout; every figure's JSON holds its own command. Section "The high level moves" of ../README.md.
# Session 34 ran these steps in parallel lanes; run here one after the other, each resumes where it stopped:
#   bash bench/results/benchmark_v7/run_session34.sh [bc_ppo|coal_seeds|entropy|codes|held|report ...]
# and, begun at the session's end: ENT_SEEDS=2 ... entropy, and lls100 codes_lls100 report_lls100.
# with the venv active (two runs at a time where a step starts several, one torch thread each).
set -euo pipefail
cd "$(dirname "$0")/../../.."
export OMP_NUM_THREADS=1
STEPS=("$@")
[ ${#STEPS[@]} -gt 0 ] || STEPS=(bc_ppo coal_seeds entropy codes held report)
B=bench/results/benchmark_v7
for step in "${STEPS[@]}"; do
  case "$step" in
    bc_ppo)      # BC+PPO seeds 2-3 to 1M env steps on crafter_iron (seed 1 and ptgm seeds 1-3 got there before)
      SEEDS="2 3" METHODS="bc_ppo" BUDGET=1000000 JOBS=2 bash $B/run_benchmark_v7.sh crafter_iron ;;
    coal_seeds)  # ptgm_no_prior seeds 2-3 on crafter_coal to 400k env steps (seed 1 is at 600k)
      BUDGET=400000 SEEDS="2 3" METHODS=ptgm_no_prior JOBS=2 bash $B/run_coal.sh ;;
    entropy)     # the same with an entropy bonus (SB3 ent_coef 0.01 instead of 0), its own runs folder (seed 1, then 2)
      SEEDS=${ENT_SEEDS:-1} METHODS=ptgm_no_prior JOBS=1 BUDGET=400000 RUNS_DIR=results/bench_v7_cs0_coal_ent0.01 \
        OUT_DIR=$B/coal_ent0.01 LABEL=v7_cs0_ent0.01 EXTRA="--ent_coef 0.01" \
        bash $B/run_benchmark_v7.sh crafter_coal ;;
    lls100)      # ptgm_no_prior with a code per 100 env steps instead of 20 (16 decisions x 8 envs per PPO iteration,
                 # ~13k env steps as with 20), seed 1, 400k, its own runs folder
      SEEDS=1 METHODS=ptgm_no_prior JOBS=1 BUDGET=400000 RUNS_DIR=results/bench_v7_cs0_coal_lls100 \
        OUT_DIR=$B/coal_lls100 LABEL=v7_cs0_lls100 EXTRA="--low_level_steps 100 --steps_per_iter 16 --batch_size 32" \
        bash $B/run_benchmark_v7.sh crafter_coal ;;
    codes)       # which codes the high levels pick at their first checkpoint (~20k env steps) and their last
      python bench/code_usage.py --runs_dir results/bench_v7_cs0 --tasks crafter_iron --methods ptgm \
        --out $B/code_usage_iron.json
      python bench/code_usage.py --runs_dir results/bench_v7_cs0_coal --tasks crafter_coal --out $B/coal/code_usage.json
      python bench/code_usage.py --runs_dir results/bench_v7_cs0_coal_ent0.01 --tasks crafter_coal \
        --out $B/coal_ent0.01/code_usage.json ;;
    codes_lls100)
      python bench/code_usage.py --runs_dir results/bench_v7_cs0_coal_lls100 --tasks crafter_coal \
        --out $B/coal_lls100/code_usage.json ;;
    held)        # the codes the coal high levels settled on, each held for whole episodes with no RL
      python bench/chain_oracle.py --tasks crafter_coal --arms fixed --fixed_codes 17 16 --episodes 200 --threads 1 \
        --out $B/coal/no_rl_learned_codes.json ;;
    report)      # success early and late in the runs
      python bench/early_late.py --runs_dir results/bench_v7_cs0 --max_env_steps 1000000 --early 200000 \
        --late 200000 --methods ptgm bc_ppo --tasks crafter_iron --out $B/early_late_1m.json
      python bench/early_late.py --runs_dir results/bench_v7_cs0_coal --max_env_steps 400000 --early 100000 \
        --late 100000 --out $B/coal/early_late_400k.json
      python bench/early_late.py --runs_dir results/bench_v7_cs0_coal_ent0.01 --max_env_steps 400000 --early 100000 \
        --late 100000 --out $B/coal_ent0.01/early_late_400k.json ;;
    report_lls100)
      python bench/early_late.py --runs_dir results/bench_v7_cs0_coal_lls100 --max_env_steps 400000 --early 100000 \
        --late 100000 --out $B/coal_lls100/early_late_400k.json ;;
    *) echo "run_session34.sh: unknown step '$step' (bc_ppo, coal_seeds, entropy, lls100, codes, codes_lls100, held, report, report_lls100)" >&2; exit 2 ;;
  esac
done
