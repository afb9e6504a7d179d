#!/usr/bin/env bash
# Session 26's knobs (../prior_driven_knobs/run_knobs.sh, models v6) on the shipped models v7, whose low level was
# fine-tuned towards the next unlock and whose prior names it: does a weaker classifier-free guidance (cond_scale 1
# or 0; 3 was shipped when these ran) or a code held twice as long (low_level_steps 40; shipped 20) bring the
# prior-driven figure of issue 18 (codes drawn from the goal prior every low_level_steps, no RL, 200 episodes per
# task and arm, worlds from seed 9001) to the zero goal, and what does it do to survival under the prior (20
# worlds)? The zero-goal arm does not depend on either knob. And v6's goal prior (hindsight labels; commit 40adc4e)
# with v7's low level: is it the next-unlock prior's codes that v7's low level follows badly? The last two at
# cond_scale 3, as measured (the shipped config has 0 since). One torch thread; session 30 ran these beside
# training runs.
#
#   bash bench/results/prior_driven_knobs_v7/run_knobs_v7.sh [cs1 | cs0 | lls40 | prior_v6]...   (default: all)
set -euo pipefail
cd "$(dirname "$0")/../../.."
O=bench/results/prior_driven_knobs_v7
S=$(mktemp -d)
export OMP_NUM_THREADS=1
COMMON=(--sections survival_under_prior prior_driven_success --survival_worlds 20 --task_episodes 200 --threads 1)
KNOBS=("$@")
[ ${#KNOBS[@]} -gt 0 ] || KNOBS=(cs1 cs0 lls40 prior_v6)
for knob in "${KNOBS[@]}"; do
    case $knob in
        cs1) python bench/pretraining_report.py "${COMMON[@]}" --cond_scale 1.0 --out_json $O/cs1.json \
                 --readme "$S/r.md" ;;
        cs0) python bench/pretraining_report.py "${COMMON[@]}" --cond_scale 0.0 --out_json $O/cs0.json \
                 --readme "$S/r.md" ;;
        lls40) sed 's/^low_level_steps: 20$/low_level_steps: 40/' configs/crafter/highlevel.yaml > "$S/highlevel.yaml"
               grep -q '^low_level_steps: 40$' "$S/highlevel.yaml"
               python bench/pretraining_report.py "${COMMON[@]}" --highlevel_config "$S/highlevel.yaml" \
                   --cond_scale 3.0 --out_json $O/lls40.json --readme "$S/r.md" ;;
        prior_v6) git archive 40adc4e downloads/crafter/goal_prior_crafter.weights \
                      downloads/crafter/goal_prior_crafter_args.yaml | tar -x -C "$S"
                  sed "s#^prior_weights: .*#prior_weights: $S/downloads/crafter/goal_prior_crafter.weights#" \
                      configs/crafter/highlevel.yaml > "$S/highlevel_prior_v6.yaml"
                  python bench/pretraining_report.py "${COMMON[@]}" --highlevel_config "$S/highlevel_prior_v6.yaml" \
                      --prior_args "$S/downloads/crafter/goal_prior_crafter_args.yaml" --cond_scale 3.0 \
                      --out_json $O/prior_v6.json \
                      --readme "$S/r.md" ;;
        *) echo "run_knobs_v7.sh: unknown knob '$knob' (cs1, cs0, lls40, prior_v6)" >&2; exit 2 ;;
    esac
done
rm -rf "$S"
