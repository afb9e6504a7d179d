"""steve1.utils.io: atomic writes leave either the old or the new file, never a half-written one or a temporary."""
import json
import os

import pytest

from steve1.utils.io import (TMP_MARKER, atomic_output, atomic_output_dir, atomic_write_bytes, atomic_write_json,
                             atomic_write_text)


def _leftovers(folder):
    return [n for n in os.listdir(folder) if TMP_MARKER in n]


def test_writers_create_the_folder_and_replace(tmp_path):
    path = tmp_path / "a" / "b" / "x.json"
    atomic_write_json(path, {"k": 1})
    assert json.loads(path.read_text()) == {"k": 1}
    atomic_write_text(path, "new")
    assert path.read_text() == "new"
    atomic_write_bytes(path, b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    assert not _leftovers(path.parent)


def test_atomic_output_renames_on_success(tmp_path):
    path = tmp_path / "sub" / "plot.png"
    with atomic_output(path, suffix=".png") as tmp:
        assert tmp.parent == path.parent and tmp.name.startswith(".plot.png" + TMP_MARKER)
        assert tmp.name.endswith(".png") and not tmp.exists()
        tmp.write_bytes(b"data")
    assert path.read_bytes() == b"data"
    assert not _leftovers(path.parent)


def test_atomic_output_keeps_the_old_file_when_the_block_raises(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_output(path) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("boom")
    assert path.read_bytes() == b"old"
    assert not _leftovers(tmp_path)


def test_atomic_output_without_a_file_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        with atomic_output(tmp_path / "f.bin"):
            pass
    assert not (tmp_path / "f.bin").exists()


def test_atomic_output_dir(tmp_path):
    final = tmp_path / "data" / "episode"
    with atomic_output_dir(final) as tmp:
        assert tmp.is_dir() and TMP_MARKER in tmp.name and tmp.name.startswith(".episode")
        (tmp / "a.txt").write_text("a")
    assert (final / "a.txt").read_text() == "a"
    assert not _leftovers(final.parent)


def test_atomic_output_dir_removes_the_temporary_directory_on_error(tmp_path):
    final = tmp_path / "episode"
    with pytest.raises(ValueError):
        with atomic_output_dir(final) as tmp:
            (tmp / "a.txt").write_text("a")
            raise ValueError("bad")
    assert not final.exists() and not _leftovers(tmp_path)


def test_atomic_output_dir_does_not_replace_an_existing_directory(tmp_path):
    final = tmp_path / "episode"
    final.mkdir()
    (final / "old.txt").write_text("old")
    with pytest.raises(OSError):
        with atomic_output_dir(final) as tmp:
            (tmp / "new.txt").write_text("new")
    assert sorted(os.listdir(final)) == ["old.txt"]
    assert not _leftovers(tmp_path)
