"""The OpenAI VPT contractor dataset: index files, downloads, and JSONL + mp4 -> MineRL actions and frames
(spec §3.1-§3.3).

A contractor episode is a pair of files: ``<name>.mp4`` (640x360, 20 fps, one frame per recorded tick) and
``<name>.jsonl`` (one JSON record of keyboard/mouse/GUI state per tick). An *index* JSON lists the episodes of one
contractor data version: ``{"basedir": "<url prefix>/", "relpaths": ["<dir>/<name>.mp4", ...]}``.

:func:`load_episode` turns a pair into what the pipeline stores (:mod:`steve1.data.EpisodeStorage`):

* ``frames``: uint8 ``[L, 128, 128, 3]`` RGB agent frames (``cv2.INTER_LINEAR``, aspect ratio squashed);
* ``frames_mineclip``: uint8 ``[L, 160, 256, 3]`` RGB MineCLIP frames (channels last, the layout
  :meth:`steve1.mineclip.GoalEmbedder.encode_video` takes; upstream keeps them channels first);
* ``actions``: L MineRL env-action dicts, keys in :data:`ACTION_KEYS` order (25 numbers once ``camera`` is
  flattened): buttons are Python ints 0/1, ``camera`` is ``[pitch, yaw]`` in degrees.

L is the number of *kept* steps: steps with no mapped key, no mouse motion and no mouse button are dropped together
with their frame (the VPT paper's null-action filter), so the stored time axis skips idle ticks.

Conversion rules of one JSONL record (spec §3.2): keys via :data:`KEYBOARD_BUTTON_MAPPING`, mouse buttons
0/1/2 -> ``attack``/``use``/``pickItem``, ``camera = [dy, dx] * 0.15`` degrees per pixel; an attack button held
since before the recording (step 0 has ``newButtons == [0]``) is ignored until it is pressed again; a change of the
``hotbar`` slot sets ``hotbar.<slot+1>`` (the slot before step 0 counts as 0); while ``isGuiOpen`` the mouse cursor
(:data:`CURSOR_PATH`) is alpha-composited at ``(mouse.x, mouse.y) * frame_height / 720`` on the frame before the
BGR -> RGB conversion.

Where we deliberately differ from upstream (STEVE-1/PTGM ``steve1/data/contractor.py``):

* **Camera in float degrees (spec §3.2, §12.1.6).** Upstream writes the camera into an integer numpy array, so
  every value is truncated toward zero to whole degrees and every motion under 1 degree (most of them: VPT's camera
  bins are centred at 0, +-0.62, +-1.61, ... degrees) is lost. Here the camera is float64 degrees, and the ">180
  degrees -> 0" glitch filter that upstream placed in a branch where it can never fire is applied. Pass
  ``legacy_int_camera=True`` (``--legacy_int_camera`` in ``convert_from_contractor.py``) to reproduce upstream
  exactly (int64 camera, truncated, no filter): **the released PTGM/STEVE-1 checkpoints were trained on that**.
* A corrupt or truncated mp4 or JSONL raises :class:`ContractorDataError` naming the file and the problem (upstream
  catches everything and returns ``(None, None, None)``, or silently drops steps whose frame cannot be read).
  ``max_missing_frames`` tolerates a video that is a few frames shorter than its JSONL.
* The JSONL records are not mutated, downloads use ``urllib`` and are atomic (temporary file + ``os.replace``), and
  an index can be a local JSON file whose ``basedir`` is a local directory (:func:`index_from_source_dir` builds
  one from a folder of mp4 + jsonl pairs).
* Reproduced on purpose: a step whose only event is a hotbar change (e.g. by the scroll wheel) counts as null and
  is dropped, as upstream (the null flag is computed before the hotbar rule).
* Our own cursor image (:mod:`steve1.data.generation.draw_cursor`), not upstream's PNG.
"""
from __future__ import annotations

import json
import os
import shutil
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from steve1.mineclip.frames import resize_for_mineclip
from steve1.utils.io import atomic_output
from VPT.lib.frames import resize_for_agent

PathLike = Union[str, os.PathLike]

