//! The arrows point down, and no module imports its way back to itself.
//!
//! The check reads Rust, not lines: every file under `src/` is parsed with
//! `syn`, every `use` tree (grouped, nested, renamed, `self`/`super`) and
//! every `crate::…`/`super::…`/`self::…` path in the code is resolved to the
//! module it names, and the module graph is built from that. Two rules:
//!
//! 1. **Layers.** Each top-level module sits in a layer of [`LAYERS`] (the
//!    README's Layout says why); a module may use modules of its own layer
//!    or below, never above.
//! 2. **No circles.** Between top-level modules, and between the modules
//!    inside one (a module may use its own ancestors: the parent that
//!    declares it and what that parent re-exports), the graph has no cycle.
//!
//! Test code (`#[cfg(test)]` items) is left out: a unit test may reach
//! anywhere. `main.rs` is the binary and uses only `cli`.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
};

use syn::visit::Visit;

/// The layers, lowest first. A module may use its own layer and those below.
const LAYERS: &[&[&str]] = &[
    // The ground floor: values and helpers that know no domain.
    &["money", "token", "ids", "urls", "calendar", "telemetry"],
    &["config"],
    &["db", "metrics"],
    &["operators"],
    &["events"],
    // Outside services and the job-run ledger.
    &["runs", "channels", "mail", "printing", "fulfillment", "feeds", "backup", "deploy"],
    &["inventory"],
    &["books", "station", "quotes"],
    // Domains over domains.
    &["sync", "integrations"],
    &["services"],
    &["alerts", "reviews", "dashboard", "summary"],
    &["app"],
    // The surfaces: pages, jobs, development stand-ins.
    &["web", "jobs", "standin", "demo"],
    // The wiring and the verbs.
    &["startup", "cli"],
];

/// Module → modules it uses (its own path excluded), as found in `files`.
#[derive(Debug, Default)]
pub struct Graph {
    pub modules: BTreeSet<Vec<String>>,
    pub edges: BTreeMap<Vec<String>, BTreeMap<Vec<String>, String>>,
}

/// The module path of a file under `src/` (`src/a/b.rs` → `a::b`, `src/a/mod.rs` → `a`).
fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if let Some(last) = parts.pop() {
        let stem = last.trim_end_matches(".rs").to_owned();
        if stem != "mod" && stem != "lib" {
            parts.push(stem);
        }
    }
    parts
}

fn is_test_only(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg") && a.parse_args::<syn::Meta>().is_ok_and(|m| matches!(&m, syn::Meta::Path(p) if p.is_ident("test")))
    })
}

/// Collects the paths one module (a file, or an inline `mod` in it) uses.
struct Uses<'a> {
    module: Vec<String>,
    /// (module, path as written, line)
    out: &'a mut Vec<(Vec<String>, Vec<String>, usize)>,
    /// Inline modules found: their full paths.
    inline: &'a mut Vec<Vec<String>>,
}

impl Uses<'_> {
    fn tree(&mut self, prefix: &mut Vec<String>, t: &syn::UseTree, line: usize) {
        match t {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.tree(prefix, &p.tree, line);
                prefix.pop();
            }
            syn::UseTree::Name(n) => {
                let mut full = prefix.clone();
                if n.ident != "self" {
                    full.push(n.ident.to_string());
                }
                self.out.push((self.module.clone(), full, line));
            }
            syn::UseTree::Rename(r) => {
                let mut full = prefix.clone();
                if r.ident != "self" {
                    full.push(r.ident.to_string());
                }
                self.out.push((self.module.clone(), full, line));
            }
            syn::UseTree::Glob(_) => self.out.push((self.module.clone(), prefix.clone(), line)),
            syn::UseTree::Group(g) => {
                for item in &g.items {
                    self.tree(prefix, item, line);
                }
            }
        }
    }
}

