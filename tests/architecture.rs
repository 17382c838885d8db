//! The shape of the code, checked: no import cycle between top-level modules of `src/`, none
//! between the files of one module, every `src/…` path ARCHITECTURE.md names exists, and
//! requests reach `src/admission` parsed (no `String` in an input type, no `.parse()` there).
//!
//! Imports are read from the source text (`use crate::…`, `crate::x::…`, `super::…`, `self::…`
//! and a `mod.rs`'s relative `use child::…`), with comments and string literals skipped, so the
//! test needs nothing but the standard library. A name re-exported by a module's `mod.rs` counts
//! as the file that defines it: `super::Thing` from a sibling is an edge to `Thing`'s file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Cycles that remain, as the edge that closes each: `(module, from, to, why)`. Module `""` means
/// between top-level modules. Each entry says which step of issue 17 removes it; an entry whose
/// edge no longer exists fails the test, so the list only shrinks.
const ALLOWED: &[(&str, &str, &str, &str)] = &[];

#[test]
fn no_import_cycle_between_top_level_modules_or_between_files_of_a_module() {
    let graph = Graph::read(&root().join("src"));
    let mut problems = Vec::new();
    for (module, from, to, why) in ALLOWED {
        if !graph.edges(module).get(*from).is_some_and(|t| t.contains(*to)) {
            problems.push(format!(
                "allow-listed edge `{from}` -> `{to}` in `{module}` no longer exists ({why}): remove it from ALLOWED"
            ));
        }
    }
    for module in graph.modules() {
        let mut edges = graph.edges(&module);
        for (m, from, to, _) in ALLOWED {
            if *m == module
                && let Some(targets) = edges.get_mut(*from)
            {
                targets.remove(*to);
            }
        }
        for cycle in cycles(&edges) {
            let place = if module.is_empty() {
                "between top-level modules".to_owned()
            } else {
                format!("between files of `{module}`")
            };
            let detail: Vec<String> = cycle
                .iter()
                .flat_map(|from| {
                    edges[from]
                        .iter()
                        .filter(|to| cycle.contains(*to))
                        .map(move |to| format!("{from} -> {to}"))
                })
                .collect();
            problems.push(format!("import cycle {place}: {}", detail.join(", ")));
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn sql_lives_in_the_store() {
    let src = root().join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    let outside: Vec<String> = files
        .iter()
        .filter(|f| !f.starts_with(src.join("store")))
        .filter(|f| strip(&std::fs::read_to_string(f).unwrap_or_default()).contains("sqlx::"))
        .map(|f| f.display().to_string())
        .collect();
    assert!(outside.is_empty(), "sqlx used outside src/store: {outside:?}");
}

#[test]
fn the_cycle_finder_sees_a_cycle_and_no_false_one() {
    let mut edges = BTreeMap::new();
    edges.insert("a".to_owned(), BTreeSet::from(["b".to_owned()]));
    edges.insert("b".to_owned(), BTreeSet::from(["c".to_owned()]));
    edges.insert("c".to_owned(), BTreeSet::from(["a".to_owned(), "d".to_owned()]));
    assert_eq!(cycles(&edges).len(), 1);
    edges.get_mut("c").map(|t| t.remove("a"));
    assert!(cycles(&edges).is_empty());

    let code =
        strip("let s = \"crate::x::y\"; // crate::z\n/* crate::w */ use crate::{a::B, c::{self, d::E}};");
    assert!(!code.contains("crate::x") && !code.contains("crate::z") && !code.contains("crate::w"));
    let found: Vec<Vec<String>> = paths(&code).into_iter().map(|(_, p)| p).collect();
    let want: Vec<Vec<String>> = [
        vec!["crate", "a", "B"],
        vec!["crate", "c"],
        vec!["crate", "c", "d", "E"],
    ]
    .iter()
    .map(|p| p.iter().map(|s| (*s).to_owned()).collect())
    .collect();
    assert_eq!(found, want);
}

#[test]
fn every_src_path_architecture_md_names_exists() {
    let root = root();
    let text = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap_or_default();
    assert!(!text.is_empty(), "ARCHITECTURE.md is missing or empty");
    let lines = text.lines().count();
    assert!(
        lines <= 200,
        "ARCHITECTURE.md has {lines} lines; keep it short (at most 200)"
    );
    let mut named = 0;
    let mut missing = Vec::new();
    for (at, _) in text.match_indices("src/") {
        if at > 0 && text[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == '/') {
            continue;
        }
        let path: String = text[at..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || matches!(c, '_' | '/' | '.' | '-' | '*'))
            .collect();
        let path = path.trim_end_matches(['.', '/']).trim_end_matches("/*");
        named += 1;
        // `src/a/{b,c}.rs` style is not used; a `*` names a directory's files.
        if !root.join(path).exists() {
            missing.push(path.to_owned());
        }
    }
    assert!(named > 10, "ARCHITECTURE.md should name the files it describes");
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md names paths that do not exist: {missing:?}"
    );
}

#[test]
fn admission_input_types_hold_no_string_field() {
    let mut found = Vec::new();
    for file in admission_files() {
        let code = strip(&std::fs::read_to_string(&file).unwrap_or_default());
        let code = without_test_code(&code);
        for (name, body) in pub_structs(&code) {
            if !(name.ends_with("Input") || name.ends_with("Query") || name == "TokenRequest") {
                continue;
            }
            for field in fields(&without_attributes(&body)) {
                let Some((field_name, ty)) = field.split_once(':') else {
                    continue;
                };
                if has_word(ty, "String") {
                    found.push(format!(
                        "{}: `{name}.{}` is `{}`",
                        file.display(),
                        field_name.trim().trim_start_matches("pub").trim(),
                        ty.trim()
                    ));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "admission input and query types take parsed domain types, never `String` (parse at the edge):\n{}",
        found.join("\n")
    );
}

#[test]
fn admission_code_parses_no_request_data() {
    let mut found = Vec::new();
    for file in admission_files() {
        let code = strip(&std::fs::read_to_string(&file).unwrap_or_default());
        let code = without_test_code(&code);
        for (n, line) in code.lines().enumerate() {
            if line.contains(".parse()") || line.contains("parse::<") || has_word(line, "parse_opt") {
                found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "src/admission parses strings; parse where the data enters (src/http, the row decoder, the body's Deserialize):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_admission_checks_see_what_they_look_for() {
    let code = strip(
        "pub struct AInput {\n    /// Doc.\n    #[serde(default)]\n    pub a: Option<String>,\n    pub b: BTreeMap<K, Vec<u8>>,\n}\n\
         #[cfg(test)]\nmod tests { fn f() { \"1\".parse::<u8>(); } }\nfn g() { x.parse() }",
    );
    let code = without_test_code(&code);
    let structs = pub_structs(&code);
    assert_eq!(structs.len(), 1);
    let body = without_attributes(&structs[0].1);
    let parts = fields(&body);
    let typed: Vec<bool> = parts
        .iter()
        .filter_map(|f| f.split_once(':'))
        .map(|(_, ty)| has_word(ty, "String"))
        .collect();
    assert_eq!(typed, [true, false]);
    assert!(!has_word("SecretString", "String"));
    assert!(!code.contains("parse::<") && code.contains("x.parse()"));
}

/// Every `.rs` file under `src/admission`.
fn admission_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    walk(&root().join("src").join("admission"), &mut files);
    assert!(!files.is_empty(), "src/admission has no files");
    files
}

/// The code with every `#[cfg(test)]` item (a block up to its matching brace, or up to `;`) removed.
fn without_test_code(code: &str) -> String {
    without_spans(code, "#[cfg(test)]", |after| {
        match (after.find('{'), after.find(';')) {
            (Some(b), Some(s)) if s < b => s + 1,
            (Some(b), _) => b + block_end(&after[b..]),
            (None, Some(s)) => s + 1,
            (None, None) => after.len(),
        }
    })
}

/// `text` without each span that starts at `marker` and is `span_len(from the marker on)` long.
fn without_spans(text: &str, marker: &str, span_len: impl Fn(&str) -> usize) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(marker) {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        rest = &after[span_len(after).clamp(marker.len(), after.len())..];
    }
    out.push_str(rest);
    out
}

/// Length of the `{…}` block `text` starts with, braces matched.
fn block_end(text: &str) -> usize {
    bracketed_len(text, '{', '}')
}

/// Length of the bracketed run `text` starts with (`open` … its matching `close`), or all of it.
fn bracketed_len(text: &str, open: char, close: char) -> usize {
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        if c == open {
            depth += 1;
        } else if c == close {
            depth = depth.saturating_sub(1);
            if depth == 0 {
                return i + c.len_utf8();
            }
        }
    }
    text.len()
}

/// `(name, body)` of every `pub struct Name { … }` (named fields) in the code.
fn pub_structs(code: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (at, _) in code.match_indices("pub struct ") {
        let after = &code[at + "pub struct ".len()..];
        let name: String = after.chars().take_while(|c| is_ident(*c)).collect();
        let Some(open) = after.find(['{', ';', '(']) else {
            continue;
        };
        if !after[open..].starts_with('{') {
            continue;
        }
        let len = block_end(&after[open..]);
        out.push((name, after[open + 1..open + len - 1].to_owned()));
    }
    out
}

/// The text with `#[…]` attributes removed (doc comments are already gone).
fn without_attributes(text: &str) -> String {
    without_spans(text, "#[", |after| 1 + bracketed_len(&after[1..], '[', ']'))
}

/// The text split at commas outside any bracket: a struct body's fields.
fn fields(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (at, c) in text.char_indices() {
        match c {
            '{' | '<' | '(' | '[' => depth += 1,
            '}' | '>' | ')' | ']' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// Whether `word` occurs in `text` as a whole identifier.
fn has_word(text: &str, word: &str) -> bool {
    text.match_indices(word)
        .any(|(at, _)| !text[..at].ends_with(is_ident) && !text[at + word.len()..].starts_with(is_ident))
}

fn root() -> PathBuf {
    PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default())
}

/// Import edges read from every file under `src/`.
struct Graph {
    /// Top-level module names (a file or directory directly under `src/`).
    top: BTreeSet<String>,
    /// Per top-level module, its children (files and directories).
    children: BTreeMap<String, BTreeSet<String>>,
    /// `(from module path, to path)` of every import found.
    imports: Vec<(Vec<String>, Vec<String>)>,
    /// Per top-level module, names its `mod.rs` re-exports and the child that defines each.
    reexports: BTreeMap<String, BTreeMap<String, String>>,
}

impl Graph {
    fn read(src: &Path) -> Self {
        let mut files = Vec::new();
        walk(src, &mut files);
        // `#[path = "…"] mod name;` puts a file under the module that declares it.
        let mut moved: BTreeMap<PathBuf, Vec<String>> = BTreeMap::new();
        for file in &files {
            let text = std::fs::read_to_string(file).unwrap_or_default();
            let mut lines = text.lines();
            while let Some(line) = lines.next() {
                let Some(target) = line.trim().strip_prefix("#[path = \"") else {
                    continue;
                };
                let target = target.trim_end_matches("\"]");
                let next = lines.next().unwrap_or_default().trim();
                let name = next
                    .trim_start_matches("pub ")
                    .trim_start_matches("mod ")
                    .trim_end_matches(';');
                let dir = file.parent().unwrap_or(src);
                let mut module = module_path(src, file);
                module.push(name.to_owned());
                moved.insert(normalize(&dir.join(target)), module);
            }
        }
        let mut graph = Graph {
            top: BTreeSet::new(),
            children: BTreeMap::new(),
            imports: Vec::new(),
            reexports: BTreeMap::new(),
        };
        for file in &files {
            let module = moved
                .get(&normalize(file))
                .cloned()
                .unwrap_or_else(|| module_path(src, file));
            let Some(top) = module.first() else { continue };
            graph.top.insert(top.clone());
            if let Some(child) = module.get(1) {
                graph
                    .children
                    .entry(top.clone())
                    .or_default()
                    .insert(child.clone());
            }
            let code = strip(&std::fs::read_to_string(file).unwrap_or_default());
            let is_mod_rs = module.len() == 1 && file.ends_with("mod.rs");
            for (inline, path) in paths(&code) {
                let mut here = module.clone();
                here.extend(inline);
                if let Some(target) = resolve(&here, &path) {
                    graph.imports.push((here.clone(), target));
                }
            }
            if is_mod_rs {
                let map = graph.reexports.entry(top.clone()).or_default();
                for (name, child) in reexports(&code) {
                    map.insert(name, child);
                }
            }
        }
        graph
    }

    /// `""` (top level) and every top-level module with children.
    fn modules(&self) -> Vec<String> {
        std::iter::once(String::new())
            .chain(self.children.keys().cloned())
            .collect()
    }

    /// The import edges between top-level modules (`module == ""`) or between one module's files.
    fn edges(&self, module: &str) -> BTreeMap<String, BTreeSet<String>> {
        let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (from, to) in &self.imports {
            let (Some(a), Some(b)) = (from.first(), to.first()) else {
                continue;
            };
            if module.is_empty() {
                if a != b && self.top.contains(b) {
                    edges.entry(a.clone()).or_default().insert(b.clone());
                }
                continue;
            }
            if a != module || b != module {
                continue;
            }
            // The module's own `mod.rs` declares and re-exports its files: not an edge.
            let Some(from_child) = from.get(1) else { continue };
            let children = &self.children[module];
            let to_child = match to.get(1) {
                Some(c) if children.contains(c) => Some(c.clone()),
                Some(name) => self.reexports.get(module).and_then(|m| m.get(name)).cloned(),
                None => None,
            };
            if let Some(to_child) = to_child
                && &to_child != from_child
            {
                edges.entry(from_child.clone()).or_default().insert(to_child);
            }
        }
        edges
    }
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// `src/a/b.rs` and `src/a/b/mod.rs` are `["a", "b"]`; `lib.rs` and `main.rs` are the root.
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap_or(file).with_extension("");
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if parts.last().is_some_and(|p| p == "mod")
        || (parts.len() == 1 && (parts[0] == "lib" || parts[0] == "main"))
    {
        parts.pop();
    }
    parts
}

/// The module an import names, made absolute (without `crate`); `None` for other crates.
fn resolve(here: &[String], path: &[String]) -> Option<Vec<String>> {
    let mut base: Vec<String> = here.to_vec();
    let mut rest = path;
    match rest.first().map(String::as_str) {
        Some("crate") => {
            base.clear();
            rest = &rest[1..];
        }
        Some("super" | "self") => {
            while let Some(first) = rest.first() {
                match first.as_str() {
                    "super" => {
                        base.pop()?;
                    }
                    "self" => {}
                    _ => break,
                }
                rest = &rest[1..];
            }
        }
        _ => return None,
    }
    base.extend(rest.iter().cloned());
    Some(base)
}

/// `pub use child::{A, B as C}` in a `mod.rs`: `A` and `C` are defined by `child`.
fn reexports(code: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (at, _) in code.match_indices("pub use ") {
        let tree = &code[at + "pub use ".len()..];
        let end = tree.find(';').unwrap_or(tree.len());
        let mut found = Vec::new();
        use_tree(&tree[..end], &mut Vec::new(), &mut found);
        for path in found {
            let path: Vec<&str> = path.iter().map(String::as_str).filter(|s| *s != "self").collect();
            if let (Some(child), Some(name)) = (path.first(), path.last())
                && path.len() >= 2
                && *name != "*"
            {
                out.push(((*name).to_owned(), (*child).to_owned()));
            }
        }
    }
    out
}

/// The code with comments removed and string and character literals emptied.
fn strip(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == 'r' && (next == Some('#') || next == Some('"')) && !ident_before(&chars, i) {
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                match chars.get(j) {
                    None => break,
                    Some('"') if (1..=hashes).all(|k| chars.get(j + k) == Some(&'#')) => {
                        j += 1 + hashes;
                        break;
                    }
                    _ => j += 1,
                }
            }
            out.push_str("\"\"");
            i = j;
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' {
            // A character literal ('x', '\n', '{'); otherwise a lifetime.
            if next == Some('\\') {
                i += 2;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
                out.push_str("' '");
            } else if chars.get(i + 2) == Some(&'\'') {
                i += 3;
                out.push_str("' '");
            } else {
                out.push(c);
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident_before(chars: &[char], i: usize) -> bool {
    i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_')
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Every `crate::`, `super::` and `self::` path in stripped code, with the inline modules
/// (`mod tests { … }`) it sits in; `use` trees are expanded.
fn paths(code: &str) -> Vec<(Vec<String>, Vec<String>)> {
    let chars: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '{' {
            depth += 1;
        } else if c == '}' {
            depth = depth.saturating_sub(1);
            if inline.last().is_some_and(|(_, d)| *d == depth) {
                inline.pop();
            }
        }
        let word_start = !ident_before(&chars, i) && (i == 0 || chars[i - 1] != ':');
        if word_start && is_ident(c) {
            let word: String = chars[i..].iter().take_while(|c| is_ident(**c)).collect();
            let after = i + word.chars().count();
            if word == "mod" {
                // `mod name {`: an inline module.
                let rest: String = chars[after..].iter().take(80).collect();
                let rest = rest.trim_start();
                let name: String = rest.chars().take_while(|c| is_ident(*c)).collect();
                if !name.is_empty() && rest[name.len()..].trim_start().starts_with('{') {
                    inline.push((name, depth));
                }
            } else if matches!(word.as_str(), "crate" | "super" | "self")
                && chars.get(after) == Some(&':')
                && chars.get(after + 1) == Some(&':')
            {
                let start: String = chars[i..].iter().collect();
                let end = tree_end(&start);
                let mut found = Vec::new();
                use_tree(&start[..end], &mut Vec::new(), &mut found);
                let names: Vec<String> = inline.iter().map(|(n, _)| n.clone()).collect();
                out.extend(found.into_iter().map(|p| (names.clone(), p)));
                i += start[..end].chars().count();
                continue;
            }
            i = after;
            continue;
        }
        i += 1;
    }
    out
}

/// Where a path (with its `{…}` groups) ends.
fn tree_end(text: &str) -> usize {
    let mut depth = 0;
    for (at, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth > 0 => depth -= 1,
            c if depth == 0
                && !(is_ident(c)
                    || c == ':'
                    || c.is_whitespace() && text[at..].trim_start().starts_with("::")) =>
            {
                return at;
            }
            _ => {}
        }
    }
    text.len()
}

/// Expands `a::{b, c::{self, d as e}, *}` into its paths (aliases dropped).
fn use_tree(text: &str, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    let text = text.trim();
    let (head, group) = match text.find('{') {
        Some(open) => (
            &text[..open],
            Some(&text[open + 1..text.rfind('}').unwrap_or(text.len())]),
        ),
        None => (text, None),
    };
    let before = prefix.len();
    for seg in head.split("::").map(str::trim).filter(|s| !s.is_empty()) {
        let seg = seg.split_whitespace().next().unwrap_or(seg);
        if seg == "self"
            && group.is_none()
            && !prefix.is_empty()
            && before == prefix.len()
            && head.trim() == "self"
        {
            break;
        }
        prefix.push(seg.to_owned());
    }
    match group {
        None => {
            if prefix.last().is_some_and(|s| s == "self") && prefix.len() > 1 {
                prefix.pop();
            }
            out.push(prefix.clone());
        }
        Some(group) => {
            for part in split_top(group) {
                if !part.trim().is_empty() {
                    use_tree(part, prefix, out);
                }
            }
        }
    }
    prefix.truncate(before);
}

/// Splits a group's contents on its top-level commas.
fn split_top(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (at, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// The strongly connected components of more than one node (Tarjan's algorithm).
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<BTreeSet<String>> {
    struct State<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<BTreeSet<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, node: &'a str) {
        let n = s.index.len();
        s.index.insert(node, n);
        s.low.insert(node, n);
        s.stack.push(node);
        s.on_stack.insert(node);
        for next in s.edges.get(node).into_iter().flatten() {
            let next = next.as_str();
            if !s.index.contains_key(next) {
                visit(s, next);
                let low = s.low[node].min(s.low[next]);
                s.low.insert(node, low);
            } else if s.on_stack.contains(next) {
                let low = s.low[node].min(s.index[next]);
                s.low.insert(node, low);
            }
        }
        if s.low[node] == s.index[node] {
            let mut component = BTreeSet::new();
            while let Some(top) = s.stack.pop() {
                s.on_stack.remove(top);
                component.insert(top.to_owned());
                if top == node {
                    break;
                }
            }
            if component.len() > 1 {
                s.found.push(component);
            }
        }
    }
    let mut state = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for node in edges.keys() {
        if !state.index.contains_key(node.as_str()) {
            visit(&mut state, node);
        }
    }
    state.found
}
