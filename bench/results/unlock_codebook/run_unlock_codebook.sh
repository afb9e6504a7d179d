#!/usr/bin/env bash
# A codebook of unlock clips for the next-unlock low level (issue 18 item 5; session 27): k-means (t-SNE, 50 codes)
# over the clips that end at first-time achievements (goal_prior/goal_points.py point_sampling unlocks, 150 per
# achievement, 400 training episodes of v6's play data), a next-unlock goal prior on it (trunk from the fine-tuned
# low level of bench/results/unlock_low_level/), then with that low level: prior-driven success and the chain
# oracle with this codebook's unlock-clip codes (the most frequent nearest code at each link's first unlock in 300
# training episodes: wood 42, table 12, wood pickaxe 8, stone 43, stone pickaxe 24, iron 41), 200 episodes per task
# and arm, seed 9001. Needs run_unlock_low_level.sh's outputs in results/crafter/unlock_low_level/.
#
#   bash bench/results/unlock_codebook/run_unlock_codebook.sh [all|measure]
set -euo pipefail
cd "$(dirname "$0")/../../.."
O=bench/results/unlock_codebook
W=results/crafter/unlock_low_level
C=results/crafter/codebook_unlocks
P=results/crafter/prior_unlock_cb
S=results/crafter/scratch
export OMP_NUM_THREADS=1
if [ "${1:-all}" = all ]; then
OMP_NUM_THREADS=2 python goal_prior/generate_codebook.py --config configs/crafter/codebook.yaml \
    --point_sampling unlocks --video_num 400 --max_points_per_label 150 --sampling crafter_seed1 \
    --sampling_dir $S/samplings/ --output_dir $C/
OMP_NUM_THREADS=2 python goal_prior/train.py --config configs/crafter/goal_prior.yaml --sampling crafter_seed1 \
    --sampling_dir $S/samplings/ --codebook_path $C/tsne_n50_s1/centers.pkl --in_model configs/crafter/vpt_small.yaml \
    --in_weights $W/steve1_crafter_latest.weights --out_weights $P/weights/goal_prior_crafter.weights \
    --checkpoint_dir $P/training_checkpoint --relabeling next_unlock --unlock_horizon 100
fi
sed -e "s#^prior_weights: .*#prior_weights: $P/weights/goal_prior_crafter_latest.weights#" \
    -e "s#^codebook: .*#codebook: $C/tsne_n50_s1/centers.pkl#" $W/highlevel.yaml > $W/highlevel_unlock_cb.yaml
cp $C/tsne_n50_s1/codebook.json $O/codebook.json
cp $P/training_checkpoint/args.yaml $O/prior_args.yaml
R=$(mktemp -d)
for task in crafter_iron crafter_stone_pickaxe; do
    (python bench/pretraining_report.py --highlevel_config $W/highlevel_unlock_cb.yaml --low_level_args $W/ckpt/args.yaml \
        --prior_args $P/training_checkpoint/args.yaml --sections prior_driven_success --tasks $task \
        --task_episodes 200 --threads 1 --out_json $O/prior_driven_$task.json --readme "$R/$task.md"
     python bench/chain_oracle.py --highlevel_config $W/highlevel_unlock_cb.yaml --tasks $task --arms oracle \
        --episodes 200 --link_code collect_wood=42 place_table=12 make_wood_pickaxe=8 collect_stone=43 \
        make_stone_pickaxe=24 collect_iron=41 --out $O/chain_oracle_$task.json) &
done
wait
python bench/pretraining_report.py --highlevel_config $W/highlevel_unlock_cb.yaml --low_level_args $W/ckpt/args.yaml \
    --prior_args $P/training_checkpoint/args.yaml --sections prior --threads 1 --out_json $O/prior.json \
    --readme "$R/prior.md"
rm -rf "$R"
