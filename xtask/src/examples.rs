//! A compiled example for every operation, and a `Client` page that starts with how to build
//! one.
//!
//! progenitor documents each `Client` method with an `ignore` block that calls every setter
//! with a variable of the parameter's name: it neither compiles nor says what the body is.
//! After progenitor, this pass replaces that block, on the method and on its builder, with:
//! - the request body's type, linked, and where its builder is;
//! - a `no_run` example (doctests compile it) that sets the required parameters with a
//!   plausible value and the body through its builder with its required members.
//!
//! An operation whose example cannot be written (a required value of a shape [`value_of`]
//! does not know) fails generation, naming it.

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use quote::ToTokens;
use serde_json::Value;
use syn::{Attribute, ImplItem, Item, parse_quote};

use crate::docs::{Case, merged_parameters, progenitor_ident, resolve};

/// The opening of the `Client` page, before progenitor's title and the spec's description.
const CLIENT_INTRO: &[&str] = &[
    "The client of the Oz Agent API: one method per operation, each returning a builder that \
     ends in `send()`. A clone is cheap and shares the connection pool.",
    "# Building one",
    "From the environment (`WARP_API_KEY`, optionally `WARP_BASE_URL` and \
     `WARP_CUSTOM_HEADERS`) with [`Client::from_env`], or from a [`Config`](crate::Config):",
    "```no_run\n\
     # fn example() -> Result<(), oz_api::ConfigError> {\n\
     use std::time::Duration;\n\
     \n\
     let client = oz_api::Client::from_env()?;\n\
     let client = oz_api::Config::new(\"wk-...\")\n    .timeout(Duration::from_secs(30))\n    .max_retries(3)\n    .build()?;\n\
     # let _ = client; Ok(()) }\n\
     ```",
    "Tests point one at the simulator of the `oz-mock` crate, which serves every operation on \
     this machine: `Config::new(mock.api_key()).base_url(mock.base_url()).build()`.",
    "# The API",
];

/// Rewrites the docs of the client, its methods and their builders.
pub fn apply(file: &mut syn::File, spec: &Value) -> Result<()> {
    let enums = first_variants(file);
    let bodies = body_types(file);
    let mut examples = BTreeMap::new();
    let mut problems = Vec::new();
    for (method, op) in operations(spec) {
        match example(spec, &enums, bodies.get(&method), &method, op) {
            Ok(paragraphs) => {
                examples.insert(method, paragraphs);
            }
            Err(err) => problems.push(format!("{method}: {err}")),
        }
    }
    if !problems.is_empty() {
        bail!(
            "operation examples (xtask/src/examples.rs):\n  {}",
            problems.join("\n  ")
        );
    }
    let mut documented = 0;
    let mut client_found = false;
    for item in &mut file.items {
        match item {
            Item::Struct(st) if st.ident == "Client" => {
                let lines: Vec<String> =
                    CLIENT_INTRO.iter().map(|line| (*line).to_owned()).collect();
                prepend(&mut st.attrs, &lines);
                client_found = true;
            }
            Item::Impl(imp)
                if imp.trait_.is_none()
                    && imp.self_ty.to_token_stream().to_string() == "Client" =>
            {
                for item in &mut imp.items {
                    let ImplItem::Fn(f) = item else { continue };
                    if let Some(paragraphs) = examples.get(&f.sig.ident.to_string()) {
                        replace_ignore_block(&mut f.attrs, paragraphs)?;
                        documented += 1;
                    }
                }
            }
            Item::Mod(module) if module.ident == "builder" => {
                for item in module.content.iter_mut().flat_map(|(_, items)| items) {
                    let Item::Struct(builder) = item else {
                        continue;
                    };
                    let method = progenitor_ident(&builder.ident.to_string(), Case::Snake);
                    if let Some(paragraphs) = examples.get(&method) {
                        append(&mut builder.attrs, paragraphs);
                    }
                }
            }
            _ => {}
        }
    }
    if !client_found || documented != examples.len() {
        bail!(
            "operation examples: {documented} of {} `Client` methods found{}",
            examples.len(),
            if client_found {
                ""
            } else {
                ", and no `struct Client`"
            }
        );
    }
    Ok(())
}

