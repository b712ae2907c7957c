#!/usr/bin/env bash
# Type-checks the workspace for Windows (x86_64-pc-windows-gnu) on a Debian
# Linux machine, so Windows-only code (cfg(windows)) is compiled somewhere
# before a Windows wheel is built. A check does not link, so no Windows
# Python or import library is needed: pyo3's abi3 build config handles the
# cross target by itself.
# Idempotent: packages are installed only when missing; cargo's output is
# kept in target/windows-check, apart from the normal build.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=x86_64-pc-windows-gnu
# rustup's toolchain has no rust-src and cannot fetch targets here, so the
# standard library for Windows is built from source (-Zbuild-std) with
# Debian's rustc-web/cargo-web and the sources of the same release
# (rust-web-src, under /usr/lib/rustlib/src). QuickJS's C sources are
# compiled by rquickjs-sys's build script, hence the mingw-w64 C compiler.
PKGS=(rustc-web cargo-web rust-web-src gcc-mingw-w64-x86-64)

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=$([ "$(id -u)" -eq 0 ] || echo sudo)
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# --all-features includes the micro-VM backend, whose crate embeds the
# prebuilt guest.
if [ -z "${HYPERLIGHT_JS_RUNTIME_PATH:-}" ]; then
    HYPERLIGHT_JS_RUNTIME_PATH=$(bash scripts/build-hyperlight-guest.sh)
    export HYPERLIGHT_JS_RUNTIME_PATH
fi

# Absolute paths: rustup's proxies come first on PATH, and cargo would
# otherwise pick rustup's rustc, whose sysroot has no sources.
# RUSTC_BOOTSTRAP unlocks -Zbuild-std on this stable compiler.
# CARGO_UNSTABLE_BUILD_STD does the same for the nested cargo that
# hyperlight-host's build script runs to build its Windows surrogate
# process (a panic=abort binary), when the hyperlight feature is checked.
RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1 CARGO_UNSTABLE_BUILD_STD=std,panic_abort \
    /usr/bin/cargo check -Zbuild-std --target "$TARGET" \
    --target-dir target/windows-check \
    --workspace --all-targets --all-features

echo "check-windows: OK, workspace type-checks for $TARGET"
