//! Every SQL statement in `src/` is checked against the migrated schema
//! before a user meets it, and touches only the tables its module may touch.
//!
//! The statements are read out of the source with `syn` (string literals
//! passed to `sqlx::query*`, or `const` strings named there), so the check
//! needs no running code path: each is PREPAREd on a freshly migrated
//! MariaDB (unknown tables and columns fail there), the columns a statement
//! returns are compared with the row struct (`#[derive(FromRow)]`) or tuple
//! it is read into, and the tables it names are compared with the ownership
//! map in README.md ("Who owns which table"): a statement may write only
//! tables its module owns, and read only those and the ones the map says
//! the module reads.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use sqlx::{Column, Executor, SqlSafeStr};
use syn::visit::Visit;

use crate::helpers::TestDb;

/// How a statement's rows are read.
#[derive(Debug, Clone)]
enum Shape {
    /// `query_as::<_, Row>` with `Row` a `FromRow` struct of the crate.
    Named(String),
    /// `query_as::<_, (A, B, …)>` (or a typed `let`/return): the element types.
    Tuple(Vec<String>),
    /// `query_scalar`: one column, of this type when known.
    Scalar(Option<String>),
    /// `query_as` whose row type is nowhere written (a caller's inference).
    Unknown,
    /// `query` (rows read by the row struct's `from_row`, or none).
    Untyped,
}

#[derive(Debug, Clone)]
struct Statement {
    file: String,
    line: usize,
    sql: String,
    shape: Shape,
    /// `.bind(…)` calls in the statement's chain, when the chain ends in a fetch or execute.
    binds: Option<usize>,
}

#[derive(Default)]
struct Found {
    statements: Vec<Statement>,
    /// (file, line, what) of SQL the check cannot read: built at run time.
    dynamic: Vec<String>,
    /// Row structs: name → (column name, Rust type) of each field.
    rows: HashMap<String, Vec<(String, String)>>,
    /// String-keyed column reads left in the code.
    string_keyed: Vec<String>,
}

struct Visitor<'a> {
    file: String,
    consts: HashMap<String, String>,
    found: &'a mut Found,
    /// Row types known from the code around a call (a typed `let`, a fn's return type), by the call's position.
    context: HashMap<(usize, usize), String>,
    /// Binds counted along a call's chain, by the call's position.
    binds: HashMap<(usize, usize), usize>,
}

/// A type as written, without spaces (`Option<(u64,String)>`).
fn type_text(t: &syn::Type) -> String {
    quote::ToTokens::to_token_stream(t).to_string().replace(' ', "")
}

/// The generic argument of `Wrapper<…>` when `t` is one.
fn unwrap(t: &str, wrapper: &str) -> Option<String> {
    let inner = t.strip_prefix(wrapper)?.strip_prefix('<')?.strip_suffix('>')?;
    // `Result<X, E>`: the first argument, split at a top-level comma.
    let mut depth = 0;
    for (i, c) in inner.char_indices() {
        match c {
            '<' | '(' => depth += 1,
            '>' | ')' => depth -= 1,
            ',' if depth == 0 => return Some(inner[..i].to_owned()),
            _ => {}
        }
    }
    Some(inner.to_owned())
}

/// The sqlx query call at the bottom of a method chain, the chain's methods
/// (outermost first) and its `.bind` count.
fn chain(e: &syn::Expr) -> Option<(&syn::ExprCall, Vec<String>)> {
    let mut methods = Vec::new();
    let mut e = e;
    loop {
        match e {
            syn::Expr::Await(a) => e = &a.base,
            syn::Expr::Try(t) => e = &t.expr,
            syn::Expr::Paren(p) => e = &p.expr,
            syn::Expr::MethodCall(m) => {
                methods.push(m.method.to_string());
                e = &m.receiver;
            }
            syn::Expr::Call(c) => {
                let syn::Expr::Path(p) = &*c.func else { return None };
                let segs: Vec<String> = p.path.segments.iter().map(|s| s.ident.to_string()).collect();
                let last = segs.last().map(String::as_str).unwrap_or("");
                return (segs.first().is_some_and(|s| s == "sqlx") && QUERY_FNS.contains(&last)).then_some((c, methods));
            }
            _ => return None,
        }
    }
}

fn call_pos(c: &syn::ExprCall) -> (usize, usize) {
    let syn::Expr::Path(p) = &*c.func else { return (0, 0) };
    let s = p.path.segments.last().map(|s| s.ident.span().start());
    s.map_or((0, 0), |s| (s.line, s.column))
}

/// The row type a chain reads, from the type its result is held in.
fn row_of(held: &str, methods: &[String]) -> Option<String> {
    let held = unwrap(held, "Result").unwrap_or_else(|| held.to_owned());
    // `.fetch_optional(…).await?.unwrap_or(…)`: what is held is the row itself.
    let unwrapped = methods
        .iter()
        .take_while(|m| !m.starts_with("fetch"))
        .any(|m| ["unwrap_or", "unwrap_or_default", "unwrap_or_else", "ok_or", "ok_or_else", "expect", "unwrap"].contains(&m.as_str()));
    if methods.iter().any(|m| m == "fetch_all") {
        unwrap(&held, "Vec")
    } else if methods.iter().any(|m| m == "fetch_optional") {
        if unwrapped { Some(held) } else { unwrap(&held, "Option") }
    } else if methods.iter().any(|m| m == "fetch_one") {
        Some(held)
    } else {
        None
    }
}

