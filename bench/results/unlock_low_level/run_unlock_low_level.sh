#!/usr/bin/env bash
# The shipped v6 low level fine-tuned with next-unlock relabeling (issue 18; steve1/data/minecraft_dataset.py,
# "Next-unlock relabeling": a frame's goal is the clip ending at the episode's next first-time achievement within
# 100 frames, else its hindsight goal), on v6's play data and split, 500k frames at learning rate 1e-4; then driven
# by the chain oracle (bench/chain_oracle.py) and by the next_unlock goal prior (bench/results/prior_unlock/), each
# against its own zero goal, at the report's protocol (200 episodes per task and arm, seed 9001); then a first look
# at ptgm with it. Session 27 ran these commands (the temperature-0.25 run beside the report, the first look alone).
#
#   bash bench/results/unlock_low_level/run_unlock_low_level.sh [train|measure]
set -euo pipefail
cd "$(dirname "$0")/../../.."
O=bench/results/unlock_low_level
W=results/crafter/unlock_low_level
export OMP_NUM_THREADS=1
[ "${1:-train}" != train ] || bash $O/finetune.sh 100 $W $O/steve1_args.yaml
# the v6 high-level config with this low level, and with the next_unlock prior too
sed -e "s#^in_weights: .*#in_weights: $W/steve1_crafter_latest.weights#" configs/crafter/highlevel.yaml \
    > $W/highlevel.yaml
sed -e "s#^prior_weights: .*#prior_weights: results/crafter/prior_unlock/weights/goal_prior_crafter_latest.weights#" \
    $W/highlevel.yaml > $W/highlevel_unlock_prior.yaml
UNLOCK_CODES=(collect_wood=35 place_table=7 make_wood_pickaxe=10 collect_stone=47 make_stone_pickaxe=22 collect_iron=30)
R=$(mktemp -d)
for task in crafter_iron crafter_stone_pickaxe; do
    (python bench/chain_oracle.py --highlevel_config $W/highlevel.yaml --tasks $task --episodes 200 \
        --link_code "${UNLOCK_CODES[@]}" --out $O/chain_oracle_unlock_codes_$task.json
     python bench/pretraining_report.py --highlevel_config $W/highlevel_unlock_prior.yaml \
        --low_level_args $W/ckpt/args.yaml --prior_args results/crafter/prior_unlock/training_checkpoint/args.yaml \
        --sections prior_driven_success --tasks $task --task_episodes 200 --threads 1 \
        --out_json $O/prior_driven_$task.json --readme "$R/$task.md") &
done
wait
python bench/pretraining_report.py --highlevel_config $W/highlevel_unlock_prior.yaml \
    --low_level_args $W/ckpt/args.yaml --prior_args results/crafter/prior_unlock/training_checkpoint/args.yaml \
    --sections goal_information survival_under_prior unconditional_bc_crafter_score --survival_worlds 20 \
    --score_episodes 100 --threads 1 --out_json $O/report.json --readme "$R/report.md"
# codes drawn from the prior at temperature 0.25 (sharper towards its mode)
python bench/pretraining_report.py --highlevel_config $W/highlevel_unlock_prior.yaml \
    --low_level_args $W/ckpt/args.yaml --prior_args results/crafter/prior_unlock/training_checkpoint/args.yaml \
    --sections prior_driven_success --prior_temperature 0.25 --task_episodes 200 --threads 1 \
    --out_json $O/prior_driven_t0.25.json --readme "$R/t.md"
# the iron link with the codes of the other iron-unlock clips
for c in 15 6; do
    python bench/chain_oracle.py --highlevel_config $W/highlevel.yaml --tasks crafter_iron --arms oracle \
        --episodes 200 --link_code "${UNLOCK_CODES[@]:0:5}" collect_iron=$c --out $O/chain_oracle_iron_code$c.json &
done
wait
# the stone-pickaxe chain on 200 other worlds
python bench/chain_oracle.py --highlevel_config $W/highlevel.yaml --tasks crafter_stone_pickaxe --episodes 200 \
    --seed 20001 --link_code "${UNLOCK_CODES[@]}" --out $O/chain_oracle_unlock_codes_crafter_stone_pickaxe_seed20001.json
# a first look: ptgm with these models, 1 seed, 200k env steps per task
python bench/sample_efficiency.py --tasks crafter_iron crafter_stone_pickaxe --methods ptgm --seeds 1 \
    --budget 200000 --jobs 2 --runs_dir results/bench_unlock --out_dir $O/first_look --models_label v6+unlock \
    --extra --highlevel_config $W/highlevel_unlock_prior.yaml
