#!/usr/bin/env bash
# More behaviour-cloning frames for the shipped low level (session 23). nav_oracle/ found that frames, not a wider
# image encoder, separated low levels trained on the same goal space; this asks what more frames do for the shipped
# one (models v4: 600k BC frames of the player-v8 play data + a 100k-frame fine-tune): the v4 low level fine-tuned
# for FT_FRAMES more frames (lr 1e-4, configs/crafter/steve1.yaml otherwise) on a larger play dataset (the same
# generator and seed: its first ~600k frames are v4's data), then measured as the v4 figures were: the unconditional
# Crafter score (100 episodes), survival under the prior (40 worlds), and the night from dusk with the zero goal
# (teacher_agreement.py, as nav_oracle/agreement_v4_zero_goal.json).
#
#   bash bench/results/more_frames/run_more_frames.sh
#
# Settings: FRAMES (play data, default 1200000; a stopped generator's finished episodes are used as they are; SKIP_DATA=1
# skips the generator, as in session 23, where the same generator command ran first on its own),
# FT_FRAMES (default 500000); a second round: RUN=more_frames2 INIT=results/crafter/more_frames/steve1_crafter_latest.weights
# SKIP_DATA=1 (500k frames more from the first round's weights; results with the suffix _more_frames2). Work files: downloads/dataset_crafter, downloads/samplings/more_seed1_*,
# results/crafter/more_frames/. Each stage resumes.
set -euo pipefail
cd "$(dirname "$0")/../../.."
FRAMES=${FRAMES:-1200000}; FT_FRAMES=${FT_FRAMES:-500000}
RUN=${RUN:-more_frames}; INIT=${INIT:-downloads/crafter/steve1_crafter.weights}
W=results/crafter/$RUN; B=bench/results/more_frames; SUFFIX=""; [[ $RUN == more_frames ]] || SUFFIX="_$RUN"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
mkdir -p "$W" "$B"
[[ -n "${SKIP_DATA:-}" ]] || python -m tasks.crafter.generate_play_data --config configs/crafter/play_data.yaml \
    --out_dir downloads/dataset_crafter --num_frames "$FRAMES" --workers 2
[[ -f downloads/samplings/more_seed1_train.txt ]] || python -m steve1.data.sampling.generate_sampling \
    --config configs/crafter/sampling.yaml --data_dir downloads/dataset_crafter --name more_seed1 \
    --output_dir downloads/samplings
LINKS=results/crafter/more_frames/split_episodes; mkdir -p "$LINKS"
cat downloads/samplings/more_seed1_train.txt downloads/samplings/more_seed1_val.txt | while read -r ep; do
  [[ -z "$ep" || -e "$LINKS/$(basename "$ep")" ]] || ln -s "$(realpath "$ep")" "$LINKS/$(basename "$ep")"
done
python -m steve1.data.generation.embed_episodes --embedder crafterclip --weights downloads/crafter/crafterclip.pt \
    --data_dir "$LINKS" --torch_threads 2
OMP_NUM_THREADS=2 MKL_NUM_THREADS=2 python steve1/train.py --config configs/crafter/steve1.yaml \
    --in_weights "$INIT" --sampling more_seed1 --sampling_dir downloads/samplings/ \
    --n_frames "$FT_FRAMES" --learning_rate 1e-4 --warmup_frames 5000 --num_workers 0 \
    --checkpoint_dir "$W/ckpt" --out_weights "$W/steve1_crafter.weights"
cp "$W/ckpt/args.yaml" "$W/steve1_crafter_latest_args.yaml"
sed -e "s#^in_weights: downloads/crafter/steve1_crafter.weights#in_weights: $W/steve1_crafter_latest.weights#" \
    configs/crafter/highlevel.yaml > "$W/highlevel.yaml"
python bench/teacher_agreement.py --highlevel_config "$W/highlevel.yaml" --episodes 40 --max_steps 320 \
    --learner_from 70 --replan_off_path --out "$B/agreement_zero_goal$SUFFIX.json" &
python bench/pretraining_report.py --highlevel_config "$W/highlevel.yaml" \
    --sections survival_under_prior unconditional_bc_crafter_score --survival_worlds 40 --score_episodes 100 \
    --out_json "$B/pretraining_$RUN.json" --readme "$W/readme_scratch.md"
wait
