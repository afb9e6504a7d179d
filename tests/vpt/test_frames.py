"""Frame resizing against shared/fixtures/resize_golden.pt (official cv2 calls, opencv 5.0; fixtures README §6).
MineCLIP's resize is tested in tests/steve1/test_mineclip.py."""
import cv2
import numpy as np
import pytest
import torch

from VPT.lib.frames import AGENT_RESOLUTION, resize_for_agent, resize_frame

# The goldens were made with opencv 5.0.0. With that version the results are bit-exact; other OpenCV versions
# may round INTER_LINEAR differently by ±1 grey level (fixtures README §6), so only then is ±1 allowed.
EXACT = cv2.__version__.startswith("5.0.")
ATOL = 0 if EXACT else 1


@pytest.fixture(scope="module")
def resize_golden(fixtures_dir):
    return torch.load(fixtures_dir / "resize_golden.pt", weights_only=True)


def _assert_close(ours, expected):
    assert ours.dtype == np.uint8 and ours.shape == expected.shape
    diff = np.abs(ours.astype(np.int16) - expected.astype(np.int16)).max()
    assert diff <= ATOL, f"max |diff| = {diff} grey levels (allowed {ATOL}, opencv {cv2.__version__})"


def test_resize_for_agent_golden(resize_golden):
    pov = resize_golden["pov_360x640"].numpy()
    expected = resize_golden["agent_img_1x128x128x3"].numpy()[0]
    _assert_close(resize_for_agent(pov), expected)
    assert AGENT_RESOLUTION == (128, 128)


def test_no_resize_when_already_at_size():
    frame = np.random.default_rng(0).integers(0, 256, size=(128, 128, 3), dtype=np.uint8)
    assert resize_for_agent(frame) is frame


def test_size_is_height_width():
    frame = np.zeros((360, 640, 3), dtype=np.uint8)
    assert resize_for_agent(frame, size=(64, 96)).shape == (64, 96, 3)
    assert np.array_equal(resize_frame(frame, (64, 96)), resize_for_agent(frame, size=(64, 96)))


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((360, 640, 3), dtype=np.float32),
        np.zeros((360, 640), dtype=np.uint8),
        np.zeros((1, 360, 640, 3), dtype=np.uint8),
    ],
)
def test_bad_frames_raise(bad):
    with pytest.raises(ValueError, match=r"uint8 frame \[H, W, 3\]"):
        resize_for_agent(bad)
    with pytest.raises(ValueError, match=r"^resize_for_agent: "):
        resize_for_agent(bad)
    with pytest.raises(ValueError, match=r"^my_resize: expected a uint8 frame"):
        resize_frame(bad, (8, 8), caller="my_resize")
