//! Doc comments of the generated client, taken from openapi.json.
//!
//! progenitor documents each `Client` method (summary, description, one line per parameter) but
//! leaves the builders bare, so on docs.rs `ListRuns::limit` would say nothing. After
//! progenitor:
//! - every setter of an operation builder (`pub mod builder`) gets its parameter's description,
//!   then where the value goes (query parameter `limit`, header `X-Warp-Team-Uid`) and what
//!   the schema allows that the description does not already say: required, bounds and lengths, the values of an inline
//!   enum (a named enum has its own documented type), the default, and that a list is sent
//!   once per element;
//! - `body` and `body_map` get the request body's description, or its schema's;
//! - each operation builder starts with its operation's summary and description;
//! - each setter of a type builder (`types::builder`) gets the doc of the field it sets.
//!
//! A parameter or request body without a description gets a warning naming it, and its setter
//! says only where the value goes; the test `every_parameter_and_body_of_openapi_json_is_described`
//! keeps the project's spec free of them. A builder, setter or parameter that cannot be matched
//! (progenitor named something differently than [`progenitor_ident`] expects) fails generation.
//!
//! Before progenitor runs, [`escape_spec_prose`] makes the spec's descriptions safe for rustdoc
//! (brackets that are not links, bare URLs, HTML-like `<...>`, unlabelled code fences), so the
//! generated module needs no rustdoc lint allowance.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Result, bail};
use serde_json::Value;
use syn::{Attribute, ImplItem, Item, parse_quote};

/// What the docs of one operation builder are made of.
#[derive(Debug)]
struct OperationDocs {
    operation_id: String,
    /// Paragraphs at the start of the builder's doc: summary, description.
    intro: Vec<String>,
    /// Setter name → paragraphs of its doc.
    setters: BTreeMap<String, Vec<String>>,
}

/// Documents the builders of the generated file from the (normalised) spec.
pub fn apply(file: &mut syn::File, spec: &Value) -> Result<()> {
    let (operations, undescribed) = operation_docs(spec);
    for what in undescribed {
        eprintln!("warning: openapi.json: {what}: no description");
    }
    document_operation_builders(&mut file.items, &operations)?;
    document_type_builders(&mut file.items);
    Ok(())
}

/// The docs of every operation, keyed by the name of its builder struct, and the parameters
/// and bodies without a description (their setters say only where the value goes).
fn operation_docs(spec: &Value) -> (BTreeMap<String, OperationDocs>, Vec<String>) {
    let mut operations = BTreeMap::new();
    let mut undescribed = Vec::new();
    for (path, item) in spec["paths"].as_object().into_iter().flatten() {
        let item = resolve(spec, item);
        let shared = item.get("parameters");
        for (method, op) in item.as_object().into_iter().flatten() {
            let Some(id) = op.get("operationId").and_then(Value::as_str) else {
                continue;
            };
            let mut docs = OperationDocs {
                operation_id: id.to_owned(),
                intro: ["summary", "description"]
                    .iter()
                    .filter_map(|key| op.get(*key).and_then(Value::as_str))
                    .filter(|text| !text.trim().is_empty())
                    .map(str::to_owned)
                    .collect(),
                setters: BTreeMap::new(),
            };
            for param in merged_parameters(spec, shared, op.get("parameters")) {
                let name = param["name"].as_str().unwrap_or_default();
                if description(param).is_none() {
                    undescribed.push(format!(
                        "parameter `{name}` of {id} ({} {path})",
                        method.to_uppercase()
                    ));
                }
                docs.setters.insert(
                    progenitor_ident(name, Case::Snake),
                    parameter_doc(spec, param),
                );
            }
            if let Some(body) = op.get("requestBody")
                && let Some((described, body, body_map)) = body_docs(spec, resolve(spec, body))
            {
                if !described {
                    undescribed.push(format!(
                        "request body of {id} ({} {path}) and its schema",
                        method.to_uppercase()
                    ));
                }
                docs.setters.insert("body".to_owned(), body);
                docs.setters.insert("body_map".to_owned(), body_map);
            }
            operations.insert(
                progenitor_ident(&progenitor_ident(id, Case::Snake), Case::Pascal),
                docs,
            );
        }
    }
    (operations, undescribed)
}

/// The path item's parameters overridden by the operation's, by name (as progenitor does).
pub(crate) fn merged_parameters<'a>(
    spec: &'a Value,
    shared: Option<&'a Value>,
    own: Option<&'a Value>,
) -> Vec<&'a Value> {
    let mut by_name: BTreeMap<&str, &Value> = BTreeMap::new();
    for list in [shared, own].into_iter().flatten() {
        for param in list.as_array().into_iter().flatten() {
            let param = resolve(spec, param);
            by_name.insert(param["name"].as_str().unwrap_or_default(), param);
        }
    }
    by_name.into_values().collect()
}

/// Follows `$ref`s within the document; a dangling or cyclic one is returned as it is.
pub(crate) fn resolve<'a>(spec: &'a Value, mut value: &'a Value) -> &'a Value {
    for _ in 0..32 {
        let Some(target) = value
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix('#'))
            .and_then(|pointer| spec.pointer(pointer))
        else {
            break;
        };
        value = target;
    }
    value
}

