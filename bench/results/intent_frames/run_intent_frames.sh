#!/usr/bin/env bash
# Issue 18, session 40: what the player's turn to a material beside it depends on. On the 80 held-out player
# episodes of seed 9001 (the pre-training report's), models v7: bench/action_probs.py's by_approach with the frames
# where the material lies beside the player while it pursues another sub-goal (turn_frames_not_pursued,
# teacher_turns_not_pursued, p_turn_not_pursued), with the zero goal and with collect_coal's best code (37); and
# bench/pretraining_report.py's goal_information by_approach: p(turn) with the true (next-unlock) goal and with the
# zero goal, where the player pursues the material and where it does not.
# About 6 min on one core (the episodes of ../decisive_frames/run_decisive_frames.sh are reused when there).
set -euo pipefail
cd "$(dirname "$0")/../../.."
export OMP_NUM_THREADS=1
OUT=bench/results/intent_frames
EPS=${EPS:-results/crafter/s39/eps9001}
ap() { python bench/action_probs.py --episodes 80 --episodes_dir "$EPS" "$@"; }
ap --out $OUT/action_probs_v7_zero.json
ap --goal_code 37 --out $OUT/action_probs_v7_code37.json
R=$(mktemp -d)
python bench/pretraining_report.py --sections goal_information --player_episodes 80 \
    --out_json $OUT/goal_information_v7.json --readme "$R/g.md"
rm -rf "$R"
