//! Keeps signed URLs out of `Debug` output of the generated types.
//!
//! Fields named in [`SIGNED_URL_FIELDS`] hold time-limited URLs whose query string is a
//! credential. Structs with such a field (the types and their builders) lose their derived
//! `Debug` and get one that prints those fields through `crate::redaction::SignedUrl`, which
//! shows the URL without its query string.

use quote::quote;
use syn::{Fields, Item, ItemStruct, parse_quote};

use crate::forward_compat::remove_derive;

/// Field names whose values are signed URLs.
pub const SIGNED_URL_FIELDS: &[&str] = &["download_url"];

/// Applies the pass to every module of the file.
pub fn apply(file: &mut syn::File) {
    redact_items(&mut file.items);
}

fn redact_items(items: &mut Vec<Item>) {
    let mut added = Vec::new();
    for item in items.iter_mut() {
        match item {
            Item::Mod(module) => {
                if let Some((_, inner)) = &mut module.content {
                    redact_items(inner);
                }
            }
            Item::Struct(item) if has_signed_url_field(item) && derives_debug(item) => {
                remove_derive(&mut item.attrs, "Debug");
                added.push(redacting_debug_impl(item));
            }
            _ => {}
        }
    }
    items.extend(added);
}

fn field_names(item: &ItemStruct) -> Vec<&syn::Ident> {
    match &item.fields {
        Fields::Named(named) => named
            .named
            .iter()
            .filter_map(|f| f.ident.as_ref())
            .collect(),
        _ => Vec::new(),
    }
}

fn has_signed_url_field(item: &ItemStruct) -> bool {
    field_names(item)
        .iter()
        .any(|name| SIGNED_URL_FIELDS.contains(&name.to_string().as_str()))
}

fn derives_debug(item: &ItemStruct) -> bool {
    item.attrs
        .iter()
        .filter(|a| a.path().is_ident("derive"))
        .any(|a| {
            a.parse_args_with(
                syn::punctuated::Punctuated::<syn::Path, syn::Token![,]>::parse_terminated,
            )
            .is_ok_and(|paths| paths.iter().any(|p| p.is_ident("Debug")))
        })
}

fn redacting_debug_impl(item: &ItemStruct) -> Item {
    let name = &item.ident;
    let label = name.to_string();
    let fields = field_names(item).into_iter().map(|field| {
        let text = field.to_string();
        if SIGNED_URL_FIELDS.contains(&text.as_str()) {
            quote!(.field(#text, &crate::redaction::SignedUrl(&self.#field)))
        } else {
            quote!(.field(#text, &self.#field))
        }
    });
    parse_quote! {
        impl ::std::fmt::Debug for #name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_struct(#label) #(#fields)* .finish()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structs_with_a_signed_url_get_a_redacting_debug() {
        let mut file: syn::File = parse_quote! {
            mod types {
                #[derive(Clone, Debug)]
                pub struct FileData { pub filename: String, pub download_url: String }
                #[derive(Clone, Debug)]
                pub struct Other { pub url: String }
            }
        };
        apply(&mut file);
        insta::assert_snapshot!(prettyplease::unparse(&file));
    }
}
