//! The core's floor plan, checked: layers run one way and no module cycle.
//!
//! `sandbox/` (the lifecycle) drives `monitor/` and `backend/`; those two
//! never reach up or sideways into each other; below them the leaves. Each
//! backend folder stands alone (only `backend/`'s shared files may name
//! them, to register them). The check reads every `crate::…` path in
//! `src/`, so a new `use` that breaks the plan fails here with its file.
#![allow(clippy::unwrap_used, reason = "test code: a failed unwrap is a failed test, with its location")]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

const LIFECYCLE: &str = "sandbox";
const MIDDLE: [&str; 2] = ["monitor", "backend"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to (`src/backend/wasm/abi.rs` → `backend`).
fn module_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).unwrap();
    let first = relative.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
    first.trim_end_matches(".rs").to_owned()
}

/// For files inside `backend/<folder>/`, the backend folder.
fn backend_folder(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src.join("backend")).ok()?;
    let mut parts = relative.components();
    let first = parts.next()?.as_os_str().to_string_lossy().into_owned();
    parts.next().map(|_| first)
}

/// Every module path a file names through `crate::`: `crate::a::b` gives
/// `["a", "b"]`, `crate::{a, b::c}` gives `["a"]` and `["b", "c"]`.
fn crate_paths(text: &str) -> Vec<Vec<String>> {
    let code: String = text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
    let mut paths = Vec::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        let preceded_by_ident = rest[..at].chars().last().is_some_and(|c| c.is_alphanumeric() || c == '_');
        if !preceded_by_ident {
            if let Some(group) = after.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                for item in group[..end].split(',') {
                    let segs: Vec<String> = item.trim().split("::").map(|s| s.trim().to_owned()).collect();
                    if !segs[0].is_empty() {
                        paths.push(segs);
                    }
                }
            } else {
                let end = after.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')).unwrap_or(after.len());
                paths.push(after[..end].split("::").filter(|s| !s.is_empty()).map(str::to_owned).collect());
            }
        }
        rest = after;
    }
    paths
}

struct Plan {
    /// Top-level module → the top-level modules its files name.
    edges: BTreeMap<String, BTreeSet<String>>,
    violations: Vec<String>,
}

fn read_plan() -> Plan {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(&src, f)).filter(|m| m != "lib").collect();
    let mut plan = Plan { edges: BTreeMap::new(), violations: Vec::new() };
    for file in &files {
        let from = module_of(&src, file);
        if from == "lib" {
            continue; // the crate root re-exports; it is not a layer
        }
        let text = fs::read_to_string(file).unwrap();
        let shown = file.strip_prefix(&src).unwrap().display().to_string();
        for path in crate_paths(&text) {
            let to = &path[0];
            if !modules.contains(to) || *to == from {
                continue; // a crate-root re-export (`crate::Error`) or within the module
            }
            plan.edges.entry(from.clone()).or_default().insert(to.clone());
            let leaf = |m: &str| m != LIFECYCLE && !MIDDLE.contains(&m);
            let allowed = match from.as_str() {
                LIFECYCLE => true,
                m if MIDDLE.contains(&m) => leaf(to),
                _ => leaf(to),
            };
            if !allowed {
                plan.violations
                    .push(format!("{shown} names crate::{} ({from} may not depend on {to})", path.join("::")));
            }
        }
        // A backend folder reaches other backends only through `backend/`'s shared files.
        if let Some(folder) = backend_folder(&src, file) {
            for path in crate_paths(&text) {
                if path.len() > 1 && path[0] == "backend" && path[1] != folder && is_backend_folder(&src, &path[1]) {
                    plan.violations.push(format!("{shown} (backend {folder}) names crate::{}", path.join("::")));
                }
            }
        }
    }
    plan
}

fn is_backend_folder(src: &Path, name: &str) -> bool {
    src.join("backend").join(name).is_dir()
}

#[test]
fn layers_run_one_way() {
    let plan = read_plan();
    assert!(plan.violations.is_empty(), "layering broken:\n{}", plan.violations.join("\n"));
}

#[test]
fn no_module_cycle() {
    let plan = read_plan();
    // Repeatedly remove modules nothing left depends on; what remains is a cycle.
    let mut left: BTreeMap<String, BTreeSet<String>> = plan.edges.clone();
    loop {
        let all: BTreeSet<String> = left.keys().cloned().collect();
        let sinks: Vec<String> =
            all.iter().filter(|m| left[*m].iter().all(|to| !left.contains_key(to))).cloned().collect();
        if sinks.is_empty() {
            break;
        }
        for sink in sinks {
            left.remove(&sink);
        }
    }
    assert!(left.is_empty(), "modules in a cycle: {left:?}");
}

#[test]
fn the_reader_sees_the_known_edges() {
    // Guards the check itself: a parser that found nothing would pass everything.
    let plan = read_plan();
    let sandbox = &plan.edges["sandbox"];
    assert!(sandbox.contains("backend") && sandbox.contains("monitor"), "{sandbox:?}");
    assert!(plan.edges["backend"].contains("spec"), "{:?}", plan.edges["backend"]);
    assert_eq!(crate_paths("use crate::{a::b, c};\nx = crate::d::e(1);"), [vec!["a", "b"], vec!["c"], vec!["d", "e"]]);
}
