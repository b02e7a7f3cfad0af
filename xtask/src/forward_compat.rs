//! Passes over the generated syntax tree that make it safe against a growing API.
//!
//! typify's enums reject values they do not know, so one new `RunState` on the wire would break
//! every call that returns a run. After these passes:
//! - every string enum with more than one value is `#[non_exhaustive]` and has a last variant
//!   `Unknown(String)` that keeps and re-serialises the wire value (`Display`/`FromStr` too);
//!   one-value enums stay strict: they are the tags that select a union variant;
//! - every untagged union (the spec's discriminated `oneOf`s) gets `Unknown(serde_json::Value)`,
//!   so an object with a new discriminator value decodes whole instead of failing;
//! - the `api-version` request header progenitor adds to every request is removed: the API does
//!   not describe it.

use quote::ToTokens;
use syn::visit_mut::VisitMut;
use syn::{Attribute, Fields, Item, ItemEnum, ItemImpl, parse_quote};

/// Applies every pass to the generated file.
pub fn apply(file: &mut syn::File) {
    let mut tolerant = Vec::new();
    for_each_item(&mut file.items, &mut |item| {
        if let Item::Enum(item) = item {
            if is_string_enum(item) {
                make_string_enum_tolerant(item);
                tolerant.push(item.ident.to_string());
            } else if has_serde_word(&item.attrs, "untagged") {
                make_union_tolerant(item);
            }
        }
    });
    for_each_item(&mut file.items, &mut |item| {
        if let Item::Impl(imp) = item
            && self_type_name(imp).is_some_and(|name| tolerant.contains(&name))
        {
            extend_string_enum_impl(imp);
        }
    });
    DropApiVersionHeader.visit_file_mut(file);
}

/// Visits items at every module depth.
fn for_each_item(items: &mut [Item], f: &mut impl FnMut(&mut Item)) {
    for item in items {
        if let Item::Mod(module) = item
            && let Some((_, inner)) = &mut module.content
        {
            for_each_item(inner, f);
        }
        f(item);
    }
}

/// A typify string enum: at least two wire values, each a unit variant. typify writes
/// `#[serde(rename = "...")]` only when the Rust name differs from the wire value (`QUEUED` →
/// `Queued`), so `User`/`Team` carry none: the variants' shape decides, not their attributes.
fn is_string_enum(item: &ItemEnum) -> bool {
    item.variants.len() > 1
        && item
            .variants
            .iter()
            .all(|v| matches!(v.fields, Fields::Unit))
        && has_derive(&item.attrs, "Deserialize")
}

fn has_derive(attrs: &[Attribute], name: &str) -> bool {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("derive"))
        .filter_map(|a| {
            a.parse_args_with(
                syn::punctuated::Punctuated::<syn::Path, syn::Token![,]>::parse_terminated,
            )
            .ok()
        })
        .flatten()
        .any(|path| path.segments.last().is_some_and(|s| s.ident == name))
}

/// The string enums of a generated file that have no `Unknown` catch-all, by name.
pub fn intolerant_string_enums(file: &syn::File) -> Vec<String> {
    let mut out = Vec::new();
    let mut items = file.items.clone();
    for_each_item(&mut items, &mut |item| {
        if let Item::Enum(item) = item {
            let known: Vec<_> = item
                .variants
                .iter()
                .filter(|v| v.ident != "Unknown")
                .collect();
            let has_unknown = item.variants.len() > known.len();
            if known.len() > 1
                && known.iter().all(|v| matches!(v.fields, Fields::Unit))
                && has_derive(&item.attrs, "Deserialize")
                && !has_unknown
            {
                out.push(item.ident.to_string());
            }
        }
    });
    out
}

fn serde_args(attrs: &[Attribute]) -> Vec<String> {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("serde"))
        .map(|a| a.meta.to_token_stream().to_string())
        .collect()
}

