//! Setters that take the obvious spelling.
//!
//! progenitor's setters convert with `TryInto`: an optional member of a request type takes
//! `T: TryInto<Option<String>>`, so `.prompt("Fix the test")` does not compile (a `&str` is
//! not an `Option<String>`), and a repeatable query parameter takes `V: TryInto<Vec<RunState>>`,
//! so one value needs `vec![..]`. After progenitor:
//! - every setter of an optional member of a type builder (`types::builder`) takes
//!   `T: crate::IntoOption<X>`: the value, `Some(value)`, `None`, the builder of `X`, and for
//!   text any `&str` or `&String`; each type builder gets the `IntoOption` impl that builds
//!   its type (a builder missing a required member fails the request's `send()`, as a wrong
//!   value always did);
//! - every setter of a list, of a type builder or a repeatable parameter of an operation
//!   builder (`builder`), takes `T: crate::OneOrMany<X>`: one value, an array, a `Vec` or a
//!   slice.
//!
//! Required members keep `TryInto` (a `&str` already converts into a `String`, a builder into
//! its type).

use quote::ToTokens;
use syn::{
    Expr, GenericArgument, ImplItem, Item, PathArguments, Type, WherePredicate, parse_quote,
};

/// The trait optional members of request types take (oz-api/src/input.rs).
pub const INTO_OPTION: &str = "crate::IntoOption";
/// The trait repeatable parameters take (oz-api/src/input.rs).
pub const ONE_OR_MANY: &str = "crate::OneOrMany";

/// How many setters [`apply`] rewrote, by kind.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Rewritten {
    pub optional_members: usize,
    pub list_members: usize,
    pub repeatable_parameters: usize,
    pub builder_conversions: usize,
}

/// Rewrites the setters of the generated file.
pub fn apply(file: &mut syn::File) -> Rewritten {
    let mut rewritten = Rewritten::default();
    for item in &mut file.items {
        let Item::Mod(module) = item else { continue };
        let Some((_, items)) = &mut module.content else {
            continue;
        };
        if module.ident == "types" {
            for item in items.iter_mut() {
                if let Item::Mod(builder) = item
                    && builder.ident == "builder"
                    && let Some((_, items)) = &mut builder.content
                {
                    rewritten.optional_members += rewrite_impls(items, optional_member);
                    rewritten.list_members += rewrite_impls(items, repeatable_parameter);
                    rewritten.builder_conversions += builder_conversions(items);
                }
            }
        } else if module.ident == "builder" {
            rewritten.repeatable_parameters += rewrite_impls(items, repeatable_parameter);
        }
    }
    rewritten
}

/// `impl IntoOption<super::X> for X` for every builder `X`: a member whose type has a builder
/// takes the builder.
fn builder_conversions(items: &mut Vec<Item>) -> usize {
    let trait_path: syn::Path = syn::parse_str(INTO_OPTION).expect("INTO_OPTION is a path");
    let builders: Vec<syn::Ident> = items
        .iter()
        .filter_map(|item| match item {
            Item::Struct(st) if st.generics.params.is_empty() => Some(st.ident.clone()),
            _ => None,
        })
        .collect();
    for name in &builders {
        items.push(parse_quote! {
            impl #trait_path<super::#name> for #name {
                fn into_option(
                    self,
                ) -> ::std::result::Result<::std::option::Option<super::#name>, super::error::ConversionError> {
                    super::#name::try_from(self).map(::std::option::Option::Some)
                }
            }
        });
    }
    builders.len()
}

fn rewrite_impls(items: &mut [Item], rewrite: fn(&mut syn::ImplItemFn) -> bool) -> usize {
    let mut count = 0;
    for item in items {
        let Item::Impl(imp) = item else { continue };
        if imp.trait_.is_some() {
            continue;
        }
        for item in &mut imp.items {
            if let ImplItem::Fn(setter) = item
                && rewrite(setter)
            {
                count += 1;
            }
        }
    }
    count
}

/// The type `X` of a setter bounded by `P: TryInto<Wrapper<X>>` (`Wrapper` one of `Option`,
/// `Vec`), with the name of its type parameter `P`.
fn converted_into(setter: &syn::ImplItemFn, wrapper: &str) -> Option<(syn::Ident, Type)> {
    let generics = &setter.sig.generics;
    let [syn::GenericParam::Type(param)] = generics.params.iter().collect::<Vec<_>>()[..] else {
        return None;
    };
    for predicate in &generics.where_clause.as_ref()?.predicates {
        let WherePredicate::Type(bound) = predicate else {
            continue;
        };
        if param.ident != bound.bounded_ty.to_token_stream().to_string() {
            continue;
        }
        for bound in &bound.bounds {
            let syn::TypeParamBound::Trait(tr) = bound else {
                continue;
            };
            let last = tr.path.segments.last()?;
            if last.ident != "TryInto" {
                continue;
            }
            let PathArguments::AngleBracketed(args) = &last.arguments else {
                return None;
            };
            let Some(GenericArgument::Type(target)) = args.args.first() else {
                return None;
            };
            return inner_of(target, wrapper).map(|inner| (param.ident.clone(), inner));
        }
    }
    None
}

