#!/usr/bin/env bash
# The ONE script that trains every Crafter model PTGM needs from the play dataset and ships them to downloads/crafter/
# (the files `python ppo_highlevel.py --config crafter_stone_pickaxe` reads through configs/crafter/highlevel.yaml).
#
#   bash tasks/crafter/train_pipeline.sh                       # full run on 2 CPU cores (from the 1.2M-frame play
#                                                              # data, CrafterCLIP included, THREADS=2: 1.42 h on an
#                                                              # AVX-512 2-core machine, 1.66 h with generating the
#                                                              # play data: bench/results/pipeline_scratch/)
#   nohup bash tasks/crafter/train_pipeline.sh > results/crafter/pipeline.log 2>&1 &   # in the background
#   TINY=1 WORK=/tmp/pipe DATA_DIR=/tmp/pipe/ds SHIP=/tmp/pipe/ship SAMPLINGS=/tmp/pipe/samplings \
#       bash tasks/crafter/train_pipeline.sh      # smoke test (~3 min) on a copy of ~15 episodes in /tmp/pipe/ds
#
# Stages (each is skipped when its output exists, and the two trainers resume from their checkpoints, so a rerun
# after an interruption continues where it stopped; delete a stage's output to redo it):
#   1. split      steve1/data/sampling/generate_sampling.py --config configs/crafter/sampling.yaml
#                 -> $SAMPLINGS/crafter_seed1_{train,val}.txt (+ crafter_seed1_config.yaml)
#   2. CrafterCLIP tasks/crafter/crafterclip/train.py -> $SHIP/crafterclip.pt   (only if that file is missing)
#   3. embed      steve1/data/generation/embed_episodes.py --embedder crafterclip (the split's episodes;
#                 settings configs/goal_embeddings.yaml)
#   4. STEVE-1 BC steve1/train.py --config configs/crafter/steve1.yaml -> $WORK/steve1/
#   4b. fine-tune steve1/train.py --config configs/crafter/steve1_unlock.yaml (next-unlock relabeling, from stage 4's
#                 weights) -> $WORK/steve1_unlock/: the shipped low level (models v7)
#   5. codebook   goal_prior/generate_codebook.py --config configs/crafter/codebook.yaml -> $WORK/codebook/
#   6. goal prior goal_prior/train.py --config configs/crafter/goal_prior.yaml -> $WORK/goal_prior/
#   7. ship       tasks/crafter/ship_models.sh: the model config, the weights (float16) and the codebook into $SHIP
#                 (downloads/crafter/), with $SHIP/pipeline.json
#
# Hyperparameters live in configs/crafter/*.yaml; the variables below only size the run (how much data, how many
# frames), so that the same script makes the shipped models and a smoke test:
#   DATA_DIR      play dataset (tasks/crafter/generate_play_data.py)           [downloads/dataset_crafter]
#   WORK          training outputs, checkpoints, TensorBoard                   [results/crafter]
#   SHIP          shipped artefacts                                            [downloads/crafter]
#   SAMPLINGS     split files                                                  [downloads/samplings]
#   TRAIN_FRAMES  frames of the train split (-1: every finished episode;
#                 the config's train_frames if empty: -1)                      []
#   VAL_FRAMES    frames of the val split (the config's val_frames if empty:
#                 20000)                                                       []
#   BC_FRAMES     STEVE-1 behaviour-cloning frames (configs' n_frames if empty) []
#   UNLOCK_FRAMES frames of the next-unlock fine-tune (its config's if empty)   []
#   PRIOR_FRAMES  goal-prior frames (config's n_frames if empty)               []
#   CLIP_STEPS    CrafterCLIP optimiser steps if it must be trained (config's)  []
#   THREADS       torch threads per process (2 is ~10x slower as soon as
#                 another job shares the 2 cores)                              [1]
#   TINY=1        a few-minute smoke test: tiny budgets everywhere
#   PIPELINE_EXTRA  a JSON object whose keys go into $SHIP/pipeline.json (ship_models.sh's EXTRA_JSON), e.g. the
#                 seconds of stages run before this script ("pipeline_seconds_play_data") []
#   STOP_AFTER    embed: stop after stage 3 (the split's episodes embedded),
#                 e.g. to train variants of the later stages on the same data
#                 (bench/results/models_v8_candidate/run_candidate.sh)         []
set -euo pipefail

