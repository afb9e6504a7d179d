#!/usr/bin/env bash
# Models v8 candidate (issue 18; session 40): models v7's recipe for the low level (the fine-tune of the v6 low level,
# configs/crafter/steve1_unlock.yaml: 500k frames at 1e-4, unlock_horizon 100) with one change, relabeling
# next_event: a frame's goal is the clip that ends at the next achievement event of any kind (the stone mined, the
# water drunk, again or for the first time) within 100 frames, not only the next first-time unlock
# (steve1/data/minecraft_dataset.py, "Next-event relabeling"). Why: the player's turn to the material beside it
# follows the sub-goal it pursues, which the image does not show (bench/results/README.md, "What the turn depends
# on"), and on the 80 held-out player episodes a linear probe reads the player's sub-goal off the next-event goal
# 0.72 of the time against 0.51 off the next-unlock goal (probe.json here). The goal prior, codebook and CrafterCLIP
# stay models v7's. The control is session 38's (../achievement_weights/: models v7's recipe rerun on the same
# start, data, split and seed; its score in ../keyframe_weights/score_control.json).
#
# Steps (each resumes when rerun; THREADS torch threads for the fine-tune, default 2):
#   probe_goals  bench/goal_probe.py for the hindsight, next-unlock and next-event relabelings (v7's settings
#             otherwise) on the 80 held-out player episodes -> probe_{hindsight,next_unlock,next_event}.json
#   low       ../unlock_low_level/finetune.sh 100 with --relabeling next_event -> results/crafter/v8_event/low/
#             (needs ../achievement_weights/run_achievement_weights.sh prepare's data under results/crafter/scratch/)
#   low_lr3   the same fine-tune at learning rate 3e-4 (is the goal used more with more aggressive training?)
#             -> results/crafter/v8_event/low_lr3/, then its goal information -> goal_information_lr3.json
#   prior     the goal prior of models v7's recipe (configs/crafter/goal_prior.yaml, same codebook, trunk from the
#             v6 low level, 300k frames) with relabeling next_event -> results/crafter/v8_event/prior/, its args
#             copied to prior_args.yaml here (THREADS torch threads)
#   probe     bench/action_probs.py on the 80 held-out player episodes of seed 9001 -> action_probs.json here
#             (the turn and the do at the material, by_approach and by_event; compare ../decisive_frames/)
#   goal_information  the report's goal information (true next-event goal vs zero goal) -> goal_information.json
#   competence  the pre-training report's competence on ../pipeline_scratch/run_report.sh's protocol (selection on
#             seed 9001, 40 test starts per link from seed 20001), in two halves side by side, then `merge`
#             -> competence.json
#             (TAG=_lr3: the same for the low_lr3 fine-tune -> competence_lr3.json; also goal_information)
#   score     the unconditional Crafter score on the report's 100 worlds -> score.json
#   report_rest  the report's other figures for the candidate with its next-event prior (float16 as shipped,
#             highlevel_v8_prior.yaml): player, goal information, prior, survival under the prior and the
#             unconditional score in one run, prior-driven success beside it -> report_rest_a.json, report_rest_b.json
#
#   first_look  ptgm with the candidate and its next-event prior on models v7's codebook (highlevel_v8_prior.yaml),
#             seed SEEDS (default 1), 200k env steps on crafter_iron and crafter_stone_pickaxe side by side (session 41)
#             -> first_look/ (runs in results/bench_v8_event/); compare ../prior_driven_knobs_v7/first_look_cs0/
#
#   THREADS=2 bash bench/results/next_event/run_next_event.sh low probe
#   bash bench/results/next_event/run_next_event.sh goal_information competence score
set -euo pipefail
cd "$(dirname "$0")/../../.."
O=bench/results/next_event
W=results/crafter/v8_event
THREADS=${THREADS:-2}
T=${TAG:-}   # TAG=_lr3: goal_information, competence and merge of the low_lr3 fine-tune
[ $# -ge 1 ] || {
    echo "usage: run_next_event.sh probe_goals|low|low_lr3|prior|probe|goal_information|competence|merge|score|report_rest|first_look ..." >&2; exit 2; }
