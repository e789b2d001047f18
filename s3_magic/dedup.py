"""Exact and near-duplicate detection for synthetic texts.

Texts are normalised (casefold, punctuation dropped, whitespace collapsed); exact copies match on the
normalised string, near copies on the Jaccard similarity of character 3-gram sets. Candidates come from
a MinHash-LSH index and are then verified exactly, so a check costs about the same at 20 or 20,000 texts.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

import numpy as np

from s3_magic.errors import ConfigError

_NUM_PERM = 128
_RNG = np.random.default_rng(0x5353)  # fixed: results never depend on the process
_A = _RNG.integers(1, 2**32, size=(_NUM_PERM, 1), dtype=np.uint32) | np.uint32(1)
_B = _RNG.integers(0, 2**32, size=(_NUM_PERM, 1), dtype=np.uint32)
_MIX = np.uint64(0x9E3779B97F4A7C15)
_APOSTROPHES = re.compile(r"['’`´]")
_NON_WORD = re.compile(r"[\W_]+")
_TAG = re.compile(r"[a-z][a-z0-9_]*")


def normalize(text: str) -> str:
    """The form exact duplicates are compared in: casefolded, no punctuation, single spaces."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_NON_WORD.sub(" ", _APOSTROPHES.sub("", text)).split())


def shingles(norm: str) -> np.ndarray:
    """Sorted unique 32-bit ids of the character 3-grams of a normalised text (padded with spaces)."""
    padded = f" {norm} ".ljust(3)
    codes = np.frombuffer(padded.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    grams = (codes[:-2] << np.uint64(42)) | (codes[1:-1] << np.uint64(21)) | codes[2:]  # injective: 3 x 21 bits
    return np.unique(((grams * _MIX) >> np.uint64(32)).astype(np.uint32))


def jaccard(a: str, b: str) -> float:
    """Character 3-gram Jaccard similarity of two texts after :func:`normalize`."""
    return _jaccard(shingles(normalize(a)), shingles(normalize(b)))


def _jaccard(x: np.ndarray, y: np.ndarray) -> float:
    inter = len(np.intersect1d(x, y, assume_unique=True))
    return inter / (len(x) + len(y) - inter)


def _rows_per_band(threshold: float) -> int:
    """Most rows per band that still makes a pair at ``threshold`` a candidate with probability >= 0.995."""
    for rows in range(32, 1, -1):
        if 1 - (1 - threshold**rows) ** (_NUM_PERM // rows) >= 0.995:
            return rows
    return 1


def _signature(grams: np.ndarray) -> np.ndarray:
    """MinHash signature: the minimum of each of ``_NUM_PERM`` multiply-add hashes over the 3-grams."""
    buf = np.multiply(_A, grams[None, :])  # uint32, wrapping: cheap, and candidates are verified exactly
    buf += _B
    signature: np.ndarray = buf.min(axis=1)
    return signature


class _Index:
    """Normalised texts with exact lookup and MinHash-LSH candidate search, verified by exact Jaccard."""

    #: candidates whose signature-estimated similarity is this far below the threshold are not verified
    _MARGIN = 0.2

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.rows = _rows_per_band(threshold)
        self.exact: dict[str, int] = {}
        self.grams: list[np.ndarray] = []
        self.tags: list[str] = []
        self.sigs = np.empty((64, _NUM_PERM), dtype=np.uint32)
        self.buckets: dict[bytes, list[int]] = {}

    def _band_keys(self, sig: np.ndarray) -> list[bytes]:
        r = self.rows
        return [bytes([i]) + sig[i * r : (i + 1) * r].tobytes() for i in range(_NUM_PERM // r)]

    def add(self, norm: str, grams: np.ndarray, tag: str) -> None:
        if norm in self.exact:
            return
        idx = len(self.grams)
        self.exact[norm] = idx
        self.grams.append(grams)
        self.tags.append(tag)
        if self.threshold >= 1.0:
            return
        if idx == len(self.sigs):
            self.sigs = np.concatenate([self.sigs, np.empty_like(self.sigs)])
        sig = self.sigs[idx] = _signature(grams)
        for key in self._band_keys(sig):
            self.buckets.setdefault(key, []).append(idx)

    def find(self, norm: str, grams: np.ndarray) -> tuple[str, str] | None:
        """``("exact" | "near", tag)`` of the first stored text that matches, else None."""
        if norm in self.exact:
            return "exact", self.tags[self.exact[norm]]
        if self.threshold >= 1.0 or not self.grams:
            return None
        sig = _signature(grams)
        found: set[int] = set()
        for key in self._band_keys(sig):
            found.update(self.buckets.get(key, ()))
        if not found:
            return None
        candidates = np.array(sorted(found))
        estimate = (self.sigs[candidates] == sig).mean(axis=1)
        n = len(grams)
        for idx in candidates[estimate >= self.threshold - self._MARGIN].tolist():
            other = self.grams[idx]
            if min(n, len(other)) >= self.threshold * max(n, len(other)) and _jaccard(grams, other) >= self.threshold:
                return "near", self.tags[idx]
        return None


class Deduper:
    """Rejects texts that repeat an accepted text or copy a reference (validation/test) text.

    ``check`` returns None or one reason: ``"copies_<tag>"`` (exact or near copy of a reference text added
    with that tag, checked first), ``"duplicate"`` (same normalised text as an accepted one) or
    ``"near_duplicate"`` (3-gram Jaccard >= ``threshold`` with an accepted one). ``threshold`` 1.0 means exact
    matches only; ``reference_threshold`` (default: ``threshold``) applies to reference texts.
    """

    def __init__(self, threshold: float = 0.9, *, reference_threshold: float | None = None) -> None:
        for name, value in (("threshold", threshold), ("reference_threshold", reference_threshold)):
            if value is not None and not 0.0 < value <= 1.0:
                raise ConfigError(f"{name} must be in (0, 1], got {value}; 0.9 is a good default")
        self.threshold = threshold
        self._accepted = _Index(threshold)
        self._reference = _Index(threshold if reference_threshold is None else reference_threshold)

    def __len__(self) -> int:
        return len(self._accepted.grams)

    def add_reference(self, texts: Iterable[str], tag: str) -> None:
        """Register real texts that synthetic texts must not copy; a copy is reported as ``copies_<tag>``."""
        if not _TAG.fullmatch(tag):
            raise ConfigError(f"reference tag {tag!r} must be lower-case letters, digits and _, e.g. 'validation'")
        for text in texts:
            norm = normalize(text)
            self._reference.add(norm, shingles(norm), tag)

    def check(self, text: str) -> str | None:
        """The reason ``text`` must be rejected, or None when it is new."""
        norm = normalize(text)
        grams = shingles(norm)
        found = self._reference.find(norm, grams)
        if found:
            return f"copies_{found[1]}"
        found = self._accepted.find(norm, grams)
        if found:
            return "duplicate" if found[0] == "exact" else "near_duplicate"
        return None

    def add(self, text: str) -> None:
        """Register an accepted text; later near copies of it are rejected."""
        norm = normalize(text)
        self._accepted.add(norm, shingles(norm), "accepted")

    def check_and_add(self, text: str) -> str | None:
        """:meth:`check`, then :meth:`add` when the text is accepted."""
        reason = self.check(text)
        if reason is None:
            self.add(text)
        return reason
