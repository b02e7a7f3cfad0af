//! What the glue generators (`paged`, `dispatch_table`) need to know about the generated client,
//! read from its code: each operation's builder, the type each setter takes, what `send()`
//! returns, and the fields of the generated types.
//!
//! Reading the output instead of predicting progenitor's names keeps the glue in step with the
//! client it is compiled against: a name that does not match fails generation here, not the
//! build of the crate that holds the glue.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use quote::ToTokens;
use syn::visit_mut::VisitMut;
use syn::{GenericArgument, ImplItem, Item, PathArguments, ReturnType, Type, WherePredicate};

/// The generated client, as the glue sees it.
#[derive(Debug, Default)]
pub struct ClientModel {
    /// By operation method (`list_runs`).
    pub operations: BTreeMap<String, OperationModel>,
    /// The structs of `pub mod types` by name, with their fields by Rust name.
    pub types: BTreeMap<String, BTreeMap<String, Type>>,
}

/// One operation: its builder and what the builder offers.
#[derive(Debug)]
pub struct OperationModel {
    /// The builder struct of `pub mod builder` (`ListRuns`).
    pub builder: String,
    /// Setter → the type it converts its value into (`V: TryInto<T>`), as generated.
    pub setters: BTreeMap<String, Type>,
    /// The other methods of the builder (`send`, `send_owned`, `new`).
    pub methods: Vec<String>,
    /// `T` of `send()`'s `Result<ResponseValue<T>, _>`, as generated (`types::ListRunsResponse`).
    pub response: Type,
}

impl ClientModel {
    /// Reads the generated file.
    pub fn read(file: &syn::File) -> Result<Self> {
        let mut model = ClientModel::default();
        let mut builders: BTreeMap<String, String> = BTreeMap::new();
        let mut builder_items: &[Item] = &[];
        for item in &file.items {
            match item {
                Item::Impl(imp) if imp.trait_.is_none() && last_ident(&imp.self_ty) == "Client" => {
                    for item in &imp.items {
                        if let ImplItem::Fn(f) = item
                            && let Some(builder) = operation_builder(&f.sig.output)
                        {
                            builders.insert(f.sig.ident.to_string(), builder);
                        }
                    }
                }
                Item::Mod(m) if m.ident == "builder" => {
                    builder_items = m.content.as_ref().map_or(&[], |(_, items)| items);
                }
                Item::Mod(m) if m.ident == "types" => {
                    for item in m.content.iter().flat_map(|(_, items)| items) {
                        if let Item::Struct(s) = item {
                            let fields = s
                                .fields
                                .iter()
                                .filter_map(|f| Some((unraw(f.ident.as_ref()?), f.ty.clone())))
                                .collect();
                            model.types.insert(s.ident.to_string(), fields);
                        }
                    }
                }
                _ => {}
            }
        }
        for (method, builder) in builders {
            let operation = read_builder(builder_items, &builder)
                .with_context(|| format!("the builder of `{method}`"))?;
            model.operations.insert(method, operation);
        }
        Ok(model)
    }

    /// The operation generated for `operation_id`.
    pub fn operation(&self, operation_id: &str) -> Result<&OperationModel> {
        self.operations
            .get(operation_id)
            .with_context(|| format!("the generated client has no operation `{operation_id}`"))
    }
}

fn read_builder(items: &[Item], name: &str) -> Result<OperationModel> {
    let mut setters = BTreeMap::new();
    let mut methods = Vec::new();
    let mut response = None;
    for item in items {
        let Item::Impl(imp) = item else { continue };
        if imp.trait_.is_some() || last_ident(&imp.self_ty) != name {
            continue;
        }
        for item in &imp.items {
            let ImplItem::Fn(f) = item else { continue };
            let method = f.sig.ident.to_string();
            if let Some(target) = try_into_target(&f.sig) {
                setters.insert(method, target);
                continue;
            }
            if method == "send" {
                response = send_response(&f.sig.output);
            }
            methods.push(method);
        }
    }
    let response = response.with_context(|| {
        format!("no `send()` returning `Result<ResponseValue<T>, _>` on `builder::{name}`")
    })?;
    Ok(OperationModel {
        builder: name.to_owned(),
        setters,
        methods,
        response,
    })
}

/// `ListRuns` for a method returning `builder::ListRuns<'_>`: an operation of `impl Client`.
pub fn operation_builder(output: &ReturnType) -> Option<String> {
    let ReturnType::Type(_, ty) = output else {
        return None;
    };
    let Type::Path(p) = &**ty else { return None };
    match &p.path.segments.iter().collect::<Vec<_>>()[..] {
        [module, builder] if module.ident == "builder" => Some(builder.ident.to_string()),
        _ => None,
    }
}

