//! What a regeneration changes for users of `oz-api` (and of the paged lists of `oz-api-ext`),
//! read from the Rust code itself.
//!
//! Both versions of `oz-api/src/generated.rs` are parsed with `syn` into the surface users see:
//! the operations (the methods of `impl Client`, their builders in `pub mod builder`: setters
//! and what `send()` returns) and the types of `pub mod types` (structs with their fields,
//! newtypes, enums with their variants). The two surfaces are compared and every difference is
//! classified as breaking or additive.
//!
//! # The rule
//!
//! A change is breaking when code that compiled and worked against the old version can stop
//! compiling or start failing against the new one; everything else that changes the surface is
//! additive.
//!
//! - Operations: one removed, renamed (a removed and an added method that send the same HTTP
//!   method to the same path, told by the doc line "Sends a `GET` request to `/path`") or whose
//!   `send()` returns another type is breaking. A new parameter is additive when it is optional
//!   and breaking when it is required (calls that do not set it fail in `send()`); a parameter
//!   removed, retyped or made required is breaking, one made optional is additive.
//! - Types: one removed or turned into another kind of type is breaking, a new one additive. A
//!   field removed or with another Rust type (`Option<T>` ↔ `T` included) is breaking.
//! - New fields. Generated structs are `#[non_exhaustive]` (xtask/src/non_exhaustive.rs):
//!   users build them through their builders or constructors and match them with `..`, so a
//!   new optional field is additive on every type. A new required field of a request type (a
//!   type an operation's parameters or body reach, through fields and variants, in the old
//!   version) is breaking: its builder fails without it. On a struct the old version did not
//!   mark `#[non_exhaustive]`, struct literals and patterns without `..` were possible, so any
//!   new field of a request type is breaking there; a struct that becomes `#[non_exhaustive]`
//!   is itself a breaking change. Response types are built by the client and read by users: a
//!   new field there is additive.
//! - A field whose type stays but that gains or loses `#[serde(default)]` is breaking when it
//!   becomes required on a request type (builders then demand it) and additive otherwise.
//! - Enums: a variant removed, or holding another type, is breaking. A new variant is additive
//!   when the old enum is forward-compatible — it has the `Unknown(..)` catch-all that
//!   `forward_compat` adds, with `#[non_exhaustive]`, so every `match` already has a wildcard
//!   arm — and breaking otherwise (exhaustive matches stop compiling).
//!
//! - Newtypes: the checks of a constrained string (`longer than 131072 characters`, a
//!   pattern) are surface. A check added or changed is breaking (values that converted or
//!   decoded before may be refused), one dropped is additive.
//! - Wire names: code keeps compiling when only the JSON changes under the same Rust name, but
//!   it no longer exchanges the same messages, so that is breaking too: an operation that sends
//!   another HTTP method or path, a field read from and written to another JSON member
//!   (`#[serde(rename)]`), an enum variant with another JSON value.
//!
//! Doc comments, attributes other than `serde(default)` and `serde(rename)`, and private code
//! are not surface: a regeneration that changes only those is a patch.
//!
//! # Versions
//!
//! The verdict names a SemVer bump and, because the crates are 0.x, the version it leads to
//! under Cargo's rule for 0.x: the minor number acts as the major one, so a breaking change
//! bumps 0.1.0 to 0.2.0 and anything else bumps the patch, 0.1.0 to 0.1.1.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use anyhow::{Context, Result};
use proc_macro2::{TokenStream, TokenTree};
use quote::ToTokens;
use syn::visit_mut::VisitMut;
use syn::{Attribute, Fields, ImplItem, Item, ReturnType, Type, Visibility};

/// Whether a change can break code that built against the old version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Breaking,
    Additive,
}

/// One difference between two versions, in a sentence that names what changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub severity: Severity,
    pub text: String,
}

/// The bump a set of changes calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The number of breaking changes.
    Breaking(usize),
    Additive,
    NoChange,
}

/// Every difference of the public surface between two versions of the generated code.
#[derive(Debug, Default)]
pub struct Report {
    pub changes: Vec<Change>,
}

/// Compares two versions of the generated file, given as source text.
pub fn compare_sources(old: &str, new: &str) -> Result<Report> {
    let old = Surface::parse(old).context("reading the old generated code")?;
    let new = Surface::parse(new).context("reading the new generated code")?;
    Ok(compare(&old, &new))
}

/// Compares two versions of oz-api-ext's generated pagination glue (`paged`): a list that
/// becomes cursor-paged gains `items()` and `pages()` (additive); one that stops being paged, or
/// whose items change type, loses or changes them (breaking).
pub fn compare_paged_sources(old: &str, new: &str) -> Result<Report> {
    let old = crate::paged::surface(old).context("reading the old pagination glue")?;
    let new = crate::paged::surface(new).context("reading the new pagination glue")?;
    let mut report = Report::default();
    for (operation, item) in &old {
        match new.get(operation) {
            None => push(
                &mut report,
                Severity::Breaking,
                format!(
                    "`{operation}` is no longer a cursor-paged list in oz-api-ext: its builder loses `items()` and `pages()`"
                ),
            ),
            Some(now) if now != item => push(
                &mut report,
                Severity::Breaking,
                format!(
                    "the items of the cursor-paged list `{operation}` change type: `{item}` → `{now}`"
                ),
            ),
            Some(_) => {}
        }
    }
    for (operation, item) in &new {
        if !old.contains_key(operation) {
            push(
                &mut report,
                Severity::Additive,
                format!(
                    "`{operation}` is a cursor-paged list in oz-api-ext: `items()` (of `{item}`) and `pages()` on its builder"
                ),
            );
        }
    }
    Ok(report)
}

/// Compares two surfaces.
pub fn compare(old: &Surface, new: &Surface) -> Report {
    let mut report = Report::default();
    compare_operations(old, new, &mut report);
    compare_methods(old, new, &mut report);
    compare_types(old, new, &mut report);
    report
}

impl Report {
    pub fn breaking(&self) -> usize {
        self.changes
            .iter()
            .filter(|c| c.severity == Severity::Breaking)
            .count()
    }

    pub fn verdict(&self) -> Verdict {
        match self.breaking() {
            0 if self.changes.is_empty() => Verdict::NoChange,
            0 => Verdict::Additive,
            n => Verdict::Breaking(n),
        }
    }

    /// The one-line verdict, with the version the bump leads to from `version` (the crates'
    /// current version) under Cargo's 0.x rule.
    pub fn verdict_line(&self, version: &str) -> String {
        let verdict = self.verdict();
        let head = match verdict {
            Verdict::Breaking(n) => format!(
                "breaking: major release ({n} breaking change{})",
                if n == 1 { "" } else { "s" }
            ),
            Verdict::Additive => "additive: minor release".to_owned(),
            Verdict::NoChange => "no change to the public API: patch release".to_owned(),
        };
        match next_version(version, verdict) {
            Some(next) if version.starts_with("0.") => {
                format!(
                    "{head}; in 0.x a breaking change bumps the minor number, anything else the patch: {version} → {next}"
                )
            }
            Some(next) => format!("{head}: {version} → {next}"),
            None => head,
        }
    }

    /// The report for a terminal: the changes by severity, then the verdict.
    pub fn render(&self, version: &str) -> String {
        let mut out = String::from(
            "API report (public surface of oz-api and the pagination of oz-api-ext, old → new):\n",
        );
        for (severity, label) in [
            (Severity::Breaking, "breaking"),
            (Severity::Additive, "additive"),
        ] {
            let lines: Vec<&Change> = self
                .changes
                .iter()
                .filter(|c| c.severity == severity)
                .collect();
            if !lines.is_empty() {
                let _ = writeln!(out, "{label} ({}):", lines.len());
                for change in lines {
                    let _ = writeln!(out, "  - {}", change.text);
                }
            }
        }
        let _ = writeln!(out, "verdict: {}", self.verdict_line(version));
        out
    }

