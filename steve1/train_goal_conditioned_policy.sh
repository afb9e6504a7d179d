#!/usr/bin/env bash
# Behaviour cloning of the goal-conditioned low-level policy (STEVE-1 recipe) on the Minecraft contractor data:
# the upstream PTGM command (spec §6, "PTGM script" column) with real booleans (spec §12.1.8: upstream passed
# "--save_each_val False", which argparse's type=bool read as True, and "--val_every_nth" twice; the value that
# won, 1, is passed once here).
#
# The settings the flags below do not give come from configs/minecraft/steve1.yaml (upstream's argparse defaults);
# the resolved values are written to <checkpoint_dir>/args.yaml.
#
# Run from the repository root after stages A-C of the README (VPT weights in downloads/, the contractor dataset
# with MineCLIP embeddings, downloads/samplings/seed1_{train,val}.txt). Training resumes automatically if
# results/steve1/training_checkpoint holds a checkpoint. Extra flags are appended (and override), e.g.
#   bash steve1/train_goal_conditioned_policy.sh --batch_size 12
# More GPUs: change --num_processes (the frames per step grow with it; see steve1/train.py).
set -euo pipefail

accelerate launch --num_processes 1 --mixed_precision bf16 steve1/train.py \
    --config configs/minecraft/steve1.yaml \
    --in_model downloads/2x.model \
    --in_weights downloads/rl-from-foundation-2x.weights \
    --out_weights results/steve1/weights/trained_with_script.weights \
    --trunc_t 64 \
    --T 640 \
    --batch_size 4 \
    --gradient_accumulation_steps 4 \
    --num_workers 4 \
    --weight_decay 0.039428 \
    --n_frames 100_000_000 \
    --learning_rate 4e-5 \
    --warmup_frames 10_000_000 \
    --p_uncond 0.1 \
    --min_btwn_goals 15 \
    --max_btwn_goals 200 \
    --checkpoint_dir results/steve1/training_checkpoint \
    --val_freq 1000 \
    --val_freq_begin 100 \
    --val_freq_switch_steps 500 \
    --val_every_nth 1 \
    --no-save_each_val \
    --sampling seed1 \
    --sampling_dir downloads/samplings/ \
    --snapshot_every_n_frames 50_000_000 \
    "$@"
