//! `with_options(RequestOptions)` on every operation builder.
//!
//! Each builder of `pub mod builder` gets a field `options: crate::RequestOptions` (empty when
//! the builder is made), a setter `with_options`, and in `send` the options are put into the
//! request once it is built, right before the request hooks see it:
//! `let options = options.apply(client, &mut request).map_err(Error::InvalidRequest)?;` adds
//! the extra headers (the client's, from `Client::with_options`, then the call's; an invalid
//! one fails the call with `Error::InvalidRequest`) and keeps the deadline and retry count,
//! which the request hook gets with the request: progenitor's `client.exec(request, &info)` becomes
//! `crate::hooks::exec(client, request, &info, options)` (reqwest 0.13 offers no way to put
//! them into the request's extensions). Runs before `owned_send`, which moves `send`'s body as
//! it is.
//!
//! A builder whose shape is not the expected one (no `new` ending in `Self { .. }`, a `send`
//! that does not start with `let Self { .. } = self;` or never calls `client.pre(&mut request,
//! ..)`, a parameter already named `options`) fails generation with its name.

use anyhow::{Result, bail};
use quote::ToTokens;
use syn::{Expr, ImplItem, Item, Stmt, parse_quote};

/// The name of the field and of the setter's argument.
const FIELD: &str = "options";

/// The name of the setter.
pub const SETTER: &str = "with_options";

/// Adds the field, the setter and the hand-over to every operation builder.
pub fn apply(file: &mut syn::File) -> Result<()> {
    let builders = crate::owned_send::builder_items(file)?;
    let mut problems = Vec::new();
    for item in builders.iter_mut() {
        match item {
            Item::Struct(builder) => {
                let syn::Fields::Named(fields) = &mut builder.fields else {
                    problems.push(format!("builder `{}` has no named fields", builder.ident));
                    continue;
                };
                if fields
                    .named
                    .iter()
                    .any(|field| field.ident.as_ref().is_some_and(|ident| ident == FIELD))
                {
                    problems.push(format!("builder `{}` already has `{FIELD}`", builder.ident));
                    continue;
                }
                fields
                    .named
                    .push(parse_quote!(options: crate::RequestOptions));
            }
            Item::Impl(imp) if imp.trait_.is_none() => {
                let name = imp.self_ty.to_token_stream().to_string();
                if let Err(why) = extend_impl(imp) {
                    problems.push(format!("builder `{name}`: {why}"));
                }
            }
            _ => {}
        }
    }
    if !problems.is_empty() {
        bail!(
            "cannot add `with_options` (xtask/src/request_options.rs): progenitor's builders \
             no longer have the expected shape:\n  {}",
            problems.join("\n  ")
        );
    }
    Ok(())
}

fn extend_impl(imp: &mut syn::ItemImpl) -> std::result::Result<(), String> {
    let mut new_at = None;
    let mut send_found = false;
    for (index, item) in imp.items.iter_mut().enumerate() {
        let ImplItem::Fn(method) = item else { continue };
        if method.sig.ident == "new" {
            let Some(Stmt::Expr(Expr::Struct(built), None)) = method.block.stmts.last_mut() else {
                return Err("`new` does not end in `Self { .. }`".to_owned());
            };
            built
                .fields
                .push(parse_quote!(options: ::std::default::Default::default()));
            new_at = Some(index);
        } else if method.sig.ident == "send" {
            let stmts = &mut method.block.stmts;
            let Some(Stmt::Local(local)) = stmts.first_mut() else {
                return Err("`send` does not start with `let Self { .. } = self;`".to_owned());
            };
            let syn::Pat::Struct(pattern) = &mut local.pat else {
                return Err("`send` does not start with `let Self { .. } = self;`".to_owned());
            };
            pattern.fields.push(syn::FieldPat {
                attrs: Vec::new(),
                member: syn::Member::Named(parse_quote!(options)),
                colon_token: None,
                pat: Box::new(parse_quote!(options)),
            });
            let pre = stmts
                .iter()
                .position(calls_pre)
                .ok_or("`send` does not call `client.pre(&mut request, ..)`")?;
            let exec = stmts
                .iter()
                .position(|stmt| {
                    stmt.to_token_stream().to_string()
                        == "let result = client . exec (request , & info) . await ;"
                })
                .ok_or("`send` does not call `let result = client.exec(request, &info).await;`")?;
            stmts[exec] = parse_quote!(let result = crate::hooks::exec(client, request, &info, options).await;);
            stmts.insert(
                pre,
                parse_quote!(let options = options.apply(client, &mut request).map_err(Error::InvalidRequest)?;),
            );
            send_found = true;
        }
    }
    let new_at = new_at.ok_or("no `new`")?;
    if !send_found {
        return Err("no `send`".to_owned());
    }
    imp.items.insert(
        new_at + 1,
        parse_quote! {
            /// Options of this call: a deadline for the whole call, how often to retry, extra
            /// headers (see [`RequestOptions`](crate::RequestOptions)).
            pub fn with_options(mut self, options: crate::RequestOptions) -> Self {
                self.options = options;
                self
            }
        },
    );
    Ok(())
}

/// `client.pre(&mut request, &info).await?;`
fn calls_pre(stmt: &Stmt) -> bool {
    let tokens = stmt.to_token_stream().to_string();
    tokens.starts_with("client . pre (& mut request")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builders() -> syn::File {
        parse_quote! {
            pub mod builder {
                pub struct GetWidget<'a> {
                    client: &'a super::Client,
                    widget_id: Result<String, String>,
                }
                impl<'a> GetWidget<'a> {
                    pub fn new(client: &'a super::Client) -> Self {
                        Self { client: client, widget_id: Err("unset".to_string()) }
                    }
                    pub async fn send(self) -> Result<(), Error> {
                        let Self { client, widget_id } = self;
                        let mut request = client.client.get("/").build()?;
                        let info = OperationInfo { operation_id: "get_widget" };
                        client.pre(&mut request, &info).await?;
                        let result = client.exec(request, &info).await;
                        Ok(())
                    }
                }
            }
        }
    }

    #[test]
    fn adds_the_field_the_setter_and_the_hand_over() {
        let mut file = builders();
        apply(&mut file).unwrap();
        let text = prettyplease::unparse(&file);
        assert!(text.contains("options: crate::RequestOptions,"), "{text}");
        assert!(
            text.contains("options: ::std::default::Default::default()"),
            "{text}"
        );
        assert!(
            text.contains("pub fn with_options(mut self, options: crate::RequestOptions)"),
            "{text}"
        );
        assert!(
            text.contains("let Self { client, widget_id, options } = self;"),
            "{text}"
        );
        assert!(
            text.contains(
                "let result = crate::hooks::exec(client, request, &info, options).await;"
            ),
            "{text}"
        );
        let flat: String = text.split_whitespace().collect();
        let apply_at = flat
            .find("letoptions=options.apply(client,&mutrequest).map_err(Error::InvalidRequest)?;")
            .expect(&text);
        let pre_at = flat.find("client.pre(&mutrequest").unwrap();
        assert!(apply_at < pre_at, "{text}");
    }

    #[test]
    fn a_send_without_the_hook_call_fails_with_the_builder_name() {
        let mut file = builders();
        let text =
            prettyplease::unparse(&file).replace("client.pre(&mut request, &info).await?;", "");
        file = syn::parse_str(&text).unwrap();
        let err = apply(&mut file).unwrap_err().to_string();
        assert!(err.contains("GetWidget"), "{err}");
        assert!(err.contains("client.pre"), "{err}");
    }
}
