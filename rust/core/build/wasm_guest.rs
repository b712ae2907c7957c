//! Builds the wasm backend's guest: QuickJS plus `guest/wasm/guest.c`,
//! compiled with clang for wasm32-wasi against wasi-libc and linked into a
//! reactor module that the crate embeds.
//!
//! The QuickJS sources are the quickjs-ng release that `rquickjs-sys` ships,
//! found through `cargo metadata`, so both backends run the same engine and
//! nothing is downloaded: the workspace patches that crate with the copy in
//! `vendor/rquickjs-sys` (vendor/README.md), so the guest gets its patches too. The toolchain is Debian's (clang-16, lld-16,
//! wasi-libc, libclang-rt-16-dev-wasm32; `scripts/setup.sh` installs them).
//!
//! A missing toolchain must never break the build: without it the crate
//! still builds, and the wasm backend reports why it cannot run (the reason
//! reaches the crate as `HYPERLIGHT_JS_WASM_GUEST_MISSING`).
//!
//! Overrides: `HYPERLIGHT_JS_WASM_CC` (clang), `HYPERLIGHT_JS_WASI_SYSROOT`
//! (holding `include/wasm32-wasi` and `lib/wasm32-wasi`, default `/usr`),
//! `HYPERLIGHT_JS_QUICKJS_SRC` (the quickjs directory).

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;

const GUEST_SOURCE: &str = "guest/wasm/guest.c";
/// The guest's shadow stack: the first region of linear memory, so running
/// past it traps instead of overwriting data. QuickJS's recursion limit is
/// kept inside it (the scratch size, capped).
const SHADOW_STACK: usize = 2 * 1024 * 1024;
/// QuickJS's own files besides quickjs.c, which guest.c includes.
const QUICKJS_UNITS: [&str; 3] = ["libregexp.c", "libunicode.c", "dtoa.c"];
const ENV_OVERRIDES: [&str; 3] = ["HYPERLIGHT_JS_WASM_CC", "HYPERLIGHT_JS_WASI_SYSROOT", "HYPERLIGHT_JS_QUICKJS_SRC"];

pub fn build() {
    println!("cargo:rerun-if-changed={GUEST_SOURCE}");
    println!("cargo:rerun-if-changed=build/wasm_guest.rs");
    for var in ENV_OVERRIDES {
        println!("cargo:rerun-if-env-changed={var}");
    }
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let wasm = out_dir.join("guest.wasm");
    // The guest is the same wasm module whatever the host; only hosts the
    // backend has a snapshot memory for embed it.
    let supported = matches!(env::var("CARGO_CFG_TARGET_OS").as_deref(), Ok("linux" | "windows"));
    let outcome = if supported {
        compile(&out_dir, &wasm)
    } else {
        Err("the wasm backend is built for Linux and Windows hosts only".into())
    };
    match outcome {
        Ok(()) => println!("cargo:rustc-env=HYPERLIGHT_JS_WASM_GUEST_MISSING="),
        Err(reason) => {
            // The crate embeds the file either way; empty means "not built".
            fs::write(&wasm, b"").expect("cannot write to OUT_DIR");
            let reason = reason.replace(['\n', '\r'], " ");
            // Other hosts are expected not to have it; on ours say why.
            if supported {
                println!("cargo:warning=the wasm backend will be unavailable: {reason}");
            }
            println!("cargo:rustc-env=HYPERLIGHT_JS_WASM_GUEST_MISSING={reason}");
        }
    }
}

fn compile(out_dir: &Path, wasm: &Path) -> Result<(), String> {
    let quickjs = quickjs_sources()?;
    for file in ["quickjs.c", "quickjs.h"].iter().chain(QUICKJS_UNITS.iter()) {
        println!("cargo:rerun-if-changed={}", quickjs.join(file).display());
    }
    let toolchain = Toolchain::find()?;
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let mut units: Vec<(PathBuf, PathBuf)> =
        QUICKJS_UNITS.iter().map(|unit| (quickjs.join(unit), out_dir.join(unit).with_extension("o"))).collect();
    units.push((manifest_dir.join(GUEST_SOURCE), out_dir.join("guest.o")));
    // quickjs.c (inside guest.c) takes most of the time; the rest in parallel.
    let compiled: Vec<Result<(), String>> = thread::scope(|scope| {
        let jobs: Vec<_> =
            units.iter().map(|(source, object)| scope.spawn(|| toolchain.compile(&quickjs, source, object))).collect();
        jobs.into_iter().map(|job| job.join().unwrap_or_else(|_| Err("a compile job panicked".into()))).collect()
    });
    compiled.into_iter().collect::<Result<Vec<()>, String>>()?;
    let objects: Vec<&Path> = units.iter().map(|(_, object)| object.as_path()).collect();
    toolchain.link(&objects, wasm)
}

