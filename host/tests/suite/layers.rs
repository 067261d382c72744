//! The crate's layers run one way (DESIGN.md, "Layout"): no module of
//! `host/src` imports, through any chain, a module that imports it back;
//! the store imports nothing above it; the runtime knows no capability,
//! registry, identity provider or payments by module.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The top-level modules of `host/src` (a folder or a file each).
fn modules(src: &Path) -> BTreeSet<String> {
    std::fs::read_dir(src)
        .expect("host/src reads")
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let name = path.file_stem()?.to_str()?.to_string();
            let is_module = path.is_dir() || path.extension().is_some_and(|e| e == "rs");
            (is_module && name != "lib" && name != "main").then_some(name)
        })
        .collect()
}

/// Every `.rs` file of `path` (a file, or a folder's files at any depth).
fn sources(path: &Path) -> Vec<std::path::PathBuf> {
    if path.is_file() {
        return vec![path.to_path_buf()];
    }
    let mut found = Vec::new();
    for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
        found.extend(sources(&entry.path()));
    }
    found.retain(|p| p.extension().is_some_and(|e| e == "rs"));
    found
}

/// Which modules each module names as `crate::<module>` outside its tests.
fn imports(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let modules = modules(src);
    let mut graph = BTreeMap::new();
    for module in &modules {
        let dir = src.join(module);
        let path = if dir.is_dir() {
            dir
        } else {
            src.join(format!("{module}.rs"))
        };
        let mut uses = BTreeSet::new();
        for file in sources(&path) {
            let text = std::fs::read_to_string(&file).expect("a source reads");
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            for (at, _) in code.match_indices("crate::") {
                let name: String = code[at + "crate::".len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if &name != module && modules.contains(&name) {
                    uses.insert(name);
                }
            }
        }
        graph.insert(module.clone(), uses);
    }
    graph
}

#[test]
fn no_module_reaches_itself_through_its_imports() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = imports(&src);
    for start in graph.keys() {
        let mut seen = BTreeSet::new();
        let mut path: Vec<(String, Vec<String>)> = vec![(start.clone(), vec![start.clone()])];
        while let Some((module, trail)) = path.pop() {
            for next in graph.get(&module).into_iter().flatten() {
                assert!(
                    next != start,
                    "import cycle: {} → {next}",
                    trail.join(" → ")
                );
                if seen.insert(next.clone()) {
                    let mut longer = trail.clone();
                    longer.push(next.clone());
                    path.push((next.clone(), longer));
                }
            }
        }
    }
}

#[test]
fn the_lower_layers_import_nothing_above_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = imports(&src);
    let above_store = [
        "audit",
        "capabilities",
        "gateway",
        "identity",
        "payments",
        "registry",
        "runtime",
        "tasks",
    ];
    for module in above_store {
        assert!(
            !graph["store"].contains(module),
            "store imports {module}: {:?}",
            graph["store"]
        );
    }
    for module in [
        "capabilities",
        "gateway",
        "identity",
        "payments",
        "registry",
        "tasks",
    ] {
        assert!(
            !graph["runtime"].contains(module),
            "the runtime imports {module}: {:?}",
            graph["runtime"]
        );
    }
}