DATA_DIR=${DATA_DIR:-downloads/dataset_crafter}
WORK=${WORK:-results/crafter}
SHIP=${SHIP:-downloads/crafter}
SAMPLINGS=${SAMPLINGS:-downloads/samplings}
TRAIN_FRAMES=${TRAIN_FRAMES:-}
VAL_FRAMES=${VAL_FRAMES:-}
BC_FRAMES=${BC_FRAMES:-}
UNLOCK_FRAMES=${UNLOCK_FRAMES:-}
PRIOR_FRAMES=${PRIOR_FRAMES:-}
CLIP_STEPS=${CLIP_STEPS:-}
THREADS=${THREADS:-1}
TINY=${TINY:-0}
PIPELINE_EXTRA=${PIPELINE_EXTRA:-}
STOP_AFTER=${STOP_AFTER:-}
[[ -z "$STOP_AFTER" || "$STOP_AFTER" == embed ]] || {
    echo "train_pipeline.sh: STOP_AFTER=$STOP_AFTER: the only stage it can stop after is 'embed'" >&2; exit 2; }
# checked before any stage runs, not hours later when ship_models.sh reads it
if [[ -n "$PIPELINE_EXTRA" ]] && ! python -c 'import json, sys; assert isinstance(json.load(open(sys.argv[1])), dict)' \
        "$PIPELINE_EXTRA" 2>/dev/null; then
    echo "train_pipeline.sh: PIPELINE_EXTRA=$PIPELINE_EXTRA is not a readable JSON object" >&2; exit 2
fi
SPLIT=crafter_seed1

BC_EXTRA=()
PRIOR_EXTRA=()
UNLOCK_EXTRA=()
CLIP_EXTRA=()
CODEBOOK_EXTRA=()
SPLIT_EXTRA=()
if [[ "$TINY" == 1 ]]; then
    # the smoke test writes goal embeddings into the episodes: never into the real dataset
    [[ "$DATA_DIR" != downloads/dataset_crafter ]] || { echo "TINY=1 needs DATA_DIR=<a copy of a few episodes>"; exit 2; }
    BC_FRAMES=${BC_FRAMES:-2560}
    UNLOCK_FRAMES=${UNLOCK_FRAMES:-1280}
    PRIOR_FRAMES=${PRIOR_FRAMES:-1280}
    CLIP_STEPS=${CLIP_STEPS:-20}
    VAL_FRAMES=${VAL_FRAMES_TINY:-600}
    BC_EXTRA=(--warmup_frames 256 --val_freq_begin 5 --val_freq 5 --val_freq_switch_steps 5 --save_freq 5
              --num_workers 0 --log_freq 2)
    PRIOR_EXTRA=("${BC_EXTRA[@]}")
    UNLOCK_EXTRA=("${BC_EXTRA[@]}")
    CLIP_EXTRA=(--train_clips 512 --val_clips 128 --batch_size 32 --eval_every 0 --checkpoint_every 10)
    CODEBOOK_EXTRA=(--n-codebook 8 --video-num -1 --sample-interval 5 --perplexity 10 --gif-frames 0)
fi
[[ -n "$TRAIN_FRAMES" ]] && SPLIT_EXTRA+=(--train_frames "$TRAIN_FRAMES")
[[ -n "$VAL_FRAMES" ]] && SPLIT_EXTRA+=(--val_frames "$VAL_FRAMES")
[[ -n "$BC_FRAMES" ]] && BC_EXTRA+=(--n_frames "$BC_FRAMES")
[[ -n "$UNLOCK_FRAMES" ]] && UNLOCK_EXTRA+=(--n_frames "$UNLOCK_FRAMES")
[[ -n "$PRIOR_FRAMES" ]] && PRIOR_EXTRA+=(--n_frames "$PRIOR_FRAMES")
[[ -n "$CLIP_STEPS" ]] && CLIP_EXTRA+=(--steps "$CLIP_STEPS")
N_CODES=$(python -c "import yaml; print(yaml.safe_load(open('configs/crafter/codebook.yaml'))['n_codebook'])")
[[ "$TINY" == 1 ]] && N_CODES=8
CODEBOOK_DIR="$WORK/codebook/tsne_n${N_CODES}_s1"

export OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS THREADS TRAIN_FRAMES VAL_FRAMES BC_FRAMES UNLOCK_FRAMES PRIOR_FRAMES CLIP_STEPS TINY
stamp() { echo "[pipeline $(date -u +%H:%M:%S)] $*"; }
mkdir -p "$WORK" "$SHIP" "$SAMPLINGS"
T0=$(date +%s)

# 1. split (episodes finished so far; the val split is drawn first)
if [[ ! -f "$SAMPLINGS/${SPLIT}_train.txt" || ! -f "$SAMPLINGS/${SPLIT}_val.txt" ]]; then
    stamp "1/7 split $DATA_DIR"
    python -m steve1.data.sampling.generate_sampling --config configs/crafter/sampling.yaml --data_dir "$DATA_DIR" \
        --name "$SPLIT" --output_dir "$SAMPLINGS" "${SPLIT_EXTRA[@]}"
else
    stamp "1/7 split exists: $SAMPLINGS/${SPLIT}_{train,val}.txt"
fi
wc -l "$SAMPLINGS/${SPLIT}_train.txt" "$SAMPLINGS/${SPLIT}_val.txt"

# 2. CrafterCLIP, only when no goal embedder is shipped yet
if [[ ! -f "$SHIP/crafterclip.pt" ]]; then
    stamp "2/7 CrafterCLIP -> $SHIP/crafterclip.pt"
    python tasks/crafter/crafterclip/train.py --config configs/crafter/crafterclip.yaml \
        --sampling "$SAMPLINGS/$SPLIT" --out "$SHIP/crafterclip.pt" --eval_out "$SHIP/crafterclip_eval.json" \
        --run_dir "$WORK/crafterclip" --cache_dir "$WORK/crafterclip/cache" --torch_threads "$THREADS" \
        "${CLIP_EXTRA[@]}"
    rm -rf "$WORK/crafterclip/cache"
else
    stamp "2/7 CrafterCLIP exists: $SHIP/crafterclip.pt"
fi

# 3. goal embeddings of the split's episodes (a folder of links to them, so that episodes the play-data generator
#    adds later are not embedded for nothing; resumable: embedded episodes are skipped)
stamp "3/7 embed the split's episodes with CrafterCLIP"
LINKS="$WORK/split_episodes"
mkdir -p "$LINKS"
cat "$SAMPLINGS/${SPLIT}_train.txt" "$SAMPLINGS/${SPLIT}_val.txt" | while read -r ep; do
    if [[ -n "$ep" && ! -e "$LINKS/$(basename "$ep")" ]]; then ln -s "$(realpath "$ep")" "$LINKS/$(basename "$ep")"; fi
done
# embed_episodes refuses episodes embedded with other CrafterCLIP weights (md5 in an episode's metadata) unless
# --overwrite; a changed CrafterCLIP file must re-embed everything and retrain every later stage
STALE=$(python - "$LINKS" "$SHIP/crafterclip.pt" <<'EOF'
import hashlib, json, os, sys
links, weights = sys.argv[1], sys.argv[2]
md5 = hashlib.md5(open(weights, "rb").read()).hexdigest()
stale = 0
for name in os.listdir(links):
    meta = os.path.join(links, name, "metadata.json")
    if os.path.isfile(meta):
        used = (json.load(open(meta)).get("embedder_weights") or {}).get("md5")
        stale += used is not None and used != md5
print(stale)
EOF
)
EMBED_EXTRA=()
if [[ "$STALE" != 0 ]]; then
    stamp "$STALE episodes were embedded with another CrafterCLIP: re-embedding all, retraining stages 4-6"
    EMBED_EXTRA=(--overwrite)
    rm -rf "$WORK/steve1" "$WORK/codebook" "$WORK/goal_prior"