__all__ = [
    "INDEX_BASE_URL",
    "INDEX_FILES",
    "KEYBOARD_BUTTON_MAPPING",
    "MOUSE_BUTTON_MAPPING",
    "ACTION_KEYS",
    "CAMERA_DEGREES_PER_PIXEL",
    "CURSOR_PATH",
    "SIM",
    "ContractorDataError",
    "ContractorEpisode",
    "ContractorIndex",
    "ContractorData",
    "index_url",
    "load_index",
    "index_from_source_dir",
    "download_file",
    "read_jsonl",
    "noop_action",
    "json_action_to_env_action",
    "iter_env_actions",
    "load_cursor",
    "overlay_cursor",
    "load_episode",
]

#: Where the index JSON files of the contractor data live.
INDEX_BASE_URL = "https://openaipublic.blob.core.windows.net/minecraft-rl/snapshots/"
#: Index file of each contractor data version (spec §3.1).
INDEX_FILES: Dict[str, str] = {
    "6.x": "all_6xx_Jun_29.json",
    "7.x": "all_7xx_Apr_6.json",
    "8.x": "all_8xx_Jun_29.json",
    "9.x": "all_9xx_Jun_29.json",
    "10.x": "all_10xx_Jun_29.json",
}

#: JSONL key name -> MineRL button (spec §3.2). Other keys are ignored.
KEYBOARD_BUTTON_MAPPING: Dict[str, str] = {
    "key.keyboard.escape": "ESC",
    "key.keyboard.s": "back",
    "key.keyboard.q": "drop",
    "key.keyboard.w": "forward",
    **{f"key.keyboard.{i}": f"hotbar.{i}" for i in range(1, 10)},
    "key.keyboard.e": "inventory",
    "key.keyboard.space": "jump",
    "key.keyboard.a": "left",
    "key.keyboard.d": "right",
    "key.keyboard.left.shift": "sneak",
    "key.keyboard.left.control": "sprint",
    "key.keyboard.f": "swapHands",
}
#: JSONL mouse button id -> MineRL button.
MOUSE_BUTTON_MAPPING: Dict[int, str] = {0: "attack", 1: "use", 2: "pickItem"}
#: Keys of a converted env action, in order (``camera`` is 2 numbers: 25 numbers in all).
ACTION_KEYS: Tuple[str, ...] = (
    "ESC", "back", "drop", "forward", *(f"hotbar.{i}" for i in range(1, 10)), "inventory", "jump", "left", "right",
    "sneak", "sprint", "swapHands", "camera", "attack", "use", "pickItem",
)
#: Mouse pixels -> camera degrees (360 degrees per 2400 pixels).
CAMERA_DEGREES_PER_PIXEL = 360.0 / 2400.0
#: Camera values above this many degrees are recording glitches and are zeroed (not with ``legacy_int_camera``).
CAMERA_GLITCH_DEGREES = 180.0
#: Height of the screen the mouse coordinates were recorded on, pixels.
MINEREC_ORIGINAL_HEIGHT_PX = 720
#: 16x16 RGBA cursor drawn on frames while a GUI is open (made by ``steve1.data.generation.draw_cursor``).
CURSOR_PATH = Path(__file__).resolve().parent / "generation" / "assets" / "mouse_cursor_white_16x16.png"
#: Registry key (``tasks.SIMULATORS``) of the simulator plugin whose actions these are; stored as ``"sim"`` in the
#: episodes' ``metadata.json`` so that datasets find the action conversion.
SIM = "minedojo"


class ContractorDataError(ValueError):
    """A contractor file (index, mp4 or JSONL) is missing, corrupt, truncated or malformed; the message names the file
    and the problem. Callers converting many episodes log it and skip the episode."""


class ContractorEpisode(NamedTuple):
    """One converted episode (unpacks as ``frames, frames_mineclip, actions``).

    Attributes:
        frames: uint8 ``[L, 128, 128, 3]`` RGB agent frames.
        frames_mineclip: uint8 ``[L, 160, 256, 3]`` RGB MineCLIP frames, channels last.
        actions: L MineRL env-action dicts (keys :data:`ACTION_KEYS`).
    """

    frames: np.ndarray
    frames_mineclip: np.ndarray
    actions: List[Dict[str, Any]]


