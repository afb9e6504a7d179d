#!/usr/bin/env bash
# Information or execution? (session 23). The v4 low level follows its teacher's night moves about a quarter of the
# time even on the teacher's own states, though the place the teacher walks to is in view or was seen within its
# memory (night_dagger/night_targets.json). This fine-tunes the shipped low level (models v4) with, as the goal of
# every frame, the teacher's intent at that frame: where the scripted player's walk ends, relative to the player
# (nav_target; bench/subgoal_oracle.py embed --oracle nav_target), or that and its sub-goal (intent); goal_lead 0,
# goals 1-2 frames apart, so the goal of frame t is its own. Then it drives the low level from dusk with that goal
# read off a shadowing player every env step (bench/teacher_agreement.py --goal nav_oracle / intent_oracle) and
# without it (--goal zero), beside the shipped low level. If told where to go (and what for) it survives the night,
# the low level lacks the information; if not, it lacks the execution.
#
#   bash bench/results/nav_oracle/run_nav_oracle.sh              # nav_target (also the v4 baseline, temperatures)
#   bash bench/results/nav_oracle/run_nav_oracle.sh intent       # the sub-goal too (after the first: same data)
#   bash bench/results/nav_oracle/run_nav_oracle.sh facing          # the player's facing as the goal (its own
#       last move: what the image shows only as the sprite's pixels), then intent_facing: the intent and the facing
#   bash bench/results/nav_oracle/run_nav_oracle.sh capacity        # two low levels from scratch on the intent goals:
#       the shipped trunk and one with a twice-as-wide image encoder, 250k frames each
#   bash bench/results/nav_oracle/run_nav_oracle.sh intent_dagger   # then DAgger on the night for that low level:
#       it acts from dusk with the intent goal (player's action at 30% of steps), the player labels, 200 episodes
#       in worlds 40001-40200; fine-tuned 100k frames on the intent play data plus these listed 4 times
#
# Times on a 2-core AVX-512 machine (session 23): data 4 min, embedding 1 min, fine-tune 200k frames 4 min (~900
# frames/s on 2 threads), agreement runs ~1-2 min each. Each stage resumes (the generator skips written episodes,
# the embedder embedded ones, the fine-tune restarts from its checkpoint). Work files: downloads/nav_oracle/ (data
# ~0.3 GB, samplings, checkpoints, weights, highlevel*.yaml).
set -euo pipefail
cd "$(dirname "$0")/../../.."
ORACLE=${1:-nav_target}
W=downloads/nav_oracle; B=bench/results/nav_oracle
NIGHT=(--episodes 40 --max_steps 320 --learner_from 70 --replan_off_path)
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
if [[ $ORACLE == intent_dagger ]]; then  # DAgger on the night for the intent low level (needs the intent run)
  for k in 1 2; do
    python bench/dagger_episodes.py --out_dir "$W/dagger_intent" --first_world $((40001 + (k - 1) * 100)) \
        --episodes 100 --max_steps 450 --learner_from 70 --beta 0.3 --seed "$k" --replan_off_path \
        --goal intent_oracle --highlevel_config "$W/highlevel_intent.yaml" &
  done
  wait
  cp "$W/samplings/intent_seed1_val.txt" "$W/samplings/intentdagger_val.txt"
  { cat "$W/samplings/intent_seed1_train.txt"; for _ in 1 2 3 4; do ls -d "$W"/dagger_intent/dagger_w*; done; } \
      > "$W/samplings/intentdagger_train.txt"
  OMP_NUM_THREADS=2 MKL_NUM_THREADS=2 python steve1/train.py --config configs/crafter/steve1.yaml \
      --in_weights "$W/steve1_intent_latest.weights" --sampling intentdagger --sampling_dir "$W/samplings/" \
      --goal_lead 0 --min_btwn_goals 1 --max_btwn_goals 2 \
      --n_frames 100000 --learning_rate 1e-4 --warmup_frames 5000 --num_workers 0 \
      --checkpoint_dir "$W/ckpt_intentdagger" --out_weights "$W/steve1_intentdagger.weights"
  sed -e "s#^in_weights: downloads/crafter/steve1_crafter.weights#in_weights: $W/steve1_intentdagger_latest.weights#" \
      configs/crafter/highlevel.yaml > "$W/highlevel_intentdagger.yaml"
  python bench/teacher_agreement.py --highlevel_config "$W/highlevel_intentdagger.yaml" --goal intent_oracle \
      "${NIGHT[@]}" --out "$B/agreement_intentdagger_goal.json"
  exit 0
