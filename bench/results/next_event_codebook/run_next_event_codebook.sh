#!/usr/bin/env bash
# A codebook of next-event clips for the next-event low level (issue 18 item 5; session 41). Session 40's next-event
# candidate (../next_event/: models v7's recipe with relabeling next_event for the low level's fine-tune and the prior)
# was measured with models v7's codebook, whose codes are clips labelled by the events inside them, not the clips
# that END at an event, which are the goals the next-event low level learnt to reach. Here: k-means (t-SNE, 50 codes,
# seed 1, configs/crafter/codebook.yaml otherwise) over the clips that end at achievement events
# (goal_prior/goal_points.py point_sampling events, 150 per achievement, 400 training episodes of the play data), a
# next-event goal prior on it, and the report's figures for the next-event low level with it.
#
# Steps (each resumes or is cheap to rerun; needs ../next_event/run_next_event.sh low's fine-tune in
# results/crafter/v8_event/low/ and the play data of ../achievement_weights/run_achievement_weights.sh prepare):
#   codebook    the codebook -> results/crafter/v8_event/codebook/tsne_n50_s1/, codebook.json here
#   prior       the goal prior (configs/crafter/goal_prior.yaml, trunk from the v6 low level as models v7's, 300k
#               frames, relabeling next_event, this codebook; THREADS torch threads, default 1)
#               -> results/crafter/v8_event/prior_evcb/, prior_args.yaml here
#   configs     float16 copies of the low level and prior (as shipped) and highlevel_evcb.yaml here naming them
#               (competence writes its own copy with this codebook, results/crafter/v8_event/highlevel_evcb_codes.yaml)
#   competence  the report's competence (../competence_halves.sh: selection on seed 9001, 40 test starts per link
#               from seed 20001) -> competence.json (`merge` rebuilds it from the halves)
#   report_rest the prior, survival under the prior and prior-driven success -> report_rest_a.json, report_rest_b.json
#   first_look  ptgm, seed SEEDS (default 1), 200k env steps on crafter_iron and crafter_stone_pickaxe side by side
#               -> first_look/ (runs in results/bench_v8_evcb/). Session 41 ran seed 1, then SEEDS=2, then rebuilt
#               first_look/ over both: python bench/sample_efficiency.py --tasks crafter_iron crafter_stone_pickaxe
#               --methods ptgm --seeds 1 2 --runs_dir results/bench_v8_evcb --out_dir $O/first_look
#               --models_label v8_event_evcb --report_only
#
#   bash bench/results/next_event_codebook/run_next_event_codebook.sh codebook prior configs competence report_rest
set -euo pipefail
cd "$(dirname "$0")/../../.."
O=bench/results/next_event_codebook
W=results/crafter/v8_event
S=results/crafter/scratch
C=$W/codebook/tsne_n50_s1
P=$W/prior_evcb
THREADS=${THREADS:-1}
[ $# -ge 1 ] || {
    echo "usage: run_next_event_codebook.sh codebook|prior|configs|competence|merge|report_rest|first_look ..." >&2
    exit 2; }
for step in "$@"; do
    case $step in
    codebook)
        OMP_NUM_THREADS=1 python goal_prior/generate_codebook.py --config configs/crafter/codebook.yaml \
            --point_sampling events --video_num 400 --max_points_per_label 150 --sampling crafter_seed1 \
            --sampling_dir $S/samplings/ --output_dir $W/codebook/
        cp $C/codebook.json $O/codebook.json ;;
    prior)
        OMP_NUM_THREADS=$THREADS python goal_prior/train.py --config configs/crafter/goal_prior.yaml \
            --sampling crafter_seed1 --sampling_dir $S/samplings/ --codebook_path $C/centers.pkl \
            --in_model configs/crafter/vpt_small.yaml \
            --in_weights $S/work/steve1/weights/steve1_crafter_latest.weights \
            --out_weights $P/weights/goal_prior_crafter.weights --checkpoint_dir $P/training_checkpoint \
            --relabeling next_event --unlock_horizon 100
        cp $P/training_checkpoint/args.yaml $O/prior_args.yaml ;;
    configs)
        bash bench/results/highlevel_f16.sh $W/low $W/highlevel.yaml
        bash bench/results/half_weights.sh $P/weights/goal_prior_crafter_latest.weights \
            $P/goal_prior_crafter_f16.weights
        sed -e "s#^prior_weights: .*#prior_weights: $P/goal_prior_crafter_f16.weights#" \
            -e "s#^codebook: .*#codebook: $C/centers.pkl#" $W/highlevel.yaml > $O/highlevel_evcb.yaml ;;
    competence)
        # the low level with this codebook (competence reads no prior, so it need not wait for the prior's step)
        sed -e "s#^codebook: .*#codebook: $C/centers.pkl#" $W/highlevel.yaml > $W/highlevel_evcb_codes.yaml
        bash bench/results/competence_halves.sh $W/highlevel_evcb_codes.yaml $W/low/ckpt/args.yaml \
            $W/competence_evcb $O/competence.json ;;
    merge)
        bash bench/results/competence_halves.sh --merge $W/competence_evcb $O/competence.json ;;
    report_rest)
        export OMP_NUM_THREADS=1
        R=$(mktemp -d)
        REST=(--highlevel_config $O/highlevel_evcb.yaml --low_level_args $W/low/ckpt/args.yaml
              --prior_args $P/training_checkpoint/args.yaml --survival_worlds 20 --task_episodes 200 --threads 1)
        python bench/pretraining_report.py "${REST[@]}" --sections prior survival_under_prior \
            --out_json $O/report_rest_a.json --readme "$R/a.md" > $W/report_rest_evcb_a.log 2>&1 &
        python bench/pretraining_report.py "${REST[@]}" --sections prior_driven_success \
            --out_json $O/report_rest_b.json --readme "$R/b.md" > $W/report_rest_evcb_b.log 2>&1 &
        wait
        rm -rf "$R" ;;
    first_look)
        bash bench/results/first_look.sh $O/highlevel_evcb.yaml results/bench_v8_evcb $O/first_look v8_event_evcb ;;
    *) echo "run_next_event_codebook.sh: unknown step '$step' (codebook, prior, configs, competence, merge, report_rest, first_look)" >&2
       exit 2 ;;
    esac
done