impl<'ast> Visit<'ast> for Uses<'_> {
    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        if is_test_only(&u.attrs) {
            return;
        }
        self.tree(&mut Vec::new(), &u.tree, u.use_token.span.start().line);
    }

    fn visit_path(&mut self, p: &'ast syn::Path) {
        let segs: Vec<String> = p.segments.iter().map(|s| s.ident.to_string()).collect();
        if segs.first().is_some_and(|s| s == "crate" || s == "super" || s == "self") && segs.len() > 1 {
            let line = p.segments.first().map(|s| s.ident.span().start().line).unwrap_or(0);
            self.out.push((self.module.clone(), segs, line));
        }
        syn::visit::visit_path(self, p);
    }

    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        if is_test_only(&m.attrs) {
            return;
        }
        if let Some((_, items)) = &m.content {
            let mut module = self.module.clone();
            module.push(m.ident.to_string());
            self.inline.push(module.clone());
            let mut inner = Uses { module, out: self.out, inline: self.inline };
            for item in items {
                inner.visit_item(item);
            }
        }
    }

    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        if !is_test_only(&f.attrs) {
            syn::visit::visit_item_fn(self, f);
        }
    }

    fn visit_item_impl(&mut self, i: &'ast syn::ItemImpl) {
        if !is_test_only(&i.attrs) {
            syn::visit::visit_item_impl(self, i);
        }
    }
}

/// Builds the graph of the sources `files` (path relative to `src/`, text).
pub fn graph(files: &[(std::path::PathBuf, String)]) -> Result<Graph, String> {
    let mut g = Graph::default();
    let mut found = Vec::new();
    for (rel, text) in files {
        if rel == Path::new("main.rs") {
            continue;
        }
        let module = module_of(rel);
        g.modules.insert(module.clone());
        let ast = syn::parse_file(text).map_err(|e| format!("{}: {e}", rel.display()))?;
        let mut inline = Vec::new();
        let mut v = Uses { module: module.clone(), out: &mut found, inline: &mut inline };
        for item in &ast.items {
            v.visit_item(item);
        }
        g.modules.extend(inline);
    }
    for (from, path, line) in found {
        // Resolve crate/super/self to an absolute path.
        let mut abs = match path.first().map(String::as_str) {
            Some("crate") => Vec::new(),
            Some("super") | Some("self") => from.clone(),
            _ => continue, // an external crate, or a name already in scope
        };
        let mut rest = &path[1..];
        if path[0] == "super" {
            abs.pop();
        }
        while rest.first().is_some_and(|s| s == "super") {
            abs.pop();
            rest = &rest[1..];
        }
        abs.extend(rest.iter().cloned());
        // The module named: the longest known prefix.
        let Some(to) = (1..=abs.len()).rev().map(|k| abs[..k].to_vec()).find(|m| g.modules.contains(m)) else { continue };
        if to == from {
            continue;
        }
        let at = format!("{}:{line}", from.join("::"));
        g.edges.entry(from.clone()).or_default().entry(to).or_insert(at);
    }
    Ok(g)
}

fn layer_of(top: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&top))
}

/// The first cycle among `edges` (as a path that returns to its start), if any.
fn cycle<N: Ord + Clone>(edges: &BTreeMap<N, BTreeSet<N>>) -> Option<Vec<N>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit<N: Ord + Clone>(n: &N, edges: &BTreeMap<N, BTreeSet<N>>, marks: &mut BTreeMap<N, Mark>, stack: &mut Vec<N>) -> Option<Vec<N>> {
        match marks.get(n) {
            Some(Mark::Done) => return None,
            Some(Mark::Open) => {
                let start = stack.iter().position(|s| s == n).unwrap_or(0);
                let mut c = stack[start..].to_vec();
                c.push(n.clone());
                return Some(c);
            }
            None => {}
        }
        marks.insert(n.clone(), Mark::Open);
        stack.push(n.clone());
        for m in edges.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, edges, marks, stack) {
                return Some(c);
            }
        }
        stack.pop();
        marks.insert(n.clone(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for n in edges.keys() {
        if let Some(c) = visit(n, edges, &mut marks, &mut Vec::new()) {
            return Some(c);
        }
    }
    None
}

/// Every broken rule, each with the file and line of an import behind it.
pub fn problems(g: &Graph) -> Vec<String> {
    let mut out = Vec::new();
    let mut top: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut top_at: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut inner: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for m in &g.modules {
        if let Some(t) = m.first()
            && layer_of(t).is_none()
        {
            out.push(format!("module `{t}` is in no layer: add it to LAYERS in tests/api/layers.rs (and README's Layout)"));
        }
    }
    for (from, tos) in &g.edges {
        for (to, at) in tos {
            let (Some(a), Some(b)) = (from.first(), to.first()) else { continue };
            if a != b {
                if let (Some(la), Some(lb)) = (layer_of(a), layer_of(b))
                    && lb > la
                {
                    out.push(format!("{at}: `{a}` (layer {la}) uses `{b}` (layer {lb}): an arrow up"));
                }
                top.entry(a.clone()).or_default().insert(b.clone());
                top_at.entry((a.clone(), b.clone())).or_insert_with(|| at.clone());
            } else if !from.starts_with(to) {
                // Inside one top-level module; a use of an ancestor is not an arrow back.
                inner.entry(from.clone()).or_default().insert(to.clone());
            }
        }
    }
    if let Some(c) = cycle(&top) {
        let steps: Vec<String> = c
            .windows(2)
            .map(|w| format!("{} → {} ({})", w[0], w[1], top_at.get(&(w[0].clone(), w[1].clone())).cloned().unwrap_or_default()))
            .collect();
        out.push(format!("an import circle between modules: {}", steps.join(", ")));
    }
    if let Some(c) = cycle(&inner) {
        let names: Vec<String> = c.iter().map(|m| m.join("::")).collect();
        out.push(format!("an import circle inside a module: {}", names.join(" → ")));
    }
    out
}

fn sources(root: &Path, dir: &Path, out: &mut Vec<(std::path::PathBuf, String)>) {
    for entry in std::fs::read_dir(dir).expect("src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            sources(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path.strip_prefix(root).expect("under src").to_path_buf();
            out.push((rel, std::fs::read_to_string(&path).expect("read")));
        }
    }
}