fi
if [[ $ORACLE == capacity ]]; then  # the trunk's size (needs the intent run's data): two low levels from scratch
  # on the intent goal space, 250k frames each, side by side on one thread each: the shipped architecture and its
  # image encoder at twice the width (impala_width 2: 32/64/64 channels)
  sed -e 's/^  impala_width: 1/  impala_width: 2/' downloads/crafter/steve1_crafter.yaml > "$W/steve1_w2.yaml"
  for m in small w2; do
    IM=downloads/crafter/steve1_crafter.yaml; [[ $m == w2 ]] && IM="$W/steve1_w2.yaml"
    python steve1/train.py --config configs/crafter/steve1.yaml --in_model "$IM" --sampling intent_seed1 \
        --sampling_dir "$W/samplings/" --goal_lead 0 --min_btwn_goals 1 --max_btwn_goals 2 --n_frames 250000 \
        --num_workers 0 --checkpoint_dir "$W/ckpt_scratch_$m" --out_weights "$W/steve1_scratch_$m.weights" \
        > "$W/train_scratch_$m.log" 2>&1 &
  done
  wait
  for m in small w2; do
    IM=downloads/crafter/steve1_crafter.yaml; [[ $m == w2 ]] && IM="$W/steve1_w2.yaml"
    cp "$W/ckpt_scratch_$m/args.yaml" "$W/steve1_scratch_${m}_latest_args.yaml"
    sed -e "s#^in_weights: downloads/crafter/steve1_crafter.weights#in_weights: $W/steve1_scratch_${m}_latest.weights#" \
        -e "s#^weights: downloads/crafter/steve1_crafter.weights#weights: $W/steve1_scratch_${m}_latest.weights#" \
        -e "s#^in_model: downloads/crafter/steve1_crafter.yaml#in_model: $IM#" \
        configs/crafter/highlevel.yaml > "$W/highlevel_scratch_$m.yaml"
    python bench/teacher_agreement.py --highlevel_config "$W/highlevel_scratch_$m.yaml" --goal intent_oracle \
        "${NIGHT[@]}" --out "$B/agreement_scratch_${m}_intent_goal.json" &
    python bench/subgoal_oracle.py report --highlevel_config "$W/highlevel_scratch_$m.yaml" \
        --model "scratch_${m},$W/steve1_scratch_${m}_latest.weights,intent_oracle" --episodes 40 \
        --out "$B/goal_information_scratch_$m.json"
    wait
  done
  exit 0
fi
case "$ORACLE" in
  nav_target) NAME=nav; GOAL=nav_oracle; EMB=nav_target_oracle ;;
  intent) NAME=intent; GOAL=intent_oracle; EMB=intent_oracle ;;
  facing) NAME=facing; GOAL=facing_oracle; EMB=facing_oracle ;;
  intent_facing) NAME=intentfacing; GOAL=intent_facing_oracle; EMB=intent_facing_oracle ;;
  *) echo "run_nav_oracle.sh: unknown oracle '$ORACLE' (nav_target, intent, intent_dagger, facing," \
          "intent_facing)" >&2; exit 2 ;;
esac
FRAMES=${FRAMES:-300000}; BC_FRAMES=${BC_FRAMES:-200000}
mkdir -p "$W" "$B"
python -m tasks.crafter.generate_play_data --config configs/crafter/play_data.yaml --out_dir "$W/data" \
    --num_frames "$FRAMES" --workers 2
D="$W/data"
if [[ $ORACLE != nav_target ]]; then  # the same episodes, hard-linked, without the nav goals (rewritten atomically)
  D="$W/data_$NAME"; [[ -d "$D" ]] || { cp -al "$W/data" "$D.tmp"; rm -f "$D.tmp"/*/embeds_attn.pkl; mv "$D.tmp" "$D"; }
fi
python bench/subgoal_oracle.py embed --data_dir "$D" --oracle "$ORACLE"
[[ -f "$W/samplings/${NAME}_seed1_train.txt" ]] || python -m steve1.data.sampling.generate_sampling \
    --config configs/crafter/sampling.yaml --data_dir "$D" --name "${NAME}_seed1" --output_dir "$W/samplings"
OMP_NUM_THREADS=2 MKL_NUM_THREADS=2 python steve1/train.py --config configs/crafter/steve1.yaml \
    --in_weights downloads/crafter/steve1_crafter.weights --sampling "${NAME}_seed1" --sampling_dir "$W/samplings/" \
    --goal_lead 0 --min_btwn_goals 1 --max_btwn_goals 2 \
    --n_frames "$BC_FRAMES" --learning_rate 3e-4 --warmup_frames 5000 --num_workers 0 \
    --checkpoint_dir "$W/ckpt_$NAME" --out_weights "$W/steve1_$NAME.weights"
cp "$W/ckpt_$NAME/args.yaml" "$W/steve1_${NAME}_latest_args.yaml"  # the training arguments beside the weights
sed -e "s#^in_weights: downloads/crafter/steve1_crafter.weights#in_weights: $W/steve1_${NAME}_latest.weights#" \
    configs/crafter/highlevel.yaml > "$W/highlevel_$NAME.yaml"
python bench/teacher_agreement.py --highlevel_config "$W/highlevel_$NAME.yaml" --goal "$GOAL" "${NIGHT[@]}" \
    --out "$B/agreement_${NAME}_goal.json" &
python bench/teacher_agreement.py --highlevel_config "$W/highlevel_$NAME.yaml" --goal zero "${NIGHT[@]}" \
    --out "$B/agreement_${NAME}_model_zero_goal.json"
wait
python bench/subgoal_oracle.py report --model "${NAME}_200k,$W/steve1_${NAME}_latest.weights,$EMB" \
    --episodes 40 --out "$B/goal_information_$NAME.json"
[[ $ORACLE == nav_target ]] || exit 0
python bench/teacher_agreement.py --goal zero "${NIGHT[@]}" --out "$B/agreement_v4_zero_goal.json"
for t in 0.5 0.2; do  # the same low level sampled at a lower softmax temperature
  sed -e "s/^  temperature: 1.0/  temperature: $t/" downloads/crafter/steve1_crafter.yaml > "$W/steve1_t$t.yaml"
  sed -e "s#^in_model: downloads/crafter/steve1_crafter.yaml#in_model: $W/steve1_t$t.yaml#" "$W/highlevel_nav.yaml" \
      > "$W/highlevel_nav_t$t.yaml"
  python bench/teacher_agreement.py --highlevel_config "$W/highlevel_nav_t$t.yaml" --goal nav_oracle \
      --conditions learner "${NIGHT[@]}" --out "$B/agreement_nav_goal_t$t.json" &
done
wait