for step in "$@"; do
    case $step in
    probe_goals)
        for r in hindsight next_unlock next_event; do
            OMP_NUM_THREADS=1 python bench/goal_probe.py --episodes_dir ${EPS:-results/crafter/s39/eps9001} \
                --relabeling $r --out $O/probe_$r.json
        done ;;
    low)
        THREADS=$THREADS bash bench/results/unlock_low_level/finetune.sh 100 $W/low $O/steve1_args.yaml \
            --relabeling next_event ;;
    low_lr3)
        THREADS=$THREADS bash bench/results/unlock_low_level/finetune.sh 100 $W/low_lr3 $O/steve1_args_lr3.yaml \
            --relabeling next_event --learning_rate 3e-4
        bash bench/results/highlevel_f16.sh $W/low_lr3 $W/highlevel_lr3.yaml
        TAG=_lr3 bash "$0" goal_information ;;
    prior)
        S=results/crafter/scratch
        OMP_NUM_THREADS=$THREADS python goal_prior/train.py --config configs/crafter/goal_prior.yaml \
            --sampling crafter_seed1 --sampling_dir $S/samplings/ \
            --codebook_path $S/work/codebook/tsne_n50_s1/centers.pkl --in_model configs/crafter/vpt_small.yaml \
            --in_weights $S/work/steve1/weights/steve1_crafter_latest.weights \
            --out_weights $W/prior/weights/goal_prior_crafter.weights --checkpoint_dir $W/prior/training_checkpoint \
            --relabeling next_event --unlock_horizon 100
        cp $W/prior/training_checkpoint/args.yaml $O/prior_args.yaml ;;
    probe)
        bash bench/results/highlevel_f16.sh $W/low $W/highlevel.yaml
        cp $W/highlevel.yaml $O/highlevel_v8_candidate.yaml
        OMP_NUM_THREADS=1 python bench/action_probs.py --highlevel_config $W/highlevel.yaml --episodes 80 \
            --episodes_dir ${EPS:-results/crafter/s39/eps9001} --out $O/action_probs.json ;;
    goal_information)
        # the true next-event goal against the zero goal on the report's 80 held-out player episodes (by_approach:
        # the turn to the material with each)
        R=$(mktemp -d)
        OMP_NUM_THREADS=1 python bench/pretraining_report.py --sections goal_information --player_episodes 80 \
            --highlevel_config $W/highlevel$T.yaml --low_level_args $W/low$T/ckpt/args.yaml \
            --out_json $O/goal_information$T.json --readme "$R/g.md"
        rm -rf "$R" ;;
    competence)
        bash bench/results/competence_halves.sh $W/highlevel$T.yaml $W/low$T/ckpt/args.yaml $W/competence$T \
            $O/competence$T.json ;;
    merge)
        bash bench/results/competence_halves.sh --merge $W/competence$T $O/competence$T.json ;;
    score)
        R=$(mktemp -d)
        OMP_NUM_THREADS=1 python bench/pretraining_report.py --sections unconditional_bc_crafter_score \
            --highlevel_config $W/highlevel.yaml --low_level_args $W/low/ckpt/args.yaml --score_episodes 100 \
            --threads 1 --out_json $O/score.json --readme "$R/s.md"
        rm -rf "$R" ;;
    report_rest)
        bash bench/results/half_weights.sh $W/prior/weights/goal_prior_crafter_latest.weights \
            $W/prior/goal_prior_crafter_f16.weights
        sed -e "s#^prior_weights: .*#prior_weights: $W/prior/goal_prior_crafter_f16.weights#" $W/highlevel.yaml \
            > $O/highlevel_v8_prior.yaml
        export OMP_NUM_THREADS=1
        R=$(mktemp -d)
        REST=(--highlevel_config $O/highlevel_v8_prior.yaml --low_level_args $W/low/ckpt/args.yaml
              --prior_args $W/prior/training_checkpoint/args.yaml --player_episodes 80 --max_episode_len 10000
              --survival_worlds 20 --task_episodes 200 --score_episodes 100 --threads 1)
        python bench/pretraining_report.py "${REST[@]}" --sections player goal_information prior \
            survival_under_prior unconditional_bc_crafter_score --out_json $O/report_rest_a.json --readme "$R/a.md" \
            > $W/report_rest_a.log 2>&1 &
        python bench/pretraining_report.py "${REST[@]}" --sections prior_driven_success \
            --out_json $O/report_rest_b.json --readme "$R/b.md" > $W/report_rest_b.log 2>&1 &
        wait
        rm -rf "$R" ;;
    first_look)
        bash bench/results/first_look.sh $O/highlevel_v8_prior.yaml results/bench_v8_event $O/first_look v8_event ;;
    *) echo "run_next_event.sh: unknown step '$step' (probe_goals, low, low_lr3, prior, probe, goal_information, competence, merge, score, report_rest, first_look)" >&2
       exit 2 ;;
    esac
done