# ---------------------------------------------------------------------------------------------------- index
def index_url(version: str) -> str:
    """URL of the index JSON of contractor data ``version`` (``"6.x"`` ... ``"10.x"``).

    Raises:
        KeyError: unknown version (the message lists the known ones).
    """
    if version not in INDEX_FILES:
        raise KeyError(f"unknown contractor data version {version!r}; known: {', '.join(INDEX_FILES)}")
    return INDEX_BASE_URL + INDEX_FILES[version]


def _is_url(location: str) -> bool:
    return urllib.parse.urlparse(location).scheme in ("http", "https", "file", "ftp")


@dataclass
class ContractorIndex:
    """The episodes of one contractor data version.

    Attributes:
        version: data version label (``"8.x"``; stored in the episodes' metadata).
        basedir: URL prefix (``https://...``, ``file://...``) or local directory, without the trailing slash.
        relpaths: relative ``.mp4`` paths; episode ``i``'s JSONL is the same path with ``.jsonl``.
        source: where the index was read from (for messages).
    """

    version: str
    basedir: str
    relpaths: List[str]
    source: str = "<index>"

    @classmethod
    def from_json(cls, data: Any, version: str, source: str = "<index>",
                  relative_to: Optional[PathLike] = None) -> "ContractorIndex":
        """Build from the index JSON dict ``{"basedir": ..., "relpaths": [...]}``.

        A ``basedir`` that is neither a URL nor an absolute path is taken relative to ``relative_to`` (the folder of
        a local index file).

        Raises:
            ContractorDataError: missing or mistyped ``basedir`` / ``relpaths``.
        """
        if not isinstance(data, Mapping) or not isinstance(data.get("basedir"), str) \
                or not isinstance(data.get("relpaths"), list) \
                or not all(isinstance(p, str) for p in data["relpaths"]):
            keys = sorted(data) if isinstance(data, Mapping) else type(data).__name__
            raise ContractorDataError(f"{source}: not a contractor index: expected {{'basedir': str, 'relpaths': "
                                      f"[str, ...]}}, found {keys}")
        basedir = data["basedir"]
        if basedir.endswith("/") and len(basedir) > 1:
            basedir = basedir[:-1]
        if not _is_url(basedir) and not os.path.isabs(basedir) and relative_to is not None:
            basedir = os.path.normpath(os.path.join(relative_to, basedir))
        return cls(version=version, basedir=basedir, relpaths=list(data["relpaths"]), source=source)

    def __len__(self) -> int:
        return len(self.relpaths)

    def _location(self, idx: int, suffix: str) -> str:
        if not 0 <= idx < len(self.relpaths):
            raise IndexError(f"{self.source}: episode {idx} out of range [0, {len(self.relpaths)})")
        relpath = self.relpaths[idx]
        stem = relpath[: -len(".mp4")] if relpath.endswith(".mp4") else relpath
        if _is_url(self.basedir):
            return f"{self.basedir}/{stem}{suffix}"
        return os.path.join(self.basedir, stem + suffix)

    def video_location(self, idx: int) -> str:
        """URL or local path of episode ``idx``'s mp4."""
        return self._location(idx, ".mp4")

    def action_location(self, idx: int) -> str:
        """URL or local path of episode ``idx``'s JSONL."""
        return self._location(idx, ".jsonl")

    @property
    def is_local(self) -> bool:
        """True if the episodes are local files (no download needed)."""
        return not _is_url(self.basedir)


def download_file(url: str, dest: PathLike, timeout: float = 60.0, retries: int = 2,
                  chunk_bytes: int = 1 << 20) -> Path:
    """Download ``url`` to ``dest`` atomically (temporary sibling file, then ``os.replace``).

    Retries ``retries`` times after a network error, waiting 2, 4, ... seconds.

    Raises:
        OSError: the download failed (``urllib.error.URLError`` is an ``OSError``); the message names the URL.
    """
    dest = Path(dest)
    for attempt in range(retries + 1):
        try:
            with atomic_output(dest) as tmp:  # a failed attempt removes its temporary file
                with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as f:
                    shutil.copyfileobj(response, f, chunk_bytes)
            return dest
        except OSError as e:
            if attempt == retries:
                raise OSError(f"download of {url} failed after {retries + 1} attempts: {e}") from e
            time.sleep(2.0 * (attempt + 1))
    raise AssertionError("unreachable")