/// Every operation of the spec by its method name on `Client`.
fn operations(spec: &Value) -> Vec<(String, OperationRef<'_>)> {
    let mut out = Vec::new();
    for (_, item) in spec["paths"].as_object().into_iter().flatten() {
        let item = resolve(spec, item);
        let shared = item.get("parameters");
        for (_, op) in item.as_object().into_iter().flatten() {
            let Some(id) = op.get("operationId").and_then(Value::as_str) else {
                continue;
            };
            out.push((
                progenitor_ident(id, Case::Snake),
                OperationRef {
                    params: merged_parameters(spec, shared, op.get("parameters")),
                    op,
                },
            ));
        }
    }
    out
}

struct OperationRef<'a> {
    params: Vec<&'a Value>,
    op: &'a Value,
}

/// The paragraphs naming the body and showing the example of one operation.
fn example(
    spec: &Value,
    enums: &BTreeMap<String, String>,
    body_type: Option<&String>,
    method: &str,
    operation: OperationRef<'_>,
) -> Result<Vec<String>> {
    let mut uses = Vec::new();
    let mut calls = Vec::new();
    let mut params = operation.params;
    // Path parameters first, in the order a reader sees them in the URL's template.
    params.sort_by_key(|param| param.get("in").and_then(Value::as_str) != Some("path"));
    for param in params {
        if param.get("required").and_then(Value::as_bool) != Some(true) {
            continue;
        }
        let name = param["name"].as_str().unwrap_or_default();
        let setter = progenitor_ident(name, Case::Snake);
        let schema = resolve(spec, &param["schema"]);
        calls.push(format!(
            ".{setter}({})",
            value_of(spec, enums, &setter, schema, &mut uses)?
        ));
    }
    let mut paragraphs = Vec::new();
    let body = operation
        .op
        .get("requestBody")
        .map(|body| resolve(spec, body))
        .and_then(|body| body.pointer("/content/application~1json/schema"));
    if let Some(schema) = body {
        // The generated builder's body type, else the named schema's (an inline schema gets a
        // name from progenitor).
        let named = schema
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.rsplit('/').next())
            .map(|name| progenitor_ident(name, Case::Pascal));
        let Some(ty) = body_type.cloned().or(named) else {
            bail!("its request body has no type with a builder");
        };
        paragraphs.push(format!(
            "Request body: [`{ty}`](crate::types::{ty}), made with \
             [`{ty}::builder()`](crate::types::{ty}::builder) and given to `body(..)`."
        ));
        let built = builder_expression(spec, enums, &ty, resolve(spec, schema), &mut uses)?;
        calls.push(format!(".body({built})"));
    }
    uses.sort();
    uses.dedup();
    let mut code = String::from(
        "```no_run\n# async fn example(client: &oz_api::Client) -> Result<(), oz_api::Error> {\n",
    );
    match uses.len() {
        0 => {}
        1 => code.push_str(&format!("use oz_api::types::{};\n\n", uses[0])),
        _ => code.push_str(&format!("use oz_api::types::{{{}}};\n\n", uses.join(", "))),
    }
    code.push_str(&format!("let response = client\n    .{method}()\n"));
    for call in &calls {
        code.push_str(&format!("    {call}\n"));
    }
    code.push_str("    .send()\n    .await?;\n# let _ = response;\n# Ok(()) }\n```");
    paragraphs.push(code);
    Ok(paragraphs)
}