const QUERY_FNS: [&str; 6] = ["query", "query_as", "query_scalar", "query_with", "query_as_with", "query_scalar_with"];

impl<'a, 'ast> Visit<'ast> for Visitor<'a> {
    fn visit_item_struct(&mut self, s: &'ast syn::ItemStruct) {
        let from_row = s.attrs.iter().any(|a| a.path().is_ident("derive") && quote_of(a).contains("FromRow"));
        if from_row {
            let fields = s
                .fields
                .iter()
                .filter_map(|f| f.ident.as_ref().map(|i| (i.to_string().trim_start_matches("r#").to_string(), type_text(&f.ty))))
                .collect();
            self.found.rows.insert(s.ident.to_string(), fields);
        }
        syn::visit::visit_item_struct(self, s);
    }

    fn visit_expr_call(&mut self, call: &'ast syn::ExprCall) {
        if let syn::Expr::Path(p) = &*call.func {
            let segs: Vec<String> = p.path.segments.iter().map(|s| s.ident.to_string()).collect();
            let last = segs.last().map(String::as_str).unwrap_or("");
            let line = p.path.segments.last().map(|s| s.ident.span().start().line).unwrap_or(0);
            if segs.first().is_some_and(|s| s == "sqlx") && QUERY_FNS.contains(&last) {
                let pos = call_pos(call);
                let known = self.context.get(&pos).cloned();
                let shape = match last {
                    "query_scalar" | "query_scalar_with" => Shape::Scalar(scalar_type(p.path.segments.last()).or(known)),
                    "query" | "query_with" => Shape::Untyped,
                    _ => match row_shape(p.path.segments.last()) {
                        Shape::Untyped => known.map_or(Shape::Unknown, |k| shape_of(&k)),
                        s => s,
                    },
                };
                let binds = self.binds.get(&pos).copied();
                match call.args.first().and_then(|a| self.literal(a)) {
                    Some(sql) => self.found.statements.push(Statement { file: self.file.clone(), line, sql, shape, binds }),
                    None => self.found.dynamic.push(format!("{}:{line}: sqlx::{last} of SQL built at run time", self.file)),
                }
            }
            if segs.iter().any(|s| s == "QueryBuilder") {
                self.found.dynamic.push(format!("{}:{line}: QueryBuilder builds SQL at run time", self.file));
            }
        }
        syn::visit::visit_expr_call(self, call);
    }

    fn visit_local(&mut self, l: &'ast syn::Local) {
        if let (syn::Pat::Type(pt), Some(init)) = (&l.pat, &l.init)
            && let Some((call, methods)) = chain(&init.expr)
            && let Some(row) = row_of(&type_text(&pt.ty), &methods)
        {
            self.context.insert(call_pos(call), row);
        }
        syn::visit::visit_local(self, l);
    }

    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        self.returns(&f.sig, &f.block);
        syn::visit::visit_item_fn(self, f);
    }

    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        self.returns(&f.sig, &f.block);
        syn::visit::visit_impl_item_fn(self, f);
    }

    fn visit_expr_method_call(&mut self, m: &'ast syn::ExprMethodCall) {
        // Binds are counted once per chain, from its end (a fetch or an execute).
        if ["fetch_all", "fetch_one", "fetch_optional", "execute", "fetch"].contains(&m.method.to_string().as_str())
            && let Some((call, methods)) = chain(&syn::Expr::MethodCall(m.clone()))
        {
            let n = methods.iter().filter(|x| *x == "bind").count();
            let slot = self.binds.entry(call_pos(call)).or_insert(0);
            *slot = (*slot).max(n);
        }
        if m.method == "try_get" && m.args.first().is_some_and(|a| matches!(a, syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(_), .. })))
        {
            self.found.string_keyed.push(format!("{}:{}: .try_get(\"…\")", self.file, m.method.span().start().line));
        }
        syn::visit::visit_expr_method_call(self, m);
    }

    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        // Without sqlx's Row trait in scope no column can be read by name.
        let text = quote_use(&u.tree);
        if text.starts_with("sqlx::") && text.split(|c: char| !c.is_alphanumeric()).any(|w| w == "Row") {
            self.found.string_keyed.push(format!("{}:{}: use {text}", self.file, u.use_token.span.start().line));
        }
        syn::visit::visit_item_use(self, u);
    }
}

fn quote_use(t: &syn::UseTree) -> String {
    match t {
        syn::UseTree::Path(p) => format!("{}::{}", p.ident, quote_use(&p.tree)),
        syn::UseTree::Name(n) => n.ident.to_string(),
        syn::UseTree::Rename(r) => r.ident.to_string(),
        syn::UseTree::Glob(_) => "*".into(),
        syn::UseTree::Group(g) => format!("{{{}}}", g.items.iter().map(quote_use).collect::<Vec<_>>().join(", ")),
    }
}

impl Visitor<'_> {
    /// A query that is the tail of a fn body reads what the fn returns.
    fn returns(&mut self, sig: &syn::Signature, block: &syn::Block) {
        let syn::ReturnType::Type(_, ty) = &sig.output else { return };
        if let Some(syn::Stmt::Expr(e, None)) = block.stmts.last()
            && let Some((call, methods)) = chain(e)
            && let Some(row) = row_of(&type_text(ty), &methods)
        {
            self.context.insert(call_pos(call), row);
        }
    }

    /// The SQL text of a query's first argument: a string literal, or a
    /// `const` of this file holding one.
    fn literal(&self, e: &syn::Expr) -> Option<String> {
        match e {
            syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. }) => Some(s.value()),
            syn::Expr::Path(p) => p.path.get_ident().and_then(|i| self.consts.get(&i.to_string()).cloned()),
            syn::Expr::Reference(r) => self.literal(&r.expr),
            _ => None,
        }
    }
}