fn has_serde_word(attrs: &[Attribute], word: &str) -> bool {
    serde_args(attrs)
        .iter()
        .any(|args| args == &format!("serde ({word})"))
}

fn make_string_enum_tolerant(item: &mut ItemEnum) {
    remove_derive(&mut item.attrs, "Copy");
    for variant in item.variants.iter_mut().filter(|v| v.ident == "Unknown") {
        variant.ident = syn::Ident::new(WIRE_UNKNOWN, variant.ident.span());
    }
    item.attrs.push(parse_quote!(#[non_exhaustive]));
    item.variants.push(parse_quote! {
        /// A value this version of the SDK does not know yet, kept exactly as the server sent it.
        #[serde(untagged)]
        Unknown(::std::string::String)
    });
}

/// The name a wire value spelled `UNKNOWN` takes, so that `Unknown` stays the catch-all.
const WIRE_UNKNOWN: &str = "UnknownValue";

fn make_union_tolerant(item: &mut ItemEnum) {
    item.attrs.push(parse_quote!(#[non_exhaustive]));
    item.variants.push(parse_quote! {
        /// A variant this version of the SDK does not know yet (for example a new
        /// discriminator value), kept exactly as the server sent it.
        Unknown(::serde_json::Value)
    });
}

pub(crate) fn remove_derive(attrs: &mut [Attribute], name: &str) {
    for attr in attrs.iter_mut().filter(|a| a.path().is_ident("derive")) {
        let Ok(paths) = attr.parse_args_with(
            syn::punctuated::Punctuated::<syn::Path, syn::Token![,]>::parse_terminated,
        ) else {
            continue;
        };
        let kept = paths
            .into_iter()
            .filter(|p| p.segments.last().is_none_or(|s| s.ident != name));
        *attr = parse_quote!(#[derive(#(#kept),*)]);
    }
}

fn self_type_name(imp: &ItemImpl) -> Option<String> {
    match &*imp.self_ty {
        syn::Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()),
        _ => None,
    }
}

fn trait_name(imp: &ItemImpl) -> Option<String> {
    imp.trait_
        .as_ref()
        .and_then(|(_, path, _)| path.segments.last())
        .map(|s| s.ident.to_string())
}

/// Teaches `Display` and `FromStr` of a tolerant enum about `Unknown`.
fn extend_string_enum_impl(imp: &mut ItemImpl) {
    let trait_name = trait_name(imp);
    let mut visitor = ExtendMatch {
        display: trait_name.as_deref() == Some("Display"),
        from_str: trait_name.as_deref() == Some("FromStr"),
    };
    if visitor.display || visitor.from_str {
        visitor.visit_item_impl_mut(imp);
    }
}

struct ExtendMatch {
    display: bool,
    from_str: bool,
}

impl VisitMut for ExtendMatch {
    fn visit_path_mut(&mut self, path: &mut syn::Path) {
        // `Self::Unknown` in typify's impls means the renamed wire value `UNKNOWN`.
        if path.segments.len() == 2
            && path.segments[0].ident == "Self"
            && path.segments[1].ident == "Unknown"
        {
            path.segments[1].ident = syn::Ident::new(WIRE_UNKNOWN, path.segments[1].ident.span());
        }
    }

    fn visit_expr_match_mut(&mut self, m: &mut syn::ExprMatch) {
        syn::visit_mut::visit_expr_match_mut(self, m);
        if self.display {
            m.arms
                .push(parse_quote!(Self::Unknown(ref other) => f.write_str(other),));
        }
        if self.from_str {
            for arm in &mut m.arms {
                if matches!(arm.pat, syn::Pat::Wild(_)) {
                    *arm.body = parse_quote!(Ok(Self::Unknown(value.to_string())));
                }
            }
        }
    }
}

struct DropApiVersionHeader;

impl VisitMut for DropApiVersionHeader {
    fn visit_block_mut(&mut self, block: &mut syn::Block) {
        block.stmts.retain(|stmt| {
            let text = stmt.to_token_stream().to_string();
            !(text.starts_with("header_map . append") && text.contains("\"api-version\""))
        });
        syn::visit_mut::visit_block_mut(self, block);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn run(tokens: proc_macro2::TokenStream) -> String {
        let mut file: syn::File = syn::parse2(tokens).unwrap();
        apply(&mut file);
        prettyplease::unparse(&file)
    }

    fn squash(text: &str) -> String {
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn an_enum_whose_rust_names_equal_its_wire_values_is_made_tolerant_too() {
        insta::assert_snapshot!(run(quote! {
            #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Copy, Debug)]
            pub enum ScopeType { User, Team }
        }));
    }

    /// The checked-in client: every enum of two or more wire values keeps unknown ones.
    #[test]
    fn every_string_enum_of_the_generated_client_has_unknown() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../oz-api/src/generated.rs");
        let file = syn::parse_file(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(intolerant_string_enums(&file), Vec::<String>::new());
        let before: syn::File = syn::parse2(quote! {
            #[derive(::serde::Deserialize)] pub enum ScopeType { User, Team }
        })
        .unwrap();
        assert_eq!(intolerant_string_enums(&before), ["ScopeType"]);
    }

    #[test]
    fn string_enum_gains_unknown_and_loses_copy() {
        insta::assert_snapshot!(run(quote! {
            #[derive(::serde::Deserialize, Clone, Copy, Debug)]
            pub enum RunState {
                #[serde(rename = "QUEUED")] Queued,
                #[serde(rename = "FAILED")] Failed,
            }
            impl ::std::fmt::Display for RunState {
                fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                    match *self { Self::Queued => f.write_str("QUEUED"), Self::Failed => f.write_str("FAILED") }
                }
            }
            impl ::std::str::FromStr for RunState {
                type Err = ();
                fn from_str(value: &str) -> Result<Self, ()> {
                    match value { "QUEUED" => Ok(Self::Queued), _ => Err(()) }
                }
            }
        }));
    }

    #[test]
    fn a_wire_value_named_unknown_is_renamed_to_keep_the_catch_all_free() {
        insta::assert_snapshot!(run(quote! {
            #[derive(::serde::Deserialize)]
            pub enum ModelInfoProvider { #[serde(rename = "OPENAI")] Openai, #[serde(rename = "UNKNOWN")] Unknown }
            impl ::std::str::FromStr for ModelInfoProvider {
                type Err = ();
                fn from_str(value: &str) -> Result<Self, ()> {
                    match value { "UNKNOWN" => Ok(Self::Unknown), _ => Err(()) }
                }
            }
        }));
    }

    #[test]
    fn single_value_tag_enum_stays_strict() {
        let out = squash(&run(quote! {
            #[derive(Clone, Copy)]
            pub enum PlanArtifactArtifactType { #[serde(rename = "PLAN")] Plan }
        }));
        assert_eq!(
            out,
            squash(
                "#[derive(Clone, Copy)] pub enum PlanArtifactArtifactType { #[serde(rename = \"PLAN\")] Plan, }"
            )
        );
    }

    #[test]
    fn untagged_union_gains_unknown_value_variant() {
        insta::assert_snapshot!(run(quote! {
            mod types {
                #[serde(untagged)]
                pub enum ArtifactItem { PlanArtifact(PlanArtifact) }
            }
        }));
    }

    #[test]
    fn api_version_header_is_removed_and_other_headers_kept() {
        let out = run(quote! {
            fn send() {
                let mut header_map = ::reqwest::header::HeaderMap::with_capacity(2usize);
                header_map.append(
                    ::reqwest::header::HeaderName::from_static("api-version"),
                    ::reqwest::header::HeaderValue::from_static(Client::api_version()),
                );
                header_map.append("x-warp-team-uid", value);
            }
        });
        assert!(!out.contains("api-version"), "{out}");
        insta::assert_snapshot!(out);
    }
}