/// `Type::builder()` with its required members set.
fn builder_expression(
    spec: &Value,
    enums: &BTreeMap<String, String>,
    ty: &str,
    schema: &Value,
    uses: &mut Vec<String>,
) -> Result<String> {
    uses.push(ty.to_owned());
    let mut out = format!("{ty}::builder()");
    let mut members: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if members.is_empty() {
        // Nothing is required: show the member a caller sets first.
        members.extend(
            SHOWN_WHEN_NOTHING_IS_REQUIRED
                .iter()
                .copied()
                .find(|member| {
                    schema.pointer(&format!("/properties/{member}/type"))
                        == Some(&Value::from("string"))
                }),
        );
    }
    for member in members {
        let Some(property) = schema.pointer(&format!("/properties/{member}")) else {
            bail!("required member `{member}` of `{ty}` has no schema");
        };
        let setter = progenitor_ident(member, Case::Snake);
        let value = value_of(spec, enums, &setter, property, uses)?;
        out.push_str(&format!(".{setter}({value})"));
    }
    Ok(out)
}

/// The member an example of a body without required members sets, the first one it has.
const SHOWN_WHEN_NOTHING_IS_REQUIRED: &[&str] = &["prompt", "title", "name", "description"];

/// A Rust expression for a required value of `schema`, plausible for a setter called `name`.
fn value_of(
    spec: &Value,
    enums: &BTreeMap<String, String>,
    name: &str,
    schema: &Value,
    uses: &mut Vec<String>,
) -> Result<String> {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let ty = progenitor_ident(
            reference.rsplit('/').next().unwrap_or_default(),
            Case::Pascal,
        );
        let target = resolve(spec, schema);
        if let Some(variant) = enums.get(&ty) {
            uses.push(ty.clone());
            return Ok(format!("{ty}::{variant}"));
        }
        if target.get("type").and_then(Value::as_str) == Some("object") {
            return builder_expression(spec, enums, &ty, target, uses);
        }
        return value_of(spec, enums, name, target, uses);
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("string") if schema.get("enum").is_none() => Ok(format!("{:?}", text_for(name))),
        Some("boolean") => Ok("true".to_owned()),
        Some("integer" | "number") => Ok("1".to_owned()),
        Some("array") => {
            let items = schema.get("items").unwrap_or(&Value::Null);
            let element = value_of(spec, enums, name.trim_end_matches('s'), items, uses)?;
            // Lists take one value or many (`OneOrMany`), but not builders of their elements.
            Ok(if element.contains("::builder()") {
                "Vec::new()".to_owned()
            } else {
                format!("[{element}]")
            })
        }
        other => bail!("no example value for `{name}` of type {other:?}"),
    }
}

/// A plausible text for a member or parameter called `name`.
fn text_for(name: &str) -> String {
    let known = [
        ("prompt", "Fix the flaky test in ci.yml"),
        ("name", "nightly-triage"),
        ("cron_schedule", "0 3 * * *"),
        ("title", "Flaky test in ci.yml"),
        ("subject", "Tests are green"),
        ("body", "The fix is merged; rebase onto main."),
        ("url", "https://github.com/acme/app/pull/42"),
        ("schema_version", "v1"),
        ("document", "factory.yaml"),
        ("to", "run-456"),
    ];
    if let Some((_, text)) = known.iter().find(|(known, _)| *known == name) {
        return (*text).to_owned();
    }
    let stem = ["_uuid", "_uid", "_id", "_ids"]
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix))
        .unwrap_or(name);
    let stem = stem.rsplit('_').next().unwrap_or(stem);
    format!("{stem}-123")
}

