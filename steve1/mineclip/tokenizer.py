"""CLIP byte-level BPE tokenizer, offline (Radford et al. 2021, CLIP §2.4; Sennrich et al. 2016 BPE).

MineCLIP tokenizes prompts with the CLIP vocabulary (``bpe_simple_vocab_16e6.txt.gz``, 49408 tokens; fetched by
``bash downloads.sh`` into ``downloads/``). This is our own implementation of the same procedure:

1. clean the text: HTML-unescape (twice), Unicode NFC, straighten curly quotes, unfold full-width forms and
   Latin ligatures, collapse whitespace, lower-case;
2. split it into pieces: ``<|startoftext|>``/``<|endoftext|>``, the contractions ``'s 't 're 've 'm 'll 'd``,
   runs of letters, single digits (any Unicode number), runs of other non-space characters;
3. map each piece's UTF-8 bytes to printable characters (the GPT-2 byte table), mark the last one with
   ``</w>``, and merge pairs by rank with the vocabulary's merge list;
4. ``[start] + ids + [end]``, truncated to ``context_length`` (the end token kept, as HuggingFace's
   ``truncation=True`` in MineCLIP) and zero-padded, as ``clip.tokenize``.

Vocabulary file layout: a header line, then one merge ``"a b"`` per line; the first
``49152 - 256 - 2 = 48894`` merges are used. Ids: 256 byte characters, the same 256 with ``</w>``, one id per
merge, then start (``vocab_size - 2``) and end (``vocab_size - 1``). A smaller file (tests) gives a smaller
vocabulary with the same layout.

Differences from OpenAI's ``SimpleTokenizer``: no ``ftfy`` (its mojibake repair is not reproduced; its quote,
width and ligature fixes are) and no ``regex`` package; the
split uses :mod:`unicodedata` categories (L* letters, N* numbers), equivalent to ``\\p{L}``/``\\p{N}``.
Padding is zeros (OpenAI) where HuggingFace pads with the end token; the causal text tower gives identical
features either way.
"""
from __future__ import annotations

import functools
import gzip
import html
import os
import re
import unicodedata
from pathlib import Path
from typing import Dict, List, Sequence, Tuple, Union

import torch

__all__ = ["DEFAULT_VOCAB_PATH", "CLIP_NUM_MERGES", "ClipTokenizer", "bytes_to_unicode", "pre_tokenize"]

#: Where ``downloads.sh`` puts the vocabulary (relative to the repository root).
DEFAULT_VOCAB_PATH = "downloads/bpe_simple_vocab_16e6.txt.gz"
#: Merges used from the vocabulary file by CLIP (the file holds more).
CLIP_NUM_MERGES = 49152 - 256 - 2
START_TOKEN = "<|startoftext|>"
END_TOKEN = "<|endoftext|>"
_CONTRACTIONS = ("s", "t", "re", "ve", "m", "ll", "d")
# characters that ftfy's fix_latin_ligatures unfolds (IJ, L-dot, 'n, DZ/LJ/NJ digraphs, ff/fi/fl/ffi/ffl/st)
_LIGATURES = frozenset(
    "\u0132\u0133\u013f\u0140\u0149\u01c4\u01c5\u01c6\u01c7\u01c8\u01c9\u01ca\u01cb\u01cc\u01f1\u01f2\u01f3"
    "\ufb00\ufb01\ufb02\ufb03\ufb04\ufb05\ufb06"
)
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})


