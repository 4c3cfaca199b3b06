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

use sqlx::{Column, Executor, SqlSafeStr, Statement as _};
use syn::visit::Visit;

use crate::helpers::TestDb;

/// How a statement's rows are read.
#[derive(Debug, Clone)]
enum Shape {
    /// `query_as::<_, Row>` with `Row` a `FromRow` struct of the crate.
    Named(String),
    /// `query_as::<_, (A, B, …)>`: this many columns.
    Tuple(usize),
    /// `query_scalar`: one column.
    Scalar,
    /// `query` (rows read by the row struct's `from_row`, or none).
    Untyped,
}

#[derive(Debug, Clone)]
struct Statement {
    file: String,
    line: usize,
    sql: String,
    shape: Shape,
}

#[derive(Default)]
struct Found {
    statements: Vec<Statement>,
    /// (file, line, what) of SQL the check cannot read: built at run time.
    dynamic: Vec<String>,
    /// Row structs: name → column names (the fields).
    rows: HashMap<String, Vec<String>>,
    /// String-keyed column reads left in the code.
    string_keyed: Vec<String>,
}

struct Visitor<'a> {
    file: String,
    consts: HashMap<String, String>,
    found: &'a mut Found,
}

const QUERY_FNS: [&str; 6] = ["query", "query_as", "query_scalar", "query_with", "query_as_with", "query_scalar_with"];

impl<'a, 'ast> Visit<'ast> for Visitor<'a> {
    fn visit_item_struct(&mut self, s: &'ast syn::ItemStruct) {
        let from_row = s.attrs.iter().any(|a| a.path().is_ident("derive") && quote_of(a).contains("FromRow"));
        if from_row {
            let fields =
                s.fields.iter().filter_map(|f| f.ident.as_ref().map(|i| i.to_string().trim_start_matches("r#").to_string())).collect();
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
                let shape = match last {
                    "query_scalar" | "query_scalar_with" => Shape::Scalar,
                    "query" | "query_with" => Shape::Untyped,
                    _ => row_shape(p.path.segments.last()),
                };
                match call.args.first().and_then(|a| self.literal(a)) {
                    Some(sql) => self.found.statements.push(Statement { file: self.file.clone(), line, sql, shape }),
                    None => self.found.dynamic.push(format!("{}:{line}: sqlx::{last} of SQL built at run time", self.file)),
                }
            }
            if segs.iter().any(|s| s == "QueryBuilder") {
                self.found.dynamic.push(format!("{}:{line}: QueryBuilder builds SQL at run time", self.file));
            }
        }
        syn::visit::visit_expr_call(self, call);
    }

    fn visit_expr_method_call(&mut self, m: &'ast syn::ExprMethodCall) {
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
        Some(syn::GenericArgument::Type(syn::Type::Tuple(t))) => Shape::Tuple(t.elems.len()),
        Some(syn::GenericArgument::Type(syn::Type::Path(p))) => {
            Shape::Named(p.path.segments.last().map(|s| s.ident.to_string()).unwrap_or_default())
        }
        _ => Shape::Untyped,
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
            Visitor { file: rel, consts, found }.visit_file(&file);
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

#[tokio::test]
async fn every_statement_prepares_against_the_schema_and_reads_into_its_row() {
    let found = crate_sql();
    assert!(found.statements.len() > 100, "the scan found only {} statements: is it reading src/?", found.statements.len());
    let mut failures: Vec<String> = found.dynamic.iter().map(|d| format!("{d} (cannot be checked: write it as a literal)")).collect();
    failures.extend(found.string_keyed.iter().map(|k| format!("{k} (read the row into a FromRow struct or a tuple)")));

    let tdb = TestDb::migrated().await;
    let procedures = routines(&tdb.pool).await;
    let mut conn = tdb.pool.acquire().await.expect("connection");
    for s in &found.statements {
        // A CALL returns what its body's SELECTs return: every result set must fit the row it is read into.
        if let Some((name, args)) = called(&s.sql) {
            let Some((params, body)) = procedures.get(&name) else {
                failures.push(format!("{}:{}: calls {name}, which no migration creates", s.file, s.line));
                continue;
            };
            if *params != args {
                failures.push(format!("{}:{}: calls {name} with {args} arguments; it takes {params}", s.file, s.line));
            }
            let widths = result_widths(body);
            let fits = match &s.shape {
                Shape::Tuple(n) => !widths.is_empty() && widths.iter().all(|w| w == n),
                Shape::Scalar => !widths.is_empty() && widths.iter().all(|w| *w == 1),
                Shape::Untyped => true,
                Shape::Named(_) => false,
            };
            if !fits {
                failures.push(format!("{}:{}: {name} returns result sets of {widths:?} columns, read as {:?}", s.file, s.line, s.shape));
            }
            continue;
        }
        let prepared = match (&mut *conn).prepare(sqlx::AssertSqlSafe(s.sql.clone()).into_sql_str()).await {
            Ok(p) => p,
            Err(e) => {
                failures.push(format!("{}:{}: {e}\n    {}", s.file, s.line, s.sql.split_whitespace().collect::<Vec<_>>().join(" ")));
                continue;
            }
        };
        let columns: Vec<String> = prepared.columns().iter().map(|c| c.name().to_string()).collect();
        let problem = match &s.shape {
            Shape::Scalar if columns.len() != 1 => Some(format!("query_scalar returns {} columns", columns.len())),
            Shape::Tuple(n) if columns.len() != *n => {
                Some(format!("read into a {n}-tuple but returns {} columns: {columns:?}", columns.len()))
            }
            Shape::Named(row) => match found.rows.get(row) {
                None => Some(format!("reads into {row}, which is not a FromRow struct of the crate")),
                Some(fields) => {
                    let want: BTreeSet<&String> = fields.iter().collect();
                    let have: BTreeSet<&String> = columns.iter().collect();
                    (want != have).then(|| format!("{row} has fields {want:?} but the statement returns {have:?}"))
                }
            },
            _ => None,
        };
        if let Some(p) = problem {
            failures.push(format!("{}:{}: {p}", s.file, s.line));
        }
    }
    assert!(failures.is_empty(), "{} problems among {} statements:\n{}", failures.len(), found.statements.len(), failures.join("\n"));
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
    Visitor { file: "src/x.rs".into(), consts, found: &mut found }.visit_file(&file);
    assert_eq!(found.statements.len(), 2);
    assert!(matches!(found.statements[0].shape, Shape::Tuple(2)), "{:?}", found.statements[0]);
    assert!(matches!(&found.statements[1].shape, Shape::Named(n) if n == "R"));
    assert_eq!(found.rows.get("R"), Some(&vec!["a".to_string(), "b".to_string()]));
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
