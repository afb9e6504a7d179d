#!/usr/bin/env bash
# Models v8 candidate (issue 18; session 39): models v7's recipe for the low level (the next-unlock fine-tune of the
# v6 low level, configs/crafter/steve1_unlock.yaml: 500k frames at 1e-4, unlock_horizon 100) with one change,
# keyframe_loss_weight 3: the BC loss of every frame whose action differs from the frame before's weighs 3
# (steve1/data/minecraft_dataset.py, "Keyframe loss weight"; 31.5% of the held-out player's frames). Why: on the
# player's own frames, where it stands beside the material it then mines and turns to it, the low level gives the
# turn p ~0.1 and walking on p ~0.5 (bench/results/decisive_frames/, bench/results/README.md "The turn to the
# material"). The goal prior, codebook and CrafterCLIP stay models v7's. The control is session 38's
# (../achievement_weights/: models v7's recipe rerun on the same start, data, split and seed).
#
# Steps (each resumes when rerun; THREADS torch threads for the fine-tune, default 2):
#   low       ../unlock_low_level/finetune.sh 100 with --keyframe_loss_weight 3 -> results/crafter/v8_key/low/
#             (needs ../achievement_weights/run_achievement_weights.sh prepare's data under results/crafter/scratch/)
#   probe     bench/action_probs.py on the 80 held-out player episodes of seed 9001 -> action_probs.json here
#             (the turn and the do at the material, by_approach and by_event; compare ../decisive_frames/)
#   competence  the pre-training report's competence on ../pipeline_scratch/run_report.sh's protocol (selection on
#             seed 9001, 40 test starts per link from seed 20001), in two halves side by side, then `merge`
#             -> competence.json
#   score     the unconditional Crafter score on the report's 100 worlds -> score.json
#   score_control  the same for session 38's control -> score_control.json
#
#   THREADS=2 bash bench/results/keyframe_weights/run_keyframe_weights.sh low probe
#   bash bench/results/keyframe_weights/run_keyframe_weights.sh competence score score_control
set -euo pipefail
cd "$(dirname "$0")/../../.."
O=bench/results/keyframe_weights
W=results/crafter/v8_key
THREADS=${THREADS:-2}
[ $# -ge 1 ] || {
    echo "usage: run_keyframe_weights.sh low|probe|competence|merge|score|score_control ..." >&2; exit 2; }
for step in "$@"; do
    case $step in
    low)
        THREADS=$THREADS bash bench/results/unlock_low_level/finetune.sh 100 $W/low $O/steve1_args.yaml \
            --keyframe_loss_weight 3 ;;
    probe)
        bash bench/results/highlevel_f16.sh $W/low $W/highlevel.yaml
        cp $W/highlevel.yaml $O/highlevel_v8_candidate.yaml
        OMP_NUM_THREADS=1 python bench/action_probs.py --highlevel_config $W/highlevel.yaml --episodes 80 \
            --episodes_dir ${EPS:-results/crafter/s39/eps9001} --out $O/action_probs.json ;;
    competence)
        bash bench/results/competence_halves.sh $W/highlevel.yaml $W/low/ckpt/args.yaml $W/competence \
            $O/competence.json ;;
    merge)
        bash bench/results/competence_halves.sh --merge $W/competence $O/competence.json ;;
    score)
        R=$(mktemp -d)
        OMP_NUM_THREADS=1 python bench/pretraining_report.py --sections unconditional_bc_crafter_score \
            --highlevel_config $W/highlevel.yaml --low_level_args $W/low/ckpt/args.yaml --score_episodes 100 \
            --threads 1 --out_json $O/score.json --readme "$R/s.md"
        rm -rf "$R" ;;
    score_control)
        # session 38's control (models v7's recipe rerun; ../achievement_weights/), whose score was not measured
        R=$(mktemp -d)
        OMP_NUM_THREADS=1 python bench/pretraining_report.py --sections unconditional_bc_crafter_score \
            --highlevel_config results/crafter/v8_achw/highlevel_control.yaml \
            --low_level_args results/crafter/v8_achw/control/ckpt/args.yaml --score_episodes 100 \
            --threads 1 --out_json $O/score_control.json --readme "$R/s.md"
        rm -rf "$R" ;;
    *) echo "run_keyframe_weights.sh: unknown step '$step' (low, probe, competence, merge, score, score_control)" >&2
       exit 2 ;;
    esac
done
