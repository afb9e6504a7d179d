#!/usr/bin/env bash
# The v6 low level fine-tuned with codebook goals (steve1/data/minecraft_dataset.py, "Codebook goals"): next-unlock
# relabeling (unlock_horizon 100) as in ../unlock_low_level/, and each relabeled goal replaced by its nearest code of
# v6's codebook, the goal prior's label; 500k BC frames at learning rate 1e-4 on v6's play data and split
# (results/crafter/scratch/), two torch threads. Resumes from <work dir>/ckpt if it holds a checkpoint.
#
#   bash bench/results/codebook_goals/finetune.sh <work dir> <where to copy its args.yaml>
set -euo pipefail
cd "$(dirname "$0")/../../.."
[ $# -eq 2 ] || { echo "usage: finetune.sh <work dir> <args.yaml copy>" >&2; exit 2; }
S=results/crafter/scratch
OMP_NUM_THREADS=2 python steve1/train.py --config configs/crafter/steve1.yaml \
    --in_weights $S/work/steve1/weights/steve1_crafter_latest.weights --sampling crafter_seed1 \
    --sampling_dir $S/samplings/ --relabeling next_unlock --unlock_horizon 100 \
    --goal_codebook $S/work/codebook/tsne_n50_s1/centers.pkl \
    --n_frames 500000 --learning_rate 1e-4 --warmup_frames 5000 --num_workers 0 \
    --checkpoint_dir "$1/ckpt" --out_weights "$1/steve1_crafter.weights"
cp "$1/ckpt/args.yaml" "$2"
