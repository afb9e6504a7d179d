"""generate_sampling (spec §3.7) with the §12.1.10 fixes: sorted listing, real --val_from removal, atomic lists."""
import os

import numpy as np
import pytest

from steve1.data.EpisodeStorage import EpisodeStorage
from steve1.data.sampling import generate_sampling as gs


@pytest.fixture
def dataset(tmp_path):
    data = tmp_path / "data"
    rng = np.random.default_rng(0)
    for i in range(12):
        length = 40 + 5 * i
        frames = np.zeros((length, 8, 8, 3), np.uint8)
        ep = EpisodeStorage(data / f"ep_{i:02d}")
        ep.write_episode(frames, [0] * length, embeds=[None] * 15 + [rng.random((1, 4))] * (length - 15))
    frames = np.zeros((20, 8, 8, 3), np.uint8)
    EpisodeStorage(data / "ep_too_short").write_episode(frames, [0] * 20, embeds=[None] * 20)
    EpisodeStorage(data / "ep_no_embeds").write_episode(np.zeros((60, 8, 8, 3), np.uint8), [0] * 60)
    return data


def _run(data, out, *extra):
    return gs.main(["--data_dir", str(data), "--output_dir", str(out), "--T", "20", "--min_btwn_goals", "15",
                    "--train_frames", "300", "--val_frames", "100", *extra])


def _read(path):
    return gs.read_episode_list(str(path))


def test_split_is_deterministic_and_disjoint(dataset, tmp_path, monkeypatch):
    train, val = _run(dataset, tmp_path / "s1", "--seed", "3")
    assert sum(n for _, n in train) >= 300 and sum(n for _, n in val) >= 100
    names = {os.path.basename(p) for p, _ in train + val}
    assert "ep_too_short" not in names and "ep_no_embeds" not in names  # T + 15 = 35 frames and embeds needed
    assert not {p for p, _ in train} & {p for p, _ in val}
    assert _read(tmp_path / "s1" / "seed1_train.txt") == [p for p, _ in train]

    # the listing order of the filesystem does not matter
    real_listdir = os.listdir
    monkeypatch.setattr(gs.os, "listdir", lambda d: list(reversed(real_listdir(d))))
    train2, val2 = _run(dataset, tmp_path / "s2", "--seed", "3")
    assert (train2, val2) == (train, val)
    other, _ = _run(dataset, tmp_path / "s3", "--seed", "4")
    assert other != train


def test_val_from_really_removes_val_episodes(dataset, tmp_path):
    out = tmp_path / "out"
    _, val = _run(dataset, out, "--name", "first", "--seed", "1")
    train, val2 = _run(dataset, out, "--name", "second", "--seed", "2", "--val_from", "first",
                       "--train_frames", "-1")
    assert [p for p, _ in val2] == [p for p, _ in val]
    assert not {p for p, _ in train} & {p for p, _ in val}  # upstream leaked val episodes into train here
    assert len(train) + len(val) == 12
    assert _read(out / "second_val.txt") == _read(out / "first_val.txt")


def test_allow_missing_embeds_and_errors(dataset, tmp_path, capsys):
    train, val = _run(dataset, tmp_path / "o", "--allow_missing_embeds", "--train_frames", "-1")
    assert "ep_no_embeds" in {os.path.basename(p) for p, _ in train + val}
    with pytest.raises(ValueError, match="holds"):
        gs.generate_train_val_split([("a", 50), ("b", 50)], train_frames=80, val_frames=40, seed=0)
    with pytest.raises(SystemExit) as exc:  # one line naming the flag and the list, exit code 2
        _run(dataset, tmp_path / "o", "--val_from", "missing")
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2 and len(err) == 1 and "--val_from missing" in err[0] and "missing_val.txt" in err[0]
    assert not [n for n in os.listdir(tmp_path / "o") if ".tmp" in n]


def test_defaults_are_sane():
    args = gs.parse_args([])
    assert args.output_dir == "downloads/samplings" and args.data_dir == "downloads/dataset_contractor"


def test_resolved_config_is_written_beside_the_lists(dataset, tmp_path):
    from steve1.utils.config import read_yaml

    _run(dataset, tmp_path / "c", "--seed", "3", "--name", "mine")
    written = read_yaml(tmp_path / "c" / "mine_config.yaml")
    assert written["seed"] == 3 and written["T"] == 20 and written["name"] == "mine"
    assert written["val_from"] is None and written["allow_missing_embeds"] is False  # the config file's values
    config, sources = gs.load_config(gs.SamplingConfig, tmp_path / "c" / "mine_config.yaml", {})
    assert config == gs.parse_args(["--data_dir", str(dataset), "--output_dir", str(tmp_path / "c"), "--T", "20",
                                    "--train_frames", "300", "--val_frames", "100", "--seed", "3", "--name", "mine"])


def test_config_files_hold_every_setting_and_the_crafter_split_fits_the_bc_stages():
    from steve1.utils.config import read_yaml

    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for sim in ("minecraft", "crafter"):
        config, _ = gs.load_config(gs.SamplingConfig, os.path.join(repo, "configs", sim, "sampling.yaml"), {})
        assert config.type == "default" and config.val_from is None
    crafter = read_yaml(os.path.join(repo, "configs/crafter/sampling.yaml"))
    for stage in ("steve1", "goal_prior"):  # the split keeps exactly the episodes these stages can train on
        bc = read_yaml(os.path.join(repo, f"configs/crafter/{stage}.yaml"))
        assert (crafter["T"], crafter["min_btwn_goals"], crafter["name"]) == (bc["T"], bc["min_btwn_goals"],
                                                                             bc["sampling"])
    assert (crafter["train_frames"], crafter["val_frames"], crafter["allow_missing_embeds"]) == (-1, 20000, True)