# more seeds on crafter_iron for these models and for v6, side by side: seed 2 (session 27), seed 3 (session 28). v6's
# side ran with the shipped config while v6 was shipped; its ship folder's copy of that config stands for it now
for seed in 2 3; do
    python bench/sample_efficiency.py --tasks crafter_iron --methods ptgm --seeds $seed --budget 200000 --jobs 1 \
        --runs_dir results/bench_unlock --out_dir "$R" --models_label v6+unlock \
        --extra --highlevel_config $W/highlevel_unlock_prior.yaml &
    python bench/sample_efficiency.py --tasks crafter_iron --methods ptgm --seeds $seed --budget 200000 --jobs 1 \
        --runs_dir results/bench_scratch --out_dir "$R" --models_label v6 \
        --extra --highlevel_config results/crafter/scratch/highlevel.yaml &
    wait
done
# a second seed on crafter_stone_pickaxe (session 28, after these models shipped as v7: the shipped config, float16)
python bench/sample_efficiency.py --tasks crafter_stone_pickaxe --methods ptgm --seeds 2 --budget 200000 --jobs 1 \
    --runs_dir results/bench_unlock --out_dir "$R" --models_label v7 &
python bench/sample_efficiency.py --tasks crafter_stone_pickaxe --methods ptgm --seeds 2 --budget 200000 --jobs 1 \
    --runs_dir results/bench_scratch --out_dir "$R" --models_label v6 \
    --extra --highlevel_config results/crafter/scratch/highlevel.yaml &
wait
# a third seed on crafter_stone_pickaxe (session 29, after a machine restart lost the runs above: each side in its
# own runs and out folders, first_look_stone_seed3/{v7,v6}; v6's models and config restored from commit 40adc4e)
mkdir -p results/models_v6
git archive 40adc4e downloads/crafter | tar -x -C results/models_v6
git show 40adc4e:configs/crafter/highlevel.yaml | sed 's#downloads/crafter/#results/models_v6/downloads/crafter/#g' \
    > results/models_v6/highlevel.yaml
python bench/sample_efficiency.py --tasks crafter_stone_pickaxe --methods ptgm --seeds 3 --budget 200000 --jobs 1 \
    --runs_dir results/bench_v7_seed3 --out_dir $O/first_look_stone_seed3/v7 --models_label v7 &
python bench/sample_efficiency.py --tasks crafter_stone_pickaxe --methods ptgm --seeds 3 --budget 200000 --jobs 1 \
    --runs_dir results/bench_v6_seed3 --out_dir $O/first_look_stone_seed3/v6 --models_label v6 \
    --extra --highlevel_config results/models_v6/highlevel.yaml &
wait
python bench/sample_efficiency.py --report_only --tasks crafter_iron crafter_stone_pickaxe --methods ptgm \
    --runs_dir results/bench_unlock --out_dir $O/first_look --models_label v6+unlock
python bench/sample_efficiency.py --report_only --tasks crafter_iron crafter_stone_pickaxe --methods ptgm \
    --runs_dir results/bench_scratch --out_dir $O/first_look_v6 --models_label v6
# session 28, before shipping it as models v7 (the JSONs' commands name /tmp copies; steve1_args_hindsight.yaml is
# the /tmp file: its args.yaml with relabeling hindsight): competence at the report's protocol, and goal information
# on the report's 80 held-out player episodes under both relabelings (the four runs two at a time)
python bench/pretraining_report.py --sections competence --highlevel_config $W/highlevel.yaml \
    --low_level_args $W/ckpt/args.yaml --player_episodes 80 --max_episode_len 10000 --worlds 20 --screen_worlds 3 \
    --top_codes 5 --horizon 200 --threads 1 --out_json $O/competence.json --readme "$R/c.md"
for a in $O/steve1_args_hindsight.yaml $W/ckpt/args.yaml; do
    python bench/pretraining_report.py --highlevel_config $W/highlevel_unlock_prior.yaml --low_level_args $a \
        --sections goal_information --player_episodes 80 --max_episode_len 10000 --threads 1 \
        --out_json $O/goal_information_$(grep -o 'relabeling: .*' $a | cut -d' ' -f2)_80.json --readme "$R/g.md"
done
rm -rf "$R"
