#!/usr/bin/env bash
# Does a longer unlock horizon make the iron link steerable? (issue 18; session 27.) The fine-tune of
# bench/results/unlock_low_level/ (v6 low level + 500k BC frames with relabeling next_unlock, lr 1e-4) with
# unlock_horizon 300 instead of 100, so that the frames of the long walks to iron get the iron unlock as their goal;
# then the chain oracle with the unlock-clip codes of the v6 codebook (as unlock_low_level/) and the zero goal on
# both tasks, 200 episodes per task and arm, seed 9001.
#
#   bash bench/results/unlock_horizon/run_unlock_horizon.sh [train|measure]
set -euo pipefail
cd "$(dirname "$0")/../../.."
O=bench/results/unlock_horizon
W=results/crafter/unlock_low_level_h300
export OMP_NUM_THREADS=1
[ "${1:-train}" != train ] || bash bench/results/unlock_low_level/finetune.sh 300 $W $O/steve1_args.yaml
sed -e "s#^in_weights: .*#in_weights: $W/steve1_crafter_latest.weights#" configs/crafter/highlevel.yaml \
    > $W/highlevel.yaml
UNLOCK_CODES=(collect_wood=35 place_table=7 make_wood_pickaxe=10 collect_stone=47 make_stone_pickaxe=22 collect_iron=30)
for task in crafter_iron crafter_stone_pickaxe; do
    python bench/chain_oracle.py --highlevel_config $W/highlevel.yaml --tasks $task --episodes 200 \
        --link_code "${UNLOCK_CODES[@]}" --out $O/chain_oracle_$task.json &
done
wait
# session 28: competence at the report's protocol (beside unlock_low_level/'s; the JSON's command names a /tmp path)
python bench/pretraining_report.py --sections competence --highlevel_config $W/highlevel.yaml \
    --low_level_args $W/ckpt/args.yaml --player_episodes 80 --max_episode_len 10000 --worlds 20 --screen_worlds 3 \
    --top_codes 5 --horizon 200 --threads 1 --out_json $O/competence.json --readme /dev/null