    /// An entry for the Unreleased section of CHANGELOG.md.
    pub fn changelog_entry(&self, version: &str, date: &str) -> String {
        let mut out = format!("### Generated client regenerated from openapi.json ({date})\n\n");
        if self.changes.is_empty() {
            out.push_str("- Documentation or internals of the generated client only.\n");
        }
        for change in &self.changes {
            let _ = match change.severity {
                Severity::Breaking => writeln!(out, "- **Breaking:** {}", change.text),
                Severity::Additive => writeln!(out, "- {}", change.text),
            };
        }
        let _ = writeln!(out, "\nVerdict: {}", self.verdict_line(version));
        out
    }
}

/// The version a verdict leads to from `version` (`MAJOR.MINOR.PATCH`, anything after a `-` or
/// `+` dropped), or `None` when it does not read as one.
fn next_version(version: &str, verdict: Verdict) -> Option<String> {
    let core = version.split(['-', '+']).next()?;
    let parts: Vec<u64> = core
        .split('.')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    let [major, minor, patch] = parts[..] else {
        return None;
    };
    Some(match (verdict, major) {
        (Verdict::Breaking(_), 0) => format!("0.{}.0", minor + 1),
        (Verdict::Breaking(_), _) => format!("{}.0.0", major + 1),
        (Verdict::Additive, 1..) => format!("{major}.{}.0", minor + 1),
        _ => format!("{major}.{minor}.{}", patch + 1),
    })
}

// ---------------------------------------------------------------------------------------------
// The surface

/// The public surface of one version of the generated file.
#[derive(Debug, Default)]
pub struct Surface {
    operations: BTreeMap<String, Operation>,
    /// The other public methods of `impl Client` (constructors), with their signatures.
    methods: BTreeMap<String, String>,
    types: BTreeMap<String, TypeDef>,
}

#[derive(Debug, Default)]
struct Operation {
    /// `GET /agent/runs`, from the method's doc comment.
    endpoint: Option<String>,
    /// The name of its builder struct.
    builder: String,
    params: BTreeMap<String, Slot>,
    /// What `send()` returns.
    response: Option<String>,
    /// The builder's other public methods (not setters, `new` or `send`), with their
    /// signatures: `send_owned`, for one.
    methods: BTreeMap<String, String>,
    /// The types the parameters name.
    refs: BTreeSet<String>,
}

/// A field of a struct or a parameter of an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Slot {
    /// The Rust type, paths shortened to their last segment (`Option<String>`).
    ty: String,
    /// Whether it must be given: a field neither `Option` nor `#[serde(default)]`, a parameter
    /// whose builder starts out as an error.
    required: bool,
    /// The JSON member name of a field (`#[serde(rename)]`, else the Rust name); `None` for
    /// parameters.
    wire: Option<String>,
}

/// A variant of an enum.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Variant {
    /// What it holds (`None` for a unit variant).
    holds: Option<String>,
    /// The JSON value of a unit variant (`#[serde(rename)]`, else the Rust name).
    wire: String,
}

#[derive(Debug)]
struct TypeDef {
    shape: Shape,
    /// `#[non_exhaustive]`: no struct literal or exhaustive pattern outside oz-api.
    non_exhaustive: bool,
    /// The names of other items its fields or variants mention.
    refs: BTreeSet<String>,
}

#[derive(Debug)]
enum Shape {
    Struct(BTreeMap<String, Slot>),
    Newtype {
        /// The wrapped type.
        inner: String,
        /// What `FromStr` checks: the texts of its error messages and patterns ("longer than
        /// 131072 characters").
        checks: BTreeSet<String>,
    },
    Alias(String),
    Enum {
        /// Variant name → what it holds and its JSON value.
        variants: BTreeMap<String, Variant>,
        catch_all: bool,
    },
}

impl Shape {
    fn kind(&self) -> &'static str {
        match self {
            Shape::Struct(_) => "struct",
            Shape::Newtype { .. } => "newtype",
            Shape::Alias(_) => "type alias",
            Shape::Enum { .. } => "enum",
        }
    }
}

