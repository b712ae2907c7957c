#!/usr/bin/env bash
# Builds the micro-VM backend's guest: hyperlight-js-runtime (QuickJS for a
# Hyperlight VM), from the crates.io release the hyperlight-js crate pins.
# Prints the guest binary's absolute path on its last line; the host build
# embeds it through HYPERLIGHT_JS_RUNTIME_PATH.
#
# Why not let hyperlight-js's build script do it: it runs cargo-hyperlight
# with the toolchain building the host, which must then have rust-src (our
# rustup 1.95 has none, and nothing can be downloaded here) and accept
# custom target specifications (unstable since Rust 1.95). So the guest is
# built on its own, with:
#   - Debian's rustc-web/cargo-web 1.96 and the sources of the same release
#     (rust-web-src): cargo-hyperlight builds core/alloc for the guest target
#     from them (-Zbuild-std, unlocked with RUSTC_BOOTSTRAP=1);
#   - clang-16 (and libclang for bindgen) for QuickJS and the guest libc;
#   - rust-lld from the rustup toolchain: lld 16 (Debian's) leaves a dynamic
#     GLOB_DAT relocation in the guest, which hyperlight's ELF loader refuses
#     ("unsupported x86_64 relocation 6");
#   - cargo-hyperlight from crates.io, installed once with `cargo install`.
# Idempotent: packages and cargo-hyperlight are installed only when missing,
# and a second build is a no-op for cargo (output in target/hyperlight-guest).
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_HYPERLIGHT_VERSION=0.1.14   # what hyperlight-js 0.4.0 builds its guest with
OUT="$PWD/target/hyperlight-guest"
log() { echo "build-hyperlight-guest: $*" >&2; }

PKGS=(rustc-web cargo-web rust-web-src clang-16 libclang1-16)
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    SUDO=$([ "$(id -u)" -eq 0 ] || echo sudo)
    $SUDO apt-get update -qq >&2
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

if ! cargo install --list | grep -qx "cargo-hyperlight v$CARGO_HYPERLIGHT_VERSION:"; then
    log "installing cargo-hyperlight $CARGO_HYPERLIGHT_VERSION"
    cargo install --quiet --locked cargo-hyperlight --version "$CARGO_HYPERLIGHT_VERSION" >&2
fi
CARGO_HYPERLIGHT="${CARGO_HOME:-$HOME/.cargo}/bin/cargo-hyperlight"

# The runtime's sources: the exact package the workspace resolves for the
# hyperlight feature (cargo downloads it into its registry if needed).
RUNTIME_DIR=$(cargo metadata --format-version 1 --manifest-path rust/core/Cargo.toml --features hyperlight \
    | python3 -c 'import json, os, sys
pkgs = [p for p in json.load(sys.stdin)["packages"] if p["name"] == "hyperlight-js-runtime"]
print(os.path.dirname(pkgs[0]["manifest_path"]) if len(pkgs) == 1 else "")')
if [ -z "$RUNTIME_DIR" ]; then
    log "cannot find hyperlight-js-runtime in the workspace's dependencies"
    exit 1
fi

HOST=$(rustc -vV | sed -n 's/^host: //p')
RUST_LLD="$(rustc --print sysroot)/lib/rustlib/$HOST/bin/rust-lld"
if [ ! -x "$RUST_LLD" ]; then
    log "rust-lld not found at $RUST_LLD (it comes with a rustup toolchain; see the comment at the top)"
    exit 1
fi
mkdir -p "$OUT/bin"
ln -sf "$RUST_LLD" "$OUT/bin/rust-lld"

log "building $(basename "$RUNTIME_DIR") with Debian's $(/usr/bin/rustc --version | cut -d' ' -f1-2)"
# Absolute paths for the toolchain: rustup's proxies come first on PATH.
# RUSTUP_TOOLCHAIN would make cargo-hyperlight ask rustup for rust-src.
env -u RUSTUP_TOOLCHAIN \
    PATH="$OUT/bin:$PATH" \
    CARGO=/usr/bin/cargo RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1 \
    HYPERLIGHT_GUEST_clang="$(command -v clang-16)" \
    HYPERLIGHT_CFLAGS="-I$RUNTIME_DIR/include -D__wasi__=1 -D_POSIX_MONOTONIC_CLOCK" \
    "$CARGO_HYPERLIGHT" build --quiet --release --locked \
        --manifest-path "$RUNTIME_DIR/Cargo.toml" --target-dir "$OUT" >&2

GUEST="$OUT/x86_64-hyperlight-none/release/hyperlight-js-runtime"
if [ ! -f "$GUEST" ]; then
    log "the build finished but $GUEST is missing"
    exit 1
fi
echo "$GUEST"
