//! The floors of `src/` run one way: a folder names only folders on floors
//! below its own. The table lives in ARCHITECTURE.md ("Floors"), read here,
//! so the document and the check cannot drift apart.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Folder (or top-level module file) → floor, from ARCHITECTURE.md.
fn floors() -> BTreeMap<String, usize> {
    let text = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let section = text
        .split("\n## Floors")
        .nth(1)
        .expect("ARCHITECTURE.md has a '## Floors' section");
    let mut floors = BTreeMap::new();
    for line in section.lines().skip(1) {
        if line.starts_with("## ") {
            break;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // | floor | modules | what |
        let Some(floor) = cells.get(1).and_then(|c| c.parse::<usize>().ok()) else {
            continue;
        };
        for module in cells[2].split(',') {
            let module = module.trim().trim_matches('`').trim_end_matches('/');
            if !module.is_empty() {
                floors.insert(module.to_string(), floor);
            }
        }
    }
    floors
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every `crate::name` a source file names in code (comments left out).
fn named_modules(source: &str) -> Vec<String> {
    let mut names = Vec::new();
    for line in source.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let tail = &rest[at + "crate::".len()..];
            let name: String = tail
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            // `microseg_udfs::…` and other crates end in "crate" only by accident.
            let before = &rest[..at];
            if !before.ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
                names.push(name);
            }
            rest = tail;
        }
    }
    names
}

#[test]
fn source_folders_import_only_lower_floors() {
    let floors = floors();
    assert!(
        floors.len() >= 10,
        "the Floors table lists too few modules: {floors:?}"
    );
    let src = root().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut wrong = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        let first = relative.components().next().unwrap().as_os_str();
        let module = first.to_string_lossy().trim_end_matches(".rs").to_string();
        if module == "lib" || module == "main" {
            continue;
        }
        let Some(&own) = floors.get(&module) else {
            wrong.push(format!(
                "src/{module} is not in ARCHITECTURE.md's Floors table"
            ));
            continue;
        };
        let source = std::fs::read_to_string(file).unwrap();
        for name in named_modules(&source) {
            if name == module || name.is_empty() {
                continue;
            }
            match floors.get(&name) {
                Some(&floor) if floor < own => {}
                // Re-exports at the crate root (crate::Error, crate::Engine).
                None if name.starts_with(|c: char| c.is_ascii_uppercase()) => {}
                found => wrong.push(format!(
                    "{} (floor {own}) names crate::{name} (floor {})",
                    relative.display(),
                    found.map_or("?".to_string(), |f| f.to_string())
                )),
            }
        }
    }
    wrong.sort();
    wrong.dedup();
    assert!(
        wrong.is_empty(),
        "imports against the floors:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_floor_check_sees_a_wrong_import() {
    let names = named_modules(
        "use crate::engine::Engine; // crate::cli in a comment\nlet x = microseg_crate::y; crate::lake::open()",
    );
    assert_eq!(names, ["engine", "lake"]);
}
