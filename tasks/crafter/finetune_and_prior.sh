#!/usr/bin/env bash
# Fine-tune the Crafter low level and train a goal prior on its trunk side by side, one torch thread each (the
# model-making step of bench/results/models_v4/make_models_v4.sh and models_v5/make_models_v5.sh):
#
#   bash tasks/crafter/finetune_and_prior.sh WORK INIT CODEBOOK_CENTERS SAMPLING BC_FRAMES
#
#   WORK              outputs: WORK/steve1/{weights,training_checkpoint}/,
#                     WORK/goal_prior/{weights,training_checkpoint}/, WORK/steve1.log, WORK/goal_prior.log
#   INIT              low-level weights both start from (the fine-tune's initial weights; the prior's image encoder
#                     and transformer)
#   CODEBOOK_CENTERS  the codebook (centers.pkl) whose codes label the prior's targets
#   SAMPLING          split name in downloads/samplings/ (<SAMPLING>_{train,val}.txt), for both
#   BC_FRAMES         fine-tune frames, at learning rate 1e-4 with a 5000-frame warm-up; the rest of both runs is
#                     configs/crafter/steve1.yaml and configs/crafter/goal_prior.yaml
#
# Each run resumes from its checkpoint when the script is rerun; the script fails if either run fails.
set -euo pipefail
if [[ $# -ne 5 ]]; then
    echo "usage: bash tasks/crafter/finetune_and_prior.sh WORK INIT CODEBOOK_CENTERS SAMPLING BC_FRAMES (got $#" \
         "arguments)" >&2
    exit 2
fi
WORK=$1 INIT=$2 CENTERS=$3 SAMPLING=$4 BC_FRAMES=$5
for f in "$INIT" "$CENTERS" "downloads/samplings/${SAMPLING}_train.txt"; do
    [[ -f "$f" ]] || { echo "finetune_and_prior.sh: $f does not exist" >&2; exit 2; }
done
mkdir -p "$WORK"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
DATA=(--sampling "$SAMPLING" --sampling_dir downloads/samplings/ --num_workers 0)
python steve1/train.py --config configs/crafter/steve1.yaml --in_weights "$INIT" "${DATA[@]}" \
    --n_frames "$BC_FRAMES" --learning_rate 1e-4 --warmup_frames 5000 \
    --checkpoint_dir "$WORK/steve1/training_checkpoint" --out_weights "$WORK/steve1/weights/steve1_crafter.weights" \
    > "$WORK/steve1.log" 2>&1 &
BC=$!
python goal_prior/train.py --config configs/crafter/goal_prior.yaml --codebook_path "$CENTERS" "${DATA[@]}" \
    --in_model configs/crafter/vpt_small.yaml --in_weights "$INIT" \
    --out_weights "$WORK/goal_prior/weights/goal_prior_crafter.weights" \
    --checkpoint_dir "$WORK/goal_prior/training_checkpoint" > "$WORK/goal_prior.log" 2>&1 &
PRIOR=$!
wait $BC || { echo "finetune_and_prior.sh: the low level's run failed (see $WORK/steve1.log)" >&2
              wait $PRIOR; exit 1; }
wait $PRIOR || { echo "finetune_and_prior.sh: the prior's run failed (see $WORK/goal_prior.log)" >&2; exit 1; }