fn quote_of(a: &syn::Attribute) -> String {
    match &a.meta {
        syn::Meta::List(l) => l.tokens.to_string(),
        _ => String::new(),
    }
}

fn row_shape(seg: Option<&syn::PathSegment>) -> Shape {
    let Some(syn::PathArguments::AngleBracketed(args)) = seg.map(|s| &s.arguments) else {
        return Shape::Untyped;
    };
    match args.args.iter().nth(1) {
        Some(syn::GenericArgument::Type(t)) => shape_of(&type_text(t)),
        _ => Shape::Untyped,
    }
}

/// `query_scalar::<_, T>`'s `T`.
fn scalar_type(seg: Option<&syn::PathSegment>) -> Option<String> {
    let Some(syn::PathArguments::AngleBracketed(args)) = seg.map(|s| &s.arguments) else { return None };
    match args.args.iter().nth(1) {
        Some(syn::GenericArgument::Type(t)) => Some(type_text(t)),
        _ => None,
    }
}

/// A row type as written: a tuple's elements, or a struct's name.
fn shape_of(t: &str) -> Shape {
    match t.strip_prefix('(').and_then(|r| r.strip_suffix(')')) {
        Some(inner) => {
            let mut parts = Vec::new();
            let (mut depth, mut start) = (0, 0);
            for (i, c) in inner.char_indices() {
                match c {
                    '<' | '(' => depth += 1,
                    '>' | ')' => depth -= 1,
                    ',' if depth == 0 => {
                        parts.push(inner[start..i].to_owned());
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            if start < inner.len() {
                parts.push(inner[start..].to_owned());
            }
            Shape::Tuple(parts)
        }
        None => Shape::Named(t.rsplit("::").next().unwrap_or(t).to_owned()),
    }
}

fn scan(dir: &Path, root: &Path, found: &mut Found) {
    for entry in std::fs::read_dir(dir).expect("src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            scan(&path, root, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("read");
            let file = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let mut consts = HashMap::new();
            collect_consts(&file.items, &mut consts);
            let rel = path.strip_prefix(root).unwrap_or(&path).display().to_string();
            Visitor { file: rel, consts, found, context: HashMap::new(), binds: HashMap::new() }.visit_file(&file);
        }
    }
}

fn collect_consts(items: &[syn::Item], out: &mut HashMap<String, String>) {
    for item in items {
        match item {
            syn::Item::Const(c) => {
                if let syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. }) = &*c.expr {
                    out.insert(c.ident.to_string(), s.value());
                }
            }
            syn::Item::Mod(m) => {
                if let Some((_, items)) = &m.content {
                    collect_consts(items, out);
                }
            }
            _ => {}
        }
    }
}

fn crate_sql() -> Found {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = Found::default();
    scan(&root.join("src"), root, &mut found);
    found
}

/// The module a file belongs to: `src/station/ship.rs` → `station`, `src/demo.rs` → `demo`.
fn module_of(file: &str) -> String {
    let rest = file.trim_start_matches("src/");
    rest.split('/').next().unwrap_or(rest).trim_end_matches(".rs").to_string()
}

struct Map {
    owner: BTreeMap<String, String>,
    reads: BTreeMap<String, BTreeSet<String>>,
}

/// The README's ownership table: `| `module` | `owned`, … | `read`, … |`.
fn ownership_map() -> Map {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).expect("README.md");
    let section = readme.split("### Who owns which table").nth(1).expect("README has a 'Who owns which table' section");
    let mut map = Map { owner: BTreeMap::new(), reads: BTreeMap::new() };
    for row in section.lines().skip_while(|l| !l.starts_with('|')).take_while(|l| l.starts_with('|')).skip(2) {
        let cells: Vec<Vec<String>> = row.split('|').skip(1).map(ticked).collect();
        let (Some(module), Some(owned)) = (cells.first().and_then(|c| c.first()), cells.get(1)) else { continue };
        for t in owned {
            if let Some(other) = map.owner.insert(t.clone(), module.clone()) {
                panic!("README gives table {t} two owners: {other} and {module}");
            }
        }
        map.reads.entry(module.clone()).or_default().extend(cells.get(2).cloned().unwrap_or_default());
    }
    map
}

/// README's "Stored procedures" table: `| `name` | `caller module` | `table`, … |`
/// (the tables it writes beyond its caller's own).
fn procedure_map() -> BTreeMap<String, (String, BTreeSet<String>)> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).expect("README.md");
    let Some(section) = readme.split("### Stored procedures").nth(1) else { return BTreeMap::new() };
    let mut map = BTreeMap::new();
    for row in section.lines().skip_while(|l| !l.starts_with('|')).take_while(|l| l.starts_with('|')).skip(2) {
        let cells: Vec<Vec<String>> = row.split('|').skip(1).map(ticked).collect();
        let (Some(name), Some(caller)) = (cells.first().and_then(|c| c.first()), cells.get(1).and_then(|c| c.first())) else { continue };
        map.insert(name.clone(), (caller.clone(), cells.get(2).cloned().unwrap_or_default().into_iter().collect()));
    }
    map
}