/// The quickjs directory of the `rquickjs-sys` package in this build's
/// dependency graph.
fn quickjs_sources() -> Result<PathBuf, String> {
    if let Some(dir) = env::var_os("HYPERLIGHT_JS_QUICKJS_SRC") {
        return Ok(PathBuf::from(dir));
    }
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let target = env::var("TARGET").expect("cargo sets TARGET");
    let output = Command::new(&cargo)
        .args(["metadata", "--format-version", "1", "--offline", "--filter-platform", &target, "--manifest-path"])
        .arg(&manifest)
        .output()
        .map_err(|e| format!("cannot run cargo metadata to find the QuickJS sources: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo metadata failed while looking for the QuickJS sources: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let metadata = String::from_utf8_lossy(&output.stdout);
    let candidates: Vec<PathBuf> = manifest_paths(&metadata)
        .filter_map(|manifest| {
            let dir = Path::new(&manifest).parent()?.to_path_buf();
            let toml = fs::read_to_string(&manifest).ok()?;
            let is_sys = toml.lines().any(|line| line.trim().replace(' ', "") == "name=\"rquickjs-sys\"");
            (is_sys && dir.join("quickjs/quickjs.c").is_file()).then(|| dir.join("quickjs"))
        })
        .collect();
    // The workspace patches rquickjs-sys with a copy under vendor/ (its
    // QuickJS polls the interrupt in every built-in loop); another release
    // may sit in the graph too (the hyperlight backend's), so the patched
    // copy is preferred whatever the order.
    let workspace = workspace_root(&metadata);
    let patched = candidates.iter().find(|dir| workspace.as_ref().is_some_and(|root| dir.starts_with(root)));
    patched.or(candidates.first()).cloned().ok_or_else(|| {
        "the rquickjs-sys package (which ships the QuickJS sources) is not in the dependency graph".into()
    })
}

/// The `"workspace_root"` of cargo metadata's JSON.
fn workspace_root(metadata: &str) -> Option<PathBuf> {
    json_strings(metadata, "workspace_root").next().map(PathBuf::from)
}

/// Every `"manifest_path":"..."` value in cargo metadata's JSON. Checking
/// each candidate's own Cargo.toml afterwards makes this scan enough, with
/// no JSON parser in the build.
fn manifest_paths(metadata: &str) -> impl Iterator<Item = String> + '_ {
    json_strings(metadata, "manifest_path")
}

/// Every string value of `key` in a JSON text.
fn json_strings<'a>(metadata: &'a str, key: &str) -> impl Iterator<Item = String> + 'a {
    let key = format!("\"{key}\":\"");
    metadata.match_indices(key.as_str()).map(|(at, _)| at).collect::<Vec<_>>().into_iter().filter_map(move |at| {
        let rest = &metadata[at + key.len()..];
        let mut value = String::new();
        let mut chars = rest.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => return Some(value),
                '\\' => match chars.next()? {
                    '/' => value.push('/'),
                    '\\' => value.push('\\'),
                    '"' => value.push('"'),
                    _ => return None,
                },
                c => value.push(c),
            }
        }
        None
    })
}

struct Toolchain {
    clang: PathBuf,
    resource_dir: PathBuf,
    sysroot: PathBuf,
}

