"""The 0.5B model pack as a Hugging Face folder (bf16) that vLLM loads, made once, beside the
assembled GGUF in glan's model cache (~/.cache/glan/models or $GLAN_MODEL_DIR).

vLLM's own GGUF loader fails on these files (it reads the .gguf path as config.json);
transformers dequantizes the GGUF and saves a normal folder (glan.train.hf_model). Usage (in the
vLLM venv):

    python suites/vllm/convert.py [DEST]     # prints the folder; a no-op when it exists
"""

from __future__ import annotations

import sys
from pathlib import Path

from glan.train.hf_model import VLLM_PACK, convert, hf_dir

__all__ = ["VLLM_PACK", "convert", "hf_dir"]

if __name__ == "__main__":
    if len(sys.argv) > 2:
        sys.exit(__doc__)
    print(convert(Path(sys.argv[1]) if len(sys.argv) == 2 else None))