/// `X` of `Wrapper<X>` (any path prefix).
fn inner_of(ty: &Type, wrapper: &str) -> Option<Type> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?;
    if last.ident != wrapper {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first() {
        Some(GenericArgument::Type(inner)) if args.args.len() == 1 => Some(inner.clone()),
        _ => None,
    }
}

/// The field a setter assigns: `self.<field> = ..` as its first statement.
fn assigned_field(setter: &syn::ImplItemFn) -> Option<Expr> {
    let Some(syn::Stmt::Expr(Expr::Assign(assign), _)) = setter.block.stmts.first() else {
        return None;
    };
    matches!(&*assign.left, Expr::Field(_)).then(|| (*assign.left).clone())
}

/// `fn name<T>(mut self, value: T) -> Self where T: TryInto<Option<X>>` → `T: IntoOption<X>`.
fn optional_member(setter: &mut syn::ImplItemFn) -> bool {
    let Some((param, inner)) = converted_into(setter, "Option") else {
        return false;
    };
    let Some(field) = assigned_field(setter) else {
        return false;
    };
    let bound: syn::Path = syn::parse_str(INTO_OPTION).expect("INTO_OPTION is a path");
    setter.sig.generics.where_clause = Some(parse_quote!(where #param: #bound<#inner>));
    let message = format!(
        "error converting supplied value for {}: {{e}}",
        setter.sig.ident
    );
    setter.block = parse_quote!({
        #field = value.into_option().map_err(|e| format!(#message));
        self
    });
    true
}

/// `fn name<V>(mut self, value: V) -> Self where V: TryInto<Vec<X>>` → `V: OneOrMany<X>`, for
/// an optional parameter (`.map(Some)` in progenitor's body), a required one, or a list member.
fn repeatable_parameter(setter: &mut syn::ImplItemFn) -> bool {
    let Some((param, inner)) = converted_into(setter, "Vec") else {
        return false;
    };
    let Some(field) = assigned_field(setter) else {
        return false;
    };
    let optional = setter
        .block
        .to_token_stream()
        .to_string()
        .contains("map (Some)");
    let bound: syn::Path = syn::parse_str(ONE_OR_MANY).expect("ONE_OR_MANY is a path");
    setter.sig.generics.where_clause = Some(parse_quote!(where #param: #bound<#inner>));
    setter.block = if optional {
        parse_quote!({
            #field = Ok(Some(value.into_vec()));
            self
        })
    } else {
        parse_quote!({
            #field = Ok(value.into_vec());
            self
        })
    };
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn optional_members_and_repeatable_parameters_take_the_obvious_spelling() {
        let mut file: syn::File = parse_quote! {
            pub mod types {
                pub mod builder {
                    pub struct Widget {
                        name: Result<Option<String>, String>,
                        parts: Result<Vec<super::Part>, String>,
                        size: Result<u64, String>,
                    }
                    impl Widget {
                        pub fn parts<T>(mut self, value: T) -> Self
                        where
                            T: ::std::convert::TryInto<::std::vec::Vec<super::Part>>,
                            T::Error: ::std::fmt::Display,
                        {
                            self.parts = value.try_into().map_err(|e| format!("error converting supplied value for parts: {e}"));
                            self
                        }
                        pub fn name<T>(mut self, value: T) -> Self
                        where
                            T: ::std::convert::TryInto<::std::option::Option<::std::string::String>>,
                            T::Error: ::std::fmt::Display,
                        {
                            self.name = value.try_into().map_err(|e| format!("error converting supplied value for name: {e}"));
                            self
                        }
                        pub fn size<T>(mut self, value: T) -> Self
                        where
                            T: ::std::convert::TryInto<u64>,
                            T::Error: ::std::fmt::Display,
                        {
                            self.size = value.try_into().map_err(|e| format!("error converting supplied value for size: {e}"));
                            self
                        }
                    }
                }
            }
            pub mod builder {
                impl<'a> ListWidgets<'a> {
                    pub fn state<V>(mut self, value: V) -> Self
                    where
                        V: std::convert::TryInto<::std::vec::Vec<types::WidgetState>>,
                    {
                        self.state = value.try_into().map(Some).map_err(|_| "conversion failed".to_string());
                        self
                    }
                    pub fn ids<V>(mut self, value: V) -> Self
                    where
                        V: std::convert::TryInto<::std::vec::Vec<::std::string::String>>,
                    {
                        self.ids = value.try_into().map_err(|_| "conversion failed".to_string());
                        self
                    }
                    pub fn limit<V>(mut self, value: V) -> Self
                    where
                        V: std::convert::TryInto<u64>,
                    {
                        self.limit = value.try_into().map(Some).map_err(|_| "conversion failed".to_string());
                        self
                    }
                }
            }
        };
        let rewritten = apply(&mut file);
        assert_eq!(
            rewritten,
            Rewritten {
                optional_members: 1,
                list_members: 1,
                repeatable_parameters: 2,
                builder_conversions: 1,
            }
        );
        insta::assert_snapshot!(prettyplease::unparse(&file));
    }
}
