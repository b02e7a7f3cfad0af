//! `null` for an optional list or map decodes as absent.
//!
//! typify holds a member that is not `required` and is a list or a map as a plain `Vec` or map
//! with `#[serde(default)]`: absent reads as empty, but `null` is refused ("invalid type: null,
//! expected a sequence"), and many backends write `null` for an empty list. One such member in
//! a `RunItem` would fail `get_run`, `list_runs` and every waiter. This pass gives every member
//! with a plain `#[serde(default)]` a `deserialize_with` pointing at [`FUNCTION`] in oz-api,
//! which reads `null` as the default. Members held in an `Option` already take `null`; members
//! with a default value of their own (`default = "..."`) are left as they are.

use syn::punctuated::Punctuated;
use syn::visit_mut::VisitMut;
use syn::{Field, Meta, Token, parse_quote};

/// The function in oz-api that reads `null` as the default.
pub const FUNCTION: &str = "crate::null_as_default::deserialize";

/// Applies the pass to every field of the file; returns how many fields it changed.
pub fn apply(file: &mut syn::File) -> usize {
    let mut pass = Pass(0);
    pass.visit_file_mut(file);
    pass.0
}

struct Pass(usize);

impl VisitMut for Pass {
    fn visit_field_mut(&mut self, field: &mut Field) {
        let serde_words: Vec<Meta> = field
            .attrs
            .iter()
            .filter(|attr| attr.path().is_ident("serde"))
            .filter_map(|attr| {
                attr.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated)
                    .ok()
            })
            .flatten()
            .collect();
        let plain_default = serde_words
            .iter()
            .any(|meta| matches!(meta, Meta::Path(path) if path.is_ident("default")));
        let decoded_otherwise = serde_words.iter().any(|meta| {
            ["deserialize_with", "with"]
                .iter()
                .any(|word| meta.path().is_ident(word))
        });
        if plain_default && !decoded_otherwise {
            field
                .attrs
                .push(parse_quote!(#[serde(deserialize_with = #FUNCTION)]));
            self.0 += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_defaults_take_null_and_other_fields_are_left_alone() {
        let mut file: syn::File = parse_quote! {
            pub struct RunItem {
                #[serde(default, skip_serializing_if = "::std::vec::Vec::is_empty")]
                pub artifacts: ::std::vec::Vec<ArtifactItem>,
                #[serde(default, skip_serializing_if = ":: std :: collections :: HashMap::is_empty")]
                pub env: ::std::collections::HashMap<String, String>,
                #[serde(skip_serializing_if = "::std::option::Option::is_none")]
                pub title: Option<String>,
                #[serde(default = "defaults::default_bool::<true>")]
                pub enabled: bool,
                pub run_id: String,
            }
        };
        assert_eq!(apply(&mut file), 2);
        let out = prettyplease::unparse(&file);
        assert_eq!(
            out.matches("deserialize_with = \"crate::null_as_default::deserialize\"")
                .count(),
            2,
            "{out}"
        );
        assert_eq!(apply(&mut file), 0, "a second run changes nothing");
    }
}
