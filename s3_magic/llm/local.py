"""Local transformers backend: the embedded SmolLM2 model, a local model folder or a Hub id.

Generation uses a hand-written batched decode loop instead of ``model.generate`` (≈3-5x faster on CPU):
prompts of similar length share a batch (left padding), the prompt prefix they all share is computed once,
rows that hit a stop token are dropped from the batch, nucleus sampling avoids sorting the whole vocabulary,
the embedded model runs in bf16 where the CPU has native bf16, and results are yielded as each row finishes.
Each prompt draws its random numbers from its own stream, seeded from the backend seed, the prompt's messages
and its ``sample``, so repeating a request repeats its outputs.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch

from s3_magic.errors import BackendError
from s3_magic.llm.base import Backend, Completion, GenParams, Prompt

EMBEDDED_NAMES = ("", "embedded")
DEFAULT_BATCH_SIZE = 128
_OPTIONS = {"batch_size", "device", "seed", "dtype", "threads"}
_DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}
#: top-k sizes tried, in turn, before a full sort when finding the top-p nucleus
_NUCLEUS_TIERS = (256, 4096)


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    stop_ids: list[int]
    cache_kwarg: str  # "cache" (transformers >= 5.x) or "past_key_values"


_LOADED: dict[tuple[str, str, str], LoadedModel] = {}
_LOAD_LOCK = threading.Lock()


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def cpu_has_fast_bf16() -> bool:
    """True when this CPU runs bf16 matmuls natively (AMX or AVX512-BF16)."""
    try:
        return bool(torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_dtype(dtype: str | None, device: str) -> torch.dtype:
    """``None``/``"auto"``: bf16 on GPUs and on CPUs with native bf16, else fp32."""
    if dtype in (None, "auto"):
        if device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.bfloat16 if device == "cpu" and cpu_has_fast_bf16() else torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in _DTYPES:
        raise BackendError(f"unknown dtype {dtype!r} for the local backend; use one of auto, {', '.join(_DTYPES)}")
    return _DTYPES[dtype]


def resolve_model_path(model: str) -> str:
    """``""``/``"embedded"`` → the converted embedded model; an existing folder; else a Hub id."""
    if model in EMBEDDED_NAMES:
        from s3_magic.llm.embedded import ensure_embedded_llm

        return str(ensure_embedded_llm())
    path = Path(model).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise BackendError(f"{model} is not a transformers model folder (no config.json); give a model folder")
        return str(path.resolve())
    looks_like_path = model.startswith((".", "/", "~")) or model.count("/") > 1 or "\\" in model
    if looks_like_path:
        raise BackendError(f"local model folder {model} does not exist; give an existing folder or a Hub id")
    return model


def load_model(path: str, device: str, dtype: torch.dtype) -> LoadedModel:
    """Load (once per process) the model and tokenizer at ``path`` onto ``device`` in ``dtype``."""
    key = (path, device, str(dtype))
    with _LOAD_LOCK:
        if key not in _LOADED:
            _LOADED[key] = _load_uncached(path, device, dtype)
        return _LOADED[key]


def _load_uncached(path: str, device: str, dtype: torch.dtype) -> LoadedModel:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BackendError(
            f"cannot load local model {path!r} ({first}); give a model folder or a reachable Hub id"
        ) from None
    model.to(device).eval()
    if tokenizer.chat_template is None:
        raise BackendError(f"model {path!r} has no chat template; use an instruction-tuned (chat) model")
    stop_ids = _stop_ids(tokenizer, model.generation_config)
    if not stop_ids:
        raise BackendError(f"model {path!r} defines no end-of-sequence token; use a chat model with an EOS token")
    params = inspect.signature(model.forward).parameters
    cache_kwarg = "cache" if "cache" in params else "past_key_values"
    return LoadedModel(model, tokenizer, stop_ids, cache_kwarg)


def _stop_ids(tokenizer: Any, generation_config: Any) -> list[int]:
    ids: set[int] = set()
    eos = getattr(generation_config, "eos_token_id", None)
    ids.update([eos] if isinstance(eos, int) else list(eos or []))
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    if isinstance(im_end, int) and im_end != tokenizer.unk_token_id:
        ids.add(im_end)
    return sorted(ids)


def row_seed(seed: int, prompt: Prompt) -> int:
    blob = f"{seed}\0{prompt.hash}\0{prompt.sample}".encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:8], "little") & ((1 << 63) - 1)


def sample_tokens(logits: torch.Tensor, temperature: float, top_p: float, uniforms: torch.Tensor) -> torch.Tensor:
    """Pick one token per row: greedy when ``temperature <= 0``, else nucleus sampling by inverse CDF.

    ``uniforms`` holds one U(0,1) draw per row, so each row's choice depends only on its own random stream.
    The nucleus is exact: each row looks at its top 256, then top 4096 tokens, and is fully sorted only when
    even those hold less than ``top_p`` of the mass (sorting 49k tokens per row is the slow part otherwise).
    """
    if temperature <= 0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    if top_p >= 1.0:
        return _search(probs, uniforms).squeeze(-1)
    vocab = probs.shape[-1]
    out = torch.empty(probs.shape[0], dtype=torch.long, device=probs.device)
    todo = torch.arange(probs.shape[0], device=probs.device)
    for k in (*(k for k in _NUCLEUS_TIERS if k < vocab), vocab):
        sub = probs if todo.numel() == probs.shape[0] else probs[todo]
        vals, idx = sub.sort(dim=-1, descending=True) if k == vocab else sub.topk(k, dim=-1)
        fits = vals.sum(dim=-1) >= top_p if k < vocab else torch.ones_like(todo, dtype=torch.bool)
        rows = todo[fits]
        out[rows] = _nucleus_pick(vals[fits], idx[fits], top_p, uniforms[rows])
        todo = todo[~fits]
        if todo.numel() == 0:
            break
    return out


def _nucleus_pick(vals: torch.Tensor, idx: torch.Tensor, top_p: float, uniforms: torch.Tensor) -> torch.Tensor:
    before = vals.cumsum(dim=-1) - vals  # mass of the more likely tokens; keep a token while that is < top_p
    kept = torch.where(before < top_p, vals, torch.zeros_like(vals))
    return idx.gather(-1, _search(kept, uniforms)).squeeze(-1)


def _search(weights: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
    cdf = weights.cumsum(dim=-1)
    target = (uniforms.to(cdf.dtype) * cdf[:, -1]).unsqueeze(-1)
    return torch.searchsorted(cdf, target, right=True).clamp_(max=weights.shape[-1] - 1)


class LocalBackend(Backend):
    """Generate with a local causal LM (the embedded SmolLM2-135M-Instruct by default).

    Options: ``batch_size`` (prompts per forward batch), ``device`` (``"auto"``, ``"cpu"``, ``"cuda"``...),
    ``seed`` (int), ``dtype`` (``"auto"``, ``"float32"``, ``"bfloat16"``, ``"float16"``) and ``threads``
    (torch CPU threads while generating; default: torch's setting, i.e. all cores). On a machine shared with
    other busy processes pass ``threads=1``: on 2 cores, 2 spinning OpenMP threads slow down 10-30x as soon
    as another process wants a core, while 1 thread keeps ~70% of the 2-thread speed.
    """

    provider: ClassVar[str] = "local"
    default_chunk: ClassVar[int] = 256
    first_chunk: ClassVar[int | None] = 8

    def __init__(self, model: str = "", **options: object) -> None:
        unknown = sorted(set(options) - _OPTIONS)
        if unknown:
            raise BackendError(
                f"unknown option(s) {', '.join(unknown)} for the local backend; use {', '.join(sorted(_OPTIONS))}"
            )
        super().__init__(model, **options)
        self.batch_size = _positive_int(options.get("batch_size", DEFAULT_BATCH_SIZE), "batch_size")
        self.seed = _int(options.get("seed", 0), "seed")
        self.device = resolve_device(str(options.get("device", "auto")))
        self.dtype = resolve_dtype(options.get("dtype"), self.device)  # type: ignore[arg-type]
        threads = options.get("threads")
        self.threads = None if threads in (None, "auto") else _positive_int(threads, "threads")
        self.path = resolve_model_path(model)
        self._loaded: LoadedModel | None = None

    @property
    def cache_salt(self) -> str:
        # the sampling seed picks each answer's random stream; a seed of 0 keeps the plain key
        return f"seed={self.seed}" if self.seed else ""

    @property
    def loaded(self) -> LoadedModel:
        """The model and tokenizer, loaded on first use (shared by all backends in this process)."""
        if self._loaded is None:
            self._loaded = load_model(self.path, self.device, self.dtype)
        return self._loaded

    def generate(self, prompts: Sequence[Prompt], params: GenParams) -> Iterator[tuple[int, Completion]]:
        if not prompts:
            return
        tokenizer = self.loaded.tokenizer
        encoded = [self._encode(p) for p in prompts]
        order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))  # length grouping
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            seeds = [row_seed(self.seed, prompts[i]) for i in rows]
            for row, tokens in self._decode_batch([encoded[i] for i in rows], seeds, params):
                index = rows[row]
                text = tokenizer.decode(tokens, skip_special_tokens=True).strip()
                yield index, Completion(text, len(encoded[index]), len(tokens))

    def _encode(self, prompt: Prompt) -> list[int]:
        tokenizer = self.loaded.tokenizer
        text = tokenizer.apply_chat_template(list(prompt.messages), add_generation_prompt=True, tokenize=False)
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    def _decode_batch(
        self, batch: list[list[int]], seeds: list[int], params: GenParams
    ) -> Iterator[tuple[int, list[int]]]:
        max_new = max(params.max_tokens, 0)
        uniforms = torch.stack([torch.rand(max_new, generator=torch.Generator().manual_seed(s)) for s in seeds])
        return decode_batch(self.loaded, batch, uniforms.to(self.device), params, self.device, self.threads)


#: finished rows stay in the batch (their tokens ignored) until they are this share of it, then the
#: KV cache is compacted; compacting on every finished row costs more in copies than it saves
_COMPACT_SHARE = 0.2
#: shortest common prompt prefix worth computing once per batch instead of once per row
_MIN_SHARED_PREFIX = 8


@torch.inference_mode()
def decode_batch(
    lm: LoadedModel,
    batch: list[list[int]],
    uniforms: torch.Tensor,
    params: GenParams,
    device: str,
    threads: int | None = None,
) -> Iterator[tuple[int, list[int]]]:
    """Decode one left-padded batch; yield ``(row, new token ids incl. the stop token)`` as each row finishes.

    ``uniforms[row, step]`` is the random draw of ``row`` at ``step`` (see :func:`sample_tokens`). ``threads``
    applies to the computation only (not to the caller's code between yields).
    """
    n, max_new = len(batch), params.max_tokens
    if max_new <= 0:
        yield from ((row, []) for row in range(n))
        return
    cache = _new_cache(lm.model)
    with torch_threads(threads):
        shared = _prefill_shared_prefix(lm, batch, cache, device)
    suffixes = [ids[shared:] for ids in batch]
    width = max(len(ids) for ids in suffixes)
    input_ids = torch.tensor([[lm.stop_ids[0]] * (width - len(ids)) + ids for ids in suffixes], device=device)
    suffix_mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in suffixes], device=device)
    positions = (suffix_mask.cumsum(-1) - 1).clamp_(min=0) + shared
    mask = torch.cat([suffix_mask.new_ones(n, shared), suffix_mask], dim=-1)  # [shared prefix][pads][suffix]
    stop = set(lm.stop_ids)
    rows = list(range(n))  # original row of each batch slot; None once that row has finished
    present = torch.arange(n, device=device)  # original row of each slot, for indexing ``uniforms``
    generated: list[list[int]] = [[] for _ in range(n)]
    for step in range(max_new):
        with torch_threads(threads):
            out = lm.model(
                input_ids=input_ids,
                attention_mask=mask,
                position_ids=positions,
                use_cache=True,
                logits_to_keep=1,
                **{lm.cache_kwarg: cache},
            )
            nxt = sample_tokens(out.logits[:, -1, :], params.temperature, params.top_p, uniforms[present, step])
        for slot, tok in enumerate(nxt.tolist()):
            row = rows[slot]
            if row is None:
                continue
            generated[row].append(tok)
            if tok in stop or step == max_new - 1:
                rows[slot] = None
                yield row, generated[row]
        live = [slot for slot, row in enumerate(rows) if row is not None]
        if not live:
            return
        if len(rows) - len(live) >= max(1, _COMPACT_SHARE * len(rows)):
            keep = torch.tensor(live, device=device)
            _select_rows(cache, keep)
            rows = [rows[slot] for slot in live]
            present, nxt, mask, positions = present[keep], nxt[keep], mask[keep], positions[keep]
        input_ids = nxt.unsqueeze(-1)
        positions = positions[:, -1:] + 1
        mask = torch.cat([mask, mask.new_ones(mask.shape[0], 1)], dim=-1)


def _prefill_shared_prefix(lm: LoadedModel, batch: list[list[int]], cache: Any, device: str) -> int:
    """Run the tokens every prompt starts with (system prompt, chat markup) once and copy their KV to each row.

    Returns how many tokens were shared (0 when the prompts share too little to bother).
    """
    shared = min(len(ids) for ids in batch) - 1  # every row keeps at least one token of its own
    first = batch[0]
    for ids in batch[1:]:
        shared = next((i for i in range(shared) if ids[i] != first[i]), shared)
    if len(batch) < 2 or shared < _MIN_SHARED_PREFIX:
        return 0
    prefix = torch.tensor([first[:shared]], device=device)
    lm.model(
        input_ids=prefix,
        attention_mask=torch.ones_like(prefix),
        position_ids=torch.arange(shared, device=device)[None],
        use_cache=True,
        logits_to_keep=1,
        **{lm.cache_kwarg: cache},
    )
    cache.batch_repeat_interleave(len(batch))
    return shared


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run the block with ``threads`` torch CPU threads (``None``: unchanged), then restore the setting."""
    before = torch.get_num_threads()
    if threads is None or threads == before:
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _select_rows(cache: Any, keep: torch.Tensor) -> None:
    """Keep only the ``keep`` rows of the KV cache (``index_select`` copies ~5x faster than fancy indexing)."""
    from transformers.cache_utils import DynamicLayer

    layers = getattr(cache, "layers", None)
    plain = layers and all(type(layer).batch_select_indices is DynamicLayer.batch_select_indices for layer in layers)
    if not plain:
        cache.batch_select_indices(keep)
        return
    for layer in layers:
        if layer.keys is not None and layer.keys.numel():
            layer.keys = layer.keys.index_select(0, keep)
            layer.values = layer.values.index_select(0, keep)


def _new_cache(model: Any) -> Any:
    from transformers import DynamicCache

    try:
        return DynamicCache(config=model.config)
    except TypeError:  # older transformers
        return DynamicCache()


def _positive_int(value: object, name: str) -> int:
    number = _int(value, name)
    if number < 1:
        raise BackendError(f"local backend option {name} must be a positive integer, got {value!r}")
    return number


def _int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise BackendError(f"local backend option {name} must be an integer, got {value!r}")
    try:
        return int(value)
    except ValueError:
        raise BackendError(f"local backend option {name} must be an integer, got {value!r}") from None