/// The body type of every operation builder whose body has a builder (`body:
/// Result<types::builder::RunAgentRequest, String>`), by the operation's method name.
fn body_types(file: &syn::File) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for item in &file.items {
        let Item::Mod(module) = item else { continue };
        if module.ident != "builder" {
            continue;
        }
        for item in module.content.iter().flat_map(|(_, items)| items) {
            let Item::Struct(builder) = item else {
                continue;
            };
            let body = builder
                .fields
                .iter()
                .find(|field| field.ident.as_ref().is_some_and(|ident| ident == "body"));
            let Some(body) = body else { continue };
            let text = body.ty.to_token_stream().to_string();
            if let Some(rest) = text.split("types :: builder :: ").nth(1)
                && let Some(name) = rest.split([' ', ',']).next()
            {
                out.insert(
                    progenitor_ident(&builder.ident.to_string(), Case::Snake),
                    name.to_owned(),
                );
            }
        }
    }
    out
}

/// The first known variant of every enum of `pub mod types` (not the `Unknown` catch-all).
fn first_variants(file: &syn::File) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for item in &file.items {
        let Item::Mod(module) = item else { continue };
        if module.ident != "types" {
            continue;
        }
        for item in module.content.iter().flat_map(|(_, items)| items) {
            if let Item::Enum(en) = item
                && let Some(variant) = en
                    .variants
                    .iter()
                    .find(|v| v.ident != "Unknown" && matches!(v.fields, syn::Fields::Unit))
            {
                out.insert(en.ident.to_string(), variant.ident.to_string());
            }
        }
    }
    out
}

/// Replaces progenitor's ```` ```ignore ```` block in the one doc attribute that has it.
fn replace_ignore_block(attrs: &mut [Attribute], paragraphs: &[String]) -> Result<()> {
    for attr in attrs.iter_mut() {
        let syn::Meta::NameValue(nv) = &attr.meta else {
            continue;
        };
        let syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(text),
            ..
        }) = &nv.value
        else {
            continue;
        };
        let text = text.value();
        let Some(start) = text.find("```ignore") else {
            continue;
        };
        let end = text[start + 3..]
            .find("```")
            .map(|offset| start + 3 + offset + 3)
            .unwrap_or(text.len());
        let before = &text[..start];
        let separator = if before.is_empty() || before.ends_with("\n\n") {
            ""
        } else if before.ends_with('\n') {
            "\n"
        } else {
            "\n\n"
        };
        let replaced = format!(
            "{before}{separator}{}{}",
            paragraphs.join("\n\n"),
            &text[end..]
        );
        *attr = parse_quote!(#[doc = #replaced]);
        return Ok(());
    }
    bail!("no ```ignore block in a `Client` method's docs: progenitor's docs changed shape")
}

