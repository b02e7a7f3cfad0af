//! A `send` whose future owns its client, on every operation builder.
//!
//! progenitor's builders hold `&Client` and `send(self)` is an `async fn`, so the future it
//! returns borrows the client: it cannot be handed to `tokio::spawn`, nor outlive the scope the
//! builder was made in. A client is a cheap handle (reqwest's client is reference-counted), so
//! after progenitor every builder of `pub mod builder` gets `send_owned(self)`: the same
//! request, on a clone of the client that the future owns.
//!
//! progenitor's `send` starts by taking the builder apart, `let Self { client, .. } = self;`,
//! and uses only those bindings afterwards. `send_owned` keeps that first statement, clones the
//! client, and moves the rest of `send`'s body unchanged into an `async move` block that
//! starts with `let client = &client;`, so the body sees the same names with the same types.
//! `send` then awaits `send_owned`, so each request's code exists once (the generated file
//! stays the size it was, and so does the crate's build time); the clone of the client that
//! costs is a few reference counts and the base URL per call, nothing next to a request.
//! The future is bound by `crate::MaybeSend`, `Send` on native targets (so the bound checks
//! that every request's future can be spawned on a multi-threaded runtime) and nothing on
//! `wasm32`, where reqwest's futures hold JavaScript values.
//! A builder without a `send`, or whose `send` has another shape, fails generation with its
//! name: moving a body that does not start that way could change what the request does.

use anyhow::{Context, Result, bail};
use quote::ToTokens;
use syn::{ImplItem, ImplItemFn, Item, parse_quote};

/// The name of the added method.
pub const METHOD: &str = "send_owned";

/// Adds `send_owned` to every operation builder of the generated file.
pub fn apply(file: &mut syn::File) -> Result<()> {
    let builders = builder_items(file)?;
    let mut without_send: Vec<String> = builders
        .iter()
        .filter_map(|item| match item {
            Item::Struct(builder) => Some(builder.ident.to_string()),
            _ => None,
        })
        .collect();
    let mut problems = Vec::new();
    for item in builders.iter_mut() {
        let Item::Impl(imp) = item else { continue };
        if imp.trait_.is_some() {
            continue;
        }
        let syn::Type::Path(self_ty) = &*imp.self_ty else {
            continue;
        };
        let Some(name) = self_ty.path.segments.last().map(|s| s.ident.to_string()) else {
            continue;
        };
        let position = imp
            .items
            .iter()
            .position(|item| matches!(item, ImplItem::Fn(f) if f.sig.ident == "send"));
        let Some(position) = position else { continue };
        without_send.retain(|builder| *builder != name);
        if imp
            .items
            .iter()
            .any(|item| matches!(item, ImplItem::Fn(f) if f.sig.ident == METHOD))
        {
            problems.push(format!("builder `{name}` already has a `{METHOD}`"));
            continue;
        }
        let ImplItem::Fn(send) = &imp.items[position] else {
            unreachable!("found as a method above");
        };
        match owned_variant(send) {
            Ok(method) => {
                // One copy of each request's code: `send` awaits `send_owned`.
                if let ImplItem::Fn(send) = &mut imp.items[position] {
                    send.block = parse_quote!({ self.send_owned().await });
                }
                imp.items.insert(position + 1, ImplItem::Fn(method));
            }
            Err(why) => problems.push(format!("builder `{name}`: {why}")),
        }
    }
    problems.extend(
        without_send
            .iter()
            .map(|name| format!("builder `{name}` has no `send`")),
    );
    if !problems.is_empty() {
        bail!(
            "cannot add `{METHOD}` (xtask/src/owned_send.rs): progenitor's builders no longer \
             have the expected shape:\n  {}",
            problems.join("\n  ")
        );
    }
    Ok(())
}

/// The items of progenitor's `pub mod builder`: the operation builders and their impls.
pub fn builder_items(file: &mut syn::File) -> Result<&mut Vec<Item>> {
    file.items
        .iter_mut()
        .find_map(|item| match item {
            Item::Mod(module) if module.ident == "builder" => module.content.as_mut(),
            _ => None,
        })
        .map(|(_, items)| items)
        .context("progenitor's output has no `pub mod builder`")
}

