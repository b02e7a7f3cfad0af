//! Structs that can grow: every struct with named fields in `pub mod types` is
//! `#[non_exhaustive]`.
//!
//! A generated struct with only `pub` fields can be written as a struct literal, so a member
//! the vendor adds to a request type would break every caller that builds one. Marked
//! `#[non_exhaustive]`, it is built through its builder (`RunAgentRequest::builder()`) or a
//! hand-written constructor in oz-api, and read by field or by a pattern with `..`; a new
//! optional member is then an additive change (xtask/src/api_report.rs counts it so). Newtypes
//! (`struct RunMetadata(pub Map<..>)`) stay open: their one field is their whole meaning.

use syn::{Fields, Item, parse_quote};

/// Marks the structs of `pub mod types`; returns how many it marked.
pub fn apply(file: &mut syn::File) -> usize {
    let mut marked = 0;
    for item in &mut file.items {
        let Item::Mod(module) = item else { continue };
        if module.ident != "types" {
            continue;
        }
        for item in module.content.iter_mut().flat_map(|(_, items)| items) {
            if let Item::Struct(st) = item
                && matches!(st.fields, Fields::Named(_))
                && !is_marked(&st.attrs)
            {
                st.attrs.push(parse_quote!(#[non_exhaustive]));
                marked += 1;
            }
        }
    }
    marked
}

/// Whether `attrs` carry `#[non_exhaustive]`.
pub fn is_marked(attrs: &[syn::Attribute]) -> bool {
    attrs
        .iter()
        .any(|attr| attr.path().is_ident("non_exhaustive"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::ToTokens;

    #[test]
    fn structs_with_named_fields_are_marked_once_and_newtypes_stay_open() {
        let mut file: syn::File = parse_quote! {
            pub mod types {
                pub struct Widget { pub name: Option<String> }
                pub struct Label(pub String);
                pub mod builder { pub struct Widget { name: Result<Option<String>, String> } }
            }
            pub struct Client { baseurl: String }
        };
        assert_eq!(apply(&mut file), 1);
        assert_eq!(apply(&mut file), 0, "a second run marks nothing");
        let text = file.to_token_stream().to_string();
        assert_eq!(text.matches("non_exhaustive").count(), 1, "{text}");
        assert!(
            text.contains("# [non_exhaustive] pub struct Widget { pub name"),
            "{text}"
        );
    }
}
