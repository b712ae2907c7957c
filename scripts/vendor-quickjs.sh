#!/usr/bin/env bash
# Rebuilds vendor/rquickjs-sys: the published rquickjs-sys crate (checked
# against the crates.io checksum), pruned to what a build reads, with the
# patches of vendor/patches/rquickjs-sys applied in order. See vendor/README.md.
#
#   scripts/vendor-quickjs.sh [path/to/rquickjs-sys-VERSION.crate]
#
# Without an argument the crate comes from cargo's download cache, or from
# static.crates.io when it is not there.
set -euo pipefail

VERSION=0.14.0
SHA256=cee271d0eeba64f0915b846cb7ae02e16faf3dfdffdca91731101d9d30fe3423
# What the crate's build.rs and our wasm guest build read (and the licence).
KEEP=(
    .cargo_vcs_info.json Cargo.toml Cargo.toml.orig README.md build.rs quickjs.bind.h src wasm-shim
    quickjs/LICENSE quickjs/README.md
    quickjs/builtin-array-fromasync.h quickjs/builtin-iterator-zip-keyed.h quickjs/builtin-iterator-zip.h
    quickjs/cutils.h quickjs/dtoa.c quickjs/dtoa.h quickjs/libregexp-opcode.h quickjs/libregexp.c
    quickjs/libregexp.h quickjs/libunicode-table.h quickjs/libunicode.c quickjs/libunicode.h quickjs/list.h
    quickjs/quickjs-atom.h quickjs/quickjs-c-atomics.h quickjs/quickjs-opcode.h quickjs/quickjs.c quickjs/quickjs.h
)

root=$(cd "$(dirname "$0")/.." && pwd)
dest=$root/vendor/rquickjs-sys
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

crate=${1:-}
if [[ -z $crate ]]; then
    crate=$(ls "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/rquickjs-sys-$VERSION.crate 2>/dev/null | head -n1 || true)
fi
if [[ -z $crate ]]; then
    crate=$work/rquickjs-sys-$VERSION.crate
    curl -sSfL "https://static.crates.io/crates/rquickjs-sys/rquickjs-sys-$VERSION.crate" -o "$crate"
fi
echo "$SHA256  $crate" | sha256sum --check --quiet

tar -xzf "$crate" -C "$work"
src=$work/rquickjs-sys-$VERSION
mkdir "$work/pruned"
(cd "$src" && cp -r --parents "${KEEP[@]}" "$work/pruned/")
# The manifest of the pristine files, which tests/test_vendored_quickjs.py checks against.
(cd "$work/pruned" && find . -type f | sed 's|^\./||' | LC_ALL=C sort | xargs sha256sum) \
    > "$root/vendor/rquickjs-sys.pristine.sha256"
for patch in "$root"/vendor/patches/rquickjs-sys/*.patch; do
    [[ -e $patch ]] || continue
    (cd "$work/pruned" && git apply -p1 "$patch")
done
rm -rf "$dest"
mv "$work/pruned" "$dest"
echo "vendor/rquickjs-sys rebuilt from rquickjs-sys $VERSION with $(ls "$root"/vendor/patches/rquickjs-sys/*.patch 2>/dev/null | wc -l) patch(es)"