fn ticked(cell: &str) -> Vec<String> {
    cell.split('`').skip(1).step_by(2).map(str::to_string).collect()
}

/// (tables written, tables named) by a statement, among the schema's tables.
fn tables_of(sql: &str, schema: &BTreeSet<String>) -> (BTreeSet<String>, BTreeSet<String>) {
    let sql = &main_statement(&strip_comments(sql));
    let words: Vec<String> =
        sql.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| !w.is_empty()).map(str::to_string).collect();
    let mut named = BTreeSet::new();
    for w in words.windows(2) {
        let kw = w[0].to_ascii_uppercase();
        if ["FROM", "JOIN", "INTO", "UPDATE", "TABLE"].contains(&kw.as_str()) && schema.contains(&w[1]) {
            named.insert(w[1].clone());
        }
    }
    // Tables and their aliases, in the order written (`lot_serials s`).
    let keywords = ["JOIN", "ON", "LEFT", "RIGHT", "INNER", "AS", "SET", "WHERE", "USING", "STRAIGHT_JOIN", "CROSS"];
    let mut alias: HashMap<String, String> = HashMap::new();
    for (i, w) in words.iter().enumerate() {
        if schema.contains(w) {
            alias.insert(w.clone(), w.clone());
            let next = words.get(i + 1).filter(|n| !keywords.contains(&n.to_ascii_uppercase().as_str()));
            let next = if words.get(i + 1).is_some_and(|n| n.eq_ignore_ascii_case("AS")) { words.get(i + 2) } else { next };
            if let Some(a) = next {
                alias.entry(a.clone()).or_insert_with(|| w.clone());
            }
        }
    }
    let upper = sql.to_ascii_uppercase();
    let mut written = BTreeSet::new();
    let first_table_after = |kw: &str| {
        words.iter().position(|w| w.eq_ignore_ascii_case(kw)).and_then(|i| words[i + 1..].iter().find(|w| schema.contains(*w)).cloned())
    };
    match words.first().map(|w| w.to_ascii_uppercase()).as_deref() {
        Some("INSERT") | Some("REPLACE") => written.extend(first_table_after("INTO")),
        Some("UPDATE") => {
            // A multi-table UPDATE writes the tables its SET assigns (`s.status = …`).
            let set = upper.find(" SET ").map(|i| i + 5).unwrap_or(upper.len());
            let end = upper[set..].find(" WHERE ").map(|i| set + i).unwrap_or(upper.len());
            let assigned: Vec<&str> = sql[set..end].split(',').filter_map(|a| a.split('=').next()).map(str::trim).collect();
            for a in assigned {
                match a.split_once('.') {
                    Some((t, _)) => written.extend(alias.get(t.trim()).cloned()),
                    None => written.extend(first_table_after("UPDATE")),
                }
            }
        }
        Some("DELETE") => match words.get(1) {
            // `DELETE s FROM lot_serials s JOIN …` deletes from the aliased table.
            Some(a) if !a.eq_ignore_ascii_case("FROM") => written.extend(alias.get(a).cloned()),
            _ => written.extend(first_table_after("FROM")),
        },
        _ => {}
    }
    (written, named)
}

/// The statement without `-- …` and `/* … */` comments.
fn strip_comments(sql: &str) -> String {
    let mut out = String::new();
    let mut rest = sql;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("--") {
            rest = r.split_once('\n').map_or("", |(_, r)| r);
            out.push(' ');
        } else if let Some(r) = rest.strip_prefix("/*") {
            rest = r.split_once("*/").map_or("", |(_, r)| r);
            out.push(' ');
        } else {
            let c = rest.chars().next().unwrap_or(' ');
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out.trim().to_owned()
}

/// `WITH cte AS (…) UPDATE …` → `UPDATE …` (with the CTEs' bodies after it,
/// so the tables they read are still named); any other statement as it is.
fn main_statement(sql: &str) -> String {
    if !sql.get(..5).is_some_and(|w| w.eq_ignore_ascii_case("WITH ")) {
        return sql.to_owned();
    }
    let upper = sql.to_ascii_uppercase();
    let mut depth = 0;
    for (i, c) in upper.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ if depth == 0 && ["SELECT ", "INSERT ", "UPDATE ", "DELETE ", "REPLACE "].iter().any(|k| upper[i..].starts_with(k)) => {
                return format!("{} {}", &sql[i..], &sql[..i]);
            }
            _ => {}
        }
    }
    sql.to_owned()
}

/// The procedure a statement calls: `CALL pick_scan(?, ?)` → (`pick_scan`, 2 arguments).
fn called(sql: &str) -> Option<(String, usize)> {
    let rest = sql.trim_start().strip_prefix("CALL ").or_else(|| sql.trim_start().strip_prefix("call "))?;
    let name = rest.split(|c: char| c == '(' || c.is_whitespace()).next()?.to_string();
    Some((name, sql.matches('?').count()))
}

/// A routine body's statements, each from its first SQL keyword on (the
/// control flow around it, `IF … THEN`, dropped).
fn body_statements(body: &str) -> Vec<String> {
    body.split(';')
        .filter_map(|piece| {
            let lines: Vec<&str> = piece.lines().map(str::trim).filter(|l| !l.starts_with("--")).collect();
            let start = lines.iter().position(|l| {
                let first = l.split_whitespace().next().unwrap_or_default().to_ascii_uppercase();
                ["SELECT", "INSERT", "UPDATE", "DELETE", "REPLACE"].contains(&first.as_str())
            })?;
            Some(lines[start..].join(" "))
        })
        .collect()
}

