#!/usr/bin/env bash
# Shared set-up for the README's commands: a venv in .venv with the build and
# test tools, and the package built as a release abi3 wheel (dist/) and
# installed from that wheel, exactly as users get it.
# Idempotent: a second run reuses the venv and cargo's cache.
set -euo pipefail
cd "$(dirname "$0")/.."
STAGE_PREFIX=setup
source scripts/lib/stages.sh

for tool in cargo python3; do
    if ! command -v "$tool" >/dev/null; then
        echo "setup: $tool is required (see README: Requirements)" >&2
        exit 1
    fi
done
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
# Only what building needs: the demo stops here, and the test tools
# (requirements-dev.txt, ray's ~70 MB among them) are scripts/test.sh's.
.venv/bin/python -m pip install --quiet -r requirements-build.txt
stage "venv + build tools"
# The wasm backend's guest (QuickJS for wasm32-wasi) is compiled by the core
# crate's build script with Debian's clang and wasi-libc. Without them the
# wheel still builds and that backend reports itself unavailable, so this
# only installs what is missing, where apt-get exists.
WASM_PKGS=(clang-16 lld-16 wasi-libc libclang-rt-16-dev-wasm32)
missing=()
for p in "${WASM_PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    if command -v apt-get >/dev/null; then
        SUDO=$([ "$(id -u)" -eq 0 ] || echo sudo)
        $SUDO apt-get update -qq
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
    else
        echo "setup: no apt-get; the wasm backend needs ${missing[*]} (or HYPERLIGHT_JS_WASM_CC and HYPERLIGHT_JS_WASI_SYSROOT)" >&2
    fi
fi
stage "wasm guest's compiler (apt, when missing)"
# The micro-VM backend's guest is built first; hyperlight-js's build script
# then embeds it (HYPERLIGHT_JS_RUNTIME_PATH) in the wheel.
HYPERLIGHT_JS_RUNTIME_PATH=$(bash scripts/build-hyperlight-guest.sh)
export HYPERLIGHT_JS_RUNTIME_PATH
stage "micro-VM guest"
# The release wheel is built once per source tree: the demo and the test
# command both call this script, and a second `maturin build` of the same
# tree costs minutes on two cores. The key covers every file the wheel is
# built from (tracked or not, ignoring what .gitignore ignores), the guest
# and the compiler.
key=$( {
    git ls-files -co --exclude-standard -- rust python vendor Cargo.toml Cargo.lock pyproject.toml README.md \
        | LC_ALL=C sort | while IFS= read -r f; do [ -f "$f" ] && printf '%s\0' "$f"; done | xargs -0 sha256sum
    sha256sum "$HYPERLIGHT_JS_RUNTIME_PATH"
    rustc -vV
} | sha256sum | cut -c1-32)
wheel=$(ls dist/hyperlight_js-*-abi3-*linux*.whl 2>/dev/null | head -n 1 || true)
if [ -n "$wheel" ] && [ "$(cat dist/.source-key 2>/dev/null)" = "$key" ]; then
    echo "setup: the wheel in dist/ is built from this source tree; reusing it"
else
    rm -f dist/hyperlight_js-*-abi3-*linux*.whl dist/.source-key
    start=$(date +%s)
    .venv/bin/maturin build --release --quiet --out dist --features hyperlight
    echo "setup: built the release wheel in $(( $(date +%s) - start )) s"
    echo "$key" > dist/.source-key
    wheel=$(ls dist/hyperlight_js-*-abi3-*linux*.whl)
fi
.venv/bin/python -m pip install --quiet --force-reinstall --no-deps "$wheel"
echo "setup: installed $(basename "$wheel")"
stage "release wheel (built or reused) + install"
stage_summary