fn description(value: &Value) -> Option<&str> {
    value
        .get("description")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|text| !text.is_empty())
}

/// The paragraphs of a parameter's setter doc.
fn parameter_doc(spec: &Value, param: &Value) -> Vec<String> {
    let text = description(param).unwrap_or_default();
    let name = param["name"].as_str().unwrap_or_default();
    let location = match param["in"].as_str() {
        Some("path") => "Path parameter",
        Some("header") => "Header",
        _ => "Query parameter",
    };
    let mut facts = Vec::new();
    if param["in"] != "path" && param["required"] == true {
        facts.push("required".to_owned());
    }
    let declared = param.get("schema").unwrap_or(&Value::Null);
    let schema = resolve(spec, declared);
    if schema["type"] == "array" {
        let items = schema.get("items").unwrap_or(&Value::Null);
        facts.extend(schema_facts(text, declared, schema));
        let each = schema_facts(text, items, resolve(spec, items));
        facts.extend(each.into_iter().map(|fact| format!("each {fact}")));
        let exploded = param.get("explode").and_then(Value::as_bool) != Some(false);
        if exploded && !mentions_stem(text, "repeat") {
            facts.push("sent once per element".to_owned());
        }
    } else {
        facts.extend(schema_facts(text, declared, schema));
    }
    let mut wire = format!("{location} `{name}`");
    if !facts.is_empty() {
        wire.push_str("; ");
        wire.push_str(&facts.join(", "));
    }
    wire.push('.');
    [text.to_owned(), wire]
        .into_iter()
        .filter(|paragraph| !paragraph.is_empty())
        .collect()
}

/// What a schema allows that `text` does not already state. `declared` is the schema as
/// written (an inline enum's values are listed, a `$ref`'d enum has its own documented type).
fn schema_facts(text: &str, declared: &Value, schema: &Value) -> Vec<String> {
    let mut facts = Vec::new();
    for (low, high, suffix) in [
        ("minimum", "maximum", ""),
        ("minLength", "maxLength", "characters"),
        ("minItems", "maxItems", "elements"),
    ] {
        let stated = |key: &str| {
            schema
                .get(key)
                .map(Value::to_string)
                .filter(|number| !mentions(text, number))
        };
        let suffix = if suffix.is_empty() {
            String::new()
        } else {
            format!(" {suffix}")
        };
        match (stated(low), stated(high)) {
            (Some(low), Some(high)) => facts.push(format!("from {low} to {high}{suffix}")),
            (Some(low), None) => facts.push(format!("at least {low}{suffix}")),
            (None, Some(high)) => facts.push(format!("at most {high}{suffix}")),
            (None, None) => {}
        }
    }
    if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
        facts.push(format!("matching `{pattern}`"));
    }
    if declared.get("$ref").is_none()
        && let Some(values) = schema.get("enum").and_then(Value::as_array)
    {
        let values: Vec<String> = values.iter().map(plain).collect();
        if !values.iter().all(|value| mentions(text, value)) {
            let quoted: Vec<String> = values.iter().map(|v| format!("`{v}`")).collect();
            facts.push(format!("one of {}", quoted.join(", ")));
        }
    }
    if let Some(default) = schema.get("default")
        && !mentions_stem(text, "default")
    {
        facts.push(match default {
            Value::Number(number) => format!("default {number}"),
            other => format!("default `{}`", plain(other)),
        });
    }
    facts
}

/// A JSON value as a reader writes it: strings without quotes.
fn plain(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Whether `text` contains `word` as a whole word (case-insensitive).
fn mentions(text: &str, word: &str) -> bool {
    occurs(text, word, true)
}

/// Whether a word of `text` starts with `stem` ("repeat" in "repeatable", case-insensitive).
fn mentions_stem(text: &str, stem: &str) -> bool {
    occurs(text, stem, false)
}

fn occurs(text: &str, word: &str, whole: bool) -> bool {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let text = text.to_lowercase();
    let word = word.to_lowercase();
    text.match_indices(&word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        let starts_a_word = !before.is_some_and(is_word);
        let ends_a_word = !after.is_some_and(is_word);
        starts_a_word && (ends_a_word || !whole)
    })
}

/// Whether the body or its schema is described, and the docs of `body` and `body_map`;
/// `None` for a body without content (progenitor makes no setter for it).
fn body_docs(spec: &Value, body: &Value) -> Option<(bool, Vec<String>, Vec<String>)> {
    let content = body.get("content").and_then(Value::as_object)?;
    let (media_type, media) = content
        .get_key_value("application/json")
        .or_else(|| content.iter().next())?;
    let schema = resolve(spec, media.get("schema").unwrap_or(&Value::Null));
    let text = description(body).or_else(|| description(schema));
    let encoding = match media_type.as_str() {
        "application/json" => "as JSON",
        "application/x-www-form-urlencoded" => "form-encoded",
        "application/octet-stream" => "as raw bytes",
        other if other.starts_with("text/") => "as text",
        _ => "as given",
    };
    let with_text = |last: String| text.map(str::to_owned).into_iter().chain([last]).collect();
    Some((
        text.is_some(),
        with_text(format!("The request body, sent {encoding}.")),
        with_text(
            "Changes the request body through its builder, starting from what `body` set \
             (or from an empty builder)."
                .to_owned(),
        ),
    ))
}

