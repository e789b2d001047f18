"""The ``oracle`` backend: a simulation of an ideal generator, for measuring the loop's own value.

It answers every synthesis request with a real labelled sentence from a pool (``oracle:POOL``, a data file such
as ``${S3_MAGIC_DATA}/sst2/train.jsonl``), always of the requested label, never the same pool row twice in one
run: a seed request gets the unused pool sentence nearest in embedding to its rationales (joined with ``"; "``; a
random one when it has none), an error request the one nearest to the misclassified example, a ZeroGen request a
random one. A rationale request gets short snippets (the first words) of random pool sentences of the label, so
that seed queries spread over the label's real distribution instead of piling up around one description.
Nearness is the cosine of the student encoder's mean-pooled, L2-normalised embeddings
(:func:`s3_magic.student.fast.embed_examples`, the embedded MiniLM by default).

It reads what was asked from :attr:`Prompt.meta` (filled by :class:`s3_magic.prompts.Prompts`), never from the
prompt text, and handles single-text tasks only. Its choices depend on the order of the prompts (a row once given
is used up); "never twice" holds across processes, since the run shows a new instance the answers it has stored and
those served from the call cache (:meth:`Backend.observe`), so a resumed run goes on as an uninterrupted one would.
It reports 0 prompt and 0 completion tokens: no model is run, so the token columns and budgets stay those of real
LLM calls; the calls themselves are still counted.

The pool is the caller's responsibility: it must not hold the task's validation, check or test texts. The
backend cannot see those; the synthesis filters reject a copy of one (``copies_validation``, ``copies_check``,
``copies_test``), so a leaking pool shows up in the rejection counts.

Loading: the pool is read with :func:`s3_magic.data.load_examples` (columns ``text``/``label``, ``label_map``,
``labels`` for integer labels), exact repeats and texts that carry two labels are dropped, rows the output
cleaner would change or reject (shorter than ``min_words``, longer than ``max_words``, ...) are left out, and a
stratified sample of ``limit`` rows (seeded by ``seed``) is kept. Its embeddings are computed once and cached under
the user cache (``$S3_MAGIC_CACHE`` or ``~/.cache/s3_magic``, folder ``oracle/``), keyed by the pool file's content
hash, the selection options and the encoder.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from s3_magic.atomic import staged
from s3_magic.errors import BackendError, S3Error
from s3_magic.example import Example
from s3_magic.llm.base import Backend, Completion, GenParams, Prompt
from s3_magic.llm.options import OracleOptions

#: words of a pool sentence kept as one rationale
RATIONALE_WORDS = 8
_STEPS = ("rationale", "seed", "zerogen", "error")
_CACHE_VERSION = "1"
_HINT = "e.g. llm: {spec: 'oracle:${S3_MAGIC_DATA}/sst2/train.jsonl'}"


@dataclass
class OraclePool:
    """The selected pool rows, their embeddings and the row indices of each label."""

    texts: list[str]
    uids: list[str]
    labels: list[str]
    embeddings: np.ndarray  # (n, dim) float32, L2-normalised
    by_label: dict[str, np.ndarray]  # label -> row indices, ascending
    label_embeddings: dict[str, np.ndarray]  # label -> the embeddings of its rows, in that order


#: pools loaded in this process, by backend options and encoder (bench arms in one process share them)
_POOLS: dict[str, OraclePool] = {}
_POOLS_LOCK = threading.Lock()


class OracleBackend(Backend):
    """Answers with real pool sentences of the requested label (see the module docstring).

    Options (``llm.options``): ``pool`` (the pool path, instead of ``oracle:POOL``), ``format``, ``text``
    (column, default ``text``), ``label`` (column, default ``label``), ``label_map`` (raw value -> label name),
    ``labels`` (label names in the order of integer labels), ``limit`` (rows kept, default 20,000; ``null``: all),
    ``seed`` (int, default 0), ``min_words`` (default 6), ``max_words`` (default none), ``near_duplicate``
    (an answer is never a near copy, 3-gram Jaccard at least this, of an earlier answer; default 0.9, 1.0: exact
    only), ``encoder`` (default ``embedded``), ``device`` (``auto``), ``max_length`` (128), ``batch_size`` (128).
    """

    provider: ClassVar[str] = "oracle"
    default_chunk: ClassVar[int] = 256
    observes: ClassVar[bool] = True

    Options = OracleOptions

    def __init__(self, model: str = "", **options: object) -> None:
        opts = OracleOptions.check(options, "the oracle backend", "llm.options.", error=BackendError)
        model, pool = (model or "").strip(), (opts.pool or "").strip()
        if model and pool and model != pool:
            raise BackendError(f"the oracle pool is given twice ({model!r} in the spec, {pool!r} in options); keep one")
        where = model or pool
        if not where:
            raise BackendError(f"the oracle backend needs a pool of real labelled sentences; {_HINT}")
        super().__init__(where, **options)
        self.limit, self.seed, self.min_words, self.max_words = opts.limit, opts.seed, opts.min_words, opts.max_words
        self.near_duplicate, self.max_length, self.batch_size = opts.near_duplicate, opts.max_length, opts.batch_size
        self.labels = None if opts.labels is None else list(opts.labels)
        self.encoder_spec, self.device_spec = opts.encoder, opts.device
        self.source = self._source(where, opts)
        self.path = Path(self.source.path or "")
        self.digest = _digest(self.path)
        self._pool: OraclePool | None = None
        self._used: set[int] = set()
        self._deduper: Any = None
        #: answers given before this instance (the run's stored outputs, cache hits), applied once the pool is loaded
        self._observed: list[str] = []
        self._row_of: dict[str, int] = {}
        self._encoder_spec: tuple[str, str, bool] | None = None
        self._queries: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def _source(self, where: str, options: OracleOptions) -> Any:
        """The pool as a :class:`DataSource` with an absolute path; a one-line BackendError when it is wrong."""
        from pydantic import ValidationError

        from s3_magic.data_sources import DataSource, expand_path

        path = Path(expand_path(where)).resolve()
        if not path.exists():
            raise BackendError(f"the oracle pool {where!r} does not exist ({path}); give a labelled data file, {_HINT}")
        fields = {k: getattr(options, k) for k in ("format", "text", "label", "label_map")}
        fields = {k: v for k, v in fields.items() if v is not None}
        try:
            return DataSource(path=str(path), **fields)
        except ValidationError as exc:
            err = exc.errors()[0]
            key = ".".join(str(p) for p in err["loc"]) or "pool"
            raise BackendError(f"oracle option {key}: {err['msg'].removeprefix('Value error, ')}; fix it") from None

    @property
    def cache_salt(self) -> str:
        # everything that changes which sentence answers a prompt, the pool's content included
        parts = {
            "v": _CACHE_VERSION, "pool": self.digest, "columns": [self.source.text, self.source.label],
            "label_map": self.source.label_map, "labels": self.labels, "limit": self.limit,
            "seed": self.seed, "min_words": self.min_words, "max_words": self.max_words,
            "near_duplicate": self.near_duplicate, "encoder": self.encoder_spec, "max_length": self.max_length,
        }  # fmt: skip
        return "oracle=" + hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:24]

    # --- the pool ------------------------------------------------------------------------------------------------

    @property
    def pool(self) -> OraclePool:
        """The selected pool with its embeddings, loaded on first use (from the disk cache when it has them)."""
        if self._pool is None:
            self._pool = self._load_pool()
            self._row_of = {text: i for i, text in enumerate(self._pool.texts)}
            self._mark(self._observed)
            self._observed = []
        return self._pool

    def observe(self, texts: Sequence[str]) -> None:
        """Count answers given earlier in the run (by an earlier instance, or from the cache) as used, so that a
        resumed run goes on exactly as an uninterrupted one would."""
        if self._pool is None:
            self._observed.extend(texts)
        else:
            self._mark(texts)

    def _mark(self, texts: Sequence[str]) -> None:
        for text in texts:
            row = self._row_of.get(text)
            if row is not None:  # rationale lists and texts of other pools are not pool rows
                self._used.add(row)
                self.deduper.add(text)

    def _encoder(self) -> tuple[str, str, bool]:
        """(model source, device, bf16) of the encoder, resolved once."""
        if self._encoder_spec is None:
            try:
                from s3_magic.student.finetune import bf16_ok
                from s3_magic.student.models import pick_device, resolve_student_model
            except ImportError as exc:
                raise BackendError(
                    f"the oracle backend needs the student's packages ({exc.name}); pip install 's3-magic[local]'"
                ) from exc
            try:
                source, device = resolve_student_model(self.encoder_spec), pick_device(self.device_spec)
            except S3Error as exc:
                raise BackendError(f"oracle option encoder/device: {exc}") from None
            self._encoder_spec = (source, device, bf16_ok(device))
        return self._encoder_spec

    def _load_pool(self) -> OraclePool:
        from s3_magic.data import stratified_split

        source, device, bf16 = self._encoder()
        memo = json.dumps([self.cache_salt, _fingerprint(source), self.batch_size, bf16])
        with _POOLS_LOCK:
            if memo in _POOLS:
                return _POOLS[memo]
            examples = _usable(self._examples(), self.min_words, self.max_words)
            if not examples:
                raise BackendError(
                    f"the oracle pool {self.model!r} has no usable rows (min_words {self.min_words}); "
                    "give a larger pool or a lower llm.options.min_words"
                )
            if self.limit is not None and self.limit < len(examples) and len(examples) >= 2:
                examples = stratified_split(examples, self.limit, self.seed)[0]
            texts = [e.text for e in examples]
            selection = hashlib.sha256("\x1f".join(f"{e.label}\x1e{e.text}" for e in examples).encode()).hexdigest()
            key_parts = [_CACHE_VERSION, self.digest, selection, _fingerprint(source), self.max_length,
                         self.batch_size, bf16]  # fmt: skip
            key = hashlib.sha256(json.dumps(key_parts).encode()).hexdigest()[:32]
            vectors = _read_cached(key, len(texts))
            if vectors is None:
                from s3_magic.student.fast import embed_examples

                if self.notice is not None and len(texts) > 2000:
                    self.notice(f"oracle: embedding {len(texts):,} pool sentences once (cached for later runs)")
                vectors = embed_examples(
                    [Example(t, "") for t in texts], source, device, max_length=self.max_length,
                    batch_size=self.batch_size, bf16=bf16,
                )  # fmt: skip
                vectors = np.ascontiguousarray(vectors, dtype=np.float32)
                _write_cached(key, vectors)
            labels = [e.label for e in examples]
            by_label = {name: np.array([i for i, lab in enumerate(labels) if lab == name], dtype=np.int64)
                        for name in dict.fromkeys(labels)}  # fmt: skip
            per_label = {name: np.ascontiguousarray(vectors[rows]) for name, rows in by_label.items()}
            pool = OraclePool(texts, [e.uid for e in examples], labels, vectors, by_label, per_label)
            _POOLS[memo] = pool
            return pool

    def _examples(self) -> list[Example]:
        """The pool's rows as examples (label names mapped by ``label_map`` / ``labels``)."""
        from s3_magic.data import load_examples
        from s3_magic.data_sources import raw_key, read_source

        labels = self.labels
        if labels is None:
            table = read_source(self.source)
            raw = dict.fromkeys(raw_key(row.get(self.source.label)) for row in table.rows)
            mapping = self.source.label_map or {}
            unmapped = [k for k in raw if k not in mapping]
            if any(k.lstrip("+-").isdigit() for k in unmapped):
                raise BackendError(
                    f"the oracle pool {self.model!r} has integer labels; give llm.options.labels (the label names "
                    "in the order of their numbers) or llm.options.label_map"
                )
            labels = list(dict.fromkeys([*mapping.values(), *sorted(k for k in unmapped if k)]))
        return load_examples(self.source, labels=labels, pair=False, prefix="pool")

    # --- answering -----------------------------------------------------------------------------------------------

    def generate(self, prompts: Sequence[Prompt], params: GenParams) -> Iterator[tuple[int, Completion]]:
        for i, prompt in enumerate(prompts):
            with self._lock:
                completion = self._answer(prompt)
            yield i, completion

    def _answer(self, prompt: Prompt) -> Completion:
        meta = prompt.meta or {}
        step = meta.get("step")
        if step not in _STEPS:
            raise BackendError(
                "the oracle backend answers only the engine's own prompts (rationale, seed, zerogen, error), which "
                "say in Prompt.meta what they ask for; this prompt has no such meta"
            )
        if meta.get("context") is not None or meta.get("text_b") is not None:
            raise BackendError("the oracle backend simulates single-text tasks only; use another backend for pairs")
        pool = self.pool
        label = self._pool_label(str(meta.get("label", "")))
        if step == "rationale":
            return Completion(self._rationales(label, int(meta.get("n") or 12), prompt.sample), 0, 0)
        query = ""
        if step == "error":
            query = str(meta.get("text") or "")
        elif step == "seed":
            query = "; ".join(str(r) for r in meta.get("rationales") or ())
        row, similarity = self._nearest(label, query) if query.strip() else self._random(label, step, prompt.sample)
        self._used.add(row)
        self.deduper.add(pool.texts[row])
        extra = {"pool_uid": pool.uids[row], "similarity": similarity}
        return Completion(pool.texts[row], 0, 0, extra=extra)

    @property
    def deduper(self) -> Any:
        if self._deduper is None:
            from s3_magic.dedup import Deduper

            self._deduper = Deduper(self.near_duplicate)
        return self._deduper

    def _pool_label(self, label: str) -> str:
        by_label = self.pool.by_label
        if label in by_label:
            return label
        folded = {name.casefold(): name for name in by_label}
        if label.casefold() in folded:
            return folded[label.casefold()]
        raise BackendError(
            f"the oracle pool has no rows of label {label!r} (its labels: {', '.join(sorted(by_label))}); "
            "map the pool's labels to the task's with llm.options.label_map"
        )

    def _fits(self, row: int) -> bool:
        return row not in self._used and self.deduper.check(self.pool.texts[row]) is None

    def _exhausted(self, label: str) -> BackendError:
        return BackendError(
            f"the oracle pool has no unused {label!r} sentence left ({len(self.pool.by_label[label]):,} in the pool); "
            "give a larger pool or a higher llm.options.limit"
        )

    def _nearest(self, label: str, query: str) -> tuple[int, float]:
        """The unused row of ``label`` nearest to ``query`` (ties: the earlier row)."""
        rows = self.pool.by_label[label]
        sims = self.pool.label_embeddings[label] @ self._embed_query(query)
        for j in np.argsort(-sims, kind="stable"):
            if self._fits(int(rows[j])):
                return int(rows[j]), float(sims[j])
        raise self._exhausted(label)

    def _random(self, label: str, step: str, sample: str) -> tuple[int, float | None]:
        """A random unused row of ``label``, drawn from the backend seed and the prompt's sample key."""
        rows = self.pool.by_label[label]
        rng = random.Random(f"oracle:{self.seed}:{step}:{label}:{sample}")
        for _ in range(64):
            row = int(rows[rng.randrange(len(rows))])
            if self._fits(row):
                return row, None
        start = rng.randrange(len(rows))
        for j in range(len(rows)):
            row = int(rows[(start + j) % len(rows)])
            if self._fits(row):
                return row, None
        raise self._exhausted(label)

    def _rationales(self, label: str, n: int, sample: str) -> str:
        """``n`` numbered lines, each the first words of a random pool sentence of ``label``."""
        rows = self.pool.by_label[label]
        rng = random.Random(f"oracle:{self.seed}:rationale:{label}:{sample}")
        picked = rng.sample(range(len(rows)), min(len(rows), 4 * n))
        lines: dict[str, str] = {}
        for j in picked:
            words = [w for w in self.pool.texts[int(rows[j])].split() if any(ch.isalnum() for ch in w)]
            snippet = " ".join(words[:RATIONALE_WORDS])
            if len(words) >= 3:
                lines.setdefault(snippet.casefold(), snippet)
            if len(lines) >= n:
                break
        return "\n".join(f"{i + 1}. {line}" for i, line in enumerate(lines.values()))

    def _embed_query(self, query: str) -> np.ndarray:
        """The query's embedding, computed alone (no padding), so it never depends on which prompts share a call."""
        if query not in self._queries:
            from s3_magic.student.fast import embed_examples

            source, device, bf16 = self._encoder()
            vector = embed_examples([Example(query, "")], source, device, max_length=self.max_length, bf16=bf16)
            self._queries[query] = vector[0].astype(np.float32)
        return self._queries[query]