impl Toolchain {
    fn find() -> Result<Self, String> {
        let candidates: Vec<PathBuf> = match env::var_os("HYPERLIGHT_JS_WASM_CC") {
            Some(cc) => vec![cc.into()],
            None => vec!["clang-16".into(), "clang".into()],
        };
        let clang = candidates
            .into_iter()
            .find(|cc| Command::new(cc).arg("--version").output().is_ok_and(|o| o.status.success()))
            .ok_or(
                "clang is not installed (Debian: apt-get install clang-16 lld-16 wasi-libc libclang-rt-16-dev-wasm32)",
            )?;
        let resource_dir = Command::new(&clang)
            .arg("-print-resource-dir")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
            .ok_or_else(|| format!("{} -print-resource-dir failed", clang.display()))?;
        let sysroot = env::var_os("HYPERLIGHT_JS_WASI_SYSROOT").map(PathBuf::from).unwrap_or_else(|| "/usr".into());
        let toolchain = Self { clang, resource_dir, sysroot };
        for (what, path, package) in [
            ("wasi-libc headers", toolchain.sysroot.join("include/wasm32-wasi/stdlib.h"), "wasi-libc"),
            ("wasi-libc", toolchain.sysroot.join("lib/wasm32-wasi/libc.a"), "wasi-libc"),
            ("the wasm32 compiler runtime", toolchain.builtins(), "libclang-rt-16-dev-wasm32"),
        ] {
            if !path.is_file() {
                return Err(format!("{what} not found at {} (Debian package {package})", path.display()));
            }
        }
        Ok(toolchain)
    }

    fn builtins(&self) -> PathBuf {
        self.resource_dir.join("lib/wasi/libclang_rt.builtins-wasm32.a")
    }

    fn compile(&self, quickjs: &Path, source: &Path, object: &Path) -> Result<(), String> {
        // -nostdinc keeps the host's /usr/include out of a wasm build.
        // NDEBUG: QuickJS's internal assertions cost a quarter of its cycle
        // collector's time in wasm, and here they guard nothing the wasm
        // boundary does not (in-process, where a QuickJS bug would be a host
        // bug, they stay on). The wasm features are all on in wasmtime.
        let mut command = Command::new(&self.clang);
        command
            .args(["--target=wasm32-wasi", "-nostdinc", "-O3", "-funsigned-char", "-D_GNU_SOURCE", "-DNDEBUG"])
            .args(["-mbulk-memory", "-mnontrapping-fptoint", "-msign-ext"])
            .arg("-isystem")
            .arg(self.resource_dir.join("include"))
            .arg("-isystem")
            .arg(self.sysroot.join("include/wasm32-wasi"))
            .arg("-I")
            .arg(quickjs)
            .args(["-w", "-c"])
            .arg(source)
            .arg("-o")
            .arg(object);
        run(command, &format!("compiling {}", source.display()))
    }

    fn link(&self, objects: &[&Path], wasm: &Path) -> Result<(), String> {
        let libdir = self.sysroot.join("lib/wasm32-wasi");
        let mut command = Command::new(&self.clang);
        command
            .args(["--target=wasm32-wasi", "-mexec-model=reactor", "-nostdlib"])
            .arg(format!("-Wl,-z,stack-size={SHADOW_STACK}"))
            // The stack first: overflowing it leaves linear memory (a trap)
            // instead of running into the data below it.
            .arg("-Wl,--stack-first")
            // Snapshots restore every mutable global; the stack pointer is
            // the only one, and must be reachable.
            .arg("-Wl,--export=__stack_pointer")
            .arg("-Wl,--strip-debug")
            .arg(format!("-L{}", libdir.display()))
            .arg(libdir.join("crt1-reactor.o"))
            .args(objects)
            .arg("-lc")
            .arg(self.builtins())
            .arg("-o")
            .arg(wasm);
        run(command, "linking the guest")?;
        match fs::metadata(wasm) {
            Ok(meta) if meta.len() > 0 => Ok(()),
            _ => Err("the linker produced no guest module".into()),
        }
    }
}

fn run(mut command: Command, what: &str) -> Result<(), String> {
    let output = command.output().map_err(|e| format!("{what}: cannot run {:?}: {e}", command.get_program()))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let first_lines: Vec<&str> = stderr.lines().take(6).collect();
    Err(format!("{what} failed: {}", first_lines.join(" | ")))
}