/// How many columns each result set of a routine body has: its SELECTs
/// that are not `SELECT … INTO` variables, counted by top-level commas.
fn result_widths(body: &str) -> Vec<usize> {
    let mut widths = Vec::new();
    for stmt in body_statements(body).iter().filter(|s| s.to_ascii_uppercase().starts_with("SELECT ")) {
        let (mut depth, mut commas, mut into) = (0i32, 0usize, false);
        let mut quoted = false;
        let upper = stmt.to_ascii_uppercase();
        for (i, c) in upper.char_indices() {
            match c {
                '\'' => quoted = !quoted,
                '(' if !quoted => depth += 1,
                ')' if !quoted => depth -= 1,
                ',' if !quoted && depth == 0 => commas += 1,
                ' ' if !quoted && depth == 0 => {
                    if upper[i..].starts_with(" INTO ") {
                        into = true;
                    }
                    if upper[i..].starts_with(" FROM ") || into {
                        break;
                    }
                }
                _ => {}
            }
        }
        if !into {
            widths.push(commas + 1);
        }
    }
    widths
}

/// Every stored routine of the migrated schema: name → (parameters, body).
async fn routines(pool: &sqlx::MySqlPool) -> HashMap<String, (usize, String)> {
    let rows = sqlx::query_as::<_, (String, String, i64)>(
        "SELECT CAST(r.routine_name AS CHAR), CAST(r.routine_definition AS CHAR),
                (SELECT COUNT(*) FROM information_schema.parameters p WHERE p.specific_schema = r.routine_schema AND p.specific_name = r.routine_name AND p.ordinal_position > 0)
         FROM information_schema.routines r WHERE r.routine_schema = DATABASE()",
    )
    .fetch_all(pool)
    .await
    .expect("routines");
    rows.into_iter().map(|(name, body, params)| (name, (usize::try_from(params).unwrap_or(0), body))).collect()
}

/// Whether a value of Rust type `rust` can be read from a column of type
/// `ty` that may be NULL (`nullable`), as sqlx itself decides when it
/// decodes (`Type::compatible`): `None` when the type is not one the check
/// knows (a crate enum, JSON), `Some(Err(why))` on a mismatch.
fn fits(rust: &str, ty: &sqlx::mysql::MySqlTypeInfo, nullable: Option<bool>) -> Option<Result<(), String>> {
    use sqlx::{MySql, Type, TypeInfo};
    let (inner, optional) = match unwrap(rust, "Option") {
        Some(i) => (i, true),
        None => (rust.to_owned(), false),
    };
    let name = inner.rsplit("::").next().unwrap_or(&inner);
    let ok = match name {
        "u64" | "OrderId" | "LotId" | "OperatorId" => <u64 as Type<MySql>>::compatible(ty),
        "i64" => <i64 as Type<MySql>>::compatible(ty),
        "u32" => <u32 as Type<MySql>>::compatible(ty),
        "i32" => <i32 as Type<MySql>>::compatible(ty),
        "u16" => <u16 as Type<MySql>>::compatible(ty),
        "i16" => <i16 as Type<MySql>>::compatible(ty),
        "u8" => <u8 as Type<MySql>>::compatible(ty),
        "i8" => <i8 as Type<MySql>>::compatible(ty),
        "bool" => <bool as Type<MySql>>::compatible(ty),
        "String" => <String as Type<MySql>>::compatible(ty),
        "f64" => <f64 as Type<MySql>>::compatible(ty),
        "NaiveDateTime" => <chrono::NaiveDateTime as Type<MySql>>::compatible(ty),
        "NaiveDate" => <chrono::NaiveDate as Type<MySql>>::compatible(ty),
        "Vec<u8>" => <Vec<u8> as Type<MySql>>::compatible(ty),
        _ if inner.starts_with("DateTime<") => <chrono::DateTime<chrono::Utc> as Type<MySql>>::compatible(ty),
        _ => return None,
    };
    Some(if !ok {
        Err(format!("a {} column read as {rust}", ty.name()))
    } else if nullable == Some(true) && !optional {
        Err(format!("a column that may be NULL read as {rust} (make it Option<{rust}>, or the SQL NOT NULL)"))
    } else {
        Ok(())
    })
}

/// Columns the schema declares nullable that never hold NULL, with why.
const NEVER_NULL: &[(&str, &str)] = &[
    // A VIRTUAL column of two NOT NULL columns; MariaDB reports every generated column as nullable.
    ("inventory_lots", "landed_unit_cost_minor"),
];

/// `?` placeholders of a statement, outside quoted strings and comments.
fn placeholders(sql: &str) -> usize {
    let (mut n, mut quote, mut chars) = (0, None::<char>, sql.chars().peekable());
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), '\\') => {
                chars.next();
            }
            (Some(_), _) => {}
            (None, '\'' | '"' | '`') => quote = Some(c),
            (None, '-') if chars.peek() == Some(&'-') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            (None, '?') => n += 1,
            _ => {}
        }
    }
    n
}

