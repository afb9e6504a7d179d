#!/usr/bin/env bash
# Codebook goals (issue 18, the prior-driven figure; steve1/data/minecraft_dataset.py, "Codebook goals"): the v6 low
# level fine-tuned 500k frames with next-unlock relabeling and each goal replaced by its nearest code of v6's codebook
# (../unlock_low_level/finetune.sh with --goal_codebook), driven by codes drawn from the next-unlock goal prior of
# ../prior_unlock/ (trained on the same labels) against its own zero goal, at the report's protocol (200 episodes per
# task and arm, seed 9001). Each JSON holds its command (session 28 wrote the low_level_steps-50 and oracle JSONs to
# /tmp/cg/ and copied them here). Session 28 ran these commands.
#
#   bash bench/results/codebook_goals/run_codebook_goals.sh [train|measure]
set -euo pipefail
cd "$(dirname "$0")/../../.."
O=bench/results/codebook_goals
W=results/crafter/codebook_goals
P=results/crafter/prior_unlock
export OMP_NUM_THREADS=1
[ "${1:-train}" != train ] || bash bench/results/unlock_low_level/finetune.sh 100 $W $O/steve1_args.yaml \
    --goal_codebook results/crafter/scratch/work/codebook/tsne_n50_s1/centers.pkl
# the v6 high-level config with this low level and the next_unlock prior
sed -e "s#^in_weights: .*#in_weights: $W/steve1_crafter_latest.weights#" \
    -e "s#^prior_weights: .*#prior_weights: $P/weights/goal_prior_crafter_latest.weights#" \
    configs/crafter/highlevel.yaml > $W/highlevel.yaml
R=$(mktemp -d)
common=(--highlevel_config $W/highlevel.yaml --low_level_args $W/ckpt/args.yaml
        --prior_args $P/training_checkpoint/args.yaml --threads 1)
for task in crafter_iron crafter_stone_pickaxe; do
    python bench/pretraining_report.py "${common[@]}" --sections prior_driven_success --tasks $task \
        --task_episodes 200 --out_json $O/prior_driven_$task.json --readme "$R/$task.md" &
done
wait
rm -rf "$R"
# the same with each code held 50 env steps instead of 20 (fewer switches of intent)
sed -e "s#^low_level_steps: .*#low_level_steps: 50#" $W/highlevel.yaml > $W/highlevel_lls50.yaml
R=$(mktemp -d)
for task in crafter_iron crafter_stone_pickaxe; do
    python bench/pretraining_report.py --highlevel_config $W/highlevel_lls50.yaml "${common[@]:2}" \
        --sections prior_driven_success --tasks $task --task_episodes 200 \
        --out_json $O/prior_driven_lls50_$task.json --readme "$R/$task.md" &
done
wait
# the chain oracle with session 27's unlock-clip codes (bench/results/unlock_low_level/)
for task in crafter_iron crafter_stone_pickaxe; do
    python bench/chain_oracle.py --highlevel_config $W/highlevel.yaml --tasks $task --arms oracle --episodes 200 \
        --link_code collect_wood=35 place_table=7 make_wood_pickaxe=10 collect_stone=47 make_stone_pickaxe=22 \
        collect_iron=30 --out $O/chain_oracle_unlock_codes_$task.json &
done
wait
rm -rf "$R"
