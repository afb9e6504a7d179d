#!/usr/bin/env bash
# The v6 low level fine-tuned with next-unlock relabeling (steve1/data/minecraft_dataset.py, "Next-unlock
# relabeling"): the values of configs/crafter/steve1_unlock.yaml (500k BC frames at learning rate 1e-4; session 27
# gave them as flags over steve1.yaml, the same run) on v6's play data and split (results/crafter/scratch/), two
# torch threads (THREADS=1 beside another job). Resumes from <work dir>/ckpt if it holds a checkpoint. Used by
# run_unlock_low_level.sh (horizon 100), ../unlock_horizon/run_unlock_horizon.sh (300) and
# ../models_v8_candidate/, and with --goal_codebook by ../codebook_goals/. Flags after the third argument go to
# steve1/train.py. CONFIG names another config file with the same keys (default configs/crafter/steve1_unlock.yaml;
# ../achievement_weights/ gives one with achievement_loss_weights, which has no flag).
#
#   bash bench/results/unlock_low_level/finetune.sh <unlock_horizon> <work dir> <where to copy its args.yaml> [flags]
set -euo pipefail
cd "$(dirname "$0")/../../.."
[ $# -ge 3 ] || { echo "usage: finetune.sh <unlock_horizon> <work dir> <args.yaml copy> [flags]" >&2; exit 2; }
H=$1 D=$2 A=$3
shift 3
S=results/crafter/scratch
OMP_NUM_THREADS=${THREADS:-2} python steve1/train.py --config "${CONFIG:-configs/crafter/steve1_unlock.yaml}" \
    --in_weights $S/work/steve1/weights/steve1_crafter_latest.weights --sampling crafter_seed1 \
    --sampling_dir $S/samplings/ --unlock_horizon "$H" --num_workers 0 \
    --checkpoint_dir "$D/ckpt" --out_weights "$D/steve1_crafter.weights" "$@"
cp "$D/ckpt/args.yaml" "$A"
