#!/usr/bin/env bash
# DAgger on the first night (session 22): the scripted player plays each episode to dusk (env step 70), then the
# shipped low level (models v4, zero goal) acts, the player's action running instead with probability 0.3 (DAgger's
# mixture policy); the shadowing player labels every step. The shipped low level is fine-tuned for 100k frames on the
# play data plus these episodes (listed 4 times: ~23% of the training chunks), then measured on the held-out worlds
# of the v4 figures.
#
#   bash bench/results/night_dagger/run_night_dagger.sh it1          # labels as the player gave them (session 12's)
#   bash bench/results/night_dagger/run_night_dagger.sh it1_replan   # --replan_off_path: no noop after a deviation
#   bash bench/results/night_dagger/run_night_dagger.sh it2_replan   # a second iteration (needs it1_replan): the
#       it1_replan low level acts (beta 0.15) in worlds 40201-40400; it is fine-tuned on the play data plus both
#       iterations' episodes, each listed twice
#
# Each stage resumes (episodes that exist are skipped; the fine-tune restarts from its checkpoint). Times on the
# project's 2-core machine: episodes ~5 min (two processes), fine-tune ~11 min (2 threads; it2_replan's ran on one,
# MKL_NUM_THREADS=1 having been left set: 21.5 min), measures ~8 min, agreement ~4 min.
set -euo pipefail
cd "$(dirname "$0")/../../.."
RUN=${1:?usage: run_night_dagger.sh it1|it1_replan|it2_replan}
ACT=configs/crafter/highlevel.yaml; INIT=downloads/crafter/steve1_crafter.weights
FIRST=40001; BETA=0.3; COPIES=4; MORE=()
case "$RUN" in
  it1) LABELS=(); SAMPLING=it1mix ;;
  it1_replan) LABELS=(--replan_off_path); SAMPLING=it1replan ;;
  it2_replan) LABELS=(--replan_off_path); SAMPLING=it2replan; FIRST=40201; BETA=0.15; COPIES=2
              ACT=results/crafter/night_dagger/it1_replan/highlevel.yaml
              INIT=results/crafter/night_dagger/it1_replan/steve1_crafter_latest.weights
              MORE=(downloads/dagger_night/it1_replan) ;;
  *) echo "run_night_dagger.sh: unknown run '$RUN' (it1, it1_replan or it2_replan)" >&2; exit 2 ;;
esac
EPS=downloads/dagger_night/$RUN
W=results/crafter/night_dagger/$RUN
B=bench/results/night_dagger/$RUN
mkdir -p "$W" "$B" downloads/samplings_night
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
for k in 1 2; do
  python bench/dagger_episodes.py --out_dir "$EPS" --first_world $((FIRST + (k - 1) * 100)) --episodes 100 \
      --max_steps 450 --learner_from 70 --beta "$BETA" --seed "$k" --highlevel_config "$ACT" "${LABELS[@]}" &
done
wait
cp downloads/samplings/crafter_seed1_val.txt "downloads/samplings_night/${SAMPLING}_val.txt"
{ cat downloads/samplings/crafter_seed1_train.txt
  for _ in $(seq "$COPIES"); do for d in "${MORE[@]}" "$EPS"; do ls -d "$d"/dagger_w*; done; done; } \
    > "downloads/samplings_night/${SAMPLING}_train.txt"
OMP_NUM_THREADS=2 MKL_NUM_THREADS=2 python steve1/train.py --config configs/crafter/steve1.yaml \
    --in_weights "$INIT" --sampling "$SAMPLING" --sampling_dir downloads/samplings_night/ \
    --n_frames 100000 --learning_rate 1e-4 --warmup_frames 5000 --num_workers 0 \
    --checkpoint_dir "$W/ckpt" --out_weights "$W/steve1_crafter.weights"
sed -e "s#^in_weights: downloads/crafter/steve1_crafter.weights#in_weights: $W/steve1_crafter_latest.weights#" \
    configs/crafter/highlevel.yaml > "$W/highlevel.yaml"
python bench/night_probe.py --highlevel_config "$W/highlevel.yaml" --episodes 40 --conditions zero prior \
    --out "$B/night_probe.json" &
python bench/pretraining_report.py --highlevel_config "$W/highlevel.yaml" \
    --sections survival_under_prior unconditional_bc_crafter_score --survival_worlds 40 --score_episodes 100 \
    --out_json "$B/pretraining_$RUN.json" --readme "$W/readme_scratch.md"
wait
python bench/teacher_agreement.py --highlevel_config "$W/highlevel.yaml" --episodes 40 --conditions learner \
    --replan_off_path --out "$B/teacher_agreement.json"