/// Every problem of `found`'s statements against the migrated schema on `conn`.
async fn check(found: &Found, conn: &mut sqlx::MySqlConnection, procedures: &HashMap<String, (usize, String)>) -> Vec<String> {
    let schema: BTreeSet<String> =
        sqlx::query_scalar::<_, String>("SELECT CAST(table_name AS CHAR) FROM information_schema.tables WHERE table_schema = DATABASE()")
            .fetch_all(&mut *conn)
            .await
            .expect("tables")
            .into_iter()
            .collect();
    let mut failures = Vec::new();
    for s in &found.statements {
        let at = format!("{}:{}", s.file, s.line);
        // Binds: as many as the statement has placeholders.
        if let Some(b) = s.binds {
            let want = placeholders(&s.sql);
            if b != want {
                failures.push(format!("{at}: {b} bind(s) for {want} placeholder(s)"));
            }
        }
        // A CALL returns what its body's SELECTs return: every result set must fit the row it is read into.
        if let Some((name, args)) = called(&s.sql) {
            let Some((params, body)) = procedures.get(&name) else {
                failures.push(format!("{at}: calls {name}, which no migration creates"));
                continue;
            };
            if *params != args {
                failures.push(format!("{at}: calls {name} with {args} arguments; it takes {params}"));
            }
            let widths = result_widths(body);
            let fits = match &s.shape {
                Shape::Tuple(n) => !widths.is_empty() && widths.iter().all(|w| *w == n.len()),
                Shape::Scalar(_) => !widths.is_empty() && widths.iter().all(|w| *w == 1),
                Shape::Untyped => true,
                Shape::Named(_) | Shape::Unknown => false,
            };
            if !fits {
                failures.push(format!("{at}: {name} returns result sets of {widths:?} columns, read as {:?}", s.shape));
            }
            continue;
        }
        let described = match (&mut *conn).describe(sqlx::AssertSqlSafe(s.sql.clone()).into_sql_str()).await {
            Ok(d) => d,
            Err(e) => {
                failures.push(format!("{at}: {e}\n    {}", s.sql.split_whitespace().collect::<Vec<_>>().join(" ")));
                continue;
            }
        };
        let columns: Vec<String> = described.columns().iter().map(|c| c.name().to_string()).collect();
        // MariaDB describes a column read from one of the schema's tables as the
        // table declares it (its NULL flag cleared on the outer side of a
        // join), and that is what the Rust type is held to: its SQL type as
        // sqlx decodes it, and NULL only into an Option unless the statement
        // itself says `col IS NOT NULL`. An expression's type and NULL flag
        // at PREPARE are MariaDB's guesses (a CAST "may be NULL", a product of
        // unsigned columns "unsigned"), so expressions are held to their count.
        let upper = s.sql.to_ascii_uppercase();
        let typed = |i: usize, rust: &str| {
            let col = &described.columns()[i];
            let sqlx::ColumnOrigin::Table(origin) = col.origin() else { return None };
            if !schema.contains(origin.table.rsplit('.').next().unwrap_or_default()) {
                return None;
            }
            let table = origin.table.rsplit('.').next().unwrap_or_default();
            let guarded = upper.contains(&format!("{} IS NOT NULL", origin.name.to_ascii_uppercase()))
                || NEVER_NULL.contains(&(table, origin.name.as_ref()))
                // A test that meets a NULL fails loudly by itself; its reads are held to their types.
                || !s.file.starts_with("src/");
            let nullable = if guarded { Some(false) } else { described.nullable(i) };
            fits(rust, col.type_info(), nullable).and_then(Result::err).map(|why| format!("column {} (`{}`): {why}", i + 1, columns[i]))
        };
        let problem = match &s.shape {
            Shape::Unknown => Some("query_as with its row type nowhere written: give it query_as::<_, T> or a typed let".into()),
            Shape::Scalar(_) if columns.len() != 1 => Some(format!("query_scalar returns {} columns", columns.len())),
            Shape::Scalar(Some(t)) => typed(0, t),
            Shape::Tuple(n) if columns.len() != n.len() => {
                Some(format!("read into a {}-tuple but returns {} columns: {columns:?}", n.len(), columns.len()))
            }
            Shape::Tuple(types) => types.iter().enumerate().find_map(|(i, t)| typed(i, t)),
            Shape::Named(row) => match found.rows.get(row) {
                None => Some(format!("reads into {row}, which is not a FromRow struct of the crate")),
                Some(fields) => {
                    let want: BTreeSet<&String> = fields.iter().map(|(f, _)| f).collect();
                    let have: BTreeSet<&String> = columns.iter().collect();
                    if want != have {
                        Some(format!("{row} has fields {want:?} but the statement returns {have:?}"))
                    } else {
                        fields.iter().find_map(|(f, t)| typed(columns.iter().position(|c| c == f).unwrap_or(0), t))
                    }
                }
            },
            _ => None,
        };
        if let Some(p) = problem {
            failures.push(format!("{at}: {p}"));
        }
    }
    failures
}

/// The statements of `src/`, `tests/` and `benches/`.
fn all_sql() -> Found {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = Found::default();
    for dir in ["src", "tests", "benches"] {
        scan(&root.join(dir), root, &mut found);
    }
    // Tests and benches read string-keyed rows and build SQL freely; only their literal statements are checked.
    found.dynamic.retain(|d| d.starts_with("src/"));
    found.string_keyed.retain(|d| d.starts_with("src/"));
    // What a test sets up or tears down (DDL, users, session settings) is not a statement of the schema.
    found.statements.retain(|s| {
        s.file.starts_with("src/") || {
            let first = s.sql.split_whitespace().next().unwrap_or_default().to_ascii_uppercase();
            ["SELECT", "INSERT", "UPDATE", "DELETE", "REPLACE", "WITH", "CALL"].contains(&first.as_str())
        }
    });
    found
}

