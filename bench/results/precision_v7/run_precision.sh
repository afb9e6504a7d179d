#!/usr/bin/env bash
# Issue 18's prior-driven figure, unconditional Crafter score and competence of the shipped models v7 (cond_scale 0)
# measured again on fresh worlds, so that the figures near their targets can be placed against them (session 36). The
# report's own counts (pretraining.json) are 200 episodes per task and goal source and 100 score episodes on worlds
# from seed 9001; here 500 + 500 episodes per task and goal source (seeds 20001 and 30001) and 400 score episodes
# (seed 20001), and (competence_fresh.py) each competence link's best code of the report and the zero goal on up to
# 40 next-link starts of 200 fresh player episodes (seed 20001), and bench/chain_oracle.py's oracle arm on
# crafter_stone_pickaxe on the same worlds as the prior-driven steps. One torch thread each; session 36 ran the two
# prior-driven steps side by side (~30 min each), then the score and the competence (13 min) on the other core,
# then the two oracle steps side by side (~6 min each). Then:
# python bench/results/precision_v7/summarize.py -> summary.json.
#
#   bash bench/results/precision_v7/run_precision.sh [prior20001] [prior30001] [score] [competence] \
#       [oracle20001] [oracle30001]   (default: all six, in this order)
set -euo pipefail
cd "$(dirname "$0")/../../.."
O=bench/results/precision_v7
export OMP_NUM_THREADS=1
steps=("$@"); [ ${#steps[@]} -eq 0 ] && steps=(prior20001 prior30001 score competence oracle20001 oracle30001)
for step in "${steps[@]}"; do
    case $step in
        prior20001|prior30001)
            seed=${step#prior}
            python bench/pretraining_report.py --sections prior_driven_success --task_episodes 500 --seed "$seed" \
                --threads 1 --out_json $O/prior_driven_seed$seed.json --readme /tmp/precision_scratch_$seed.md ;;
        score)
            python bench/pretraining_report.py --sections unconditional_bc_crafter_score --score_episodes 400 \
                --seed 20001 --threads 1 --out_json $O/score_seed20001.json --readme /tmp/precision_scratch_score.md ;;
        competence)
            python bench/results/precision_v7/competence_fresh.py --seed 20001 --player_episodes 200 --worlds 40 ;;
        oracle20001|oracle30001)
            seed=${step#oracle}
            python bench/chain_oracle.py --tasks crafter_stone_pickaxe --arms oracle --episodes 500 --seed "$seed" \
                --threads 1 --out $O/chain_oracle_stone_seed$seed.json ;;
        *) echo "run_precision.sh: unknown step '$step' (prior20001, prior30001, score, competence, oracle20001," \
                "oracle30001)" >&2; exit 2 ;;
    esac
done