fi
python -m steve1.data.generation.embed_episodes --embedder crafterclip --weights "$SHIP/crafterclip.pt" \
    --data_dir "$LINKS" --torch_threads "$THREADS" "${EMBED_EXTRA[@]}"
if [[ "$STOP_AFTER" == embed ]]; then
    stamp "stopping after stage 3 (STOP_AFTER=embed)"
    exit 0
fi

# 4. STEVE-1 behaviour cloning (resumes from $WORK/steve1/training_checkpoint)
STEVE1_OUT="$WORK/steve1/weights/steve1_crafter.weights"
stamp "4/7 STEVE-1 BC -> $STEVE1_OUT"
python steve1/train.py --config configs/crafter/steve1.yaml --sampling "$SPLIT" --sampling_dir "$SAMPLINGS/" \
    --out_weights "$STEVE1_OUT" --checkpoint_dir "$WORK/steve1/training_checkpoint" "${BC_EXTRA[@]}"
# the weights at the end of the run (one pass over fresh data: no overfitting to guard against with _best, and a run
# stopped early still ships its last checkpoint)
STEVE1_FINAL="${STEVE1_OUT%.weights}_latest.weights"

# 4b. the next-unlock fine-tune of that low level (configs/crafter/steve1_unlock.yaml; resumes from its checkpoint):
#     the shipped low level
UNLOCK_OUT="$WORK/steve1_unlock/weights/steve1_crafter.weights"
stamp "4b/7 next-unlock fine-tune -> $UNLOCK_OUT"
python steve1/train.py --config configs/crafter/steve1_unlock.yaml --sampling "$SPLIT" --sampling_dir "$SAMPLINGS/" \
    --in_weights "$STEVE1_FINAL" --out_weights "$UNLOCK_OUT" \
    --checkpoint_dir "$WORK/steve1_unlock/training_checkpoint" "${UNLOCK_EXTRA[@]}"
UNLOCK_FINAL="${UNLOCK_OUT%.weights}_latest.weights"

# 5. codebook
if [[ ! -f "$CODEBOOK_DIR/centers.pkl" ]]; then
    stamp "5/7 codebook -> $CODEBOOK_DIR"
    python goal_prior/generate_codebook.py --config configs/crafter/codebook.yaml --sampling "$SPLIT" \
        --sampling_dir "$SAMPLINGS/" --output-dir "$WORK/codebook/" "${CODEBOOK_EXTRA[@]}"
else
    stamp "5/7 codebook exists: $CODEBOOK_DIR/centers.pkl"
fi

# 6. goal prior (trunk initialised from stage 4's low level, as for models v7; resumes from its checkpoint)
PRIOR_OUT="$WORK/goal_prior/weights/goal_prior_crafter.weights"
stamp "6/7 goal prior -> $PRIOR_OUT"
python goal_prior/train.py --config configs/crafter/goal_prior.yaml --sampling "$SPLIT" \
    --sampling_dir "$SAMPLINGS/" --codebook_path "$CODEBOOK_DIR/centers.pkl" --in_model configs/crafter/vpt_small.yaml \
    --in_weights "$STEVE1_FINAL" --out_weights "$PRIOR_OUT" --checkpoint_dir "$WORK/goal_prior/training_checkpoint" \
    "${PRIOR_EXTRA[@]}"
PRIOR_FINAL="${PRIOR_OUT%.weights}_latest.weights"

# 7. ship: the paths configs/crafter/highlevel.yaml reads
stamp "7/7 ship -> $SHIP"
bash tasks/crafter/ship_models.sh "$UNLOCK_FINAL" "$WORK/steve1_unlock/training_checkpoint/args.yaml" "$PRIOR_FINAL" \
    "$WORK/goal_prior/training_checkpoint/args.yaml" "$CODEBOOK_DIR" "$SAMPLINGS/${SPLIT}_train.txt" "$SHIP" "$T0" \
    ${PIPELINE_EXTRA:+"$PIPELINE_EXTRA"}
stamp "done in $(( $(date +%s) - T0 )) s"
