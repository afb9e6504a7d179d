#!/usr/bin/env bash
# Issue 18, session 39: what the low level does on its teacher's own frames where an achievement is brought about
# (lag 0: the `do` that mines coal, the craft) and the frame before (lag 1: the move that faces the material).
# bench/action_probs.py's `by_event`, `by_approach` (the player beside the material it pursues: the turn to it, the
# `do` at it) and `keyframes` / `repeats` (the frames whose action differs from the one before, and the others), on
# the 80 held-out player episodes of seed 9001 (the pre-training report's):
#   models v7 (shipped) with the zero goal, with it and each frame fed alone (--no_memory), and with
#   collect_coal's best code (37);
#   session 38's fine-tunes: the candidate with achievement_loss_weights (x7.4 on the last 3 frames to coal, iron,
#   the stone pickaxe, the furnace, the iron pickaxe) and its control (v7's recipe rerun), zero goal;
# and bench/pretraining_report.py's goal_information (its `by_event`: the true relabeled goal against the zero goal
# on the same frames) for models v7.
# About 15 min on one core (the player episodes are made once and reused). Needs session 38's fine-tunes in
# results/crafter/v8_achw/ (bench/results/achievement_weights/run_achievement_weights.sh) for the two middle rows.
set -euo pipefail
cd "$(dirname "$0")/../../.."
export OMP_NUM_THREADS=1
OUT=bench/results/decisive_frames
EPS=${EPS:-results/crafter/s39/eps9001}
ap() { python bench/action_probs.py --episodes 80 --episodes_dir "$EPS" "$@"; }
ap --out $OUT/action_probs_v7_zero.json
ap --no_memory --out $OUT/action_probs_v7_zero_no_memory.json
ap --goal_code 37 --out $OUT/action_probs_v7_code37.json
ap --highlevel_config results/crafter/v8_achw/highlevel.yaml --out $OUT/action_probs_achw_candidate.json
ap --highlevel_config results/crafter/v8_achw/highlevel_control.yaml --out $OUT/action_probs_achw_control.json
echo "# scratch" > /tmp/decisive_frames_readme.md
python bench/pretraining_report.py --sections goal_information --player_episodes 80 \
    --out_json $OUT/goal_information_v7.json --readme /tmp/decisive_frames_readme.md
