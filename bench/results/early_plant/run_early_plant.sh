#!/usr/bin/env bash
# A sapling planted early in the play data (issue 18's Crafter score; session 43). The unconditional low level of
# models v7 lives a median of ~196 env steps, so its Crafter score (9.10; target 10) holds only what it does in its
# first day, and it copies what its teacher does early: it places a plant in 3% of its score episodes, where the
# scripted player v8 has planted in 8% of its episodes by env step 200. With configs/crafter/play_data.yaml
# early_plant: true the player's first free sub-goal of each episode is a sapling planted in the open. Does a low
# level fine-tuned on such play data plant, and does its score rise?
#
# The control is session 42's: models v7's low level fine-tuned with the same recipe on the same worlds' v8 play
# data (../night_sealed/run_night_sealed.sh, $W42/low_work; its score and survival in ../night_sealed/report_work.json).
#
# SHARE (default 1): the share of episodes with an early plant (configs/crafter/play_data.yaml early_plant); V
# names the variant's files (default: plant for share 1, plant<share> otherwise, e.g. plant0.5).
# Steps (W=results/crafter/s43, git-ignored; data, embed and low resume where they stopped when rerun: the generator
# and the embedding skip finished episodes, steve1/train.py continues from $W/low_$V/ckpt; the other steps run
# again, minutes each). Measured in float32, as the control:
#   player   the player with early_plant SHARE on the 240 dev episodes (seed 7000) and on the report's 80 held-out
#            episodes (seed 9001) -> player_{dev,heldout}_$V.json (v8's own on the same episodes:
#            ../player_variants/summary.json session_42 "v8" and ../player.json)
#   data     ~400k frames of play data, seed 0, with early_plant SHARE -> $W/ds_$V (the same worlds and player
#            seeds as the control's data; the players differ from the first env step on)
#   embed    the split and goal embeddings (tasks/crafter/train_pipeline.sh STOP_AFTER=embed, the shipped CrafterCLIP)
#   low      models v7's low level (downloads/crafter, float16 as shipped) fine-tuned 200k frames, models v7's
#            fine-tune recipe (configs/crafter/steve1_unlock.yaml: next-unlock relabeling, lr 1e-4), one torch
#            thread -> $W/low_$V
#   rest     survival under the prior (20 worlds) and the unconditional Crafter score (100 episodes), the report's
#            protocol -> report_$V.json
#   score400 the unconditional Crafter score on 400 other worlds (seed 20001, as ../precision_v7/score_seed20001.json
#            for models v7; --test_seed only so that it differs from --seed) of the fine-tune and of the control
#            -> score400_{$V,control}.json
#
#   bash bench/results/early_plant/run_early_plant.sh player data embed low rest score400
#   SHARE=0.5 bash bench/results/early_plant/run_early_plant.sh player data embed low rest
set -euo pipefail
cd "$(dirname "$0")/../../.."
O=bench/results/early_plant
W=results/crafter/s43
FRAMES=${FRAMES:-400000}
FT_FRAMES=${FT_FRAMES:-200000}
SHARE=${SHARE:-1}
if [ "$SHARE" = 1 ]; then V=${V:-plant}; else V=${V:-plant$SHARE}; fi
export OMP_NUM_THREADS=1
[ $# -ge 1 ] || { echo "usage: run_early_plant.sh player|data|embed|low|rest|score400 ..." >&2; exit 2; }
for step in "$@"; do
    case $step in
    player)
        python bench/player_report.py --episodes 240 --seed 7000 --workers 2 --early_plant "$SHARE" \
            --out $O/player_dev_$V.json
        python bench/player_report.py --episodes 80 --workers 2 --early_plant "$SHARE" \
            --out $O/player_heldout_$V.json ;;
    data)
        python -m tasks.crafter.generate_play_data --config configs/crafter/play_data.yaml --out_dir $W/ds_$V \
            --num_frames "$FRAMES" --workers 2 --early_plant "$SHARE" ;;
    embed)
        mkdir -p $W/ship_$V
        cmp -s downloads/crafter/crafterclip.pt $W/ship_$V/crafterclip.pt \
            || cp downloads/crafter/crafterclip.pt $W/ship_$V/
        DATA_DIR=$W/ds_$V WORK=$W/work_$V SHIP=$W/ship_$V SAMPLINGS=$W/samplings_$V THREADS=2 \
            STOP_AFTER=embed bash tasks/crafter/train_pipeline.sh ;;
    low)
        python steve1/train.py --config configs/crafter/steve1_unlock.yaml \
            --in_weights downloads/crafter/steve1_crafter.weights --sampling crafter_seed1 \
            --sampling_dir $W/samplings_$V/ --n_frames "$FT_FRAMES" --num_workers 0 \
            --checkpoint_dir $W/low_$V/ckpt --out_weights $W/low_$V/steve1_crafter.weights \
            > $W/low_$V.log 2>&1
        cp $W/low_$V/ckpt/args.yaml $O/steve1_args_$V.yaml ;;
    rest)
        sed -e "s#^in_weights: .*#in_weights: $W/low_$V/steve1_crafter_latest.weights#" \
            configs/crafter/highlevel.yaml > $W/highlevel_$V.yaml
        R=$(mktemp -d)
        python bench/pretraining_report.py --sections survival_under_prior unconditional_bc_crafter_score \
            --highlevel_config $W/highlevel_$V.yaml --low_level_args $W/low_$V/ckpt/args.yaml \
            --survival_worlds 20 --score_episodes 100 --threads 1 --out_json $O/report_$V.json \
            --readme "$R/r.md" > $W/rest_$V.log 2>&1 ;;
    score400)
        W42=results/crafter/s42
        sed -e "s#^in_weights: .*#in_weights: $W42/low_work/steve1_crafter_latest.weights#" \
            configs/crafter/highlevel.yaml > $W/highlevel_control.yaml
        for v in $V control; do
            if [ $v = control ]; then ARGS=$W42/low_work/ckpt/args.yaml; else ARGS=$W/low_$V/ckpt/args.yaml; fi
            R=$(mktemp -d)
            python bench/pretraining_report.py --sections unconditional_bc_crafter_score --score_episodes 400 \
                --seed 20001 --test_seed 30001 --highlevel_config $W/highlevel_$v.yaml --low_level_args $ARGS \
                --threads 1 --out_json $O/score400_$v.json --readme "$R/r.md" > $W/score400_$v.log 2>&1
            rm -rf "$R"
        done ;;
    *) echo "run_early_plant.sh: unknown step '$step' (player, data, embed, low, rest, score400)" >&2
       exit 2 ;;
    esac
done
