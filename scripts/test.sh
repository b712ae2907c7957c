#!/usr/bin/env bash
# Builds everything and runs every test: the Rust core's cargo tests, mypy
# --strict on the package and tests, the pytest suite, each benchmark once
# (smoke mode, so benchmarks cannot rot), and the Windows job (the wheel for
# Windows, tested under Wine: scripts/windows.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

echo "== cargo fmt --check (rustfmt.toml: 120 columns)"
cargo fmt --all -- --check

# The micro-VM backend's crate embeds its prebuilt guest: clippy and the
# tests below build it.
HYPERLIGHT_JS_RUNTIME_PATH=$(bash scripts/build-hyperlight-guest.sh)
export HYPERLIGHT_JS_RUNTIME_PATH

echo "== cargo clippy (every crate, target and feature; the lints are in Cargo.toml's [workspace.lints])"
cargo clippy --quiet --all-targets --all-features -- -D warnings
# What only one backend uses must not warn where that backend is not
# compiled in: the core on its own, and as the cargo tests below build it.
for features in "" wasm hyperlight; do
    cargo clippy --quiet -p hyperlight-js-core --all-targets --features "$features" -- -D warnings
done

echo "== cargo test (core crate with the wasm backend: the conformance suite runs on in-process and wasm)"
# The wasm guest is built by setup.sh, so its checks must run, not be ignored.
# (Compiling the guest takes ~20 s of CPU in the test profile; it happens
# before the backend probe's time limit starts, so a busy machine is slow,
# not wrong.)
HLJS_REQUIRE_BACKENDS=in-process,wasm cargo test --quiet -p hyperlight-js-core --features wasm

echo "== cargo test (core crate with the micro-VM backend; its conformance trials show as ignored, with the probe's error, where no VM starts)"
cargo test --quiet -p hyperlight-js-core --features hyperlight

echo "== mypy --strict"
.venv/bin/mypy
.venv/bin/mypy benches

echo "== pytest"
.venv/bin/python -m pytest tests -q

echo "== benchmarks against the peers, smoke mode (each once)"
# The peers (mini-racer, quickjs, wasmtime-py, hyperlight-sandbox) come from PyPI.
.venv/bin/python -m pip install --quiet -r requirements-bench.txt
.venv/bin/python -m pytest benches -q --benchmark-disable -p no:cacheprovider

# The Windows job: the win_amd64 wheel, its DLL imports, the core's cargo
# tests and pytest in a Windows CPython, under Wine (docs/windows.md). Its
# builds and the Windows CPython are cached under target/windows, and the
# wheel is keyed by its sources' hash, so a second run mostly re-runs tests.
# It prints each stage's time.
echo "== Windows: the win_amd64 wheel, its DLL imports, the cargo tests and pytest in a Windows CPython under Wine"
bash scripts/windows.sh
