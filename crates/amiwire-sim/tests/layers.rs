//! The layers of the README: every module of `src/` uses only modules of lower layers
//! (`crate::<module>` paths and `use crate::…` lines), so there is no import circle.
use std::path::Path;

/// Layer of each module, from the bottom up, as the README's list has them.
const LAYERS: &[(&str, u32)] = &[
    ("conf", 1),
    ("accounts", 2),
    ("wire", 3),
    ("form", 3),
    ("input", 3),
    ("dialplan", 4),
    ("queues", 4),
    ("apps", 5),
    ("pbx", 6),
    ("call", 7),
    ("cli", 7),
    ("actions", 8),
    ("session", 9),
    ("http", 10),
    ("server", 11),
    ("options", 12),
];

fn layer(module: &str) -> u32 {
    LAYERS
        .iter()
        .find(|(m, _)| *m == module)
        .map(|(_, l)| *l)
        .unwrap_or_else(|| {
            panic!("module {module} is in no layer: add it to LAYERS and the README")
        })
}

/// The modules a source file names with `crate::<module>` (also inside `use crate::{…}`).
fn uses(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        let names: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            group[..end].split(',').collect()
        } else {
            vec![rest]
        };
        for n in names {
            let n: String = n
                .trim()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !n.is_empty() {
                out.push(n);
            }
        }
    }
    out
}

#[test]
fn every_module_uses_only_lower_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    for e in std::fs::read_dir(&src).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            if p.file_name().unwrap() == "bin" {
                continue;
            }
            for f in std::fs::read_dir(&p).unwrap() {
                files.push((
                    p.file_name().unwrap().to_str().unwrap().to_owned(),
                    f.unwrap().path(),
                ));
            }
        } else if p.file_name().unwrap() != "lib.rs" {
            files.push((p.file_stem().unwrap().to_str().unwrap().to_owned(), p));
        }
    }
    let mut wrong = Vec::new();
    for (module, path) in &files {
        let text = std::fs::read_to_string(path).unwrap();
        // Doc comments name modules of any layer; only code counts.
        let code: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        for used in uses(&code) {
            if used != *module && layer(&used) >= layer(module) {
                wrong.push(format!("{} uses crate::{used}", path.display()));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}
