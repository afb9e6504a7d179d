"""Every stage and bench script (except ppo_highlevel.py, see tests/hierarchical/test_bad_inputs.py) refuses a bad
input with one line and exit code 2, and writes nothing (issue 17, items 2 and 4).

Each script is called in-process through its ``main(argv)`` with 3 typical mistakes (a missing or garbage input
file, a count or rate out of range, an output path that is an existing file or folder, an unknown key or bad value
in a config file). Each case asserts: exit code 2; exactly one line on stderr, ``<script>: error: ...``, that names
where the value came from (the flag, or the config file and key) and the bad value; the output location was not
created and the test folder holds only the inputs the case made. Two cases run as real subprocesses to show that no
traceback is printed.
"""
from __future__ import annotations

import importlib
import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
# As when a bench script runs (its folder is first on the module search path): they import each other by name.
if str(REPO / "bench") not in sys.path:
    sys.path.insert(0, str(REPO / "bench"))


def _bench(name: str):
    """Import ``bench/<name>.py`` (the bench scripts are not a package)."""
    if name in sys.modules and getattr(sys.modules[name], "__file__", "").startswith(str(REPO / "bench")):
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _module(name: str) -> Callable:
    return lambda: importlib.import_module(name)


def _garbage(tmp: Path, name: str = "garbage.bin") -> Path:
    path = tmp / name
    path.write_bytes(bytes(range(256)) * 4)  # not UTF-8, not a pickle, not a zip, not a torch file
    return path


def _yaml(tmp: Path, name: str, base: Path | None, **changes) -> Path:
    data = yaml.safe_load(base.read_text()) if base else {}
    data.update(changes)
    path = tmp / name
    path.write_text(yaml.safe_dump(data))
    return path


def _splits(tmp: Path, prefix: str = "toy") -> Path:
    folder = tmp / "samplings"
    folder.mkdir(exist_ok=True)
    for part in ("train", "val"):
        (folder / f"{prefix}_{part}.txt").write_text("/nowhere/ep_0\n")
    return folder


def _steve1_base(tmp: Path) -> list[str]:
    """Flags that pass the trainer's checks, so that a case tests only its own mistake."""
    return ["--in_model", str(REPO / "configs/crafter/vpt_small.yaml"), "--in_weights", "", "--sampling", "toy",
            "--sampling_dir", str(_splits(tmp)), "--checkpoint_dir", str(tmp / "out" / "ckpt"), "--out_weights",
            str(tmp / "out" / "w.weights")]


