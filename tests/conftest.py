"""Shared pytest setup.

* Torch runs on one thread: with two OpenMP threads, torch slows down 5-10x as soon as another process
  takes a core (see ../shared/docs/environment.md §3).
* SIGINT behaves as in a terminal even when the suite was started with SIGINT ignored (a background job of a
  non-interactive shell, ``nohup``): the Ctrl-C tests send SIGINT to this process and to the runs it starts, which
  would inherit the ignored disposition.
* Golden fixtures produced by the official implementations live in ``../shared/fixtures`` next to the
  repository (override with ``PTGM_FIXTURES``). Tests that need them take the ``fixtures_dir`` fixture and
  are skipped, with the reason, when the folder is absent.
"""
import os
import signal
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)  # children then start with SIGINT's default

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES_DIR = Path(os.environ.get("PTGM_FIXTURES", REPO_ROOT.parent / "shared" / "fixtures"))


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """Path of the golden-fixture folder; skips the test when it is missing."""
    if not (FIXTURES_DIR / "README.md").is_file():
        pytest.skip(f"golden fixtures not found at {FIXTURES_DIR} (set PTGM_FIXTURES to the shared/fixtures folder)")
    return FIXTURES_DIR
