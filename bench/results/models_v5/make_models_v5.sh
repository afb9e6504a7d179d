#!/usr/bin/env bash
# Models v5 (session 24, shipped in downloads/crafter/): the v4 low level trained on 1.5M more behaviour-cloning
# frames of a 1.2M-frame play dataset (bench/results/more_frames/: the val loss was still falling after 1M), a goal
# prior trained on that trunk and the 1.2M-frame split, and v4's codebook (CrafterCLIP v3 unchanged, so its goal
# embeddings and codes are the same). Two steps:
#
#   A. bench/results/more_frames/ (session 23): the play data regenerated to 1.2M frames (same generator, config and
#      seed: its first ~600k frames are v4's; 981 s with 2 workers), the split more_seed1 (1537 train / 24 val
#      episodes), CrafterCLIP embedding (228 s), and two rounds of 500k BC frames from the v4 low level (747 s, 770 s
#      with two torch threads):
#        bash bench/results/more_frames/run_more_frames.sh
#        RUN=more_frames2 INIT=results/crafter/more_frames/steve1_crafter_latest.weights SKIP_DATA=1 \
#            bash bench/results/more_frames/run_more_frames.sh
#   B. this script: a third round of 500k BC frames from round 2's weights and the goal prior (300k frames,
#      configs/crafter/goal_prior.yaml, trunk from round 2's weights), side by side, one torch thread each; then
#      ship_models.sh and the pipeline record.
#
#   bash bench/results/models_v5/make_models_v5.sh
#
# Every stage resumes from its checkpoint when rerun; outputs in results/crafter/v5/. SHIP=<dir> ships elsewhere.
set -euo pipefail
cd "$(dirname "$0")/../../.."
W=results/crafter/v5
INIT=results/crafter/more_frames2/steve1_crafter_latest.weights
[[ -f "$INIT" ]] || { echo "make_models_v5.sh: $INIT does not exist (run step A first)" >&2; exit 2; }
mkdir -p "$W/codebook"
# v4's codebook (the shipped one), copied first so shipping never reads and writes the same file
for f in centers.pkl codebook.json tsne.png; do
  [[ -f "$W/codebook/$f" ]] || cp "downloads/crafter/codebook/$f" "$W/codebook/$f"
done
T0=$(date +%s)
bash tasks/crafter/finetune_and_prior.sh "$W" "$INIT" "$W/codebook/centers.pkl" more_seed1 500000
# every earlier stage the shipped files depend on, as timed when it ran (pipeline_hours sums them), and the note
bash tasks/crafter/ship_models.sh "$W/steve1/weights/steve1_crafter_latest.weights" \
    "$W/steve1/training_checkpoint/args.yaml" "$W/goal_prior/weights/goal_prior_crafter_latest.weights" \
    "$W/goal_prior/training_checkpoint/args.yaml" "$W/codebook" downloads/samplings/more_seed1_train.txt \
    "${SHIP:-downloads/crafter}" "$T0" bench/results/models_v5/pipeline_extra.json
