"""bench/sample_efficiency.py on Ctrl-C: the runner forwards the signal once to each run in progress (started in its
own process group), starts no further run, waits for them, says that rerunning the same command resumes, and exits
130. The runs are a stand-in for ppo_highlevel.py that records the signals it gets."""
import os
import shlex
import signal
import threading
import time

import pytest
from bench_testutils import load_bench_script

from steve1.utils.interrupt import Interrupted

FAKE = r'''
import os, pathlib, signal, sys, time
a = sys.argv[1:]
root = pathlib.Path(a[a.index("--results_dir") + 1])
root.mkdir(parents=True, exist_ok=True)
got = []
signal.signal(signal.SIGINT, lambda s, f: got.append(s))
signal.signal(signal.SIGTERM, lambda s, f: got.append(s))
(root / "group_leader").write_text(str(os.getpgid(0) == os.getpid()))
(root / "ready").write_text("1")
deadline = time.time() + 60
while not got and time.time() < deadline:
    time.sleep(0.01)
time.sleep(0.5)  # "saving a checkpoint"; a second signal would be recorded too
(root / "signals").write_text(" ".join(str(s) for s in got))
sys.exit(128 + got[0] if got else 0)
'''


@pytest.fixture(scope="module")
def se():
    return load_bench_script("sample_efficiency")


def test_sigint_is_forwarded_once_and_no_new_run_starts(se, tmp_path, monkeypatch, capsys):
    fake = tmp_path / "fake_ppo.py"
    fake.write_text(FAKE)
    real_execute = se.execute

    def execute(cmd, log_path, torch_threads):
        assert cmd[1] == "ppo_highlevel.py"
        return real_execute([cmd[0], str(fake), *cmd[2:]], log_path, torch_threads)

    monkeypatch.setattr(se, "execute", execute)
    runs = tmp_path / "runs"
    argv = ["--tasks", "crafter_wood", "--seeds", "1", "2", "3", "--jobs", "2", "--budget", "6000", "--runs_dir",
            str(runs), "--out_dir", str(tmp_path / "out"), "--methods", "ptgm"]
    roots = [se.run_root(runs, "crafter_wood", "ptgm", s) for s in (1, 2, 3)]

    def press_ctrl_c_when_both_runs_are_ready():
        deadline = time.monotonic() + 60
        while not all((r / "ready").is_file() for r in roots[:2]) and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGINT)  # to the runner only, as a terminal would (the runs have own groups)

    presser = threading.Thread(target=press_ctrl_c_when_both_runs_are_ready, daemon=True)
    presser.start()
    with pytest.raises(Interrupted) as exc:
        se.main(argv)
    presser.join()
    assert exc.value.code == 130
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    for root in roots[:2]:  # each run got exactly one SIGINT, in its own process group, and exited 130
        assert (root / "signals").read_text() == str(int(signal.SIGINT))
        assert (root / "group_leader").read_text() == "True"
    assert not roots[2].exists()  # the third run never started
    out = capsys.readouterr().out
    assert sum(": exit 130 after" in line for line in out.splitlines()) == 2
    assert f"interrupted by SIGINT: checkpoint saved to {runs} (2 run(s) stopped on the signal" in out
    assert "1 not started; rerunning the same command resumes them" in out
    resume = [line for line in out.splitlines() if line.startswith("resume with: ")]
    assert shlex.split(resume[0][len("resume with: "):]) == ["python", "bench/sample_efficiency.py", *argv]
