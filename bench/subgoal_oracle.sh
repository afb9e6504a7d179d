#!/bin/bash
# The goal-information bound of bench/subgoal_oracle.py, end to end (issue 18; results: bench/results/subgoal_oracle.json):
# 300k frames of play data (the first episodes of the shipped dataset's seed 0), embedded twice (the player's sub-goal
# as the goal; CrafterCLIP), the same split, two low levels trained alike (200k frames each, one torch thread each,
# side by side), then both and the shipped low level measured on 80 held-out player episodes (seed 9001).
#     bash bench/subgoal_oracle.sh                 # ~1 h on 2 cores (session 12: 20:41-21:43, beside other jobs)
# Environment: WORK (default downloads/subgoal_oracle) holds the data (~0.5 GB), splits, checkpoints and weights; rerunning
# resumes: the generator skips written episodes, the embedders skip embedded ones, the trainers resume; FRAMES
# (300000) play-data frames, BC_FRAMES (200000) frames each low level trains on.
set -euo pipefail
if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0; fi
[[ $# -eq 0 ]] || { echo "subgoal_oracle.sh: takes no arguments (settings: WORK, FRAMES, BC_FRAMES; --help)"; exit 2; }
cd "$(dirname "$0")/.."
WORK=${WORK:-downloads/subgoal_oracle}
FRAMES=${FRAMES:-300000}
BC_FRAMES=${BC_FRAMES:-200000}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
mkdir -p "$WORK"
python -m tasks.crafter.generate_play_data --config configs/crafter/play_data.yaml --out_dir "$WORK/data" \
    --num_frames "$FRAMES" --workers 2
[[ -d "$WORK/data_clip" ]] || cp -al "$WORK/data" "$WORK/data_clip"  # hard links: embeddings are written atomically
python bench/subgoal_oracle.py embed --data_dir "$WORK/data"
python -m steve1.data.generation.embed_episodes --embedder crafterclip --weights downloads/crafter/crafterclip.pt \
    --data_dir "$WORK/data_clip" --torch_threads 1 --no_progress
for k in oracle clip; do
    d="$WORK/data"; [[ $k == clip ]] && d="$WORK/data_clip"
    python -m steve1.data.sampling.generate_sampling --config configs/crafter/sampling.yaml --data_dir "$d" \
        --name "${k}_seed1" --output_dir "$WORK/samplings"
done
for k in oracle clip; do
    python steve1/train.py --config configs/crafter/steve1.yaml --sampling "${k}_seed1" --sampling_dir "$WORK/samplings/" \
        --n_frames "$BC_FRAMES" --num_workers 0 --checkpoint_dir "$WORK/ckpt_$k" --out_weights "$WORK/$k.weights" \
        > "$WORK/train_$k.log" 2>&1 &
done
wait
for k in oracle clip; do cp "$WORK/ckpt_$k/args.yaml" "$WORK/${k}_latest_args.yaml"; done
python bench/subgoal_oracle.py report --model shipped,downloads/crafter/steve1_crafter.weights,crafterclip \
    --model "clip_300k_200k,$WORK/clip_latest.weights,crafterclip" \
    --model "oracle_300k_200k,$WORK/oracle_latest.weights,subgoal_oracle" --episodes 80 \
    --out bench/results/subgoal_oracle.json
