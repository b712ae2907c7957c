#!/usr/bin/env bash
# Shared set-up for the README's commands: a venv in .venv with the build and
# test tools, and the package built (release) and installed into it.
# Idempotent: a second run reuses the venv and rebuilds only what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null; then
    echo "setup: cargo (the Rust toolchain) is required" >&2
    exit 1
fi
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -r requirements-dev.txt
.venv/bin/maturin develop --release --quiet