fn doc_line(line: &str) -> Vec<Attribute> {
    line.lines()
        .map(|line| {
            let line = format!(" {line}");
            let line = line.trim_end();
            parse_quote!(#[doc = #line])
        })
        .collect()
}

fn paragraphs_to_attrs(paragraphs: &[String]) -> Vec<Attribute> {
    let mut out = Vec::new();
    for (index, paragraph) in paragraphs.iter().enumerate() {
        if index > 0 {
            out.push(parse_quote!(#[doc = ""]));
        }
        out.extend(doc_line(paragraph));
    }
    out
}

fn prepend(attrs: &mut Vec<Attribute>, paragraphs: &[String]) {
    let at = attrs
        .iter()
        .position(|attr| attr.path().is_ident("doc"))
        .unwrap_or(attrs.len());
    let mut new = paragraphs_to_attrs(paragraphs);
    new.push(parse_quote!(#[doc = ""]));
    attrs.splice(at..at, new);
}

fn append(attrs: &mut Vec<Attribute>, paragraphs: &[String]) {
    let at = attrs
        .iter()
        .rposition(|attr| attr.path().is_ident("doc"))
        .map_or(0, |last| last + 1);
    let mut new = vec![parse_quote!(#[doc = ""])];
    new.extend(paragraphs_to_attrs(paragraphs));
    attrs.splice(at..at, new);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_example_sets_required_parameters_and_builds_the_body_with_its_required_members() {
        let spec = json!({
            "paths": {"/widgets/{widgetId}/parts": {"post": {
                "operationId": "create_part",
                "parameters": [
                    {"name": "widgetId", "in": "path", "required": true, "schema": {"type": "string"}},
                    {"name": "tag", "in": "query", "required": true, "schema": {"type": "array", "items": {"type": "string"}}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer"}}
                ],
                "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/CreatePart"}}}},
                "responses": {}
            }}},
            "components": {"schemas": {
                "CreatePart": {"type": "object", "required": ["title", "kind", "labels"], "properties": {
                    "title": {"type": "string"},
                    "kind": {"$ref": "#/components/schemas/PartKind"},
                    "labels": {"type": "array", "items": {"type": "string"}},
                    "note": {"type": "string"}
                }},
                "PartKind": {"type": "string", "enum": ["bolt", "nut"]}
            }}
        });
        let enums = BTreeMap::from([("PartKind".to_owned(), "Bolt".to_owned())]);
        let (method, op) = operations(&spec).remove(0);
        assert_eq!(method, "create_part");
        let paragraphs = example(&spec, &enums, None, &method, op).unwrap();
        insta::assert_snapshot!(paragraphs.join("\n\n"), @r#"
        Request body: [`CreatePart`](crate::types::CreatePart), made with [`CreatePart::builder()`](crate::types::CreatePart::builder) and given to `body(..)`.

        ```no_run
        # async fn example(client: &oz_api::Client) -> Result<(), oz_api::Error> {
        use oz_api::types::{CreatePart, PartKind};

        let response = client
            .create_part()
            .widget_id("widget-123")
            .tag(["tag-123"])
            .body(CreatePart::builder().title("Flaky test in ci.yml").kind(PartKind::Bolt).labels(["label-123"]))
            .send()
            .await?;
        # let _ = response;
        # Ok(()) }
        ```
        "#);
    }

    #[test]
    fn the_ignore_block_gives_way_to_the_example_on_the_method_and_the_builder() {
        let spec = json!({"paths": {"/widgets/{id}": {"get": {
            "operationId": "get_widget",
            "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
            "responses": {}
        }}}});
        let mut file: syn::File = parse_quote! {
                    /**Client for Widgets*/
                    pub struct Client { baseurl: String }
                    impl Client {
                        /**Get a widget

        Sends a `GET` request to `/widgets/{id}`

        ```ignore
        let response = client.get_widget()
            .id(id)
            .send()
            .await;
        ```*/
                        pub fn get_widget(&self) -> builder::GetWidget<'_> { builder::GetWidget::new(self) }
                    }
                    pub mod builder {
                        /// Builder for [`Client::get_widget`]
                        pub struct GetWidget<'a> { client: &'a super::Client }
                    }
                };
        apply(&mut file, &spec).unwrap();
        let out = prettyplease::unparse(&file);
        assert!(!out.contains("```ignore"), "{out}");
        assert!(!out.contains("client.get_widget()"), "{out}");
        assert_eq!(out.matches("    .id(\"id-123\")").count(), 2, "{out}");
        let client = out.find("pub struct Client").unwrap();
        assert!(out[..client].contains("# Building one"), "{out}");
        assert!(out[..client].contains("Client for Widgets"), "{out}");

        let mut bare: syn::File = parse_quote! {
            pub struct Client {}
            impl Client {
                /// Get a widget, documented by hand.
                pub fn get_widget(&self) -> builder::GetWidget<'_> { todo!() }
            }
        };
        let err = apply(&mut bare, &spec).unwrap_err().to_string();
        assert!(err.contains("ignore"), "{err}");
    }

    #[test]
    fn a_required_value_of_an_unknown_shape_fails_naming_it() {
        let mut uses = Vec::new();
        let err = value_of(
            &json!({}),
            &BTreeMap::new(),
            "blob",
            &json!({"type": "object"}),
            &mut uses,
        )
        .unwrap_err();
        assert!(err.to_string().contains("blob"), "{err}");
    }
}
