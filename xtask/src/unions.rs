//! Discriminated unions decoded by their discriminator.
//!
//! typify turns a `oneOf` into an untagged enum: serde tries each variant in turn and keeps the
//! first that decodes. With a catch-all `Unknown(Value)` (see `forward_compat`), a known variant
//! with one broken member silently becomes `Unknown`: a `FILE` artifact whose `size_bytes` is a
//! string would no longer be a file. For every `oneOf` of openapi.json with a `discriminator`
//! and a `mapping`, this pass replaces the derived `Deserialize` with one that reads the tag
//! first:
//! - a known tag decodes as its variant, or fails with an error naming the tag, the variant,
//!   serde's message and the path of the member (`data.size_bytes`);
//! - an unknown or missing tag is `Unknown(value)`, kept whole.
//!
//! `Serialize` stays untagged: each variant's own members include the tag.

use std::collections::BTreeMap;

use serde_json::Value;
use syn::{Item, ItemEnum, parse_quote};

use crate::forward_compat::remove_derive;

/// A union of the spec: its discriminator member and (tag, variant type) pairs.
#[derive(Debug, PartialEq)]
pub struct Union {
    pub property: String,
    pub variants: Vec<(String, String)>,
}

/// Every discriminated `oneOf` component schema of the spec, by schema name.
pub fn discriminated_unions(spec: &Value) -> BTreeMap<String, Union> {
    let mut out = BTreeMap::new();
    for (name, schema) in spec["components"]["schemas"]
        .as_object()
        .into_iter()
        .flatten()
    {
        let Some(discriminator) = schema.get("discriminator") else {
            continue;
        };
        let Some(property) = discriminator["propertyName"].as_str() else {
            continue;
        };
        let variants = discriminator["mapping"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(tag, target)| {
                let target = target.as_str()?.rsplit('/').next()?;
                Some((tag.clone(), target.to_owned()))
            })
            .collect::<Vec<_>>();
        if schema.get("oneOf").is_some() && !variants.is_empty() {
            out.insert(
                name.clone(),
                Union {
                    property: property.to_owned(),
                    variants,
                },
            );
        }
    }
    out
}

/// Rewrites the generated enums of `unions`.
pub fn apply(file: &mut syn::File, unions: &BTreeMap<String, Union>) -> anyhow::Result<()> {
    let mut done = Vec::new();
    visit_enums(&mut file.items, &mut |item| {
        let union = unions.get(&item.ident.to_string())?;
        remove_derive(&mut item.attrs, "Deserialize");
        done.push(item.ident.to_string());
        Some(deserialize_impl(item, union))
    });
    let missing: Vec<_> = unions.keys().filter(|name| !done.contains(name)).collect();
    if !missing.is_empty() {
        anyhow::bail!("no generated enum for the discriminated union(s) {missing:?}");
    }
    Ok(())
}

/// Calls `f` on every enum, at any module depth, and adds the item it returns next to the enum.
fn visit_enums(items: &mut Vec<Item>, f: &mut impl FnMut(&mut ItemEnum) -> Option<Item>) {
    let mut added = Vec::new();
    for item in items.iter_mut() {
        match item {
            Item::Mod(module) => {
                if let Some((_, inner)) = &mut module.content {
                    visit_enums(inner, f);
                }
            }
            Item::Enum(item) => added.extend(f(item)),
            _ => {}
        }
    }
    items.extend(added);
}

fn deserialize_impl(item: &ItemEnum, union: &Union) -> Item {
    let name = &item.ident;
    let property = &union.property;
    let arms = union.variants.iter().map(|(tag, variant)| {
        let ident = syn::Ident::new(variant, proc_macro2::Span::call_site());
        let context = format!("{property} {tag} ({variant})");
        quote::quote! {
            ::std::option::Option::Some(#tag) => ::serde_path_to_error::deserialize(value)
                .map(Self::#ident)
                .map_err(|e| <D::Error as ::serde::de::Error>::custom(
                    ::std::format_args!("{}: {} at {}", #context, e.inner(), e.path())
                )),
        }
    });
    parse_quote! {
        impl<'de> ::serde::Deserialize<'de> for #name {
            fn deserialize<D>(deserializer: D) -> ::std::result::Result<Self, D::Error>
            where
                D: ::serde::Deserializer<'de>,
            {
                let value = <::serde_json::Value as ::serde::Deserialize>::deserialize(deserializer)?;
                let tag = value.get(#property).and_then(::serde_json::Value::as_str).map(str::to_owned);
                match tag.as_deref() {
                    #(#arms)*
                    _ => ::std::result::Result::Ok(Self::Unknown(value)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unions_are_read_from_the_discriminator_mappings() {
        let spec = json!({"components": {"schemas": {
            "Block": {"oneOf": [{"$ref": "#/components/schemas/Text"}], "discriminator": {
                "propertyName": "type", "mapping": {"text": "#/components/schemas/Text"}}},
            "Plain": {"oneOf": [{"type": "string"}, {"type": "integer"}]}
        }}});
        let unions = discriminated_unions(&spec);
        assert_eq!(unions.len(), 1);
        assert_eq!(
            unions["Block"],
            Union {
                property: "type".into(),
                variants: vec![("text".into(), "Text".into())]
            }
        );
    }

    #[test]
    fn the_union_loses_its_derived_deserialize_and_gains_one_that_reads_the_tag() {
        let mut file: syn::File = parse_quote! {
            pub mod types {
                #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
                #[serde(untagged)]
                pub enum Block { Text(Text), Unknown(::serde_json::Value) }
            }
        };
        let unions = BTreeMap::from([(
            "Block".to_owned(),
            Union {
                property: "type".into(),
                variants: vec![("text".into(), "Text".into())],
            },
        )]);
        apply(&mut file, &unions).unwrap();
        insta::assert_snapshot!(prettyplease::unparse(&file));
    }

    #[test]
    fn a_union_without_a_generated_enum_is_an_error() {
        let mut file: syn::File = parse_quote! { pub mod types {} };
        let unions = BTreeMap::from([(
            "Gone".to_owned(),
            Union {
                property: "type".into(),
                variants: vec![("a".into(), "A".into())],
            },
        )]);
        assert!(
            apply(&mut file, &unions)
                .unwrap_err()
                .to_string()
                .contains("Gone")
        );
    }
}