/// `send_owned` made from a `send` of the expected shape, or what is unexpected about it.
fn owned_variant(send: &ImplItemFn) -> std::result::Result<ImplItemFn, String> {
    let sig = &send.sig;
    if sig.asyncness.is_none() {
        return Err("`send` is not an `async fn`".to_owned());
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return Err("`send` has generic parameters".to_owned());
    }
    let by_value = matches!(
        sig.inputs.iter().collect::<Vec<_>>()[..],
        [syn::FnArg::Receiver(receiver)] if receiver.reference.is_none()
            && receiver.mutability.is_none()
            && receiver.colon_token.is_none()
    );
    if !by_value {
        return Err("`send` does not take exactly `self`".to_owned());
    }
    let syn::ReturnType::Type(_, output) = &sig.output else {
        return Err("`send` returns nothing".to_owned());
    };
    let Some((first, rest)) = send.block.stmts.split_first() else {
        return Err("`send` has an empty body".to_owned());
    };
    if !takes_builder_apart(first) {
        return Err(format!(
            "`send` does not start with `let Self {{ client, .. }} = self;` but with `{}`",
            first.to_token_stream()
        ));
    }
    if rest
        .iter()
        .any(|stmt| mentions_self(stmt.to_token_stream()))
    {
        return Err("`send` uses `self` or `Self` after taking the builder apart".to_owned());
    }
    Ok(parse_quote! {
        /// Like [`send`](Self::send), but the future owns a clone of the client (a cheap
        /// handle) instead of borrowing it: it is `'static`, so it can be spawned, and it
        /// outlives the client the builder came from. It is `Send` on every target but
        /// `wasm32`, where nothing is ([`MaybeSend`](crate::MaybeSend)).
        pub fn send_owned(self) -> impl ::std::future::Future<Output = #output> + crate::MaybeSend + 'static {
            #first
            let client = ::std::clone::Clone::clone(client);
            async move {
                let client = &client;
                #(#rest)*
            }
        }
    })
}

/// `let Self { client, a, b } = self;` with `client` bound to itself.
fn takes_builder_apart(stmt: &syn::Stmt) -> bool {
    let syn::Stmt::Local(local) = stmt else {
        return false;
    };
    let Some(init) = &local.init else {
        return false;
    };
    let from_self = init.diverge.is_none()
        && matches!(&*init.expr, syn::Expr::Path(p) if p.qself.is_none() && p.path.is_ident("self"));
    let syn::Pat::Struct(pattern) = &local.pat else {
        return false;
    };
    from_self
        && pattern.qself.is_none()
        && pattern.path.is_ident("Self")
        && pattern.rest.is_none()
        && pattern.fields.iter().any(|field| {
            matches!(&field.member, syn::Member::Named(member) if member == "client")
                && matches!(&*field.pat, syn::Pat::Ident(binding)
                    if binding.ident == "client"
                        && binding.by_ref.is_none()
                        && binding.mutability.is_none()
                        && binding.subpat.is_none())
        })
}