# Each case: (script module loader, program name, argv(tmp) -> list, substrings the line must hold). The output
# location of every case is tmp / "out" (or a file inside it), which must not exist afterwards.
CASES: dict[str, tuple[Callable, str, Callable[[Path], list], tuple[str, ...]]] = {
    # ---- steve1/train.py: config key, flag, output path
    "steve1_train-config_key": (_module("steve1.train"), "train.py", lambda t: [
        "--config", str(_yaml(t, "bad.yaml", REPO / "configs/crafter/steve1.yaml", batch_size=0)), *_steve1_base(t)],
        ("bad.yaml key 'batch_size'", "got 0")),
    "steve1_train-negative_lr": (_module("steve1.train"), "train.py", lambda t: [
        "--config", str(REPO / "configs/crafter/steve1.yaml"), *_steve1_base(t), "--learning_rate", "-1"],
        ("--learning_rate", "> 0", "got -1.0")),
    "steve1_train-checkpoint_dir_is_a_file": (_module("steve1.train"), "train.py", lambda t: [
        *_steve1_base(t), "--checkpoint_dir", str(_garbage(t))], ("--checkpoint_dir", "garbage.bin", "is a file")),
    # ---- goal_prior/train.py
    "goal_prior_train-garbage_codebook": (_module("goal_prior.train"), "train.py", lambda t: [
        "--config", str(REPO / "configs/crafter/goal_prior.yaml"), *_steve1_base(t), "--codebook_path",
        str(_garbage(t))], ("--codebook_path", "garbage.bin")),
    "goal_prior_train-unknown_config_key": (_module("goal_prior.train"), "train.py", lambda t: [
        "--config", str(_yaml(t, "bad.yaml", REPO / "configs/crafter/goal_prior.yaml", n_frame=5)), *_steve1_base(t)],
        ("--config", "bad.yaml", "unknown flag 'n_frame'")),
    "goal_prior_train-zero_frames": (_module("goal_prior.train"), "train.py", lambda t: [
        "--config", str(REPO / "configs/crafter/goal_prior.yaml"), *_steve1_base(t), "--n_frames", "0"],
        ("--n_frames", ">= 1", "got 0")),
    # ---- goal_prior/generate_codebook.py
    "codebook-zero_codes": (_module("goal_prior.generate_codebook"), "generate_codebook.py", lambda t: [
        "--n-codebook", "0", "--output-dir", str(t / "out")], ("--n-codebook", ">= 1", "got 0")),
    "codebook-config_key": (_module("goal_prior.generate_codebook"), "generate_codebook.py", lambda t: [
        "--config", str(_yaml(t, "cb.yaml", REPO / "configs/crafter/codebook.yaml", video_num=-3)), "--output-dir",
        str(t / "out")], ("cb.yaml key 'video_num'", "-1", "got -3")),
    "codebook-missing_split": (_module("goal_prior.generate_codebook"), "generate_codebook.py", lambda t: [
        "--sampling", "nope", "--sampling_dir", str(_splits(t)), "--output-dir", str(t / "out")],
        ("--sampling", "nope_train.txt")),
    # ---- steve1/data/sampling/generate_sampling.py
    "sampling-missing_data_dir": (_module("steve1.data.sampling.generate_sampling"), "generate_sampling.py",
                                  lambda t: ["--data_dir", str(t / "nope"), "--output_dir", str(t / "out")],
                                  ("--data_dir", "nope", "no such folder")),
    "sampling-negative_val_frames": (_module("steve1.data.sampling.generate_sampling"), "generate_sampling.py",
                                     lambda t: ["--data_dir", str(t), "--output_dir", str(t / "out"), "--val_frames",
                                                "-1"], ("--val_frames", ">= 0", "got -1")),
    "sampling-output_dir_is_a_file": (_module("steve1.data.sampling.generate_sampling"), "generate_sampling.py",
                                      lambda t: ["--data_dir", str(t), "--output_dir", str(_garbage(t))],
                                      ("--output_dir", "garbage.bin", "is a file")),
    "sampling-config_key": (_module("steve1.data.sampling.generate_sampling"), "generate_sampling.py", lambda t: [
        "--config", str(_yaml(t, "sp.yaml", REPO / "configs/crafter/sampling.yaml", T=0)), "--data_dir", str(t),
        "--output_dir", str(t / "out")], ("sp.yaml key 'T'", ">= 1", "got 0")),
    # ---- steve1/data/generation/embed_episodes.py (writes into --data_dir = tmp / "out")
    "embed-missing_data_dir": (_module("steve1.data.generation.embed_episodes"), "embed_episodes.py", lambda t: [
        "--embedder", "crafterclip", "--data_dir", str(t / "out")], ("--data_dir", "no such folder")),
    "embed-garbage_weights": (_module("steve1.data.generation.embed_episodes"), "embed_episodes.py", lambda t: [
        "--embedder", "crafterclip", "--data_dir", str(t / "ds"), "--weights", str(_garbage(t))],
        ("--weights", "garbage.bin", "not usable as crafterclip weights")),
    "embed-zero_batch": (_module("steve1.data.generation.embed_episodes"), "embed_episodes.py", lambda t: [
        "--embedder", "crafterclip", "--data_dir", str(t / "ds"), "--batch_size", "0"], ("--batch_size", "got 0")),
    "embed-config_key": (_module("steve1.data.generation.embed_episodes"), "embed_episodes.py", lambda t: [
        "--config", str(_yaml(t, "emb.yaml", REPO / "configs/goal_embeddings.yaml", batch_size=0)), "--embedder",
        "crafterclip", "--data_dir", str(t / "out")], ("emb.yaml key 'batch_size'", "got 0")),
    # ---- steve1/data/generation/convert_from_contractor.py
    "convert-missing_source_dir": (_module("steve1.data.generation.convert_from_contractor"),
                                   "convert_from_contractor.py", lambda t: [
        "--source_dir", str(t / "nope"), "--output_dir", str(t / "out"), "--no_embeds"], ("--source_dir", "nope")),
    "convert-zero_episodes": (_module("steve1.data.generation.convert_from_contractor"), "convert_from_contractor.py",
                              lambda t: ["--num_episodes", "0", "--output_dir", str(t / "out")],
                              ("--num_episodes", "or -1", "got 0")),
    "convert-missing_mineclip": (_module("steve1.data.generation.convert_from_contractor"),
                                 "convert_from_contractor.py", lambda t: [
        "--source_dir", str(t / "ds"), "--output_dir", str(t / "out"), "--mineclip_path", str(t / "none.pth")],
        ("--mineclip_path", "none.pth", "not found")),
    "convert-config_key": (_module("steve1.data.generation.convert_from_contractor"), "convert_from_contractor.py",
                           lambda t: ["--config", str(_yaml(t, "cv.yaml", REPO / "configs/minecraft/contractor.yaml",
                                                            frame_format="gif")), "--output_dir", str(t / "out")],
                           ("cv.yaml key 'frame_format'", "got 'gif'")),
    "convert-worker_id_with_all_episodes": (_module("steve1.data.generation.convert_from_contractor"),
                                            "convert_from_contractor.py", lambda t: [
        "--num_episodes", "-1", "--worker_id", "2", "--output_dir", str(t / "out")],
        ("--num_episodes -1", "--worker_id 2")),
    # ---- hierarchical/evaluate.py
    "evaluate-zero_episodes": (_module("hierarchical.evaluate"), "hierarchical/evaluate.py", lambda t: [
        "--checkpoint", str(t / "none.zip"), "--n_episodes", "0", "--out", str(t / "out" / "e.json")],
        ("--n_episodes", ">= 1", "got 0")),
    "evaluate-config_key": (_module("hierarchical.evaluate"), "hierarchical/evaluate.py", lambda t: [
        "--config", str(_yaml(t, "ev.yaml", REPO / "configs/evaluation.yaml", gif_fps=0)), "--checkpoint",
        str(t / "none.zip"), "--out", str(t / "out" / "e.json")], ("ev.yaml key 'gif_fps'", "> 0", "got 0")),
    # ---- tasks/crafter/crafterclip/train.py
    "crafterclip_train-negative_lr": (_module("tasks.crafter.crafterclip.train"), "train.py", lambda t: [
        "--config", str(REPO / "configs/crafter/crafterclip.yaml"), "--data_dir", str(t / "ds"), "--lr", "-1",
        "--run_dir", str(t / "out"), "--out", str(t / "out" / "c.pt")], ("--lr", "> 0", "got -1.0")),
    "crafterclip_train-config_key": (_module("tasks.crafter.crafterclip.train"), "train.py", lambda t: [
        "--config", str(_yaml(t, "bad.yaml", REPO / "configs/crafter/crafterclip.yaml", p_full_caption=1.5)),
        "--data_dir", str(t / "ds"), "--run_dir", str(t / "out"), "--out", str(t / "out" / "c.pt")],
        ("bad.yaml key 'p_full_caption'", "[0, 1]", "got 1.5")),
    "crafterclip_train-missing_split": (_module("tasks.crafter.crafterclip.train"), "train.py", lambda t: [
        "--config", str(REPO / "configs/crafter/crafterclip.yaml"), "--sampling", str(t / "nope"),
        "--run_dir", str(t / "out"), "--out", str(t / "out" / "c.pt")], ("--sampling", "nope_train.txt")),
    # ---- tasks/crafter/crafterclip/evaluate.py
    "crafterclip_eval-missing_weights": (_module("tasks.crafter.crafterclip.evaluate"), "evaluate.py", lambda t: [
        "--config", str(REPO / "configs/crafter/crafterclip.yaml"), "--weights", str(t / "none.pt"), "--data_dir",
        str(t / "ds"), "--out", str(t / "out" / "e.json")], ("--weights", "none.pt", "no such file")),
    "crafterclip_eval-garbage_weights": (_module("tasks.crafter.crafterclip.evaluate"), "evaluate.py", lambda t: [
        "--config", str(REPO / "configs/crafter/crafterclip.yaml"), "--weights", str(_garbage(t)), "--data_dir",
        str(t / "ds"), "--out", str(t / "out" / "e.json")], ("--weights", "garbage.bin", "cannot read")),
    "crafterclip_eval-out_is_a_folder": (_module("tasks.crafter.crafterclip.evaluate"), "evaluate.py", lambda t: [
        "--config", str(REPO / "configs/crafter/crafterclip.yaml"), "--weights", str(_garbage(t)), "--data_dir",
        str(t / "ds"), "--out", str(t / "ds")], ("--out", "is a directory")),
    # ---- tasks/crafter/generate_play_data.py
    "play_data-share_out_of_range": (_module("tasks.crafter.generate_play_data"), "generate_play_data.py", lambda t: [
        "--out_dir", str(t / "out"), "--num_episodes", "1", "--task_start_share", "1.5"],
        ("--task_start_share", "[0, 1]", "got 1.5")),
    "play_data-config_key": (_module("tasks.crafter.generate_play_data"), "generate_play_data.py", lambda t: [
        "--config", str(_yaml(t, "pd.yaml", REPO / "configs/crafter/play_data.yaml", workers=0)), "--out_dir",
        str(t / "out"), "--num_episodes", "1"], ("pd.yaml key 'workers'", ">= 1", "got 0")),
    # ---- bench/low_level_competence.py
    "low_level_competence-unknown_task": (lambda: _bench("low_level_competence"), "low_level_competence.py",
                                          lambda t: ["--task", "nope", "--out", str(t / "out" / "r.json")],
                                          ("--task nope", "unknown task")),
    "low_level_competence-zero_horizon": (lambda: _bench("low_level_competence"), "low_level_competence.py",
                                          lambda t: ["--horizon", "0", "--out", str(t / "out" / "r.json")],
                                          ("--horizon", "got 0")),
    "low_level_competence-bad_config_value": (lambda: _bench("low_level_competence"), "low_level_competence.py",
                                              lambda t: ["--highlevel_config", str(_yaml(
                                                  t, "hl.yaml", REPO / "configs/crafter/highlevel.yaml", gamma=1.5)),
                                                  "--out", str(t / "out" / "r.json")],
                                              ("hl.yaml key 'gamma'", "got 1.5")),
    # ---- bench/survival_probe.py
    "survival_probe-missing_checkpoint": (lambda: _bench("survival_probe"), "survival_probe.py", lambda t: [
        "--checkpoint", str(t / "none.zip"), "--out", str(t / "out" / "r.json")], ("--checkpoint", "none.zip")),
    "survival_probe-garbage_checkpoint": (lambda: _bench("survival_probe"), "survival_probe.py", lambda t: [
        "--checkpoint", str(_garbage(t, "ckpt.zip")), "--out", str(t / "out" / "r.json")],
        ("--checkpoint", "ckpt.zip", "not a readable checkpoint zip")),
    "survival_probe-zero_episodes": (lambda: _bench("survival_probe"), "survival_probe.py", lambda t: [
        "--checkpoint", str(t / "none.zip"), "--n_episodes", "0", "--out", str(t / "out" / "r.json")],
        ("--n_episodes", "got 0")),
    # ---- bench/crafter_task_survey.py
    "crafter_task_survey-zero_worlds": (lambda: _bench("crafter_task_survey"), "crafter_task_survey.py", lambda t: [
        "--worlds", "0", "--out", str(t / "out" / "r.json")], ("--worlds", "got 0")),
    "crafter_task_survey-negative_radius": (lambda: _bench("crafter_task_survey"), "crafter_task_survey.py",
                                            lambda t: ["--radii", "5", "-1", "--out", str(t / "out" / "r.json")],
                                            ("--radii", "got -1")),
    "crafter_task_survey-unknown_material": (lambda: _bench("crafter_task_survey"), "crafter_task_survey.py",
                                             lambda t: ["--task", "crafter_wood", "--worlds", "1", "--materials",
                                                        "unobtainium", "--out", str(t / "out" / "r.json")],
                                             ("--materials", "unobtainium")),
    # ---- bench/hierarchical_throughput.py
    "hierarchical_throughput-zero_env_steps": (lambda: _bench("hierarchical_throughput"), "hierarchical_throughput.py",
                                               lambda t: ["--env_steps", "0", "--out", str(t / "out" / "r.json")],
                                               ("--env_steps", "got 0")),
    "hierarchical_throughput-zero_envs": (lambda: _bench("hierarchical_throughput"), "hierarchical_throughput.py",
                                          lambda t: ["--n_envs", "0", "--out", str(t / "out" / "r.json")],
                                          ("--n_envs", "got 0")),
    "hierarchical_throughput-garbage_config": (lambda: _bench("hierarchical_throughput"),
                                               "hierarchical_throughput.py", lambda t: [
        "--highlevel_config", str(_garbage(t, "hl.yaml")), "--out", str(t / "out" / "r.json")],
        ("--highlevel_config", "hl.yaml")),
    # ---- bench/bc_train_step.py
    "bc_train_step-zero_batch": (lambda: _bench("bc_train_step"), "bc_train_step.py", lambda t: [
        "--batch", "0", "--output", str(t / "out" / "r.json")], ("--batch", "got 0")),
    "bc_train_step-garbage_model": (lambda: _bench("bc_train_step"), "bc_train_step.py", lambda t: [
        "--model", str(_garbage(t)), "--output", str(t / "out" / "r.json")], ("--model", "garbage.bin")),
    "bc_train_step-bad_action_space": (lambda: _bench("bc_train_step"), "bc_train_step.py", lambda t: [
        "--action-space", "many", "--output", str(t / "out" / "r.json")], ("--action-space", "'many'")),
    # ---- bench/vpt_step.py
    "vpt_step-zero_frames": (lambda: _bench("vpt_step"), "vpt_step.py", lambda t: [
        "--frames", "0", "--out", str(t / "out" / "r.json")], ("--frames", "got 0")),
    "vpt_step-garbage_hparams": (lambda: _bench("vpt_step"), "vpt_step.py", lambda t: [
        "--hparams", str(_garbage(t)), "--out", str(t / "out" / "r.json")], ("--hparams", "garbage.bin")),
    "vpt_step-missing_hparams": (lambda: _bench("vpt_step"), "vpt_step.py", lambda t: [
        "--variant", "3x", "--hparams", str(t / "none.json"), "--out", str(t / "out" / "r.json")],
        ("--hparams", "none.json", "not found")),
    # ---- bench/contractor_conversion.py
    "contractor_conversion-few_steps": (lambda: _bench("contractor_conversion"), "contractor_conversion.py",
                                        lambda t: ["--steps", "3", "--output", str(t / "out" / "r.json")],
                                        ("--steps", "got 3")),
    "contractor_conversion-missing_video": (lambda: _bench("contractor_conversion"), "contractor_conversion.py",
                                            lambda t: ["--video", str(t / "none.mp4"), "--jsonl", str(t / "n.jsonl"),
                                                       "--output", str(t / "out" / "r.json")],
                                            ("--video", "none.mp4", "no such file")),
    "contractor_conversion-garbage_jsonl": (lambda: _bench("contractor_conversion"), "contractor_conversion.py",
                                            lambda t: ["--video", str(_garbage(t, "v.mp4")), "--jsonl",
                                                       str(_garbage(t, "v.jsonl")), "--output",
                                                       str(t / "out" / "r.json")],
                                            ("--video/--jsonl", "v.jsonl")),
}


