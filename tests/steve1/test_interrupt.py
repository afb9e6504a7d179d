"""steve1/utils/interrupt.py: a first SIGINT/SIGTERM only sets the flag, a second one behaves as without the block,
the previous handlers come back, and ``exit`` prints the checkpoint and resume command and exits 128 + signum."""
import os
import signal
import threading

import pytest

from steve1.utils.interrupt import Interrupted, InterruptFlag, catch_interrupts, exit_code_of


def _deliver(signum):
    """Send ``signum`` to this process; CPython runs the Python handler in the main thread before the next
    bytecode, i.e. before ``os.kill`` returns to us."""
    os.kill(os.getpid(), signum)


@pytest.mark.parametrize("signum,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_first_signal_sets_the_flag_and_exit_reports(signum, code, capsys):
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with pytest.raises(Interrupted) as exc:
        with catch_interrupts("saving") as flag:
            assert not flag and flag.signum is None
            _deliver(signum)
            assert flag and flag.signum == signum and flag.count == 1 and flag.exit_code == code
            flag.exit("/tmp/ckpt dir", ["python", "train.py", "--x", "a b"], detail="7 steps")
    assert exc.value.code == code and exc.value.signum == signum
    assert exc.value.checkpoint == "/tmp/ckpt dir" and exc.value.resume_command == "python train.py --x 'a b'"
    out, err = capsys.readouterr()
    name = signal.Signals(signum).name
    assert out.splitlines() == [f"interrupted by {name}: checkpoint saved to /tmp/ckpt dir (7 steps)",
                                "resume with: python train.py --x 'a b'"]
    assert f"received {name}: saving" in err
    assert {s: signal.getsignal(s) for s in before} == before  # handlers restored


def test_second_sigint_raises_keyboard_interrupt():
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # pytest's own
    with pytest.raises(KeyboardInterrupt):
        with catch_interrupts() as flag:
            _deliver(signal.SIGINT)
            assert flag.count == 1
            _deliver(signal.SIGINT)  # handed to Python's default handler
            pytest.fail("the second SIGINT did not raise")
    assert flag.count == 2
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_on_signal_sees_every_signal_and_quiet_exit_prints_nothing(capsys):
    seen = []
    with pytest.raises(Interrupted):
        with catch_interrupts(on_signal=lambda s, n: seen.append((s, n))) as flag:
            _deliver(signal.SIGTERM)
            flag.exit(None, None, quiet=True)
    assert seen == [(signal.SIGTERM, 1)]
    assert capsys.readouterr().out == ""


def test_outside_the_main_thread_the_flag_is_inert():
    result = {}

    def body():
        with catch_interrupts() as flag:
            result["flag"] = flag
            result["handler"] = signal.getsignal(signal.SIGINT)

    t = threading.Thread(target=body)
    t.start()
    t.join()
    assert not result["flag"] and result["handler"] is signal.default_int_handler


def test_exit_without_a_signal_is_an_error():
    with pytest.raises(RuntimeError):
        InterruptFlag().exit("x", "y")
    assert exit_code_of(signal.SIGINT) == 130 and exit_code_of(signal.SIGTERM) == 143