def load_index(version: str = "10.x", index: Optional[PathLike] = None,
               cache_dir: Optional[PathLike] = None) -> ContractorIndex:
    """Load a contractor index.

    Args:
        version: data version (``"6.x"`` ... ``"10.x"``); also the label of a local index.
        index: a local index JSON file or a URL; default: the official index of ``version`` (:func:`index_url`).
        cache_dir: if given, a downloaded index is kept there as ``index_<version>.json`` and reused.

    Raises:
        ContractorDataError: unreadable or malformed index; OSError: download failed.
    """
    location = str(index) if index is not None else index_url(version)
    if _is_url(location):
        if cache_dir is not None:
            path = Path(cache_dir) / f"index_{version.replace('.', '_')}.json"
            if not path.is_file():
                download_file(location, path)
        else:
            path = None
        if path is None:
            with urllib.request.urlopen(location, timeout=60.0) as response:
                raw = response.read()
        else:
            raw = path.read_bytes()
        relative_to = None
    else:
        path = Path(location)
        if not path.is_file():
            raise ContractorDataError(f"{path}: contractor index file not found")
        raw = path.read_bytes()
        relative_to = path.resolve().parent
    try:
        data = json.loads(raw)
    except ValueError as e:
        raise ContractorDataError(f"{location}: contractor index is not valid JSON: {e}") from e
    return ContractorIndex.from_json(data, version, source=location, relative_to=relative_to)


def index_from_source_dir(source_dir: PathLike, version: str = "10.x") -> ContractorIndex:
    """An index of the local episodes under ``source_dir``: every ``*.mp4`` (searched recursively, sorted by relative
    path, so episode numbers are stable) that has a ``.jsonl`` of the same name beside it.

    Raises:
        ContractorDataError: ``source_dir`` does not exist or holds no mp4 + jsonl pair.
    """
    root = Path(source_dir)
    if not root.is_dir():
        raise ContractorDataError(f"{root}: contractor source directory not found")
    relpaths = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.mp4")
                      if p.with_suffix(".jsonl").is_file() and not p.name.startswith("."))
    if not relpaths:
        raise ContractorDataError(f"{root}: no <name>.mp4 with a <name>.jsonl beside it")
    return ContractorIndex(version=version, basedir=str(root.resolve()), relpaths=relpaths, source=str(root))


# ---------------------------------------------------------------------------------------------------- JSONL
def _check_step(step: Any, where: str) -> None:
    """Raise ContractorDataError if a JSONL record lacks the fields the conversion reads."""
    def fail(what: str) -> None:
        raise ContractorDataError(f"{where}: {what}")

    if not isinstance(step, Mapping):
        fail(f"expected a JSON object, got {type(step).__name__}")
    mouse, keyboard = step.get("mouse"), step.get("keyboard")
    if not isinstance(mouse, Mapping):
        fail("missing 'mouse' object")
    if not isinstance(keyboard, Mapping) or not isinstance(keyboard.get("keys"), list):
        fail("missing 'keyboard.keys' list")
    for name in ("dx", "dy"):
        if not isinstance(mouse.get(name), (int, float)) or isinstance(mouse.get(name), bool):
            fail(f"'mouse.{name}' must be a number, got {mouse.get(name)!r}")
    for name in ("buttons", "newButtons"):
        if not isinstance(mouse.get(name), list):
            fail(f"'mouse.{name}' must be a list, got {mouse.get(name)!r}")
    hotbar = step.get("hotbar")
    if not isinstance(hotbar, int) or isinstance(hotbar, bool) or not 0 <= hotbar <= 8:
        fail(f"'hotbar' must be an int in [0, 8], got {hotbar!r}")
    if not isinstance(step.get("isGuiOpen"), bool):
        fail(f"'isGuiOpen' must be a bool, got {step.get('isGuiOpen')!r}")
    if step["isGuiOpen"]:
        for name in ("x", "y"):
            if not isinstance(mouse.get(name), (int, float)):
                fail(f"'mouse.{name}' must be a number while isGuiOpen, got {mouse.get(name)!r}")