def _inputs(tmp: Path) -> set[str]:
    return {str(p.relative_to(tmp)) for p in tmp.rglob("*")}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_exit_2_and_nothing_written(case, tmp_path, capsys, monkeypatch):
    load, prog, make_argv, expected = CASES[case]
    monkeypatch.chdir(REPO)  # the scripts' default paths are relative to the repository root
    (tmp_path / "ds").mkdir()  # an existing, empty dataset folder
    argv = make_argv(tmp_path)
    inputs = _inputs(tmp_path)
    module = load()
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        module.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(f"{prog}: error: "), err[0]
    for text in expected:
        assert text in err[0], (text, err[0])
    assert not (tmp_path / "out").exists()
    assert _inputs(tmp_path) == inputs  # nothing else was written either


@pytest.mark.parametrize("script, argv, expected", [
    ("steve1/train.py", ["--batch_size", "-2", "--checkpoint_dir", "{tmp}/out"], "train.py: error: --batch_size: "),
    ("bench/survival_probe.py", ["--checkpoint", "{tmp}/garbage.bin", "--out", "{tmp}/out/r.json"],
     "survival_probe.py: error: --checkpoint "),
])
def test_command_line_prints_no_traceback(tmp_path, script, argv, expected):
    _garbage(tmp_path)
    proc = subprocess.run([sys.executable, script, *[a.format(tmp=tmp_path) for a in argv]], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and proc.stderr.startswith(expected), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not (tmp_path / "out").exists()


def test_reset_checkpoint_dir_keeps_the_old_run_when_the_weights_are_garbage(tmp_path, capsys):
    """``--reset_checkpoint_dir`` deletes the old checkpoint only after ``--in_weights`` was read successfully."""
    from steve1 import train

    old = tmp_path / "out" / "ckpt"
    old.mkdir(parents=True)
    (old / "checkpoint.json").write_text("{}")
    argv = [*_steve1_base(tmp_path), "--in_weights", str(_garbage(tmp_path)), "--reset_checkpoint_dir"]
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        train.main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2 and len(err) == 1 and err[0].startswith("train.py: error: --in_weights: "), err
    assert (old / "checkpoint.json").read_text() == "{}"


def test_flag_sources_name_the_flag_only_when_the_command_line_gives_it():
    """A value from the config file is named by file and key (as spelled there); a flag, also abbreviated, by the
    flag; the parser's defaults are left as they were."""
    import argparse

    from steve1.utils.checks import Range, flag_sources

    p = argparse.ArgumentParser()
    p.add_argument("--n-codebook", type=int, default=100)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--verbose", action="store_true")
    p.set_defaults(n_codebook=7, seed=3)  # as if read from cb.yaml
    sources = flag_sources(p, ["--se", "5"], "cb.yaml", {"n_codebook": "n_codebook", "seed": "seed"})
    assert sources == {"help": "--help", "n_codebook": "cb.yaml key 'n_codebook'", "seed": "--seed",
                       "verbose": "--verbose"}
    assert p.parse_args([]).n_codebook == 7 and p.parse_args([]).seed == 3
    rule = Range(int, lo=1, allowed=(-1,), note="episodes")
    assert rule.expected() == "an integer >= 1 or -1 (episodes)"
    assert [rule.ok(v) for v in (1, -1, 0, 2.5, True, None, float("nan"))] == [True, True, False, False, False,
                                                                               False, False]
    assert Range(float, lo=0, hi=1, hi_open=True).expected() == "a number in [0, 1)"