fn tree() -> Vec<(std::path::PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &root, &mut files);
    files.sort();
    files
}

#[test]
fn the_tree_has_no_arrow_up_and_no_circle() {
    let files = tree();
    let g = graph(&files).expect("every file parses");
    // The check sees the tree: the known arrows are there.
    let has = |a: &str, b: &str| {
        g.edges.iter().any(|(f, t)| f.first().is_some_and(|x| x == a) && t.keys().any(|m| m.first().is_some_and(|y| y == b)))
    };
    assert!(has("jobs", "sync") && has("sync", "inventory") && has("web", "app"), "the graph misses known imports");
    let found = problems(&g);
    assert!(found.is_empty(), "the layering is broken:\n{}", found.join("\n"));
}

/// Plants `(file, text)` into a copy of the tree.
fn planted(extra: &[(&str, &str)]) -> Vec<String> {
    let mut files = tree();
    for (path, text) in extra {
        match files.iter_mut().find(|(p, _)| p == Path::new(path)) {
            Some((_, t)) => {
                t.push('\n');
                t.push_str(text);
            }
            None => files.push((path.into(), (*text).to_owned())),
        }
    }
    problems(&graph(&files).expect("parses"))
}

#[test]
fn a_grouped_import_of_a_layer_above_is_caught() {
    // rustfmt's own shape of an import: the upward name inside a group.
    let found = planted(&[("inventory/stock.rs", "use crate::{events::Event, station::{queue, ship::write_back_pending}};\n")]);
    assert!(found.iter().any(|p| p.contains("`inventory` (layer 6) uses `station`") && p.contains("inventory::stock:")), "{found:?}");
    let found = planted(&[("money.rs", "fn f() { let _ = crate::web::router; }\n")]);
    assert!(found.iter().any(|p| p.contains("`money` (layer 0) uses `web`")), "a path in code counts too: {found:?}");
}

#[test]
fn a_planted_circle_is_caught_between_modules_and_inside_one() {
    // Same layer, so only the circle rule can catch it.
    let found =
        planted(&[("books/mod.rs", "use crate::station::queue::STATION_QUEUE;\n"), ("station/mod.rs", "use crate::books::Books;\n")]);
    assert!(found.iter().any(|p| p.starts_with("an import circle between modules")), "{found:?}");
    let found = planted(&[("quotes/render.rs", "use super::send::Sent;\n")]);
    assert!(found.iter().any(|p| p.starts_with("an import circle inside a module") && p.contains("quotes::render")), "{found:?}");
    // A module using its parent is not a circle.
    let found = planted(&[("quotes/render.rs", "use super::QuoteError;\n")]);
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn a_module_in_no_layer_is_named() {
    let found = planted(&[("lib.rs", "pub mod newcomer;\n"), ("newcomer.rs", "pub fn hello() {}\n")]);
    assert!(found.iter().any(|p| p.contains("module `newcomer` is in no layer")), "{found:?}");
}