/// `T` of a setter `fn name<V>(self, value: V) -> Self where V: TryInto<T>` (`Vec<T>` for
/// `V: OneOrMany<T>`).
fn try_into_target(sig: &syn::Signature) -> Option<Type> {
    sig.generics
        .where_clause
        .iter()
        .flat_map(|w| &w.predicates)
        .find_map(|predicate| {
            let WherePredicate::Type(predicate) = predicate else {
                return None;
            };
            predicate.bounds.iter().find_map(|bound| {
                let syn::TypeParamBound::Trait(bound) = bound else {
                    return None;
                };
                let last = bound.path.segments.last()?;
                let target = first_type_argument(&last.arguments)?;
                match last.ident.to_string().as_str() {
                    "TryInto" => Some(target),
                    // xtask/src/setters.rs: a repeatable parameter takes one value or many and
                    // keeps a `Vec` of them.
                    "OneOrMany" => Some(syn::parse_quote!(::std::vec::Vec<#target>)),
                    _ => None,
                }
            })
        })
}

/// `T` of `Result<ResponseValue<T>, _>`.
fn send_response(output: &ReturnType) -> Option<Type> {
    let ReturnType::Type(_, ty) = output else {
        return None;
    };
    let result = last_segment(ty)?;
    let value = first_type_argument(&result.arguments)?;
    let value = last_segment(&value)?;
    (value.ident == "ResponseValue").then(|| first_type_argument(&value.arguments))?
}

/// `T` of `Vec<T>` (any path ending in `Vec`).
pub fn vec_element(ty: &Type) -> Option<Type> {
    let last = last_segment(ty)?;
    (last.ident == "Vec").then(|| first_type_argument(&last.arguments))?
}

fn last_segment(ty: &Type) -> Option<&syn::PathSegment> {
    match ty {
        Type::Path(p) => p.path.segments.last(),
        _ => None,
    }
}

fn first_type_argument(arguments: &PathArguments) -> Option<Type> {
    let PathArguments::AngleBracketed(args) = arguments else {
        return None;
    };
    args.args.iter().find_map(|arg| match arg {
        GenericArgument::Type(ty) => Some(ty.clone()),
        _ => None,
    })
}

/// The last identifier of a type's path (`ListRuns` for `ListRuns<'a>`), or "".
pub fn last_ident(ty: &Type) -> String {
    last_segment(ty).map_or_else(String::new, |s| s.ident.to_string())
}

fn unraw(ident: &syn::Ident) -> String {
    let name = ident.to_string();
    name.strip_prefix("r#").map_or(name.clone(), str::to_owned)
}

/// A type as code outside the generated module names it: the types of `pub mod types` that it
/// names bare (inside that module) become `types::Name`, `crate::` becomes `oz_api::`.
pub fn qualified(ty: &Type) -> Type {
    let mut out = ty.clone();
    Qualify.visit_type_mut(&mut out);
    out
}

struct Qualify;

impl VisitMut for Qualify {
    fn visit_type_path_mut(&mut self, ty: &mut syn::TypePath) {
        syn::visit_mut::visit_type_path_mut(self, ty);
        let path = &mut ty.path;
        if path.leading_colon.is_some() || ty.qself.is_some() {
            return;
        }
        let first = path.segments[0].ident.to_string();
        if path.segments.len() == 1 && is_generated_type(&first) {
            path.segments.insert(0, syn::parse_quote!(types));
        } else if first == "crate" {
            path.segments[0] = syn::parse_quote!(oz_api);
        }
    }
}

/// Inside `pub mod types` a bare capitalised name other than the prelude's is a generated type.
fn is_generated_type(name: &str) -> bool {
    name.starts_with(char::is_uppercase)
        && !matches!(name, "String" | "Vec" | "Option" | "Box" | "Self")
}

/// Fails unless `ty` is `Vec<_>`: the member named as a page's items.
pub fn require_vec(ty: &Type, what: &str) -> Result<Type> {
    match vec_element(ty) {
        Some(element) => Ok(element),
        None => bail!(
            "{what} is `{}`, not a list",
            ty.to_token_stream().to_string().replace(' ', "")
        ),
    }
}

/// prettyplease's output with a blank line before each top-level item (and its doc comment or
/// attributes) and after the file's leading comments, as rustfmt leaves hand-written code; `use`
/// declarations stay together.
pub fn spaced(source: &str) -> String {
    let mut out = String::with_capacity(source.len() + source.len() / 20);
    let mut previous = "";
    let mut last_item_was_use = false;
    for line in source.lines() {
        let top_level = !line.is_empty() && !line.starts_with([' ', '}', ')', ']']);
        let comment = line.starts_with("//") && !line.starts_with("///");
        if top_level && !comment {
            let is_use = line.starts_with("use ") || line.starts_with("pub use ");
            let attached = previous.is_empty()
                || previous.starts_with("///")
                || previous.starts_with("#[")
                || (previous.starts_with("//!") && line.starts_with("//!"));
            let keeps_use_group = is_use && last_item_was_use;
            if !attached && !keeps_use_group {
                out.push('\n');
            }
            if !line.starts_with("///") && !line.starts_with("#[") && !line.starts_with("//!") {
                last_item_was_use = is_use;
            }
        }
        out.push_str(line);
        out.push('\n');
        previous = line;
    }
    out
}
