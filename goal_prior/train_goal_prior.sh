#!/usr/bin/env bash
# Goal-prior training on the Minecraft contractor data: the upstream PTGM command (spec §8.3, "script" column) with
# real booleans (spec §12.1.8: upstream passed "--save_each_val False", which argparse's type=bool read as True but
# never used, and "--val_every_nth" twice; the value that won, 1, is passed once here).
#
# The settings the flags below do not give come from configs/minecraft/goal_prior.yaml (upstream's argparse
# defaults); the resolved values are written to <checkpoint_dir>/args.yaml.
#
# Run from the repository root after stages A-D of the README (VPT weights in downloads/, the contractor dataset
# with MineCLIP embeddings, downloads/samplings/seed1_{train,val}.txt, the codebook from
# goal_prior/generate_codebook.py). Training resumes automatically if results/goal_prior/training_checkpoint holds a
# checkpoint. Extra flags are appended (and override), e.g.
#   bash goal_prior/train_goal_prior.sh --codebook_path downloads/codebook/tsne_n50_s1/centers.pkl
set -euo pipefail

accelerate launch --num_processes 1 --mixed_precision bf16 goal_prior/train.py \
    --config configs/minecraft/goal_prior.yaml \
    --in_model downloads/2x.model \
    --in_weights downloads/rl-from-foundation-2x.weights \
    --out_weights results/goal_prior/weights/trained_with_script.weights \
    --codebook_path downloads/codebook/tsne_n100_s1/centers.pkl \
    --trunc_t 64 \
    --T 640 \
    --batch_size 4 \
    --gradient_accumulation_steps 4 \
    --num_workers 4 \
    --weight_decay 0.039428 \
    --n_frames 100_000_000 \
    --learning_rate 4e-5 \
    --warmup_frames 10_000_000 \
    --min_btwn_goals 15 \
    --max_btwn_goals 200 \
    --checkpoint_dir results/goal_prior/training_checkpoint \
    --val_freq 1000 \
    --val_freq_begin 100 \
    --val_freq_switch_steps 500 \
    --val_every_nth 1 \
    --no-save_each_val \
    --sampling seed1 \
    --sampling_dir downloads/samplings/ \
    --snapshot_every_n_frames 50_000_000 \
    "$@"
