#!/usr/bin/env bash
# The Ray executor's suite, in its own venv (.venv-ray: Ray Data and its dependencies stay out of
# the core install). Idempotent: the venv is made once, then the suite runs.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PIP_DISABLE_PIP_VERSION_CHECK=1
[ -x .venv-ray/bin/python ] || python3 -m venv .venv-ray
.venv-ray/bin/pip install -q -e '.[ray,model-0-5b]' 'pytest>=8' 'pytest-asyncio>=0.23'
.venv-ray/bin/python -m pytest -q -p no:cacheprovider suites/ray "$@"