fn mentions_self(tokens: proc_macro2::TokenStream) -> bool {
    tokens.into_iter().any(|token| match token {
        proc_macro2::TokenTree::Ident(ident) => ident == "self" || ident == "Self",
        proc_macro2::TokenTree::Group(group) => mentions_self(group.stream()),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A builder module the way progenitor writes one, with `send` as given.
    fn builders(send: proc_macro2::TokenStream) -> syn::File {
        parse_quote! {
            pub mod builder {
                pub struct GetWidget<'a> {
                    client: &'a super::Client,
                    widget_id: Result<String, String>,
                }
                impl<'a> GetWidget<'a> {
                    pub fn widget_id<V: Into<String>>(mut self, value: V) -> Self {
                        self.widget_id = Ok(value.into());
                        self
                    }
                    #send
                }
            }
        }
    }

    fn expect_problem(send: proc_macro2::TokenStream, expected: &str) {
        let err = apply(&mut builders(send)).unwrap_err().to_string();
        assert!(err.contains("`GetWidget`"), "{err}");
        assert!(err.contains(expected), "{err}");
    }

    #[test]
    fn send_owned_moves_the_body_of_send_after_a_clone_of_the_client() {
        let send: ImplItemFn = parse_quote! {
            /// Sends a `GET` request to `/widgets/{widgetId}`
            pub async fn send(self) -> Result<ResponseValue<types::Widget>, Error<types::Error>> {
                let Self { client, widget_id } = self;
                let widget_id = widget_id.map_err(Error::InvalidRequest)?;
                let url = format!("{}/widgets/{}", client.baseurl, widget_id);
                client.exec(url).await
            }
        };
        let mut file = builders(send.to_token_stream());
        apply(&mut file).unwrap();

        let Item::Mod(module) = &file.items[0] else {
            unreachable!()
        };
        let Some(Item::Impl(imp)) = module.content.as_ref().unwrap().1.get(1) else {
            panic!("the impl is still the second item");
        };
        let methods: Vec<&ImplItemFn> = imp
            .items
            .iter()
            .filter_map(|item| match item {
                ImplItem::Fn(f) => Some(f),
                _ => None,
            })
            .collect();
        let names: Vec<String> = methods.iter().map(|f| f.sig.ident.to_string()).collect();
        assert_eq!(names, ["widget_id", "send", "send_owned"]);
        let awaiting: ImplItemFn = parse_quote! {
            /// Sends a `GET` request to `/widgets/{widgetId}`
            pub async fn send(self) -> Result<ResponseValue<types::Widget>, Error<types::Error>> {
                self.send_owned().await
            }
        };
        assert_eq!(
            *methods[1], awaiting,
            "`send` keeps its docs and awaits `send_owned`"
        );
        let expected: ImplItemFn = parse_quote! {
            /// Like [`send`](Self::send), but the future owns a clone of the client (a cheap
            /// handle) instead of borrowing it: it is `'static`, so it can be spawned, and it
            /// outlives the client the builder came from. It is `Send` on every target but
            /// `wasm32`, where nothing is ([`MaybeSend`](crate::MaybeSend)).
            pub fn send_owned(
                self,
            ) -> impl ::std::future::Future<
                Output = Result<ResponseValue<types::Widget>, Error<types::Error>>,
            > + crate::MaybeSend + 'static {
                let Self { client, widget_id } = self;
                let client = ::std::clone::Clone::clone(client);
                async move {
                    let client = &client;
                    let widget_id = widget_id.map_err(Error::InvalidRequest)?;
                    let url = format!("{}/widgets/{}", client.baseurl, widget_id);
                    client.exec(url).await
                }
            }
        };
        // Compared as printed: the layout of the expected method is rustfmt's, not syn's.
        let printed =
            |method: &ImplItemFn| prettyplease::unparse(&parse_quote!(impl X { #method }));
        assert_eq!(printed(methods[2]), printed(&expected));

        // A second run would add the method twice: it refuses.
        let err = apply(&mut file).unwrap_err().to_string();
        assert!(
            err.contains("`GetWidget` already has a `send_owned`"),
            "{err}"
        );
    }

    #[test]
    fn a_send_of_another_shape_fails_naming_the_builder() {
        expect_problem(
            quote::quote! {
                pub fn send(self) -> Result<(), Error> { let Self { client } = self; Ok(()) }
            },
            "`send` is not an `async fn`",
        );
        expect_problem(
            quote::quote! {
                pub async fn send(&self) -> Result<(), Error> { Ok(()) }
            },
            "`send` does not take exactly `self`",
        );
        expect_problem(
            quote::quote! {
                pub async fn send(self) -> Result<(), Error> {
                    let client = self.client;
                    Ok(())
                }
            },
            "does not start with `let Self { client, .. } = self;` but with `let client = self . client ;`",
        );
        expect_problem(
            quote::quote! {
                pub async fn send(self) -> Result<(), Error> {
                    let Self { client: inner, widget_id } = self;
                    Ok(())
                }
            },
            "does not start with `let Self { client, .. } = self;`",
        );
        expect_problem(
            quote::quote! {
                pub async fn send(self) -> Result<(), Error> {
                    let Self { client, widget_id } = self;
                    Self::check(widget_id)
                }
            },
            "`send` uses `self` or `Self` after taking the builder apart",
        );
        expect_problem(
            quote::quote! { pub async fn deliver(self) -> Result<(), Error> { Ok(()) } },
            "builder `GetWidget` has no `send`",
        );
    }

    /// Through progenitor and every other pass: each operation builder gets the method, and
    /// the result is what the crate compiles (oz-api's tests spawn it).
    #[test]
    fn every_generated_operation_builder_gets_send_owned() {
        let ok = json!({"200": {"description": "ok", "content": {"application/json":
            {"schema": {"type": "object", "properties": {"id": {"type": "string"}}}}}}});
        let spec = json!({
            "openapi": "3.0.3",
            "info": {"title": "t", "version": "1"},
            "paths": {
                "/widgets": {
                    "get": {"operationId": "list_widgets", "responses": ok},
                    "post": {"operationId": "create_widget", "responses": ok,
                        "requestBody": {"required": true, "content": {"application/json":
                            {"schema": {"type": "object", "properties": {"name": {"type": "string"}}}}}}}
                },
                "/widgets/{widgetId}": {"delete": {"operationId": "delete_widget",
                    "parameters": [{"name": "widgetId", "in": "path", "required": true,
                        "schema": {"type": "string"}}],
                    "responses": {"204": {"description": "gone"}}}}
            }
        });
        let out = crate::generate::generate(&spec.to_string()).unwrap();
        let file = syn::parse_file(&out).unwrap();
        let Some(Item::Mod(builder)) = file
            .items
            .iter()
            .find(|item| matches!(item, Item::Mod(m) if m.ident == "builder"))
        else {
            panic!("no builder module in\n{out}");
        };
        let mut with_method = Vec::new();
        for item in &builder.content.as_ref().unwrap().1 {
            if let Item::Impl(imp) = item
                && imp
                    .items
                    .iter()
                    .any(|i| matches!(i, ImplItem::Fn(f) if f.sig.ident == METHOD))
            {
                with_method.push(imp.self_ty.to_token_stream().to_string());
            }
        }
        with_method.sort();
        assert_eq!(
            with_method,
            [
                "CreateWidget < 'a >",
                "DeleteWidget < 'a >",
                "ListWidgets < 'a >"
            ]
        );
    }
}
