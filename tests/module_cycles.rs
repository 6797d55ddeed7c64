//! The library's top-level modules import each other in one direction: a ratchet against new import cycles.
//! Each `src/` module's imports are the `crate::NAME` paths in its non-test code; a cycle is two modules that reach
//! each other. Any cycle fails this test.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The top-level module a file under `src/` belongs to (`gpu/conv.rs` → `gpu`), or `None` for the binary's files.
fn module_of(relative: &Path) -> Option<String> {
    let first = relative
        .components()
        .next()?
        .as_os_str()
        .to_str()?
        .trim_end_matches(".rs")
        .to_string();
    (!matches!(first.as_str(), "main" | "lib" | "commands" | "cli")).then_some(first)
}

fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut paths = Vec::new();
    files(&src, &mut paths);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for path in paths {
        let Some(module) = module_of(path.strip_prefix(&src).unwrap()) else {
            continue;
        };
        let text = std::fs::read_to_string(&path).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        let targets = graph.entry(module.clone()).or_default();
        for (i, _) in code.match_indices("crate::") {
            let name: String = code[i + 7..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() && name != module {
                targets.insert(name);
            }
        }
    }
    graph
}

/// Every module that `from` reaches by following imports.
fn reach(graph: &BTreeMap<String, BTreeSet<String>>, from: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![from.to_string()];
    while let Some(m) = stack.pop() {
        for next in graph.get(&m).into_iter().flatten() {
            if seen.insert(next.clone()) {
                stack.push(next.clone());
            }
        }
    }
    seen
}

#[test]
fn no_import_cycles() {
    let graph = imports();
    assert!(graph.len() > 10, "the module scan found only {:?}", graph.keys());
    let reaches: BTreeMap<&String, BTreeSet<String>> = graph.keys().map(|m| (m, reach(&graph, m))).collect();
    // The cycles: groups of modules that reach each other.
    let mut cycles: BTreeSet<Vec<String>> = BTreeSet::new();
    for (m, r) in &reaches {
        if r.contains(*m) {
            let members: Vec<String> = graph
                .keys()
                .filter(|o| reaches[o].contains(*m) && r.contains(*o))
                .cloned()
                .collect();
            cycles.insert(members);
        }
    }
    assert!(cycles.is_empty(), "import cycles among src/ modules: {cycles:?}");
}

#[test]
fn the_scan_sees_a_cycle_it_is_given() {
    let mut graph = imports();
    graph.entry("units".into()).or_default().insert("cost".into());
    graph.entry("cost".into()).or_default().insert("units".into());
    assert!(reach(&graph, "units").contains("units"));
}