impl Surface {
    /// Reads the surface of a generated file.
    pub fn parse(source: &str) -> Result<Surface> {
        let file = syn::parse_file(source).context("not Rust source that parses")?;
        let mut surface = Surface::default();
        let mut builders = BTreeMap::new();
        let mut has_types = false;
        for item in &file.items {
            match item {
                Item::Mod(m) if m.ident == "types" => {
                    has_types = true;
                    let items = || m.content.iter().flat_map(|(_, items)| items);
                    for item in items() {
                        if let Some((name, def)) = type_def(item) {
                            surface.types.insert(name, def);
                        }
                    }
                    for (name, checks) in items().filter_map(newtype_checks) {
                        if let Some(TypeDef {
                            shape: Shape::Newtype { checks: slot, .. },
                            ..
                        }) = surface.types.get_mut(&name)
                        {
                            *slot = checks;
                        }
                    }
                }
                Item::Mod(m) if m.ident == "builder" => {
                    builders = operation_builders(m.content.iter().flat_map(|(_, items)| items));
                }
                Item::Impl(imp)
                    if imp.trait_.is_none() && self_type(imp).as_deref() == Some("Client") =>
                {
                    for item in &imp.items {
                        let ImplItem::Fn(f) = item else { continue };
                        if !is_pub(&f.vis) {
                            continue;
                        }
                        let name = f.sig.ident.to_string();
                        match crate::client_model::operation_builder(&f.sig.output) {
                            Some(builder) => {
                                let op = Operation {
                                    endpoint: endpoint(&f.attrs),
                                    builder,
                                    ..Operation::default()
                                };
                                surface.operations.insert(name, op);
                            }
                            None => {
                                surface.methods.insert(name, signature(&f.sig));
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        if !has_types && surface.operations.is_empty() {
            anyhow::bail!(
                "no `pub mod types` and no operations on `Client`: not a generated client"
            );
        }
        for op in surface.operations.values_mut() {
            if let Some(built) = builders.get(&op.builder) {
                op.params = built.params.clone();
                op.response = built.response.clone();
                op.methods = built.methods.clone();
                op.refs = built.refs.clone();
            }
        }
        Ok(surface)
    }

    /// The types users build: those an operation's parameters reach, through fields and
    /// variants.
    fn request_types(&self) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<String> = self
            .operations
            .values()
            .flat_map(|op| op.refs.iter().cloned())
            .collect();
        while let Some(name) = todo.pop() {
            if let Some(def) = self.types.get(&name)
                && seen.insert(name)
            {
                todo.extend(def.refs.iter().cloned());
            }
        }
        seen
    }
}

fn self_type(imp: &syn::ItemImpl) -> Option<String> {
    match &*imp.self_ty {
        Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()),
        _ => None,
    }
}

/// A method's parameters and result as users read them: `(&str, Client, ClientState) -> Self`.
fn signature(sig: &syn::Signature) -> String {
    let inputs: Vec<String> = sig
        .inputs
        .iter()
        .map(|arg| match arg {
            syn::FnArg::Receiver(r) => display_type(&r.ty),
            syn::FnArg::Typed(t) => display_type(&t.ty),
        })
        .collect();
    let output = match &sig.output {
        ReturnType::Default => "()".to_owned(),
        ReturnType::Type(_, ty) => display_type(ty),
    };
    let generics = sig.generics.to_token_stream().to_string();
    format!(
        "fn{}({}) -> {output}",
        generics.replace(' ', ""),
        inputs.join(", ")
    )
}

/// `GET /agent/runs` from a doc comment holding "Sends a `GET` request to `/agent/runs`".
fn endpoint(attrs: &[Attribute]) -> Option<String> {
    let docs = doc_text(attrs);
    let rest = &docs[docs.find("Sends a `")? + "Sends a `".len()..];
    let (method, rest) = rest.split_once('`')?;
    let rest = rest.strip_prefix(" request to `")?;
    let (path, _) = rest.split_once('`')?;
    Some(format!("{method} {path}"))
}

/// The text of the doc attributes, one line per attribute.
pub(crate) fn doc_text(attrs: &[Attribute]) -> String {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => Some(s.value()),
                _ => None,
            },
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[derive(Debug, Default)]
struct Builder {
    params: BTreeMap<String, Slot>,
    response: Option<String>,
    methods: BTreeMap<String, String>,
    refs: BTreeSet<String>,
}

/// The operation builders of `pub mod builder`, by struct name: their fields are the
/// parameters (`Result<T, String>`, `Result<Option<T>, String>` when optional), `new()` tells
/// which start out unset, `send()` what the operation returns.
fn operation_builders<'a>(items: impl Iterator<Item = &'a Item>) -> BTreeMap<String, Builder> {
    let items: Vec<&Item> = items.collect();
    let mut out: BTreeMap<String, Builder> = BTreeMap::new();
    for item in &items {
        let Item::Struct(s) = item else { continue };
        let Fields::Named(fields) = &s.fields else {
            continue;
        };
        let builder = out.entry(s.ident.to_string()).or_default();
        for field in &fields.named {
            let Some(name) = field.ident.as_ref().map(field_name) else {
                continue;
            };
            // The client, and the call's options (xtask/src/request_options.rs): no parameter.
            if name == "client" || name == "options" {
                continue;
            }
            let inner = first_generic(&field.ty).unwrap_or(&field.ty);
            let (ty, optional) = match option_inner(inner) {
                Some(t) => (t, true),
                None => (inner, false),
            };
            builder.refs.extend(idents(&ty.to_token_stream()));
            builder.params.insert(
                name,
                Slot {
                    ty: display_type(ty),
                    required: !optional,
                    wire: None,
                },
            );
        }
    }
    for item in &items {
        let Item::Impl(imp) = item else { continue };
        let Some(builder) = self_type(imp).and_then(|name| out.get_mut(&name)) else {
            continue;
        };
        for item in &imp.items {
            let ImplItem::Fn(f) = item else { continue };
            if f.sig.ident == "send"
                && let ReturnType::Type(_, ty) = &f.sig.output
            {
                builder.response = Some(display_type(ty));
            }
            let method = f.sig.ident.to_string();
            if is_pub(&f.vis)
                && !matches!(method.as_str(), "new" | "send")
                && !builder.params.contains_key(&field_name(&f.sig.ident))
            {
                builder.methods.insert(method, signature(&f.sig));
            }
            if f.sig.ident == "new" {
                for (name, starts_unset) in initial_errors(&f.block) {
                    if let Some(slot) = builder.params.get_mut(&name) {
                        slot.required = starts_unset;
                    }
                }
            }
        }
    }
    out
}

/// For `Self { a: Err(..), b: Ok(None) }` in a builder's `new()`: each field and whether it
/// starts as an error, that is must be set before `send()`.
fn initial_errors(block: &syn::Block) -> Vec<(String, bool)> {
    let Some(syn::Stmt::Expr(syn::Expr::Struct(init), None)) = block.stmts.last() else {
        return Vec::new();
    };
    init.fields
        .iter()
        .filter_map(|fv| {
            let syn::Member::Named(ident) = &fv.member else {
                return None;
            };
            let unset = matches!(&fv.expr, syn::Expr::Call(call)
                if matches!(&*call.func, syn::Expr::Path(p) if p.path.is_ident("Err")));
            Some((field_name(ident), unset))
        })
        .collect()
}

fn type_def(item: &Item) -> Option<(String, TypeDef)> {
    let non_exhaustive = match item {
        Item::Struct(s) => crate::non_exhaustive::is_marked(&s.attrs),
        Item::Enum(e) => crate::non_exhaustive::is_marked(&e.attrs),
        _ => false,
    };
    let (name, shape, tokens) = match item {
        Item::Struct(s) if is_pub(&s.vis) => {
            let shape = match &s.fields {
                Fields::Named(fields) => Shape::Struct(
                    fields
                        .named
                        .iter()
                        .filter(|f| is_pub(&f.vis))
                        .filter_map(|f| {
                            let name = field_name(f.ident.as_ref()?);
                            let required =
                                option_inner(&f.ty).is_none() && !has_serde_default(&f.attrs);
                            let ty = display_type(&f.ty);
                            let wire = Some(serde_rename(&f.attrs).unwrap_or_else(|| name.clone()));
                            Some((name, Slot { ty, required, wire }))
                        })
                        .collect(),
                ),
                Fields::Unnamed(fields) => Shape::Newtype {
                    inner: fields
                        .unnamed
                        .iter()
                        .map(|f| display_type(&f.ty))
                        .collect::<Vec<_>>()
                        .join(", "),
                    checks: BTreeSet::new(),
                },
                Fields::Unit => Shape::Struct(BTreeMap::new()),
            };
            (s.ident.to_string(), shape, s.fields.to_token_stream())
        }
        Item::Enum(e) if is_pub(&e.vis) => {
            let variants = e
                .variants
                .iter()
                .map(|v| {
                    let holds = match &v.fields {
                        Fields::Unit => None,
                        Fields::Unnamed(f) => Some(
                            f.unnamed
                                .iter()
                                .map(|f| display_type(&f.ty))
                                .collect::<Vec<_>>()
                                .join(", "),
                        ),
                        Fields::Named(f) => Some(
                            f.named
                                .iter()
                                .map(|f| {
                                    format!(
                                        "{}: {}",
                                        f.ident.as_ref().map(field_name).unwrap_or_default(),
                                        display_type(&f.ty)
                                    )
                                })
                                .collect::<Vec<_>>()
                                .join(", "),
                        ),
                    };
                    let wire = serde_rename(&v.attrs).unwrap_or_else(|| v.ident.to_string());
                    (v.ident.to_string(), Variant { holds, wire })
                })
                .collect::<BTreeMap<_, _>>();
            let catch_all = e
                .variants
                .iter()
                .any(|v| v.ident == "Unknown" && !matches!(v.fields, Fields::Unit));
            let mut tokens = TokenStream::new();
            for v in &e.variants {
                v.fields.to_tokens(&mut tokens);
            }
            (
                e.ident.to_string(),
                Shape::Enum {
                    variants,
                    catch_all,
                },
                tokens,
            )
        }
        Item::Type(t) if is_pub(&t.vis) => (
            t.ident.to_string(),
            Shape::Alias(display_type(&t.ty)),
            t.ty.to_token_stream(),
        ),
        _ => return None,
    };
    let mut refs = idents(&tokens);
    refs.remove(&name);
    Some((
        name,
        TypeDef {
            shape,
            non_exhaustive,
            refs,
        },
    ))
}

/// For `impl FromStr for T`: `T` and the string literals of the impl, which are the messages
/// of the checks it makes (and the patterns it matches).
fn newtype_checks(item: &Item) -> Option<(String, BTreeSet<String>)> {
    let Item::Impl(imp) = item else { return None };
    let (_, path, _) = imp.trait_.as_ref()?;
    if path.segments.last()?.ident != "FromStr" {
        return None;
    }
    fn literals(tokens: TokenStream, out: &mut BTreeSet<String>) {
        for token in tokens {
            match token {
                TokenTree::Literal(lit) => {
                    if let Ok(text) = syn::parse_str::<syn::LitStr>(&lit.to_string()) {
                        out.insert(text.value());
                    }
                }
                TokenTree::Group(group) => literals(group.stream(), out),
                _ => {}
            }
        }
    }
    let mut checks = BTreeSet::new();
    for item in &imp.items {
        literals(item.to_token_stream(), &mut checks);
    }
    Some((self_type(imp)?, checks))
}

/// A newtype's checks: one added or changed may refuse values the old version took.
fn compare_checks(name: &str, old: &BTreeSet<String>, new: &BTreeSet<String>, report: &mut Report) {
    let removed: Vec<&String> = old.difference(new).collect();
    let added: Vec<&String> = new.difference(old).collect();
    let list = |items: &[&String]| {
        items
            .iter()
            .map(|item| format!("`{item}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (removed.is_empty(), added.is_empty()) {
        (true, true) => {}
        (true, false) => push(
            report,
            Severity::Breaking,
            format!(
                "newtype `{name}` checks more: {} refused now; values the old version took may \
                 fail to convert or decode",
                list(&added)
            ),
        ),
        (false, true) => push(
            report,
            Severity::Additive,
            format!(
                "newtype `{name}` checks less: {} no longer refused",
                list(&removed)
            ),
        ),
        (false, false) => push(
            report,
            Severity::Breaking,
            format!(
                "newtype `{name}` checks otherwise: {} refused instead of {}; values the old \
                 version took may fail to convert or decode",
                list(&added),
                list(&removed)
            ),
        ),
    }
}

fn is_pub(vis: &Visibility) -> bool {
    matches!(vis, Visibility::Public(_))
}

/// A field's name as users write it (`type_`, not `r#type`).
fn field_name(ident: &syn::Ident) -> String {
    let name = ident.to_string();
    name.strip_prefix("r#").map(str::to_owned).unwrap_or(name)
}

fn has_serde_default(attrs: &[Attribute]) -> bool {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("serde"))
        .any(|a| {
            matches!(&a.meta, syn::Meta::List(list) if list.tokens.clone().into_iter().any(
            |t| matches!(t, TokenTree::Ident(ref i) if i == "default")))
        })
}

/// The value of `rename = "..."` in a `#[serde(..)]` attribute.
pub(crate) fn serde_rename(attrs: &[Attribute]) -> Option<String> {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("serde"))
        .find_map(|a| {
            let syn::Meta::List(list) = &a.meta else {
                return None;
            };
            let tokens: Vec<TokenTree> = list.tokens.clone().into_iter().collect();
            tokens.windows(3).find_map(|w| match w {
                [
                    TokenTree::Ident(key),
                    TokenTree::Punct(eq),
                    TokenTree::Literal(value),
                ] if key == "rename" && eq.as_char() == '=' => {
                    syn::parse_str::<syn::LitStr>(&value.to_string())
                        .ok()
                        .map(|lit| lit.value())
                }
                _ => None,
            })
        })
}

/// `T` of `Option<T>` (any path ending in `Option`).
fn option_inner(ty: &Type) -> Option<&Type> {
    match ty {
        Type::Path(p) if p.path.segments.last()?.ident == "Option" => first_generic(ty),
        _ => None,
    }
}

/// The first type argument of a path type: `T` of `Result<T, E>`.
fn first_generic(ty: &Type) -> Option<&Type> {
    let Type::Path(p) = ty else { return None };
    let syn::PathArguments::AngleBracketed(args) = &p.path.segments.last()?.arguments else {
        return None;
    };
    args.args.iter().find_map(|arg| match arg {
        syn::GenericArgument::Type(t) => Some(t),
        _ => None,
    })
}

/// Every identifier in a token stream, groups included.
fn idents(tokens: &TokenStream) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for token in tokens.clone() {
        match token {
            TokenTree::Ident(i) => {
                out.insert(i.to_string());
            }
            TokenTree::Group(g) => out.extend(idents(&g.stream())),
            _ => {}
        }
    }
    out
}

/// A type as users read it: every path cut to its last segment, no spaces inside brackets
/// (`::std::option::Option<::std::string::String>` → `Option<String>`).
fn display_type(ty: &Type) -> String {
    struct LastSegment;
    impl VisitMut for LastSegment {
        fn visit_path_mut(&mut self, path: &mut syn::Path) {
            syn::visit_mut::visit_path_mut(self, path);
            if let Some(last) = path.segments.pop() {
                path.segments.clear();
                path.segments.push(last.into_value());
            }
            path.leading_colon = None;
        }
    }
    let mut ty = ty.clone();
    LastSegment.visit_type_mut(&mut ty);
    // `oz_api::MaybeSend` has `Send` as its supertrait on every target but wasm32, where
    // nothing was `Send` before either: to users the two bounds are the same.
    tighten(&ty.to_token_stream().to_string()).replace("MaybeSend", "Send")
}

/// Token text without the spaces `to_string` puts around punctuation and without trailing
/// commas: `Vec < (String , u8 ,) >` → `Vec<(String, u8)>`.
fn tighten(text: &str) -> String {
    let punct = |c: char| "<>&,:()[]".contains(c);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ' ' && (out.ends_with(punct) || chars.peek().is_some_and(|&n| punct(n))) {
            continue;
        }
        out.push(c);
    }
    out.replace(",>", ">")
        .replace(",)", ")")
        .replace(",]", "]")
        .replace(',', ", ")
}

// ---------------------------------------------------------------------------------------------
// The comparison

fn push(report: &mut Report, severity: Severity, text: String) {
    report.changes.push(Change { severity, text });
}

fn endpoint_note(op: &Operation) -> String {
    op.endpoint
        .as_ref()
        .map(|e| format!(" (`{e}`)"))
        .unwrap_or_default()
}

fn compare_operations(old: &Surface, new: &Surface, report: &mut Report) {
    let removed: Vec<&String> = old
        .operations
        .keys()
        .filter(|name| !new.operations.contains_key(*name))
        .collect();
    let mut added: Vec<&String> = new
        .operations
        .keys()
        .filter(|name| !old.operations.contains_key(*name))
        .collect();
    let mut pairs: Vec<(&String, &String)> = old
        .operations
        .keys()
        .filter(|name| new.operations.contains_key(*name))
        .map(|name| (name, name))
        .collect();
    for name in removed {
        let op = &old.operations[name];
        let same_endpoint: Vec<usize> = added
            .iter()
            .enumerate()
            .filter(|(_, a)| op.endpoint.is_some() && new.operations[**a].endpoint == op.endpoint)
            .map(|(i, _)| i)
            .collect();
        if let [i] = same_endpoint[..] {
            let to = added.remove(i);
            push(
                report,
                Severity::Breaking,
                format!("operation `{name}` renamed to `{to}`{}", endpoint_note(op)),
            );
            pairs.push((name, to));
        } else {
            push(
                report,
                Severity::Breaking,
                format!("operation `{name}` removed{}", endpoint_note(op)),
            );
        }
    }
    for name in added {
        push(
            report,
            Severity::Additive,
            format!(
                "operation `{name}` added{}",
                endpoint_note(&new.operations[name])
            ),
        );
    }
    pairs.sort();
    for (old_name, new_name) in pairs {
        compare_operation(
            new_name,
            &old.operations[old_name],
            &new.operations[new_name],
            report,
        );
    }
}

fn compare_methods(old: &Surface, new: &Surface, report: &mut Report) {
    for (name, sig) in &old.methods {
        match new.methods.get(name) {
            None => push(
                report,
                Severity::Breaking,
                format!("method `Client::{name}` removed"),
            ),
            Some(after) if after != sig => push(
                report,
                Severity::Breaking,
                format!("method `Client::{name}` changed: `{sig}` → `{after}`"),
            ),
            Some(_) => {}
        }
    }
    for (name, sig) in new
        .methods
        .iter()
        .filter(|(n, _)| !old.methods.contains_key(*n))
    {
        push(
            report,
            Severity::Additive,
            format!("method `Client::{name}` added: `{sig}`"),
        );
    }
}

fn compare_operation(name: &str, old: &Operation, new: &Operation, report: &mut Report) {
    if let (Some(before), Some(after)) = (&old.endpoint, &new.endpoint)
        && before != after
    {
        push(
            report,
            Severity::Breaking,
            format!(
                "operation `{name}` now sends `{after}` instead of `{before}`; servers that \
                 answer only the old route fail it"
            ),
        );
    }
    for (param, slot) in &new.params {
        match old.params.get(param) {
            None if slot.required => push(
                report,
                Severity::Breaking,
                format!(
                    "operation `{name}`: required parameter `{param}` (`{}`) added; calls that do not set it fail in `send()`",
                    slot.ty
                ),
            ),
            None => push(
                report,
                Severity::Additive,
                format!(
                    "operation `{name}`: optional parameter `{param}` (`{}`) added",
                    slot.ty
                ),
            ),
            Some(before) if before.ty != slot.ty => push(
                report,
                Severity::Breaking,
                format!(
                    "operation `{name}`: parameter `{param}` changed type: `{}` → `{}`",
                    before.ty, slot.ty
                ),
            ),
            Some(before) if before.required != slot.required => {
                if slot.required {
                    push(
                        report,
                        Severity::Breaking,
                        format!("operation `{name}`: parameter `{param}` became required"),
                    );
                } else {
                    push(
                        report,
                        Severity::Additive,
                        format!("operation `{name}`: parameter `{param}` became optional"),
                    );
                }
            }
            Some(_) => {}
        }
    }
    for param in old.params.keys().filter(|p| !new.params.contains_key(*p)) {
        push(
            report,
            Severity::Breaking,
            format!("operation `{name}`: parameter `{param}` removed"),
        );
    }
    for (method, sig) in &new.methods {
        match old.methods.get(method) {
            None => push(
                report,
                Severity::Additive,
                format!("operation `{name}`: builder method `{method}` added"),
            ),
            Some(before) if before != sig => push(
                report,
                Severity::Breaking,
                format!(
                    "operation `{name}`: builder method `{method}` changed: `{before}` → `{sig}`"
                ),
            ),
            Some(_) => {}
        }
    }
    for method in old.methods.keys().filter(|m| !new.methods.contains_key(*m)) {
        push(
            report,
            Severity::Breaking,
            format!("operation `{name}`: builder method `{method}` removed"),
        );
    }
    if let (Some(before), Some(after)) = (&old.response, &new.response)
        && before != after
    {
        push(
            report,
            Severity::Breaking,
            format!("operation `{name}`: `send()` now returns `{after}` instead of `{before}`"),
        );
    }
}

fn compare_types(old: &Surface, new: &Surface, report: &mut Report) {
    let requests = old.request_types();
    for (name, def) in &old.types {
        let Some(after) = new.types.get(name) else {
            push(
                report,
                Severity::Breaking,
                format!("{} `{name}` removed", def.shape.kind()),
            );
            continue;
        };
        let request = requests.contains(name);
        match (&def.shape, &after.shape) {
            (Shape::Struct(before), Shape::Struct(fields)) => {
                if !def.non_exhaustive && after.non_exhaustive {
                    push(
                        report,
                        Severity::Breaking,
                        format!(
                            "struct `{name}` became `#[non_exhaustive]`; struct literals and patterns without `..` stop compiling (build it through `{name}::builder()`)"
                        ),
                    );
                }
                let literals = request && !def.non_exhaustive;
                compare_fields(name, request, literals, before, fields, report)
            }
            (
                Shape::Newtype {
                    inner: before,
                    checks: was,
                },
                Shape::Newtype { inner, checks },
            ) if before == inner => compare_checks(name, was, checks, report),
            (Shape::Newtype { inner: before, .. }, Shape::Newtype { inner, .. })
            | (Shape::Alias(before), Shape::Alias(inner)) => {
                if before != inner {
                    push(
                        report,
                        Severity::Breaking,
                        format!(
                            "{} `{name}` now wraps `{inner}` instead of `{before}`",
                            def.shape.kind()
                        ),
                    );
                }
            }
            (
                Shape::Enum {
                    variants: before,
                    catch_all,
                },
                Shape::Enum { variants, .. },
            ) => compare_variants(name, *catch_all, before, variants, report),
            (before, after) => push(
                report,
                Severity::Breaking,
                format!(
                    "type `{name}` changed from {} to {}",
                    with_article(before.kind()),
                    with_article(after.kind())
                ),
            ),
        }
    }
    for (name, def) in new
        .types
        .iter()
        .filter(|(n, _)| !old.types.contains_key(*n))
    {
        push(
            report,
            Severity::Additive,
            format!("{} `{name}` added", def.shape.kind()),
        );
    }
}

fn compare_fields(
    name: &str,
    request: bool,
    literals: bool,
    old: &BTreeMap<String, Slot>,
    new: &BTreeMap<String, Slot>,
    report: &mut Report,
) {
    for (field, slot) in new {
        let subject = format!("field `{name}.{field}`");
        let Some(before) = old.get(field) else {
            let kind = if slot.required {
                "required"
            } else {
                "optional"
            };
            if literals {
                push(
                    report,
                    Severity::Breaking,
                    format!(
                        "{subject} (`{}`, {kind}) added to a request type; struct literals of `{name}` stop compiling{}",
                        slot.ty,
                        if slot.required {
                            " and its builder fails without it"
                        } else {
                            " (its builder does not)"
                        }
                    ),
                );
            } else if request && slot.required {
                push(
                    report,
                    Severity::Breaking,
                    format!(
                        "{subject} (`{}`, required) added to a request type; its builder fails without it",
                        slot.ty
                    ),
                );
            } else if request {
                push(
                    report,
                    Severity::Additive,
                    format!(
                        "{subject} (`{}`, optional) added to a request type; `{name}` is `#[non_exhaustive]` and its builder leaves the field unset",
                        slot.ty
                    ),
                );
            } else {
                push(
                    report,
                    Severity::Additive,
                    format!("{subject} (`{}`, {kind}) added to a response type", slot.ty),
                );
            }
            continue;
        };
        if let (Some(was), Some(now)) = (&before.wire, &slot.wire)
            && was != now
        {
            push(
                report,
                Severity::Breaking,
                format!(
                    "{subject} is now the JSON member `{now}` instead of `{was}`; JSON written by \
                     the old version no longer fills it"
                ),
            );
        }
        if before.ty != slot.ty {
            let how = if option_of(&before.ty) == Some(slot.ty.as_str()) {
                "became required"
            } else if option_of(&slot.ty) == Some(before.ty.as_str()) {
                "became optional"
            } else {
                "changed type"
            };
            push(
                report,
                Severity::Breaking,
                format!("{subject} {how}: `{}` → `{}`", before.ty, slot.ty),
            );
        } else if before.required != slot.required {
            let (how, severity) = match (slot.required, request) {
                (true, true) => ("became required", Severity::Breaking),
                (true, false) => ("became required (always sent)", Severity::Additive),
                (false, _) => ("became optional (empty when absent)", Severity::Additive),
            };
            push(
                report,
                severity,
                format!("{subject} {how}; its type stays `{}`", slot.ty),
            );
        }
    }
    for field in old.keys().filter(|f| !new.contains_key(*f)) {
        push(
            report,
            Severity::Breaking,
            format!("field `{name}.{field}` removed"),
        );
    }
}

fn with_article(kind: &str) -> String {
    let article = if kind.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {kind}")
}

/// `T` of a displayed `Option<T>`.
fn option_of(ty: &str) -> Option<&str> {
    ty.strip_prefix("Option<")?.strip_suffix('>')
}

fn compare_variants(
    name: &str,
    catch_all: bool,
    old: &BTreeMap<String, Variant>,
    new: &BTreeMap<String, Variant>,
    report: &mut Report,
) {
    for (variant, Variant { holds, wire }) in new {
        match old.get(variant) {
            None if catch_all => push(
                report,
                Severity::Additive,
                format!(
                    "enum `{name}`: variant `{variant}` added (forward-compatible enum: older builds see it as `Unknown`)"
                ),
            ),
            None => push(
                report,
                Severity::Breaking,
                format!(
                    "enum `{name}`: variant `{variant}` added; `{name}` has no `Unknown(..)` catch-all, so exhaustive matches stop compiling"
                ),
            ),
            Some(before) if before.holds != *holds => push(
                report,
                Severity::Breaking,
                format!(
                    "enum `{name}`: variant `{variant}` now holds `{}` instead of `{}`",
                    holds.as_deref().unwrap_or("nothing"),
                    before.holds.as_deref().unwrap_or("nothing")
                ),
            ),
            Some(before) if before.wire != *wire => push(
                report,
                Severity::Breaking,
                format!(
                    "enum `{name}`: variant `{variant}` is now {wire:?} in JSON instead of {:?}; \
                     values written by the old version no longer read as `{variant}`",
                    before.wire
                ),
            ),
            Some(_) => {}
        }
    }
    for variant in old.keys().filter(|v| !new.contains_key(*v)) {
        push(
            report,
            Severity::Breaking,
            format!("enum `{name}`: variant `{variant}` removed"),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// CHANGELOG.md

/// What a new CHANGELOG.md starts with.
pub const CHANGELOG_HEADER: &str = "# Changelog\n\n## [Unreleased]\n";

/// `changelog` with `entry` first in its Unreleased section (which is added, after the title
/// and introduction, when it has none).
pub fn insert_unreleased(changelog: &str, entry: &str) -> String {
    let lines: Vec<&str> = changelog.split_inclusive('\n').collect();
    let heading = lines
        .iter()
        .position(|l| l.trim().eq_ignore_ascii_case("## [Unreleased]"));
    let (before, after, heading_text) = match heading {
        Some(i) => {
            // Keep the blank lines under the heading above the entry.
            let mut body = i + 1;
            while lines.get(body).is_some_and(|l| l.trim().is_empty()) {
                body += 1;
            }
            (&lines[..i + 1], &lines[body..], "")
        }
        None => {
            let first_section = lines
                .iter()
                .position(|l| l.starts_with("## "))
                .unwrap_or(lines.len());
            (
                &lines[..first_section],
                &lines[first_section..],
                "## [Unreleased]\n",
            )
        }
    };
    let mut out: String = before.concat();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    if !heading_text.is_empty() {
        if !out.is_empty() && !out.ends_with("\n\n") {
            out.push('\n');
        }
        out.push_str(heading_text);
    }
    out.push('\n');
    out.push_str(entry.trim_end());
    out.push('\n');
    if !after.is_empty() {
        out.push('\n');
        out.push_str(&after.concat());
    }
    out
}

/// Today's date in UTC, `YYYY-MM-DD`.
pub fn today_utc() -> String {
    chrono::Utc::now().date_naive().to_string()
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use serde_json::{Value, json};

    use super::*;
    use crate::generate;

    fn spec() -> Value {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi.json");
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    /// The surface of the client generated from the unchanged openapi.json, read once.
    fn original() -> &'static Surface {
        static ORIGINAL: OnceLock<Surface> = OnceLock::new();
        ORIGINAL.get_or_init(|| {
            Surface::parse(&generate::generate(&spec().to_string()).unwrap()).unwrap()
        })
    }

    /// The report from the real client to the one generated after `mutate` changed the spec.
    fn report_after(mutate: impl FnOnce(&mut Value)) -> Report {
        let mut changed = spec();
        mutate(&mut changed);
        let fresh = generate::generate(&changed.to_string()).unwrap();
        compare(original(), &Surface::parse(&fresh).unwrap())
    }

    fn schema<'a>(spec: &'a mut Value, name: &str) -> &'a mut Value {
        spec.pointer_mut(&format!("/components/schemas/{name}"))
            .unwrap_or_else(|| panic!("no schema {name}"))
    }

    fn texts(report: &Report, severity: Severity) -> Vec<&str> {
        report
            .changes
            .iter()
            .filter(|c| c.severity == severity)
            .map(|c| c.text.as_str())
            .collect()
    }

    /// Asserts that the report holds exactly these changes and that its verdict line starts
    /// with `verdict`.
    fn assert_report(report: &Report, breaking: &[&str], additive: &[&str], verdict: &str) {
        assert_eq!(texts(report, Severity::Breaking), breaking, "{report:?}");
        assert_eq!(texts(report, Severity::Additive), additive, "{report:?}");
        let line = report.verdict_line("0.1.0");
        assert!(line.starts_with(verdict), "{line}");
    }

    const ADDITIVE: &str = "additive: minor release; ";
    const ONE_BREAKING: &str = "breaking: major release (1 breaking change); ";

    #[test]
    fn an_optional_field_added_to_a_response_is_additive() {
        let report = report_after(|spec| {
            schema(spec, "RunItem")["properties"]["queue_position"] =
                json!({"type": "integer", "description": "Place in the queue."});
        });
        assert_report(
            &report,
            &[],
            &["field `RunItem.queue_position` (`Option<i64>`, optional) added to a response type"],
            ADDITIVE,
        );
        assert_eq!(
            report.verdict_line("0.1.0"),
            "additive: minor release; in 0.x a breaking change bumps the minor number, \
             anything else the patch: 0.1.0 → 0.1.1"
        );
    }

    /// The generated request types are `#[non_exhaustive]`: built through their builders, which
    /// leave a new optional member unset, so adding one breaks no caller.
    #[test]
    fn an_optional_field_added_to_a_request_type_is_additive() {
        let report = report_after(|spec| {
            schema(spec, "RunAgentRequest")["properties"]["priority"] =
                json!({"type": "string", "description": "Queue priority."});
        });
        assert_report(
            &report,
            &[],
            &[
                "field `RunAgentRequest.priority` (`Option<String>`, optional) added to a request \
                 type; `RunAgentRequest` is `#[non_exhaustive]` and its builder leaves the field unset",
            ],
            ADDITIVE,
        );
        let entry = report.changelog_entry("0.1.0", "2026-12-07");
        assert!(!entry.contains("**Breaking:**"), "{entry}");
        assert!(entry.contains("Verdict: additive"), "{entry}");
    }

    #[test]
    fn a_required_field_added_to_a_request_type_is_breaking() {
        let report = report_after(|spec| {
            let request = schema(spec, "CreateFactoryRunRequest");
            request["properties"]["priority"] = json!({"type": "string"});
            request["required"]
                .as_array_mut()
                .unwrap()
                .push(json!("priority"));
        });
        assert_report(
            &report,
            &[
                "field `CreateFactoryRunRequest.priority` (`String`, required) added to a request \
                 type; its builder fails without it",
            ],
            &[],
            ONE_BREAKING,
        );
    }

    /// Before a struct was `#[non_exhaustive]`, callers could write it as a literal.
    #[test]
    fn fields_of_an_open_request_struct_and_the_marking_itself_are_breaking() {
        let client = "/// Sends a `POST` request to `/w`\n pub fn make_w(&self) -> builder::MakeW<'_> { todo!() }";
        let builders =
            "pub struct MakeW<'a> { client: &'a Client, body: Result<types::builder::W, String> }
             impl<'a> MakeW<'a> {
                 pub async fn send(self) -> Result<ResponseValue<()>, Error> { todo!() }
             }";
        let open = file("pub struct W { pub a: Option<u8> }", client, builders);
        let open_grown = file(
            "pub struct W { pub a: Option<u8>, pub b: Option<u8> }",
            client,
            builders,
        );
        let marked_grown = file(
            "#[non_exhaustive] pub struct W { pub a: Option<u8>, pub b: Option<u8> }",
            client,
            builders,
        );
        assert_report(
            &compare_sources(&open, &open_grown).unwrap(),
            &[
                "field `W.b` (`Option<u8>`, optional) added to a request type; struct literals of \
                 `W` stop compiling (its builder does not)",
            ],
            &[],
            ONE_BREAKING,
        );
        let marked = compare_sources(&open_grown, &marked_grown).unwrap();
        assert_report(
            &marked,
            &[
                "struct `W` became `#[non_exhaustive]`; struct literals and patterns without `..` \
                 stop compiling (build it through `W::builder()`)",
            ],
            &[],
            ONE_BREAKING,
        );
    }

    #[test]
    fn a_removed_operation_is_breaking() {
        let report = report_after(|spec| {
            spec["paths"]
                .as_object_mut()
                .unwrap()
                .remove("/networking/egress-ranges");
        });
        assert_report(
            &report,
            &["operation `list_egress_ranges` removed (`GET /networking/egress-ranges`)"],
            &[],
            ONE_BREAKING,
        );
        assert!(report.verdict_line("0.1.0").ends_with("0.1.0 → 0.2.0"));
    }

    #[test]
    fn an_added_operation_is_additive() {
        let report = report_after(|spec| {
            let mut op = spec["paths"]["/agent/models"]["get"].clone();
            op["operationId"] = json!("list_model_families");
            spec["paths"]["/agent/model-families"] = json!({ "get": op });
        });
        assert_report(
            &report,
            &[],
            &["operation `list_model_families` added (`GET /agent/model-families`)"],
            ADDITIVE,
        );
    }

    #[test]
    fn a_renamed_operation_id_is_one_breaking_rename() {
        let report = report_after(|spec| {
            spec["paths"]["/networking/egress-ranges"]["get"]["operationId"] =
                json!("get_egress_ranges");
        });
        assert_report(
            &report,
            &[
                "operation `list_egress_ranges` renamed to `get_egress_ranges` \
                 (`GET /networking/egress-ranges`)",
            ],
            &[],
            ONE_BREAKING,
        );
    }

    #[test]
    fn an_optional_field_made_required_is_breaking() {
        let report = report_after(|spec| {
            schema(spec, "ModelInfo")["required"]
                .as_array_mut()
                .unwrap()
                .push(json!("description"));
        });
        assert_report(
            &report,
            &["field `ModelInfo.description` became required: `Option<String>` → `String`"],
            &[],
            ONE_BREAKING,
        );
    }

    #[test]
    fn a_newtype_limit_tightened_is_breaking_and_relaxed_additive() {
        fn body(spec: &mut Value) -> &mut Value {
            &mut schema(spec, "SendAgentMessageRequest")["properties"]["body"]
        }
        let report = report_after(|spec| body(spec)["maxLength"] = json!(65536));
        assert_report(
            &report,
            &[
                "newtype `SendAgentMessageRequestBody` checks otherwise: `longer than 65536 \
                 characters` refused instead of `longer than 131072 characters`; values the old \
                 version took may fail to convert or decode",
            ],
            &[],
            ONE_BREAKING,
        );
        let report = report_after(|spec| body(spec)["minLength"] = json!(1));
        assert_eq!(report.verdict(), Verdict::Breaking(1), "{report:?}");
        assert!(
            report.changes[0]
                .text
                .starts_with("newtype `SendAgentMessageRequestBody` checks more: `shorter than 1"),
            "{report:?}"
        );
    }

    #[test]
    fn a_field_of_another_type_is_breaking() {
        let report = report_after(|spec| {
            schema(spec, "ModelInfo")["properties"]["vision_supported"]["type"] = json!("string");
        });
        assert_report(
            &report,
            &["field `ModelInfo.vision_supported` changed type: `bool` → `String`"],
            &[],
            ONE_BREAKING,
        );
    }

    #[test]
    fn a_value_added_to_a_forward_compatible_enum_is_additive() {
        let report = report_after(|spec| {
            schema(spec, "RunState")["enum"]
                .as_array_mut()
                .unwrap()
                .push(json!("PAUSED"));
        });
        assert_report(
            &report,
            &[],
            &[
                "enum `RunState`: variant `Paused` added (forward-compatible enum: older builds \
                 see it as `Unknown`)",
            ],
            ADDITIVE,
        );
    }

    #[test]
    fn a_removed_enum_value_is_breaking() {
        let report = report_after(|spec| {
            schema(spec, "RunState")["enum"]
                .as_array_mut()
                .unwrap()
                .retain(|v| v != "BLOCKED");
        });
        assert_report(
            &report,
            &["enum `RunState`: variant `Blocked` removed"],
            &[],
            ONE_BREAKING,
        );
    }

    #[test]
    fn parameters_added_optional_are_additive_and_required_are_breaking() {
        let report = report_after(|spec| {
            let params = spec["paths"]["/agent/models"]["get"]["parameters"]
                .as_array_mut()
                .unwrap();
            params.push(json!({"name": "provider", "in": "query", "schema": {"type": "string"}}));
            params.push(json!({"name": "region", "in": "query", "required": true,
                "schema": {"type": "string"}}));
        });
        assert_report(
            &report,
            &[
                "operation `list_models`: required parameter `region` (`String`) added; calls \
                 that do not set it fail in `send()`",
            ],
            &["operation `list_models`: optional parameter `provider` (`String`) added"],
            ONE_BREAKING,
        );
    }

    #[test]
    fn a_json_member_renamed_under_the_same_rust_name_is_breaking() {
        let report = report_after(|spec| {
            let run = schema(spec, "RunItem");
            let member = run["properties"]
                .as_object_mut()
                .unwrap()
                .remove("created_at")
                .unwrap();
            run["properties"]["createdAt"] = member;
            for name in run["required"].as_array_mut().unwrap() {
                if name == "created_at" {
                    *name = json!("createdAt");
                }
            }
        });
        assert_report(
            &report,
            &[
                "field `RunItem.created_at` is now the JSON member `createdAt` instead of \
                 `created_at`; JSON written by the old version no longer fills it",
            ],
            &[],
            ONE_BREAKING,
        );
    }

    #[test]
    fn an_enum_value_respelled_under_the_same_variant_is_breaking() {
        let report = report_after(|spec| {
            for value in schema(spec, "RunState")["enum"].as_array_mut().unwrap() {
                if value == "QUEUED" {
                    *value = json!("queued");
                }
            }
        });
        assert_report(
            &report,
            &[
                "enum `RunState`: variant `Queued` is now \"queued\" in JSON instead of \
                 \"QUEUED\"; values written by the old version no longer read as `Queued`",
            ],
            &[],
            ONE_BREAKING,
        );
    }

    #[test]
    fn an_operation_moved_to_another_path_is_breaking() {
        let report = report_after(|spec| {
            let paths = spec["paths"].as_object_mut().unwrap();
            let item = paths.remove("/agent/models").unwrap();
            paths.insert("/agent/model-catalog".to_owned(), item);
        });
        assert_report(
            &report,
            &[
                "operation `list_models` now sends `GET /agent/model-catalog` instead of \
                 `GET /agent/models`; servers that answer only the old route fail it",
            ],
            &[],
            ONE_BREAKING,
        );
    }

    #[test]
    fn a_changed_description_is_no_change_to_the_api() {
        let report = report_after(|spec| {
            schema(spec, "ModelInfo")["description"] = json!("A model, described anew.");
            spec["paths"]["/agent/models"]["get"]["summary"] = json!("Models");
        });
        assert_report(
            &report,
            &[],
            &[],
            "no change to the public API: patch release; ",
        );
        assert_eq!(report.verdict(), Verdict::NoChange);
    }

    /// A minimal file in the shape of the generated one.
    fn file(types: &str, client: &str, builders: &str) -> String {
        format!(
            "pub mod types {{ {types} }}\n impl Client {{ {client} }}\n pub mod builder {{ {builders} }}"
        )
    }

    #[test]
    fn a_variant_added_to_an_enum_without_a_catch_all_is_breaking() {
        let old = file("pub enum Tag { One }", "", "");
        let new = file("pub enum Tag { One, Two }", "", "");
        assert_report(
            &compare_sources(&old, &new).unwrap(),
            &[
                "enum `Tag`: variant `Two` added; `Tag` has no `Unknown(..)` catch-all, so \
                 exhaustive matches stop compiling",
            ],
            &[],
            ONE_BREAKING,
        );
    }

    #[test]
    fn builder_methods_added_are_additive_and_removed_or_changed_breaking() {
        let client = "/// Sends a `GET` request to `/a`\n pub fn get_a(&self) -> builder::GetA<'_> { todo!() }";
        let builder = |methods: &str| {
            format!(
                "pub struct GetA<'a> {{ client: &'a Client, id: Result<String, String> }}
                 impl<'a> GetA<'a> {{
                     pub fn new(client: &'a Client) -> Self {{ Self {{ client, id: Err(String::new()) }} }}
                     pub fn id<V>(mut self, value: V) -> Self {{ todo!() }}
                     pub async fn send(self) -> Result<ResponseValue<types::A>, Error> {{ todo!() }}
                     {methods}
                 }}"
            )
        };
        let types = "pub struct A { pub x: u8 }";
        let plain = file(types, client, &builder(""));
        let owned = file(
            types,
            client,
            &builder(
                "pub fn send_owned(self) -> impl Future<Output = u8> + Send + 'static { todo!() }",
            ),
        );
        assert_report(
            &compare_sources(&plain, &owned).unwrap(),
            &[],
            &["operation `get_a`: builder method `send_owned` added"],
            ADDITIVE,
        );
        assert_report(
            &compare_sources(&owned, &plain).unwrap(),
            &["operation `get_a`: builder method `send_owned` removed"],
            &[],
            ONE_BREAKING,
        );
        let changed = file(
            types,
            client,
            &builder(
                "pub fn send_owned(self) -> impl Future<Output = u16> + Send + 'static { todo!() }",
            ),
        );
        let report = compare_sources(&owned, &changed).unwrap();
        assert_eq!(
            report.verdict(),
            Verdict::Breaking(1),
            "{}",
            report.render("0.1.0")
        );
        let maybe_send = file(
            types,
            client,
            &builder(
                "pub fn send_owned(self) -> impl Future<Output = u8> + crate::MaybeSend + 'static { todo!() }",
            ),
        );
        assert_report(
            &compare_sources(&owned, &maybe_send).unwrap(),
            &[],
            &[],
            "no change to the public API",
        );
    }

    #[test]
    fn union_payloads_kinds_responses_and_constructors_are_compared() {
        let old = file(
            "pub enum Item { A(A), Unknown(Value) } pub struct A { pub x: u8 } pub struct B(String);",
            "/// Sends a `GET` request to `/a`\n pub fn get_a(&self) -> builder::GetA<'_> { todo!() }
             pub fn new(baseurl: &str) -> Self { todo!() }",
            "pub struct GetA<'a> { client: &'a Client, id: Result<String, String> }
             impl<'a> GetA<'a> {
                 pub fn new(client: &'a Client) -> Self { Self { client, id: Err(String::new()) } }
                 pub async fn send(self) -> Result<ResponseValue<types::A>, Error> { todo!() }
             }",
        );
        let new = file(
            "pub enum Item { A(B), Unknown(Value) } pub struct A { pub x: u8 } pub enum B { X }",
            "/// Sends a `GET` request to `/a`\n pub fn get_a(&self) -> builder::GetA<'_> { todo!() }",
            "pub struct GetA<'a> { client: &'a Client, id: Result<Option<String>, String> }
             impl<'a> GetA<'a> {
                 pub fn new(client: &'a Client) -> Self { Self { client, id: Ok(None) } }
                 pub async fn send(self) -> Result<ResponseValue<types::B>, Error> { todo!() }
             }",
        );
        assert_report(
            &compare_sources(&old, &new).unwrap(),
            &[
                "operation `get_a`: `send()` now returns `Result<ResponseValue<B>, Error>` \
                 instead of `Result<ResponseValue<A>, Error>`",
                "method `Client::new` removed",
                "type `B` changed from a newtype to an enum",
                "enum `Item`: variant `A` now holds `B` instead of `A`",
            ],
            &["operation `get_a`: parameter `id` became optional"],
            "breaking: major release (4 breaking changes); ",
        );
    }

    #[test]
    fn source_that_does_not_parse_is_an_error_naming_the_side() {
        let err = compare_sources("pub mod types {", &file("", "", "")).unwrap_err();
        assert!(
            format!("{err:#}").starts_with("reading the old generated code: not Rust source"),
            "{err:#}"
        );
        let err = compare_sources(&file("", "", ""), "fn main() {}").unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "reading the new generated code: no `pub mod types` and no operations on `Client`: \
             not a generated client"
        );
    }

    #[test]
    fn the_report_and_the_changelog_entry_list_changes_by_severity() {
        let report = Report {
            changes: vec![
                Change {
                    severity: Severity::Breaking,
                    text: "operation `a` removed".into(),
                },
                Change {
                    severity: Severity::Additive,
                    text: "struct `B` added".into(),
                },
            ],
        };
        assert_eq!(
            report.render("1.4.2"),
            "API report (public surface of oz-api and the pagination of oz-api-ext, old → new):\n\
             breaking (1):\n  - operation `a` removed\n\
             additive (1):\n  - struct `B` added\n\
             verdict: breaking: major release (1 breaking change): 1.4.2 → 2.0.0\n"
        );
        assert_eq!(
            report.changelog_entry("1.4.2", "2025-03-01"),
            "### Generated client regenerated from openapi.json (2025-03-01)\n\n\
             - **Breaking:** operation `a` removed\n\
             - struct `B` added\n\n\
             Verdict: breaking: major release (1 breaking change): 1.4.2 → 2.0.0\n"
        );
    }

    #[test]
    fn versions_follow_semver_and_the_0x_rule() {
        assert_eq!(
            next_version("0.1.0", Verdict::Breaking(2)).unwrap(),
            "0.2.0"
        );
        assert_eq!(next_version("0.1.3", Verdict::Additive).unwrap(), "0.1.4");
        assert_eq!(next_version("0.1.3", Verdict::NoChange).unwrap(), "0.1.4");
        assert_eq!(
            next_version("1.2.3", Verdict::Breaking(1)).unwrap(),
            "2.0.0"
        );
        assert_eq!(next_version("1.2.3", Verdict::Additive).unwrap(), "1.3.0");
        assert_eq!(
            next_version("1.2.3-rc.1", Verdict::NoChange).unwrap(),
            "1.2.4"
        );
        assert_eq!(next_version("one", Verdict::NoChange), None);
        let report = Report::default();
        assert_eq!(
            report.verdict_line("one"),
            "no change to the public API: patch release"
        );
    }

    #[test]
    fn entries_go_first_in_the_unreleased_section() {
        let changelog = "# Changelog\n\nIntro.\n\n## [Unreleased]\n\n### Older entry\n\n- x\n\n## [0.1.0]\n\n- first\n";
        let once = insert_unreleased(changelog, "### New\n\n- y\n");
        assert_eq!(
            once,
            "# Changelog\n\nIntro.\n\n## [Unreleased]\n\n### New\n\n- y\n\n### Older entry\n\n- x\n\n## [0.1.0]\n\n- first\n"
        );
        // Without an Unreleased section, one is added before the first release.
        let without = "# Changelog\n\nIntro.\n\n## [0.1.0]\n\n- first\n";
        assert_eq!(
            insert_unreleased(without, "### New\n"),
            "# Changelog\n\nIntro.\n\n## [Unreleased]\n\n### New\n\n## [0.1.0]\n\n- first\n"
        );
        assert_eq!(
            insert_unreleased(CHANGELOG_HEADER, "### New\n"),
            "# Changelog\n\n## [Unreleased]\n\n### New\n"
        );
    }

    #[test]
    fn today_is_an_iso_date() {
        let today = today_utc();
        assert!(
            chrono::NaiveDate::parse_from_str(&today, "%Y-%m-%d").is_ok(),
            "{today}"
        );
    }
}