#[tokio::test]
async fn every_statement_prepares_against_the_schema_and_reads_into_its_row() {
    let found = all_sql();
    let in_src = found.statements.iter().filter(|s| s.file.starts_with("src/")).count();
    assert!(in_src > 100, "the scan found only {in_src} statements in src/: is it reading the source?");
    assert!(found.statements.len() > in_src + 100, "the scan found no statements in tests/ and benches/");
    let mut failures: Vec<String> = found.dynamic.iter().map(|d| format!("{d} (cannot be checked: write it as a literal)")).collect();
    failures.extend(found.string_keyed.iter().map(|k| format!("{k} (read the row into a FromRow struct or a tuple)")));
    let tdb = TestDb::migrated().await;
    let procedures = routines(&tdb.pool).await;
    let mut conn = tdb.pool.acquire().await.expect("connection");
    failures.extend(check(&found, &mut conn, &procedures).await);
    assert!(failures.is_empty(), "{} problems among {} statements:\n{}", failures.len(), found.statements.len(), failures.join("\n"));
}

#[tokio::test]
async fn a_planted_wrong_type_a_nullable_column_and_a_wrong_bind_count_fail() {
    let text = r#"
        async fn f(pool: &MySqlPool) -> Result<Vec<(String, u64)>, sqlx::Error> {
            let a: Option<(u64,)> = sqlx::query_as("SELECT id FROM orders WHERE id = ?").bind(1).fetch_optional(pool).await?;
            let b: Vec<String> = sqlx::query_scalar("SELECT status FROM orders WHERE id = ? AND status = ?").bind(1).fetch_all(pool).await?;
            let c: Option<u64> = sqlx::query_scalar("SELECT MAX(id) FROM orders").fetch_one(pool).await?;
            let d: u64 = sqlx::query_scalar("SELECT woo_order_id FROM quotes").fetch_one(pool).await?;
            sqlx::query_as("SELECT id, number FROM orders").fetch_all(pool).await
        }
    "#;
    let file = syn::parse_file(text).expect("parse");
    let mut found = Found::default();
    Visitor { file: "src/x.rs".into(), consts: HashMap::new(), found: &mut found, context: HashMap::new(), binds: HashMap::new() }
        .visit_file(&file);
    assert_eq!(found.statements.len(), 5, "{:?}", found.statements);
    let tdb = TestDb::migrated().await;
    let mut conn = tdb.pool.acquire().await.expect("connection");
    let failures = check(&found, &mut conn, &HashMap::new()).await;
    let on = |line: usize| failures.iter().filter(|f| f.starts_with(&format!("src/x.rs:{line}:"))).cloned().collect::<Vec<_>>();
    assert!(on(3).is_empty(), "a right row and bind count pass: {failures:?}");
    assert!(on(4).iter().any(|f| f.contains("1 bind(s) for 2 placeholder(s)")), "{failures:?}");
    assert!(on(5).is_empty(), "MAX() may be NULL and is read as an Option: {failures:?}");
    assert!(on(6).iter().any(|f| f.contains("may be NULL")), "{failures:?}");
    assert!(on(7).iter().any(|f| f.contains("column 1 (`id`)") && f.contains("BIGINT UNSIGNED column read as String")), "{failures:?}");
}

