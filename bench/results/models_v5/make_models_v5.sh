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
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
T0=$(date +%s)
python steve1/train.py --config configs/crafter/steve1.yaml --in_weights "$INIT" \
    --sampling more_seed1 --sampling_dir downloads/samplings/ \
    --n_frames 500000 --learning_rate 1e-4 --warmup_frames 5000 --num_workers 0 \
    --checkpoint_dir "$W/steve1/training_checkpoint" --out_weights "$W/steve1/weights/steve1_crafter.weights" \
    > "$W/steve1.log" 2>&1 &
BC=$!
python goal_prior/train.py --config configs/crafter/goal_prior.yaml --codebook_path "$W/codebook/centers.pkl" \
    --sampling more_seed1 --sampling_dir downloads/samplings/ \
    --in_model configs/crafter/vpt_small.yaml --in_weights "$INIT" \
    --out_weights "$W/goal_prior/weights/goal_prior_crafter.weights" \
    --checkpoint_dir "$W/goal_prior/training_checkpoint" --num_workers 0 > "$W/goal_prior.log" 2>&1 &
PRIOR=$!
wait $BC
wait $PRIOR
SHIP=${SHIP:-downloads/crafter}
bash tasks/crafter/ship_models.sh "$W/steve1/weights/steve1_crafter_latest.weights" \
    "$W/steve1/training_checkpoint/args.yaml" "$W/goal_prior/weights/goal_prior_crafter_latest.weights" \
    "$W/goal_prior/training_checkpoint/args.yaml" "$W/codebook" downloads/samplings/more_seed1_train.txt \
    "$SHIP" "$T0"
# every earlier stage the shipped files depend on, as timed when it ran (pipeline_hours sums them)
python - "$SHIP/pipeline.json" <<'PY'
import json, sys
from steve1.utils.io import atomic_write_json
p = sys.argv[1]
d = json.load(open(p))
d.update({"pipeline_seconds_crafterclip_v3": 1305.0, "pipeline_seconds_v4_candidate_bc": 3969.0,
          "pipeline_seconds_v4_codebook": 30.0, "pipeline_seconds_v4_finetune_and_prior": 3425.4,
          "pipeline_seconds_play_data_1200k": 980.7, "pipeline_seconds_embed_1200k": 228.1,
          "pipeline_seconds_more_frames_round1": 747.0, "pipeline_seconds_more_frames_round2": 770.0,
          "models_version": 5,
          "note": ("models v5 (session 24): bash bench/results/models_v5/make_models_v5.sh "
                   "(pipeline_seconds_this_invocation: a third round of 500k BC frames at learning rate 1e-4 and "
                   "the goal prior, 300k frames of configs/crafter/goal_prior.yaml on the 1.2M-frame split "
                   "more_seed1, side by side, one torch thread each, then ship_models.sh). Its low level is v4's "
                   "(session-17 candidate: BC 600k frames, 3969 s; v4 fine-tune 100k frames, timed with v4's prior "
                   "in 3425.4 s) trained for 500k + 500k frames in bench/results/more_frames/ (747 s, 770 s) on "
                   "play data regenerated to 1.2M frames (980.7 s, 2 workers; it replaces v4's 600k frames, whose "
                   "1858 s are not counted) and embedded with CrafterCLIP v3 (228.1 s; v3's training 1305 s "
                   "counted). Codebook: v4's (30 s). The session-17/20 stages ran on a slower 2-core machine than "
                   "session 23/24's (AVX-512, BC ~2.5-3x faster), so the sum mixes machines.")})
atomic_write_json(p, d)
PY