/// Adds the docs to the structs and setters of `pub mod builder`.
fn document_operation_builders(
    items: &mut [Item],
    operations: &BTreeMap<String, OperationDocs>,
) -> Result<()> {
    let Some(builders) = module_items(items, "builder") else {
        bail!("progenitor's output has no `pub mod builder`");
    };
    let mut problems = Vec::new();
    let mut seen_builders = BTreeSet::new();
    let mut seen_setters = BTreeSet::new();
    for item in builders.iter_mut() {
        match item {
            Item::Struct(builder) => {
                let name = builder.ident.to_string();
                match operations.get(&name) {
                    Some(docs) => prepend_doc(&mut builder.attrs, &docs.intro),
                    None => problems.push(format!("builder `{name}` matches no operation")),
                }
                seen_builders.insert(name);
            }
            Item::Impl(imp) if imp.trait_.is_none() => {
                let Some(name) = type_name(&imp.self_ty) else {
                    continue;
                };
                let Some(docs) = operations.get(&name) else {
                    continue;
                };
                let method = progenitor_ident(&docs.operation_id, Case::Snake);
                for new in imp.items.iter_mut().filter_map(|item| match item {
                    ImplItem::Fn(f) if f.sig.ident == "new" && doc_attrs(&f.attrs).is_empty() => {
                        Some(f)
                    }
                    _ => None,
                }) {
                    prepend_doc(
                        &mut new.attrs,
                        &[format!(
                            "A request with no parameter set yet, sent through `client`; \
                             [`Client::{method}`](super::Client::{method}) is the usual way to \
                             get one."
                        )],
                    );
                }
                for setter in imp.items.iter_mut().filter_map(setter) {
                    let method = setter.sig.ident.to_string();
                    match docs.setters.get(&method) {
                        Some(doc) => prepend_doc(&mut setter.attrs, doc),
                        None => problems.push(format!(
                            "setter `{name}::{method}` matches no parameter of {}",
                            docs.operation_id
                        )),
                    }
                    seen_setters.insert((name.clone(), method));
                }
            }
            _ => {}
        }
    }
    for (name, docs) in operations {
        if !seen_builders.contains(name) {
            problems.push(format!(
                "operation {} has no builder `{name}`",
                docs.operation_id
            ));
            continue;
        }
        // `body_map` exists only for a body type with a builder (an object schema).
        for method in docs.setters.keys().filter(|m| *m != "body_map") {
            if !seen_setters.contains(&(name.clone(), method.clone())) {
                problems.push(format!(
                    "a parameter of {} has no setter `{name}::{method}`",
                    docs.operation_id
                ));
            }
        }
    }
    if !problems.is_empty() {
        bail!(
            "builder docs: progenitor's builders and openapi.json do not match (see \
             xtask/src/docs.rs progenitor_ident):\n  {}",
            problems.join("\n  ")
        );
    }
    Ok(())
}

/// Gives the builders of `types::builder` and their setters the docs of the type they build.
fn document_type_builders(items: &mut [Item]) {
    let Some(types) = module_items(items, "types") else {
        return;
    };
    let summaries = type_summaries(types);
    let mut field_docs: BTreeMap<String, BTreeMap<String, Vec<Attribute>>> = BTreeMap::new();
    for item in types.iter_mut() {
        match item {
            Item::Enum(en) => document_variants(en, &summaries),
            Item::Impl(imp) if imp.trait_.is_none() => document_builder_fn(imp),
            _ => {}
        }
        if let Item::Struct(st) = item {
            for field in st.fields.iter_mut() {
                if doc_attrs(&field.attrs).is_empty()
                    && let Some((name, summary)) = named_type(&field.ty, &summaries)
                {
                    prepend_doc(
                        &mut field.attrs,
                        &[
                            summary.to_owned(),
                            format!("See [`{name}`](crate::types::{name})."),
                        ],
                    );
                }
            }
            let fields = st
                .fields
                .iter()
                .filter_map(|field| {
                    Some((field.ident.as_ref()?.to_string(), doc_attrs(&field.attrs)))
                })
                .collect();
            field_docs.insert(st.ident.to_string(), fields);
        }
    }
    let Some(builders) = module_items(types, "builder") else {
        return;
    };
    for item in builders.iter_mut() {
        match item {
            Item::Struct(builder) if field_docs.contains_key(&builder.ident.to_string()) => {
                let name = builder.ident.to_string();
                prepend_doc(
                    &mut builder.attrs,
                    &[format!(
                        "Builder for [`{name}`](super::{name}); `try_into()` fails when a \
                         required field was not set."
                    )],
                );
            }
            Item::Impl(imp) if imp.trait_.is_none() => {
                let Some(fields) = type_name(&imp.self_ty).and_then(|name| field_docs.get(&name))
                else {
                    continue;
                };
                for setter in imp.items.iter_mut().filter_map(setter) {
                    if let Some(docs) = fields.get(&setter.sig.ident.to_string()) {
                        setter.attrs.splice(0..0, docs.iter().cloned());
                    }
                }
            }
            _ => {}
        }
    }
}

