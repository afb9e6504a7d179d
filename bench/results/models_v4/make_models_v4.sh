#!/usr/bin/env bash
# Models v4 (session 20, shipped in downloads/crafter/): the session-17 low level ("v4 candidate") fine-tuned for
# 100k frames with the current configs/crafter/steve1.yaml (goals 16-35 env steps ahead, crafting/placing actions
# x7.4 in the BC loss), a goal prior trained with the current configs/crafter/goal_prior.yaml, and the candidate's
# codebook. Two steps:
#
#   A. the candidate (session 17; 600k frames of player-v8 play data, BC 600k frames on goals 16-75 ahead):
#        git checkout cc1f2bc
#        python -m tasks.crafter.generate_play_data --config configs/crafter/play_data.yaml \
#            --out_dir downloads/dataset_crafter --num_frames 600000
#        THREADS=2 BC_FRAMES=600000 bash tasks/crafter/train_pipeline.sh    # stages 1-5 (stop it in the prior)
#      -> results/crafter/steve1/weights/steve1_crafter_latest.weights, results/crafter/codebook/tsne_n50_s1/
#      (1858 s of play data, 351 s embedding, 3969 s BC, 30 s codebook on this project's 2-core machine)
#      its resolved BC arguments: bench/results/models_v4/candidate_steve1_args.yaml
#   B. this script, at the commit that ships v4:  bash bench/results/models_v4/make_models_v4.sh
#      the fine-tune and the prior run side by side (one torch thread each), then ship_models.sh.
#
# Every stage resumes from its checkpoint when rerun; outputs in results/crafter/v4/. The prior's trunk starts from
# the candidate (the fine-tune is not needed for it, so both train at once); the codebook is the candidate's
# (CrafterCLIP-v3 goal embeddings of the v8 split, configs/crafter/codebook.yaml unchanged since).
set -euo pipefail
cd "$(dirname "$0")/../../.."
W=results/crafter/v4
CAND=results/crafter/steve1/weights/steve1_crafter_latest.weights
CODEBOOK=results/crafter/codebook/tsne_n50_s1
mkdir -p "$W/candidate"
[[ -f "$W/candidate/steve1_crafter_latest.weights" ]] || cp "$CAND" "$W/candidate/steve1_crafter_latest.weights"
T0=$(date +%s)
bash tasks/crafter/finetune_and_prior.sh "$W" "$W/candidate/steve1_crafter_latest.weights" "$CODEBOOK/centers.pkl" \
    crafter_seed1 100000
bash tasks/crafter/ship_models.sh "$W/steve1/weights/steve1_crafter_latest.weights" \
    "$W/steve1/training_checkpoint/args.yaml" "$W/goal_prior/weights/goal_prior_crafter_latest.weights" \
    "$W/goal_prior/training_checkpoint/args.yaml" "$CODEBOOK" downloads/samplings/crafter_seed1_train.txt \
    "${SHIP:-downloads/crafter}" "$T0"
# the candidate's stages (step A, timed in session 17) and v3's CrafterCLIP are part of what the shipped files cost
python - "${SHIP:-downloads/crafter}/pipeline.json" <<'PY'
import json, sys
from steve1.utils.io import atomic_write_json
p = sys.argv[1]
d = json.load(open(p))
d.update({"pipeline_seconds_candidate_play_data": 1858.0, "pipeline_seconds_candidate_embed": 351.0,
          "pipeline_seconds_candidate_bc": 3969.0, "pipeline_seconds_candidate_codebook": 30.0,
          "pipeline_seconds_crafterclip_v3": 1305.0, "models_version": 4,
          "note": ("models v4 (session 20): bash bench/results/models_v4/make_models_v4.sh "
                   "(pipeline_seconds_this_invocation: the 100k-frame fine-tune of the low level with "
                   "configs/crafter/steve1.yaml -- goals 16-35 ahead, crafting/placing actions x7.4 -- at learning "
                   "rate 1e-4, and the goal prior, 300k frames with configs/crafter/goal_prior.yaml, side by side, "
                   "one torch thread each, then ship_models.sh). It starts from the session-17 'v4 candidate' "
                   "(commit cc1f2bc: play data with player v8, python -m tasks.crafter.generate_play_data --config "
                   "configs/crafter/play_data.yaml --out_dir downloads/dataset_crafter --num_frames 600000, 800 "
                   "episodes, 601,443 frames, 1012 s to 338k frames before a player bug stopped it, then 846 s "
                   "resumed; THREADS=2 BC_FRAMES=600000 bash tasks/crafter/train_pipeline.sh: split 748 train / 34 "
                   "val episodes, embedding with the v3 CrafterCLIP 351 s, BC 600k frames on goals 16-75 ahead 3969 "
                   "s, codebook 30 s; the pipeline_seconds_candidate_* keys). CrafterCLIP is v3's, not retrained; "
                   "its training time in v3's record (1305 s, pipeline_seconds_crafterclip_v3) is counted, so "
                   "pipeline_hours covers every stage the shipped files depend on. The prior's trunk starts from the"
                   " candidate low level; the codebook is the candidate's.")})
atomic_write_json(p, d)
PY
