#!/usr/bin/env bash
# Issue 18's prior-driven figure, unconditional Crafter score and competence of the shipped models v7 (cond_scale 0)
# measured again on fresh worlds, so that the figures near their targets can be placed against them (session 36). The
# report's own counts (pretraining.json) are 200 episodes per task and goal source and 100 score episodes on worlds
# from seed 9001; here 500 + 500 episodes per task and goal source (seeds 20001 and 30001) and 400 score episodes
# (seed 20001), and (competence_fresh.py) each competence link's best code of the report and the zero goal on up to
# 40 next-link starts of 200 fresh player episodes (seed 20001), and bench/chain_oracle.py's oracle arm on the
# same worlds as the prior-driven steps: crafter_stone_pickaxe at cond_scale 0, 1 and 3 with the report's best codes
# (chosen at 0), crafter_iron at 0, and both tasks at 3 with the best codes chosen at 3
# (bench/results/models_v7_cs3/pretraining.json); and on crafter_coal code 15 held for whole episodes against the
# zero goal on the same worlds. One torch thread each; session 36 ran the two prior-driven steps side by side
# (~30 min each), then the score and the competence (13 min) on the other core,
# then the two oracle steps side by side (~6 min per setting and seed), then the two coal steps (~10 min each). Then:
# python bench/results/precision_v7/summarize.py -> summary.json.
#
#   bash bench/results/precision_v7/run_precision.sh [prior20001] [prior30001] [score] [competence] \
#       [oracle20001] [oracle30001] [coal20001] [coal30001]   (default: all eight, in this order)
set -euo pipefail
cd "$(dirname "$0")/../../.."
O=bench/results/precision_v7
export OMP_NUM_THREADS=1
all_steps=(prior20001 prior30001 score competence oracle20001 oracle30001 coal20001 coal30001)
steps=("$@"); [ ${#steps[@]} -eq 0 ] && steps=("${all_steps[@]}")
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
            oracle() {  # TASK NAME COND_SCALE OUT_SUFFIX [competence JSON]
                python bench/chain_oracle.py --tasks "$1" --arms oracle --episodes 500 --seed "$seed" \
                    --cond_scale "$3" --threads 1 --competence_json "${5:-bench/results/pretraining.json}" \
                    --out $O/chain_oracle_$2$4_seed$seed.json
            }
            oracle crafter_stone_pickaxe stone 0 ""
            oracle crafter_stone_pickaxe stone 1 _cs1
            oracle crafter_stone_pickaxe stone 3 _cs3
            oracle crafter_iron iron 0 _cs0
            oracle crafter_stone_pickaxe stone 3 _cs3_codes_cs3 bench/results/models_v7_cs3/pretraining.json
            oracle crafter_iron iron 3 _cs3_codes_cs3 bench/results/models_v7_cs3/pretraining.json ;;
        coal20001|coal30001)
            seed=${step#coal}
            python bench/chain_oracle.py --tasks crafter_coal --arms zero fixed --fixed_codes 15 --episodes 500 \
                --seed "$seed" --threads 1 --out $O/coal_code15_seed$seed.json ;;
        *) echo "run_precision.sh: unknown step '$step' (prior20001, prior30001, score, competence, oracle20001," \
                "oracle30001, coal20001, coal30001)" >&2; exit 2 ;;
    esac
done
