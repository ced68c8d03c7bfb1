"""A model pack's GGUF as a Hugging Face folder (bf16) that vLLM loads, made once, beside the
assembled GGUF in glan's model cache (~/.cache/glan/models or $GLAN_MODEL_DIR).

vLLM's own GGUF loader fails on these files (it reads the .gguf path as config.json);
transformers dequantizes the GGUF and saves a normal folder. Usage (in the vLLM venv):

    python suites/vllm/convert.py [DEST]     # prints the folder; a no-op when it exists
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from glan.llm.packs import PACKS, cache_dir, resolve_model

PACK = "qwen2.5-coder-0.5b"


def hf_dir(pack: str = PACK) -> Path:
    """Where the folder of `pack` goes by default (named by the GGUF's sha256, like the GGUF)."""
    return cache_dir() / f"{pack}-{PACKS[pack].sha256[:12]}-hf"


def convert(dest: Path | None = None, pack: str = PACK) -> Path:
    """`dest` (default: hf_dir), made from the model pack `pack` unless it exists."""
    dest = dest or hf_dir(pack)
    if (dest / "config.json").is_file():
        return dest
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = resolve_model(pack)
    tmp = dest.with_name(dest.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name).save_pretrained(tmp)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.bfloat16)
    model.hf_quantizer = None  # else save_pretrained refuses a model loaded from GGUF
    del model.config.quantization_config
    model.save_pretrained(tmp)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(dest, ignore_errors=True)  # not ours: a folder without config.json
    os.replace(tmp, dest)  # whole or absent: config.json marks a finished folder
    return dest


if __name__ == "__main__":
    if len(sys.argv) > 2:
        sys.exit(__doc__)
    print(convert(Path(sys.argv[1]) if len(sys.argv) == 2 else None))