def read_jsonl(path: PathLike) -> List[Dict[str, Any]]:
    """Read and check a contractor JSONL file: one record per line (blank lines are skipped).

    Returns:
        the records, as dicts.

    Raises:
        ContractorDataError: missing file, invalid JSON (line number given), a record without the fields of
            spec §3.2, or no record at all.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise ContractorDataError(f"{path}: JSONL file not found") from e
    except (OSError, UnicodeDecodeError) as e:
        raise ContractorDataError(f"{path}: cannot read the JSONL file: {type(e).__name__}: {e}") from e
    steps = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            step = json.loads(line)
        except ValueError as e:
            raise ContractorDataError(f"{path}:{lineno}: not valid JSON (corrupt or truncated file?): {e}") from e
        _check_step(step, f"{path}:{lineno}")
        steps.append(step)
    if not steps:
        raise ContractorDataError(f"{path}: no records")
    return steps


def noop_action(legacy_int_camera: bool = False) -> Dict[str, Any]:
    """The null env action: every button 0 and camera ``[0, 0]`` (float64, or int64 with ``legacy_int_camera``),
    keys in :data:`ACTION_KEYS` order."""
    action: Dict[str, Any] = {}
    for key in ACTION_KEYS:
        action[key] = np.zeros(2, np.int64 if legacy_int_camera else np.float64) if key == "camera" else 0
    return action


def json_action_to_env_action(step: Mapping[str, Any], legacy_int_camera: bool = False
                              ) -> Tuple[Dict[str, Any], bool]:
    """Convert one JSONL record to a MineRL env action (spec §3.2), without the episode-level rules (stuck attack,
    hotbar; see :func:`iter_env_actions`).

    Args:
        step: one record (``keyboard.keys``, ``mouse.dx/dy/buttons``).
        legacy_int_camera: reproduce upstream's camera: int64, truncated toward zero to whole degrees, no glitch
            filter. Default: float64 degrees, values above 180 degrees zeroed.

    Returns:
        ``(action, is_null)``: the action dict (:data:`ACTION_KEYS` order; camera ``[pitch, yaw]`` degrees =
        ``[dy, dx] * 0.15``) and whether the step is null (no mapped key, no mouse motion, no mouse button).
    """
    action = noop_action(legacy_int_camera)
    is_null = True
    for key in step["keyboard"]["keys"]:
        if key in KEYBOARD_BUTTON_MAPPING:
            action[KEYBOARD_BUTTON_MAPPING[key]] = 1
            is_null = False
    mouse = step["mouse"]
    dy, dx = float(mouse["dy"]), float(mouse["dx"])
    pitch, yaw = dy * CAMERA_DEGREES_PER_PIXEL, dx * CAMERA_DEGREES_PER_PIXEL
    if legacy_int_camera:
        action["camera"][:] = (int(pitch), int(yaw))  # int() truncates toward zero, as numpy's float -> int store
    else:
        action["camera"][:] = [0.0 if abs(v) > CAMERA_GLITCH_DEGREES else v for v in (pitch, yaw)]
    if dx != 0 or dy != 0:
        is_null = False
    for button, name in MOUSE_BUTTON_MAPPING.items():
        if button in mouse["buttons"]:
            action[name] = 1
            is_null = False
    return action, is_null


def iter_env_actions(steps: Sequence[Mapping[str, Any]], legacy_int_camera: bool = False
                     ) -> Iterator[Tuple[Dict[str, Any], bool]]:
    """Convert the records of one episode in order, applying the episode-level rules of spec §3.2.

    * Stuck attack: if step 0 has ``mouse.newButtons == [0]``, button 0 (attack) is ignored until a later step has
      0 in ``newButtons`` (that step counts the press).
    * Hotbar: when ``hotbar`` differs from the previous step's (0 before step 0), ``hotbar.<hotbar+1>`` is set to 1.
      This does not make a null step non-null.

    Yields:
        ``(action, is_null)`` per record (records are not modified).
    """
    attack_is_stuck = False
    last_hotbar = 0
    for i, step in enumerate(steps):
        mouse = step["mouse"]
        if i == 0:
            attack_is_stuck = list(mouse["newButtons"]) == [0]
        elif attack_is_stuck and 0 in mouse["newButtons"]:
            attack_is_stuck = False
        if attack_is_stuck:
            step = {**step, "mouse": {**mouse, "buttons": [b for b in mouse["buttons"] if b != 0]}}
        action, is_null = json_action_to_env_action(step, legacy_int_camera)
        hotbar = step["hotbar"]
        if hotbar != last_hotbar:
            action[f"hotbar.{hotbar + 1}"] = 1
        last_hotbar = hotbar
        yield action, is_null


# ---------------------------------------------------------------------------------------------------- frames
_CURSOR_CACHE: Dict[str, Tuple[np.ndarray, np.ndarray]] = {}


def load_cursor(path: PathLike = CURSOR_PATH) -> Tuple[np.ndarray, np.ndarray]:
    """The cursor image as ``(bgr uint8 [16, 16, 3], alpha float32 [16, 16, 1] in [0, 1])`` (cached).

    Raises:
        ContractorDataError: the PNG is missing or is not a 16x16 RGBA image (re-create it with
            ``python -m steve1.data.generation.draw_cursor``).
    """
    key = str(path)
    if key not in _CURSOR_CACHE:
        image = cv2.imread(key, cv2.IMREAD_UNCHANGED)
        if image is None or image.ndim != 3 or image.shape[2] != 4 or image.shape[:2] != (16, 16):
            found = "missing or unreadable" if image is None else f"shape {image.shape}"
            raise ContractorDataError(f"{path}: cursor must be a 16x16 RGBA PNG, {found} "
                                      "(python -m steve1.data.generation.draw_cursor writes it)")
        _CURSOR_CACHE[key] = (np.ascontiguousarray(image[:, :, :3]), image[:, :, 3:].astype(np.float32) / 255.0)
    return _CURSOR_CACHE[key]


def overlay_cursor(frame: np.ndarray, x: int, y: int, cursor: Optional[Tuple[np.ndarray, np.ndarray]] = None) -> None:
    """Alpha-composite the cursor with its top-left corner at pixel ``(x, y)`` onto ``frame``, in place.

    ``out = uint8(frame * (1 - alpha) + cursor * alpha)`` (truncated, as upstream); the parts of the cursor outside
    the frame are cut off on every side (upstream mishandles negative positions).

    Args:
        frame: uint8 ``[H, W, 3]``, same channel order as ``cursor`` (BGR for the default).
        x, y: column and row of the cursor's top-left pixel.
        cursor: ``(image [h, w, 3], alpha [h, w, 1])``, default :func:`load_cursor`.
    """
    image, alpha = cursor if cursor is not None else load_cursor()
    h, w = image.shape[:2]
    y0, y1 = max(y, 0), min(y + h, frame.shape[0])
    x0, x1 = max(x, 0), min(x + w, frame.shape[1])
    if y1 <= y0 or x1 <= x0:
        return
    a = alpha[y0 - y:y1 - y, x0 - x:x1 - x]
    region = frame[y0:y1, x0:x1].astype(np.float32)
    frame[y0:y1, x0:x1] = (region * (1.0 - a) + image[y0 - y:y1 - y, x0 - x:x1 - x] * a).astype(np.uint8)


def load_episode(video_path: PathLike, jsonl: Union[PathLike, Sequence[Mapping[str, Any]]],
                 legacy_int_camera: bool = False, max_missing_frames: int = 0) -> ContractorEpisode:
    """Convert one contractor episode (mp4 + JSONL) to agent frames, MineCLIP frames and env actions (spec §3.2-3.3).

    One video frame is read per JSONL record; null steps are dropped with their frame.

    Args:
        video_path: the episode's mp4 (640x360 BGR for real data; any size works).
        jsonl: the episode's JSONL file, or its records already read with :func:`read_jsonl`.
        legacy_int_camera: upstream's integer-degree camera (see the module docstring and
            :func:`json_action_to_env_action`).
        max_missing_frames: how many records at the end may lack a video frame (they are dropped); 0 = the video
            must have a frame for every record.

    Returns:
        :class:`ContractorEpisode` ``(frames uint8 [L, 128, 128, 3], frames_mineclip uint8 [L, 160, 256, 3],
        actions)``, L = kept steps.

    Raises:
        ContractorDataError: unreadable/corrupt mp4, a video with fewer frames than records (beyond
            ``max_missing_frames``), or a malformed JSONL (see :func:`read_jsonl`).
    """
    steps = read_jsonl(jsonl) if isinstance(jsonl, (str, os.PathLike)) else list(jsonl)
    if not isinstance(jsonl, (str, os.PathLike)):
        for i, step in enumerate(steps):
            _check_step(step, f"<records>[{i}]")
    video_path = Path(video_path)
    if not video_path.is_file():
        raise ContractorDataError(f"{video_path}: video file not found")
    video = cv2.VideoCapture(str(video_path))
    if not video.isOpened():
        video.release()
        raise ContractorDataError(f"{video_path}: OpenCV cannot open the video (corrupt or truncated mp4?)")
    n = len(steps)
    frames = np.empty((n, 128, 128, 3), np.uint8)
    frames_mineclip = np.empty((n, 160, 256, 3), np.uint8)
    actions: List[Dict[str, Any]] = []
    cursor = None
    try:
        for i, (action, is_null) in enumerate(iter_env_actions(steps, legacy_int_camera)):
            ok, frame = video.read()
            if not ok:
                if n - i > max_missing_frames:
                    raise ContractorDataError(
                        f"{video_path}: the video ends after {i} frames but the JSONL has {n} records (truncated or "
                        f"corrupt mp4?{'' if max_missing_frames == 0 else f' more than {max_missing_frames} missing'})")
                break
            if is_null:
                continue
            step = steps[i]
            if step["isGuiOpen"]:
                cursor = cursor or load_cursor()
                scale = frame.shape[0] / MINEREC_ORIGINAL_HEIGHT_PX
                overlay_cursor(frame, int(step["mouse"]["x"] * scale), int(step["mouse"]["y"] * scale), cursor)
            rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            k = len(actions)
            frames[k] = resize_for_agent(rgb)
            frames_mineclip[k] = resize_for_mineclip(rgb)
            actions.append(action)
    finally:
        video.release()
    length = len(actions)  # views: the untouched tail of the buffers is never paged in, so no copy is needed
    return ContractorEpisode(frames[:length], frames_mineclip[:length], actions)


# ---------------------------------------------------------------------------------------------------- data
@dataclass
class ContractorData:
    """Fetches and converts the episodes of a :class:`ContractorIndex` (upstream ``ContractorData``, spec §3.1).

    Remote episodes are downloaded to ``<cache_dir>/<version>_<idx>/{video.mp4, action.jsonl}`` (atomically) and
    the folder is deleted after conversion unless ``keep_cache``; local episodes are read in place.
    """

    index: ContractorIndex
    cache_dir: PathLike = "downloads/contractor_cache"
    keep_cache: bool = False
    _fetched: Dict[int, Path] = field(default_factory=dict, repr=False)

    @property
    def version(self) -> str:
        return self.index.version

    def __len__(self) -> int:
        return len(self.index)

    def fetch(self, idx: int) -> Tuple[Path, Path]:
        """Local paths ``(mp4, jsonl)`` of episode ``idx``, downloading them first if the index is remote.

        Raises:
            IndexError: ``idx`` out of range; OSError: download failed.
        """
        video, jsonl = self.index.video_location(idx), self.index.action_location(idx)
        if self.index.is_local:
            return Path(video), Path(jsonl)
        cache = Path(self.cache_dir) / f"{self.version}_{idx}"
        video_path, jsonl_path = cache / "video.mp4", cache / "action.jsonl"
        self._fetched[idx] = cache
        if not video_path.is_file():
            download_file(video, video_path)
        if not jsonl_path.is_file():
            download_file(jsonl, jsonl_path)
        return video_path, jsonl_path

    def clean_cache(self, idx: int) -> None:
        """Delete the downloaded files of episode ``idx`` (no-op for local indexes or with ``keep_cache``)."""
        cache = self._fetched.pop(idx, None)
        if cache is not None and not self.keep_cache:
            shutil.rmtree(cache, ignore_errors=True)

    def load(self, idx: int, legacy_int_camera: bool = False, max_missing_frames: int = 0) -> ContractorEpisode:
        """Fetch and convert episode ``idx`` (:func:`load_episode`); the download cache is cleaned either way.

        Raises:
            ContractorDataError: corrupt files; OSError: download failed; IndexError: bad ``idx``.
        """
        try:
            video_path, jsonl_path = self.fetch(idx)
            return load_episode(video_path, jsonl_path, legacy_int_camera, max_missing_frames)
        finally:
            self.clean_cache(idx)
