#!/bin/bash
# One fine-tune of bench/results/goal_horizon/ (session 19):  bash finetune.sh NAME MIN MAX
# The session-17 v4 candidate (results/crafter/steve1/weights/steve1_crafter_latest.weights, not kept) + 100k frames
# of its player-v8 split, action_loss_weights null, goal_lead 16, hindsight goals MIN..MAX-1 frames apart (horizons
# 16..MAX+15); run as NAME 15 20 (16-35), 15 35 (16-50), 1 5 (16-20); session 18's ft_c is 15 60 (16-75). The resolved
# arguments of each run: ft_h*_args.yaml. The config is configs/crafter/steve1.yaml as of commit 5b5fba3 with
# action_loss_weights null (the flags set every other value that differs).
set -euo pipefail
cd "$(dirname "$0")/../../.."
N=$1; O=/tmp/hz/$N; mkdir -p "$O"
git show 5b5fba3:configs/crafter/steve1.yaml | python -c "import sys, yaml; c = yaml.safe_load(sys.stdin); \
c['action_loss_weights'] = None; yaml.safe_dump(c, open('$O/steve1_w1.yaml', 'w'), sort_keys=False)"
OMP_NUM_THREADS=1 python steve1/train.py --config "$O/steve1_w1.yaml" \
  --in_weights results/crafter/steve1/weights/steve1_crafter_latest.weights \
  --n_frames 100000 --learning_rate 1e-4 --warmup_frames 5000 --num_workers 0 \
  --min_btwn_goals "$2" --max_btwn_goals "$3" --goal_lead 16 \
  --checkpoint_dir "$O/ckpt" --out_weights "$O/steve1_crafter.weights"
cp "$O/ckpt/args.yaml" "$O/steve1_crafter_latest_args.yaml"