# --- helpers ---------------------------------------------------------------------------------------------------------


def _usable(examples: Sequence[Example], min_words: int, max_words: int | None) -> list[Example]:
    """Rows the engine's output cleaner keeps unchanged, each text once (texts that carry two labels dropped)."""
    from s3_magic.clean import clean_text
    from s3_magic.dedup import normalize

    labels: dict[str, set[str]] = {}
    for e in examples:
        labels.setdefault(normalize(e.text), set()).add(e.label)
    seen: set[str] = set()
    kept = []
    for e in examples:
        norm = normalize(e.text)
        if norm in seen or len(labels[norm]) > 1 or not norm:
            continue
        seen.add(norm)
        cleaned = clean_text(e.text, min_words=min_words, max_words=max_words or 10**9)
        if cleaned.reason is None and cleaned.text == " ".join(e.text.split()):
            kept.append(e)
    return kept


def _cache_dir() -> Path:
    from s3_magic.llm.embedded import cache_root

    return cache_root() / "oracle"


def _read_cached(key: str, n: int) -> np.ndarray | None:
    path = _cache_dir() / f"{key}.npy"
    try:
        vectors = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None
    return vectors if vectors.ndim == 2 and vectors.shape[0] == n and vectors.dtype == np.float32 else None


def _write_cached(key: str, vectors: np.ndarray) -> None:
    """Write atomically (a temporary file renamed into place); a cache that cannot be written is skipped."""
    with contextlib.suppress(OSError), staged(_cache_dir() / f"{key}.npy") as tmp, tmp.open("wb") as fh:
        np.save(fh, vectors, allow_pickle=False)


def _digest(path: Path) -> str:
    """The pool's content hash: sha256 of the file (a folder: of its files' names, sizes and bytes)."""
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    try:
        for file in files:
            if path.is_dir():
                h.update(f"{file.relative_to(path)}\0{file.stat().st_size}\0".encode())
            with open(file, "rb") as fh:
                while block := fh.read(1 << 20):
                    h.update(block)
    except OSError as exc:
        raise BackendError(f"cannot read the oracle pool {str(path)!r} ({exc.strerror}); check the file") from None
    return h.hexdigest()[:32]


def _fingerprint(source: str) -> str:
    """The encoder's identity for the embedding cache: a folder's config and weight file sizes, or a Hub id."""
    folder = Path(source)
    if not folder.is_dir():
        return source
    h = hashlib.sha256()
    config = folder / "config.json"
    if config.is_file():
        h.update(config.read_bytes())
    for file in sorted(folder.iterdir()):
        if file.suffix in (".safetensors", ".bin", ".json", ".txt") and file.is_file():
            h.update(f"{file.name}\0{file.stat().st_size}\0".encode())
    return h.hexdigest()[:32]