/// Documents the variants that have no doc: a unit variant with its JSON value, a variant that
/// holds a documented type with that type's summary.
fn document_variants(en: &mut syn::ItemEnum, summaries: &BTreeMap<String, String>) {
    for variant in en.variants.iter_mut() {
        if !doc_attrs(&variant.attrs).is_empty() {
            continue;
        }
        let doc = match &variant.fields {
            syn::Fields::Unit => {
                let wire = crate::api_report::serde_rename(&variant.attrs)
                    .unwrap_or_else(|| variant.ident.to_string());
                vec![format!("The JSON value `{wire:?}`.")]
            }
            syn::Fields::Unnamed(fields) if fields.unnamed.len() == 1 => {
                match named_type(&fields.unnamed[0].ty, summaries) {
                    Some((name, summary)) => vec![
                        summary.to_owned(),
                        format!("See [`{name}`](crate::types::{name})."),
                    ],
                    None => continue,
                }
            }
            _ => continue,
        };
        prepend_doc(&mut variant.attrs, &doc);
    }
}

/// Documents `pub fn builder()` of `impl T` in `types`.
fn document_builder_fn(imp: &mut syn::ItemImpl) {
    let Some(name) = type_name(&imp.self_ty) else {
        return;
    };
    for item in imp.items.iter_mut() {
        if let ImplItem::Fn(f) = item
            && f.sig.ident == "builder"
            && f.sig.inputs.is_empty()
            && doc_attrs(&f.attrs).is_empty()
        {
            prepend_doc(
                &mut f.attrs,
                &[format!(
                    "Builds a `{name}` field by field: [`builder::{name}`], then `try_into()`."
                )],
            );
        }
    }
}

/// The first paragraph of the doc of every documented type among `items`, by name.
fn type_summaries(items: &[Item]) -> BTreeMap<String, String> {
    items
        .iter()
        .filter_map(|item| {
            let (ident, attrs) = match item {
                Item::Struct(it) => (&it.ident, &it.attrs),
                Item::Enum(it) => (&it.ident, &it.attrs),
                Item::Type(it) => (&it.ident, &it.attrs),
                _ => return None,
            };
            let text = crate::api_report::doc_text(attrs);
            let summary = text
                .lines()
                .skip_while(|line| line.trim().is_empty())
                .take_while(|line| !line.trim().is_empty())
                .flat_map(str::split_whitespace)
                .collect::<Vec<_>>()
                .join(" ");
            (!summary.is_empty()).then(|| (ident.to_string(), summary))
        })
        .collect()
}

/// The first documented type that `ty` names, through `Option`, `Vec`, maps and boxes: the
/// `Harness` of `Option<Harness>`, with its summary.
fn named_type<'a>(
    ty: &syn::Type,
    summaries: &'a BTreeMap<String, String>,
) -> Option<(&'a str, &'a str)> {
    let syn::Type::Path(path) = ty else {
        return None;
    };
    let last = path.path.segments.last()?;
    if let Some((name, summary)) = summaries.get_key_value(&last.ident.to_string()) {
        return Some((name, summary));
    }
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    args.args.iter().find_map(|arg| match arg {
        syn::GenericArgument::Type(inner) => named_type(inner, summaries),
        _ => None,
    })
}

/// The items of the inline module `name` among `items`.
fn module_items<'a>(items: &'a mut [Item], name: &str) -> Option<&'a mut Vec<Item>> {
    items.iter_mut().find_map(|item| match item {
        Item::Mod(module) if module.ident == name => module.content.as_mut().map(|(_, i)| i),
        _ => None,
    })
}

/// The last path segment of an impl's self type (`ListRuns` of `ListRuns<'a>`).
fn type_name(ty: &syn::Type) -> Option<String> {
    match ty {
        syn::Type::Path(path) => path.path.segments.last().map(|s| s.ident.to_string()),
        _ => None,
    }
}

/// A builder method that takes `self` and returns `Self`.
fn setter(item: &mut ImplItem) -> Option<&mut syn::ImplItemFn> {
    match item {
        // `with_options` (xtask/src/request_options.rs) sets no parameter of the operation.
        ImplItem::Fn(f)
            if f.sig.receiver().is_some()
                && f.sig.ident != crate::request_options::SETTER
                && matches!(&f.sig.output, syn::ReturnType::Type(_, ty)
                    if matches!(&**ty, syn::Type::Path(p) if p.path.is_ident("Self"))) =>
        {
            Some(f)
        }
        _ => None,
    }
}

fn doc_attrs(attrs: &[Attribute]) -> Vec<Attribute> {
    attrs
        .iter()
        .filter(|attr| attr.path().is_ident("doc"))
        .cloned()
        .collect()
}

