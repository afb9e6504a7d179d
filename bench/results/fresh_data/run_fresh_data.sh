#!/usr/bin/env bash
# More passes or more play data? (session 24). Models v5's low level saw 2.2M BC frames of a 1.2M-frame play dataset
# (~1.9 passes) and its validation loss flattened (-8%, -4.5%, -3.3% per 500k-frame round). This trains it 500k frames
# more two ways, side by side with one torch thread each, and measures the unconditional Crafter score (100 episodes,
# the report's seeds) of each:
#   same   on the same 1.2M frames (split more_seed1): a fourth pass-round
#   fresh  on 1.2M frames of play data it has never seen (the same generator continued to 2.4M frames, episodes
#          1613 on; split fresh_seed1: those episodes, val = more_seed1's 24 val episodes so the val losses compare)
#
#   bash bench/results/fresh_data/run_fresh_data.sh
#
# Work files: downloads/dataset_crafter (grows to 2.4M frames, ~9.5 GB), downloads/samplings/fresh_seed1_*,
# results/crafter/fresh_data/{same,fresh}/. Each stage resumes (the generator skips written episodes, the embedder
# embedded ones, training restarts from its checkpoint).
set -euo pipefail
cd "$(dirname "$0")/../../.."
INIT=results/crafter/v5/steve1/weights/steve1_crafter_latest.weights
[[ -f "$INIT" ]] || { echo "run_fresh_data.sh: $INIT does not exist (run models_v5/make_models_v5.sh)" >&2
                     exit 2; }
W=results/crafter/fresh_data; B=bench/results/fresh_data
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
mkdir -p "$W/same" "$W/fresh" "$B"
python -m tasks.crafter.generate_play_data --config configs/crafter/play_data.yaml --out_dir downloads/dataset_crafter \
    --num_frames 2400000 --workers 2
python -m steve1.data.generation.embed_episodes --embedder crafterclip --weights downloads/crafter/crafterclip.pt \
    --data_dir downloads/dataset_crafter --torch_threads 2
# the fresh split: every episode the 1.2M-frame split never listed (index >= 1613) long enough for a training chunk
python - <<'PY'
import os
listed = {l.strip() for n in ("train", "val") for l in open(f"downloads/samplings/more_seed1_{n}.txt") if l.strip()}
eps = sorted(os.path.join("downloads/dataset_crafter", d) for d in os.listdir("downloads/dataset_crafter")
             if d.startswith("crafter_s0_") and int(d.rsplit("_", 1)[1]) >= 1613)
ok = [e for e in eps if e not in listed and os.path.exists(os.path.join(e, "embeds_attn.pkl"))
      and int(open(os.path.join(e, "len.txt")).read().split()[0]) >= 175]
open("downloads/samplings/fresh_seed1_train.txt", "w").write("\n".join(ok) + "\n")
open("downloads/samplings/fresh_seed1_val.txt", "w").write(open("downloads/samplings/more_seed1_val.txt").read())
print(f"fresh_seed1: {len(ok)} train episodes, "
      f"{sum(int(open(os.path.join(e, 'len.txt')).read().split()[0]) for e in ok)} frames")
PY
for RUN in same fresh; do
  SPLIT=more_seed1; [[ $RUN == fresh ]] && SPLIT=fresh_seed1
  python steve1/train.py --config configs/crafter/steve1.yaml --in_weights "$INIT" --sampling "$SPLIT" \
      --sampling_dir downloads/samplings/ --n_frames 500000 --learning_rate 1e-4 --warmup_frames 5000 --num_workers 0 \
      --checkpoint_dir "$W/$RUN/ckpt" --out_weights "$W/$RUN/steve1_crafter.weights" > "$W/$RUN.log" 2>&1 &
done
wait
for RUN in same fresh; do
  sed -e "s#^in_weights: downloads/crafter/steve1_crafter.weights#in_weights: $W/$RUN/steve1_crafter_latest.weights#" \
      configs/crafter/highlevel.yaml > "$W/$RUN/highlevel.yaml"
  python bench/pretraining_report.py --highlevel_config "$W/$RUN/highlevel.yaml" \
      --low_level_args "$W/$RUN/ckpt/args.yaml" --sections unconditional_bc_crafter_score --score_episodes 100 \
      --out_json "$B/score_$RUN.json" --readme "$W/readme_scratch_$RUN.md" &
done
wait