@functools.lru_cache()
def bytes_to_unicode() -> Dict[int, str]:
    """GPT-2 byte table: each of the 256 byte values -> a printable Unicode character (not space/control)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table  # insertion order (printable bytes first) is the id order of the vocabulary


def _is_width_or_ligature(ch: str) -> bool:
    return ch in _LIGATURES or ch == "\u3000" or "\uff01" <= ch <= "\uffee"


def clean_text(text: str) -> str:
    """HTML-unescape twice, NFC, straight quotes, NFKC of full/half-width forms and Latin ligatures (the
    parts of ``ftfy.fix_text`` that change clean text), single spaces, stripped, lower-cased."""
    text = html.unescape(html.unescape(text))
    text = unicodedata.normalize("NFC", text).translate(_QUOTES)
    if any(map(_is_width_or_ligature, text)):
        text = "".join(unicodedata.normalize("NFKC", c) if _is_width_or_ligature(c) else c for c in text)
    return re.sub(r"\s+", " ", text).strip().lower()


def _kind(ch: str) -> str:
    if ch.isspace():
        return "space"
    cat = unicodedata.category(ch)
    return "letter" if cat.startswith("L") else "number" if cat.startswith("N") else "other"


def pre_tokenize(text: str) -> List[str]:
    """Split cleaned text into BPE pieces, the CLIP pattern
    ``<|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+``."""
    pieces, i, n = [], 0, len(text)
    while i < n:
        if text.startswith(START_TOKEN, i) or text.startswith(END_TOKEN, i):
            token = START_TOKEN if text.startswith(START_TOKEN, i) else END_TOKEN
            pieces.append(token)
            i += len(token)
            continue
        if text[i] == "'":
            suffix = next((c for c in _CONTRACTIONS if text.startswith(c, i + 1)), None)
            if suffix is not None:
                pieces.append("'" + suffix)
                i += 1 + len(suffix)
                continue
        kind = _kind(text[i])
        j = i + 1
        if kind == "space":
            i = j
            continue
        if kind in ("letter", "other"):
            while j < n and _kind(text[j]) == kind:
                j += 1
        pieces.append(text[i:j])
        i = j
    return pieces


class ClipTokenizer:
    """CLIP BPE tokenizer reading ``bpe_simple_vocab_16e6.txt.gz`` (or any file of the same layout).

    Args:
        vocab_path: gzip or plain text merges file, default :data:`DEFAULT_VOCAB_PATH`.
        num_merges: merges to use (CLIP: :data:`CLIP_NUM_MERGES`; fewer if the file has fewer).

    Attributes:
        vocab_size: 512 + merges + 2 (49408 for CLIP); ``sot_token`` = vocab_size - 2, ``eot_token`` = vocab_size - 1.

    Raises:
        FileNotFoundError: the vocabulary is missing (run ``bash downloads.sh``).
        ValueError: a malformed line in the file (named with its line number).
    """

    def __init__(self, vocab_path: Union[str, os.PathLike] = DEFAULT_VOCAB_PATH, num_merges: int = CLIP_NUM_MERGES):
        path = Path(vocab_path).expanduser()
        if not path.is_file():
            raise FileNotFoundError(
                f"CLIP BPE vocabulary not found: {path}. Run `bash downloads.sh` (it fetches "
                f"{DEFAULT_VOCAB_PATH}) or pass vocab_path="
            )
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as f:
            lines = f.read().split("\n")
        merges: List[Tuple[str, str]] = []
        for lineno, line in enumerate(lines[1 : num_merges + 1], start=2):
            if not line:
                continue
            parts = line.split()
            if len(parts) != 2:
                raise ValueError(f"{path}:{lineno}: expected a merge 'a b', got {line!r}")
            merges.append((parts[0], parts[1]))
        self.vocab_path = path
        self.byte_encoder = bytes_to_unicode()
        self.byte_decoder = {c: b for b, c in self.byte_encoder.items()}
        vocab = list(self.byte_encoder.values())
        vocab += [v + "</w>" for v in vocab]
        vocab += ["".join(m) for m in merges]
        vocab += [START_TOKEN, END_TOKEN]
        self.encoder: Dict[str, int] = {tok: i for i, tok in enumerate(vocab)}
        self.decoder: Dict[int, str] = {i: tok for tok, i in self.encoder.items()}
        self.bpe_ranks: Dict[Tuple[str, str], int] = {m: r for r, m in enumerate(merges)}
        self.vocab_size = len(vocab)
        self.sot_token = self.encoder[START_TOKEN]
        self.eot_token = self.encoder[END_TOKEN]
        self._cache: Dict[str, List[str]] = {START_TOKEN: [START_TOKEN], END_TOKEN: [END_TOKEN]}

    def bpe(self, piece: str) -> List[str]:
        """BPE symbols of one byte-encoded piece (the last symbol ends with ``</w>``)."""
        if piece in self._cache:
            return self._cache[piece]
        word = list(piece[:-1]) + [piece[-1] + "</w>"]
        while len(word) > 1:
            pairs = {(a, b) for a, b in zip(word, word[1:])}
            best = min(pairs, key=lambda p: self.bpe_ranks.get(p, float("inf")))
            if best not in self.bpe_ranks:
                break
            merged, i = [], 0
            while i < len(word):
                if i < len(word) - 1 and (word[i], word[i + 1]) == best:
                    merged.append(word[i] + word[i + 1])
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = merged
        self._cache[piece] = word
        return word

    def encode(self, text: str) -> List[int]:
        """Token ids of ``text`` without start/end tokens."""
        ids: List[int] = []
        for piece in pre_tokenize(clean_text(text)):
            if piece in (START_TOKEN, END_TOKEN):
                ids.append(self.encoder[piece])
                continue
            encoded = "".join(self.byte_encoder[b] for b in piece.encode("utf-8"))
            ids.extend(self.encoder[sym] for sym in self.bpe(encoded))
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        """Inverse of :meth:`encode` up to cleaning (``</w>`` becomes a space); a start token is dropped and
        decoding stops at the first end token (so a padded row of :meth:`__call__` decodes to its text)."""
        symbols = []
        for i in map(int, ids):
            if i == self.eot_token:
                break
            if i != self.sot_token:
                symbols.append(self.decoder[i])
        raw = bytearray(self.byte_decoder[c] for c in "".join(symbols))
        return raw.decode("utf-8", errors="replace").replace("</w>", " ").strip()

    def __call__(self, texts: Union[str, Sequence[str]], context_length: int = 77) -> torch.Tensor:
        """Tokenize a batch for the CLIP text tower.

        Args:
            texts: one string or a list of strings.
            context_length: tokens per row (77 for CLIP).

        Returns:
            int64 ``[B, context_length]``: ``sot, ids..., eot, 0, 0, ...``; texts longer than
            ``context_length - 2`` tokens are cut, keeping the end token last.

        Raises:
            TypeError: ``texts`` is not a string or a list of strings.
        """
        if isinstance(texts, str):
            texts = [texts]
        if not all(isinstance(t, str) for t in texts):
            raise TypeError(f"ClipTokenizer expects a str or a list of str, got {[type(t).__name__ for t in texts]}")
        out = torch.zeros(len(texts), context_length, dtype=torch.long)
        for row, text in enumerate(texts):
            ids = [self.sot_token] + self.encode(text)[: context_length - 2] + [self.eot_token]
            out[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        return out
