#!/usr/bin/env bash
# The v6 low level fine-tuned with next-unlock relabeling (steve1/data/minecraft_dataset.py, "Next-unlock
# relabeling"): 500k BC frames at learning rate 1e-4 on v6's play data and split (results/crafter/scratch/), two
# torch threads. Resumes from <work dir>/ckpt if it holds a checkpoint. Used by run_unlock_low_level.sh (horizon 100)
# and ../unlock_horizon/run_unlock_horizon.sh (300).
#
#   bash bench/results/unlock_low_level/finetune.sh <unlock_horizon> <work dir> <where to copy its args.yaml>
set -euo pipefail
cd "$(dirname "$0")/../../.."
[ $# -eq 3 ] || { echo "usage: finetune.sh <unlock_horizon> <work dir> <args.yaml copy>" >&2; exit 2; }
S=results/crafter/scratch
OMP_NUM_THREADS=2 python steve1/train.py --config configs/crafter/steve1.yaml \
    --in_weights $S/work/steve1/weights/steve1_crafter_latest.weights --sampling crafter_seed1 \
    --sampling_dir $S/samplings/ --relabeling next_unlock --unlock_horizon "$1" \
    --n_frames 500000 --learning_rate 1e-4 --warmup_frames 5000 --num_workers 0 \
    --checkpoint_dir "$2/ckpt" --out_weights "$2/steve1_crafter.weights"
cp "$2/ckpt/args.yaml" "$3"