#[tokio::test]
async fn every_table_is_touched_only_by_its_owner() {
    let found = crate_sql();
    let map = ownership_map();
    let tdb = TestDb::migrated().await;
    let schema: BTreeSet<String> =
        sqlx::query_scalar::<_, String>("SELECT CAST(table_name AS CHAR) FROM information_schema.tables WHERE table_schema = DATABASE()")
            .fetch_all(&tdb.pool)
            .await
            .expect("tables")
            .into_iter()
            .filter(|t| !t.starts_with("_sqlx"))
            .collect();
    let unowned: Vec<&String> = schema.iter().filter(|t| !map.owner.contains_key(*t)).collect();
    assert!(unowned.is_empty(), "tables with no owner in README's map: {unowned:?}");

    let procedures = routines(&tdb.pool).await;
    let allowed = procedure_map();
    let mut failures = Vec::new();
    for s in &found.statements {
        let module = module_of(&s.file);
        let (mut written, mut named) = tables_of(&s.sql, &schema);
        // A CALL touches what its body touches; README lists what each may write beyond its caller's tables.
        let mut beyond = BTreeSet::new();
        if let Some((name, _)) = called(&s.sql) {
            match allowed.get(&name) {
                Some((caller, tables)) if *caller == module => beyond = tables.clone(),
                Some((caller, _)) => failures.push(format!("{}:{}: {module} calls {name}, which README gives to {caller}", s.file, s.line)),
                None => failures.push(format!("{}:{}: {name} is not in README's \"Stored procedures\"", s.file, s.line)),
            }
            for stmt in procedures.get(&name).map(|(_, body)| body_statements(body)).unwrap_or_default() {
                let (w, n) = tables_of(&stmt, &schema);
                written.extend(w);
                named.extend(n);
            }
        }
        let reads = map.reads.get(&module).cloned().unwrap_or_default();
        for t in &written {
            if map.owner.get(t) != Some(&module) && !beyond.contains(t) {
                failures.push(format!("{}:{}: {module} writes {t}, owned by {}", s.file, s.line, map.owner[t]));
            }
        }
        for t in named.difference(&written) {
            if map.owner.get(t) != Some(&module) && !reads.contains(t) {
                failures
                    .push(format!("{}:{}: {module} reads {t}, owned by {} (and not in {module}'s reads)", s.file, s.line, map.owner[t]));
            }
        }
    }
    assert!(failures.is_empty(), "{} statements reach past their module:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn the_scanner_sees_what_it_must() {
    // The checks above are only as good as the reading of the source: a
    // statement in a const, a tuple shape and a string-keyed read are found.
    let text = r#"
        const Q: &str = "SELECT a, b FROM t";
        #[derive(sqlx::FromRow)] struct R { a: u64, r#b: String }
        async fn f() {
            sqlx::query_as::<_, (u64, String)>(Q);
            sqlx::query_as::<_, R>("SELECT a, b FROM t");
            sqlx::query_scalar(format!("SELECT {x}"));
            row.try_get("a");
        }
        use sqlx::{MySqlPool, Row};
    "#;
    let file = syn::parse_file(text).expect("parse");
    let mut consts = HashMap::new();
    collect_consts(&file.items, &mut consts);
    let mut found = Found::default();
    Visitor { file: "src/x.rs".into(), consts, found: &mut found, context: HashMap::new(), binds: HashMap::new() }.visit_file(&file);
    assert_eq!(found.statements.len(), 2);
    assert!(matches!(&found.statements[0].shape, Shape::Tuple(t) if t == &["u64", "String"]), "{:?}", found.statements[0]);
    assert!(matches!(&found.statements[1].shape, Shape::Named(n) if n == "R"));
    assert_eq!(found.rows.get("R"), Some(&vec![("a".to_string(), "u64".to_string()), ("b".to_string(), "String".to_string())]));
    assert_eq!(found.dynamic.len(), 1);
    assert_eq!(found.string_keyed.len(), 2, "{:?}", found.string_keyed);
    let schema: BTreeSet<String> = ["orders", "order_lines", "products"].iter().map(|s| s.to_string()).collect();
    let (w, n) = tables_of("UPDATE order_lines l JOIN orders o ON o.id = l.order_id SET l.x = 1, l.y = o.y WHERE o.id = 1", &schema);
    assert_eq!(w.into_iter().collect::<Vec<_>>(), ["order_lines"]);
    assert_eq!(n.len(), 2);
    let (w, _) = tables_of("DELETE o FROM order_lines l JOIN orders o ON o.id = l.order_id", &schema);
    assert_eq!(w.into_iter().collect::<Vec<_>>(), ["orders"]);
    let (w, n) = tables_of("INSERT INTO orders (a) SELECT id FROM products", &schema);
    assert_eq!(w.into_iter().collect::<Vec<_>>(), ["orders"]);
    assert_eq!(n.len(), 2);
    // A leading comment or a WITH does not hide what a statement writes.
    let (w, _) = tables_of("-- the lines first\nUPDATE order_lines SET x = 1", &schema);
    assert_eq!(w.into_iter().collect::<Vec<_>>(), ["order_lines"]);
    let (w, n) = tables_of("WITH t AS (SELECT id FROM products) DELETE FROM orders WHERE id IN (SELECT id FROM t)", &schema);
    assert_eq!(w.into_iter().collect::<Vec<_>>(), ["orders"]);
    assert!(n.contains("products"), "{n:?}");
    // A procedure's body: its statements out of the control flow, and the widths of what it returns.
    assert_eq!(called("CALL p_x(?, ?, ?)"), Some(("p_x".into(), 3)));
    let body = "BEGIN\n DECLARE v INT;\n SELECT a, (SELECT b, c FROM t) INTO v, w FROM orders WHERE id = 1;\n IF v IS NULL THEN\n  SELECT 'none', NULL;\n ELSE\n  UPDATE orders SET a = 1;\n  SELECT 'done', v;\n END IF;\nEND";
    let stmts = body_statements(body);
    assert_eq!(stmts.len(), 4, "{stmts:?}");
    assert!(stmts[2].starts_with("UPDATE orders"), "{stmts:?}");
    assert_eq!(result_widths(body), [2, 2]);
    assert_eq!(tables_of(&stmts[2], &schema).0.into_iter().collect::<Vec<_>>(), ["orders"]);
}

#[test]
fn json_table_text_columns_name_the_tables_collation() {
    // A JSON_TABLE column takes the database's default collation; compared
    // with a table's column (utf8mb4_unicode_ci, set by the migrations) it
    // fails with "Illegal mix of collations" in a database created without
    // one. Every text column of a JSON_TABLE names it.
    let found = crate_sql();
    let re = regex::Regex::new(r"(?i)\b(VARCHAR|CHAR)\s*\(\s*\d+\s*\)([^,)]*)PATH").expect("re");
    let mut bad = Vec::new();
    for s in found.statements.iter().filter(|s| s.sql.contains("JSON_TABLE")) {
        for c in re.captures_iter(&s.sql) {
            if !c[2].to_ascii_uppercase().contains("COLLATE UTF8MB4_UNICODE_CI") {
                bad.push(format!("{}:{}: {}", s.file, s.line, &c[0]));
            }
        }
    }
    assert!(bad.is_empty(), "JSON_TABLE text columns without COLLATE utf8mb4_unicode_ci:\n{}", bad.join("\n"));
}
