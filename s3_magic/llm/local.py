"""Local transformers backend: the embedded SmolLM2 model, a local model folder or a Hub id.

Generation uses continuous batching (:mod:`s3_magic.llm.local_batching`) instead of ``model.generate``: all the
prompts of a call go through ``batch_size`` batch slots, a finished row's slot is refilled with the next prompt,
the cache is written in place, the prefix all prompts share and identical prompts are computed once, nucleus
sampling avoids sorting the whole vocabulary, the embedded model runs in bf16 where the CPU has native bf16 (from a
bf16 copy of its weights), and results are yielded as each row finishes.
Each prompt draws its random numbers from its own stream, seeded from the backend seed, the prompt's messages
and its ``sample``, so repeating a request repeats its outputs.
"""

from __future__ import annotations

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
from s3_magic.llm.local_batching import BatchStats, ContinuousBatcher, torch_threads  # noqa: F401 - re-exported
from s3_magic.llm.options import LocalOptions

EMBEDDED_NAMES = ("", "embedded")
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

    from s3_magic.llm.embedded import weights_folder

    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        weights = weights_folder(Path(path), str(dtype).removeprefix("torch.")) if Path(path).is_dir() else path
        model = AutoModelForCausalLM.from_pretrained(weights, dtype=dtype)
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BackendError(
            f"cannot load local model {path!r} ({first}); give a model folder or a reachable Hub id"
        ) from None
    model.to(device).eval()  # type: ignore[arg-type]  # transformers' @wraps(Module.to) hides the bound self
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
    #: the batcher keeps its batch full across a call, so a step's prompts are handed over at once (results still
    #: come as each row finishes, roughly in prompt order)
    default_chunk: ClassVar[int] = 1024

    Options = LocalOptions

    def __init__(self, model: str = "", **options: object) -> None:
        opts = LocalOptions.check(options, "the local backend", "llm.options.", error=BackendError)
        super().__init__(model, **options)
        self.batch_size, self.seed = opts.batch_size, opts.seed
        self.device = resolve_device(opts.device)
        self.dtype = resolve_dtype(opts.dtype, self.device)
        self.threads = None if opts.threads in (None, "auto") else int(opts.threads)
        self.path = resolve_model_path(model)
        self._loaded: LoadedModel | None = None
        self._batcher: ContinuousBatcher | None = None

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

    @property
    def batcher(self) -> ContinuousBatcher:
        """The continuous batcher over the loaded model (its ``stats`` sum up every call of this backend)."""
        if self._batcher is None:
            lm = self.loaded
            self._batcher = ContinuousBatcher(
                lm.model, lm.cache_kwarg, lm.stop_ids, self.device, self.batch_size, self.threads
            )
        return self._batcher

    @property
    def batch_stats(self) -> BatchStats:
        """Tokens, forward passes, seconds and batch occupancy of this backend's generation so far."""
        return self._batcher.stats if self._batcher is not None else BatchStats()

    def prepare(self) -> None:
        self.batcher  # noqa: B018 - loads the model

    def batch_occupancy(self) -> tuple[int, int]:
        stats = self.batch_stats
        return stats.live_rows, stats.capacity_rows

    def generate(self, prompts: Sequence[Prompt], params: GenParams) -> Iterator[tuple[int, Completion]]:
        if not prompts:
            return
        tokenizer = self.loaded.tokenizer
        encoded = [self._encode(p) for p in prompts]
        max_new = max(params.max_tokens, 0)
        uniforms = torch.stack(
            [torch.rand(max_new, generator=torch.Generator().manual_seed(row_seed(self.seed, p))) for p in prompts]
        )

        def sample(logits: torch.Tensor, rows: list[int], steps: list[int]) -> torch.Tensor:
            draws = uniforms[rows, steps].to(logits.device)
            return sample_tokens(logits, params.temperature, params.top_p, draws)

        for index, tokens in self.batcher.run(encoded, max_new, sample):
            text = tokenizer.decode(tokens, skip_special_tokens=True).strip()
            yield index, Completion(text, len(encoded[index]), len(tokens))

    def _encode(self, prompt: Prompt) -> list[int]:
        tokenizer = self.loaded.tokenizer
        text = tokenizer.apply_chat_template(list(prompt.messages), add_generation_prompt=True, tokenize=False)
        ids: list[int] = tokenizer(text, add_special_tokens=False)["input_ids"]
        return ids