/// Inserts paragraphs (blank-line separated) before the existing doc, one line per attribute.
fn prepend_doc(attrs: &mut Vec<Attribute>, paragraphs: &[String]) {
    let had_doc = attrs.iter().any(|attr| attr.path().is_ident("doc"));
    let mut lines: Vec<String> = Vec::new();
    for (index, paragraph) in paragraphs.iter().enumerate() {
        if index > 0 {
            lines.push(String::new());
        }
        lines.extend(
            paragraph
                .lines()
                .map(|line| format!(" {}", line.trim_end())),
        );
    }
    if had_doc && !lines.is_empty() {
        lines.push(String::new());
    }
    let new: Vec<Attribute> = lines
        .iter()
        .map(|line| parse_quote!(#[doc = #line]))
        .collect();
    attrs.splice(0..0, new);
}

#[derive(Clone, Copy)]
pub(crate) enum Case {
    Snake,
    Pascal,
}

/// The identifier progenitor makes of a spec name (its `sanitize`: heck's word splitting, then a
/// `_` before a leading digit and after a keyword): `X-Warp-Team-Uid` → `x_warp_team_uid`,
/// `runId` → `run_id`, `type` → `type_`, `list_runs` → `ListRuns` in Pascal case.
pub(crate) fn progenitor_ident(input: &str, case: Case) -> String {
    let words = heck_words(&input.replace('\'', ""));
    let mut out = match case {
        Case::Snake => words
            .iter()
            .map(|w| w.to_lowercase())
            .collect::<Vec<_>>()
            .join("_"),
        Case::Pascal => words
            .iter()
            .map(|w| {
                let mut chars = w.chars();
                chars.next().map_or_else(String::new, |first| {
                    first
                        .to_uppercase()
                        .chain(chars.flat_map(char::to_lowercase))
                        .collect()
                })
            })
            .collect(),
    };
    match input {
        "+1" => out = "plus1".to_owned(),
        "-1" => out = "minus1".to_owned(),
        _ => {}
    }
    match out.chars().next() {
        None => {
            out = match case {
                Case::Snake => "x".to_owned(),
                Case::Pascal => "X".to_owned(),
            }
        }
        Some(c) if c.is_alphabetic() || c == '_' => {}
        Some(_) => out.insert(0, '_'),
    }
    if KEYWORDS.contains(&out.as_str()) {
        out.push('_');
    }
    out
}

/// Words that are not identifiers (typify's list, which adds `gen` to Rust's).
const KEYWORDS: &[&str] = &[
    "_", "abstract", "as", "async", "await", "become", "box", "break", "const", "continue",
    "crate", "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if",
    "impl", "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub",
    "ref", "return", "Self", "self", "static", "struct", "super", "trait", "true", "try", "type",
    "typeof", "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// heck 0.5's split into words: at every non-alphanumeric character, before an uppercase
/// letter that follows a lowercase one, and before the last capital of a run of capitals that
/// starts a lowercase word (`HTTPServer` → `HTTP`, `Server`).
fn heck_words(input: &str) -> Vec<String> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mode {
        Boundary,
        Lower,
        Upper,
    }
    let mut words = Vec::new();
    for word in input.split(|c: char| !c.is_alphanumeric()) {
        let chars: Vec<(usize, char)> = word.char_indices().collect();
        let mut start = 0;
        let mut mode = Mode::Boundary;
        for (k, &(i, c)) in chars.iter().enumerate() {
            let Some(&(next_i, next)) = chars.get(k + 1) else {
                words.push(word[start..].to_owned());
                break;
            };
            let next_mode = if c.is_lowercase() {
                Mode::Lower
            } else if c.is_uppercase() {
                Mode::Upper
            } else {
                mode
            };
            if next_mode == Mode::Lower && next.is_uppercase() {
                words.push(word[start..next_i].to_owned());
                start = next_i;
                mode = Mode::Boundary;
            } else if mode == Mode::Upper && c.is_uppercase() && next.is_lowercase() {
                words.push(word[start..i].to_owned());
                start = i;
                mode = Mode::Boundary;
            } else {
                mode = next_mode;
            }
        }
    }
    words
}

/// Makes the prose of the spec (`description`, `summary`) safe for rustdoc, which reads it as
/// Markdown: see [`rustdoc_safe`]. Examples, defaults and enum values are data and stay as
/// they are; so do extensions (`x-...`).
pub fn escape_spec_prose(spec: &mut Value) {
    escape_in(spec, false);
}

fn escape_in(value: &mut Value, names: bool) {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                if names {
                    // The keys of `properties`/`schemas` are names, not keywords.
                    escape_in(child, false);
                    continue;
                }
                match (key.as_str(), child) {
                    ("description" | "summary", Value::String(text)) => *text = rustdoc_safe(text),
                    ("example" | "examples" | "default" | "enum" | "const", _) => {}
                    (key, _) if key.starts_with("x-") => {}
                    (key, child) => escape_in(child, matches!(key, "properties" | "schemas")),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| escape_in(item, false)),
        _ => {}
    }
}

/// Escapes what rustdoc would misread in plain prose: `[x]` (an intra-doc link to `x`),
/// `<x>` (an HTML tag), a bare URL (linted), and an unlabelled code fence (a Rust doctest).
/// Code spans, code blocks, `[text](url)` links and `<url>` autolinks stay as they are.
fn rustdoc_safe(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_fence = false;
    for (index, line) in text.split('\n').enumerate() {
        if index > 0 {
            out.push('\n');
        }
        let trimmed = line.trim_start();
        if let Some(info) = trimmed.strip_prefix("```") {
            if !in_fence && info.trim().is_empty() {
                out.push_str(&line[..line.len() - trimmed.len()]);
                out.push_str("```text");
            } else {
                out.push_str(line);
            }
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            out.push_str(line);
        } else {
            escape_line(line, &mut out);
        }
    }
    out
}

fn escape_line(line: &str, out: &mut String) {
    let mut rest = line;
    while let Some(c) = rest.chars().next() {
        let taken = if c == '`' {
            code_span(rest)
        } else if c == '\\' {
            rest.char_indices().nth(2).map_or(rest.len(), |(at, _)| at)
        } else if c == '[' {
            url_link(rest).unwrap_or(0)
        } else if c == '<' {
            autolink(rest).unwrap_or(0)
        } else if rest.starts_with("http://") || rest.starts_with("https://") {
            let end = rest
                .find(|c: char| c.is_whitespace() || c == '<' || c == '>')
                .unwrap_or(rest.len());
            let url = rest[..end].trim_end_matches(['.', ',', ';', ':', ')', '"', '\'']);
            out.push('<');
            out.push_str(url);
            out.push('>');
            rest = &rest[url.len()..];
            continue;
        } else {
            0
        };
        if taken > 0 {
            out.push_str(&rest[..taken]);
            rest = &rest[taken..];
            continue;
        }
        if matches!(c, '[' | ']' | '<') {
            out.push('\\');
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
        // A word character before `http` means the URL is part of a word: copy the word.
        if c.is_alphanumeric() {
            let word = rest
                .find(|c: char| !c.is_alphanumeric())
                .unwrap_or(rest.len());
            out.push_str(&rest[..word]);
            rest = &rest[word..];
        }
    }
}

/// The length of the code span starting `text` (backticks to the same number of backticks),
/// or of the opening backticks alone when they are never closed.
fn code_span(text: &str) -> usize {
    let ticks = text.len() - text.trim_start_matches('`').len();
    let fence = &text[..ticks];
    text[ticks..]
        .find(fence)
        .map_or(ticks, |end| ticks + end + ticks)
}

/// The length of `[text](scheme://...)` at the start of `text`.
fn url_link(text: &str) -> Option<usize> {
    let close = text.find("](")?;
    if text[1..close].contains(['[', ']']) {
        return None;
    }
    let target = &text[close + 2..];
    let end = target.find(')')?;
    target[..end].contains("://").then_some(close + 2 + end + 1)
}

/// The length of `<scheme://...>` at the start of `text`.
fn autolink(text: &str) -> Option<usize> {
    let inner = &text[1..];
    if !(inner.starts_with("http://") || inner.starts_with("https://")) {
        return None;
    }
    let end = inner.find('>')?;
    (!inner[..end].contains(char::is_whitespace)).then_some(end + 2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(parameters: Value, body: Option<Value>) -> Value {
        let mut op = json!({
            "operationId": "list_widgets",
            "summary": "List widgets",
            "description": "Returns one page of widgets.",
            "parameters": parameters,
            "responses": {"200": {"description": "ok", "content": {"application/json":
                {"schema": {"$ref": "#/components/schemas/Widget"}}}}}
        });
        if let Some(body) = body {
            op["requestBody"] = body;
        }
        json!({
            "openapi": "3.0.3",
            "info": {"title": "t", "version": "1"},
            "paths": {"/widgets/{widgetId}": {"post": op}},
            "components": {
                "parameters": {"Team": {"name": "X-Team-Uid", "in": "header",
                    "description": "Team to act as.", "schema": {"type": "string"}}},
                "schemas": {
                    "Color": {"type": "string", "enum": ["red", "blue"]},
                    "Widget": {"type": "object", "description": "A widget to make.",
                        "required": ["name"],
                        "properties": {
                            "name": {"type": "string", "description": "Name of the widget."},
                            "size": {"type": "integer"}
                        }}
                }
            }
        })
    }

    fn params() -> Value {
        json!([
            {"$ref": "#/components/parameters/Team"},
            {"name": "widgetId", "in": "path", "required": true,
             "description": "Identifier of the widget.", "schema": {"type": "string"}},
            {"name": "limit", "in": "query", "description": "Page size.",
             "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 50}},
            {"name": "order", "in": "query", "description": "Sort direction.",
             "schema": {"type": "string", "enum": ["asc", "desc"], "default": "desc"}},
            {"name": "color", "in": "query", "description": "Only widgets of any of these colours; repeatable.",
             "schema": {"type": "array", "items": {"$ref": "#/components/schemas/Color"}}},
            {"name": "type", "in": "query", "description": "Kind of widget (the default is all kinds).",
             "schema": {"type": "string", "default": "any", "maxLength": 20}},
            {"name": "tags", "in": "query", "description": "Only widgets with these tags.",
             "schema": {"type": "array", "items": {"type": "string"}}}
        ])
    }

    /// The docs of the generated file, through progenitor and every pass.
    fn generated(spec: &Value) -> Result<String> {
        crate::generate::generate(&spec.to_string())
    }

    /// The doc comment lines right above `pub fn <method><` inside `impl ... <builder>`.
    fn doc_above(source: &str, builder: &str, method: &str) -> String {
        let start = source
            .find(&format!("impl<'a> {builder}<'a> {{"))
            .or_else(|| source.find(&format!("impl {builder} {{")))
            .unwrap_or_else(|| panic!("no impl of {builder}"));
        let body = &source[start..];
        let at = body
            .find(&format!("pub fn {method}<"))
            .unwrap_or_else(|| panic!("no setter {method} in {builder}"));
        body[..at]
            .lines()
            .rev()
            .skip(1)
            .take_while(|line| line.trim_start().starts_with("///"))
            .map(|line| line.trim_start().trim_start_matches("///"))
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn a_field_without_description_takes_the_summary_of_the_type_it_names() {
        let mut spec = spec(params(), None);
        let schemas = &mut spec["components"]["schemas"];
        schemas["Color"]["description"] = json!("A colour of paint.\n\nMixed on demand.");
        schemas["Widget"]["properties"]["paint"] = json!({"$ref": "#/components/schemas/Color"});
        let out = generated(&spec).unwrap();
        let doc = " A colour of paint.\n\n See [`Color`](crate::types::Color).";
        assert_eq!(doc_above(&out, "Widget", "paint"), doc);
        let field = out.find("pub paint:").unwrap();
        let above: Vec<&str> = out[..field].lines().rev().skip(1).take(4).collect();
        assert!(
            above.contains(&"        /// See [`Color`](crate::types::Color)."),
            "{above:?}"
        );
        // A field of a type without docs stays as it was.
        assert!(doc_above(&out, "Widget", "size").is_empty());
    }

    #[test]
    fn variants_constructors_and_builder_fns_are_documented() {
        let out = generated(&spec(params(), None)).unwrap();
        let line_above = |needle: &str| {
            let at = out.find(needle).unwrap_or_else(|| panic!("no {needle}"));
            out[..at]
                .lines()
                .rev()
                .skip(1)
                .map(str::trim)
                .find(|line| !line.starts_with("#["))
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(line_above("Red,"), r#"/// The JSON value `"red"`."#);
        assert_eq!(
            line_above("pub fn builder() -> builder::Widget"),
            "/// Builds a `Widget` field by field: [`builder::Widget`], then `try_into()`."
        );
        assert_eq!(
            line_above("pub fn new(client: &'a super::Client) -> Self"),
            "/// A request with no parameter set yet, sent through `client`; \
             [`Client::list_widgets`](super::Client::list_widgets) is the usual way to get one."
        );
    }

    #[test]
    fn a_described_query_parameter_documents_its_setter_with_what_the_schema_adds() {
        let out = generated(&spec(params(), None)).unwrap();
        for (setter, doc) in [
            (
                "limit",
                " Page size.\n\n Query parameter `limit`; from 1 to 100, default 50.",
            ),
            (
                "order",
                " Sort direction.\n\n Query parameter `order`; one of `asc`, `desc`, default `desc`.",
            ),
            // A named enum has its own type; "repeatable" is already said.
            (
                "color",
                " Only widgets of any of these colours; repeatable.\n\n Query parameter `color`.",
            ),
            // The description mentions the default; a keyword name gets progenitor's `_`.
            (
                "type_",
                " Kind of widget (the default is all kinds).\n\n Query parameter `type`; at most 20 characters.",
            ),
            (
                "tags",
                " Only widgets with these tags.\n\n Query parameter `tags`; sent once per element.",
            ),
            (
                "widget_id",
                " Identifier of the widget.\n\n Path parameter `widgetId`.",
            ),
            ("x_team_uid", " Team to act as.\n\n Header `X-Team-Uid`."),
        ] {
            assert_eq!(doc_above(&out, "ListWidgets", setter), doc, "{setter}");
        }
        let builder = out.find("pub struct ListWidgets<'a>").unwrap();
        let intro: Vec<&str> = out[..builder]
            .trim_end()
            .lines()
            .rev()
            .take_while(|line| {
                line.trim_start().starts_with("///")
                    || !matches!(line.trim().chars().last(), Some('}' | '{' | ';'))
            })
            .collect();
        insta::assert_snapshot!(intro.into_iter().rev().collect::<Vec<_>>().join("\n"));
    }

    #[test]
    fn body_setters_take_the_schema_description_when_the_body_has_none() {
        let body = json!({"required": true, "content": {"application/json":
            {"schema": {"$ref": "#/components/schemas/Widget"}}}});
        let path_only = json!([params()[1]]);
        let out = generated(&spec(path_only, Some(body))).unwrap();
        assert_eq!(
            doc_above(&out, "ListWidgets", "body"),
            " A widget to make.\n\n The request body, sent as JSON."
        );
        assert!(
            doc_above(&out, "ListWidgets", "body_map")
                .starts_with(" A widget to make.\n\n Changes"),
            "{out}"
        );
        // The type builder's setters carry the field docs.
        assert_eq!(doc_above(&out, "Widget", "name"), "Name of the widget.");
    }

    #[test]
    fn a_parameter_or_body_without_description_is_named_and_its_setter_says_where_it_goes() {
        let mut params = params();
        params[2].as_object_mut().unwrap().remove("description");
        let body = json!({"content": {"application/json": {"schema": {"type": "object",
            "properties": {"a": {"type": "string"}}}}}});
        let spec = spec(params, Some(body));
        let (_, undescribed) = operation_docs(&spec);
        assert_eq!(
            undescribed,
            [
                "parameter `limit` of list_widgets (POST /widgets/{widgetId})",
                "request body of list_widgets (POST /widgets/{widgetId}) and its schema"
            ]
        );
        let out = generated(&spec).unwrap();
        assert_eq!(
            doc_above(&out, "ListWidgets", "limit"),
            " Query parameter `limit`; from 1 to 100, default 50."
        );
        assert_eq!(
            doc_above(&out, "ListWidgets", "body"),
            " The request body, sent as JSON."
        );
    }

    /// The project's spec describes every parameter and body, so no setter says only where
    /// its value goes; a new operation should keep it so.
    #[test]
    fn every_parameter_and_body_of_openapi_json_is_described() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../openapi.json");
        let mut spec: Value =
            serde_json::from_str(&std::fs::read_to_string(root).unwrap()).unwrap();
        crate::normalise::run_all(&mut spec).unwrap();
        let (operations, undescribed) = operation_docs(&spec);
        assert!(operations.len() > 50, "{}", operations.len());
        assert!(
            undescribed.is_empty(),
            "describe these in openapi.json:\n{}",
            undescribed.join("\n")
        );
    }

    #[test]
    fn an_unmatched_setter_fails() {
        let (operations, _) = operation_docs(&spec(params(), None));
        let mut items: Vec<Item> = vec![parse_quote! {
            pub mod builder {
                pub struct ListWidgets<'a> { client: &'a () }
                impl<'a> ListWidgets<'a> {
                    pub fn limit<V>(mut self, value: V) -> Self { self }
                    pub fn renamed<V>(mut self, value: V) -> Self { self }
                }
            }
        }];
        let err = document_operation_builders(&mut items, &operations)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("setter `ListWidgets::renamed` matches no parameter"),
            "{err}"
        );
        assert!(err.contains("no setter `ListWidgets::widget_id`"), "{err}");
        assert!(!err.contains("ListWidgets::limit"), "{err}");
    }

    #[test]
    fn names_follow_progenitor() {
        for (input, snake) in [
            ("X-Warp-Team-Uid", "x_warp_team_uid"),
            ("If-None-Match", "if_none_match"),
            ("runId", "run_id"),
            ("HTTPServer", "http_server"),
            ("type", "type_"),
            ("2fa", "_2fa"),
            ("schemaVersion", "schema_version"),
        ] {
            assert_eq!(progenitor_ident(input, Case::Snake), snake, "{input}");
        }
        assert_eq!(
            progenitor_ident("get_run_by_external_reference", Case::Pascal),
            "GetRunByExternalReference"
        );
    }

    #[test]
    fn prose_is_escaped_for_rustdoc_and_code_and_links_are_not() {
        for (input, expected) in [
            (
                "sent as metadata[key]=value",
                r"sent as metadata\[key\]=value",
            ),
            ("a `metadata[key]` span", "a `metadata[key]` span"),
            (
                "see [the guide](https://x.dev/g).",
                "see [the guide](https://x.dev/g).",
            ),
            (
                "docs at https://x.dev/a, then",
                "docs at <https://x.dev/a>, then",
            ),
            ("already <https://x.dev/a>", "already <https://x.dev/a>"),
            ("a Vec<String> value", r"a Vec\<String> value"),
            (r"kept \[escape\]", r"kept \[escape\]"),
            (
                "run:\n```\nfoo[0]\n```\nafter [x]",
                "run:\n```text\nfoo[0]\n```\nafter \\[x\\]",
            ),
            ("```json\n{\"a\": [1]}\n```", "```json\n{\"a\": [1]}\n```"),
        ] {
            assert_eq!(rustdoc_safe(input), expected, "{input}");
        }
    }

    #[test]
    fn only_prose_fields_of_the_spec_are_escaped() {
        let mut spec = json!({
            "info": {"description": "a [b]"},
            "components": {"schemas": {"S": {
                "description": "c [d]",
                "default": {"description": "[kept]"},
                "x-note": "[kept]",
                "properties": {"default": {"type": "string", "description": "[e]"}}
            }}}
        });
        escape_spec_prose(&mut spec);
        assert_eq!(spec["info"]["description"], r"a \[b\]");
        let s = &spec["components"]["schemas"]["S"];
        assert_eq!(s["description"], r"c \[d\]");
        assert_eq!(s["default"]["description"], "[kept]");
        assert_eq!(s["x-note"], "[kept]");
        assert_eq!(s["properties"]["default"]["description"], r"\[e\]");
    }
}
