//! Path parameters that cannot leave their segment.
//!
//! progenitor builds each URL with `format!("{}/agent/runs/{}", client.baseurl,
//! encode_path(&run_id.to_string()))`. `encode_path` leaves `.` alone, and the URL is
//! normalised before it is sent, so an id of `..`, `.` or `""` sends the request, with its key,
//! to another endpoint (`cancel_run().run_id("..")` would `POST /agent/cancel`). This pass
//! replaces each such call by `crate::path_segment::encode(&run_id.to_string(), "run_id")`,
//! which refuses those values with an `InvalidRequest` naming the builder method, before any
//! I/O. An `encode_path` call this pass does not recognise fails generation: it would be a path
//! parameter sent unchecked.

use anyhow::{Result, bail};
use quote::ToTokens;
use syn::punctuated::Punctuated;
use syn::visit_mut::VisitMut;
use syn::{Expr, Token, parse_quote};

/// The function in oz-api every path parameter goes through.
pub const CHECK: &str = "crate::path_segment::encode";

/// Routes every path parameter of the generated file through [`CHECK`]; returns how many.
pub fn apply(file: &mut syn::File) -> Result<usize> {
    let mut pass = Rewrite::default();
    pass.visit_file_mut(file);
    if !pass.problems.is_empty() {
        bail!(
            "path parameters the generator cannot check (xtask/src/path_params.rs):\n  {}",
            pass.problems.join("\n  ")
        );
    }
    let left = count_calls(file.to_token_stream());
    if left > 0 {
        bail!(
            "{left} `encode_path(..)` call(s) left in the generated code (xtask/src/path_params.rs): \
             a path parameter would be sent without the dot-segment check"
        );
    }
    Ok(pass.rewritten)
}

#[derive(Default)]
struct Rewrite {
    rewritten: usize,
    problems: Vec<String>,
}

impl VisitMut for Rewrite {
    fn visit_macro_mut(&mut self, mac: &mut syn::Macro) {
        if !mac.path.is_ident("format") || count_calls(mac.tokens.clone()) == 0 {
            return;
        }
        let Ok(mut args) = mac.parse_body_with(Punctuated::<Expr, Token![,]>::parse_terminated)
        else {
            self.problems
                .push(format!("unparsable `format!({})`", mac.tokens));
            return;
        };
        for arg in args.iter_mut() {
            if count_calls(arg.to_token_stream()) == 0 {
                continue;
            }
            match checked(arg) {
                Some(replacement) => {
                    *arg = replacement;
                    self.rewritten += 1;
                }
                None => self
                    .problems
                    .push(format!("unexpected `{}`", arg.to_token_stream())),
            }
        }
        mac.tokens = args.to_token_stream();
    }
}

/// `encode_path(&name.to_string())` → `CHECK(&name.to_string(), "name").map_err(..)?`.
fn checked(arg: &Expr) -> Option<Expr> {
    let Expr::Call(call) = arg else { return None };
    let Expr::Path(func) = &*call.func else {
        return None;
    };
    if !func.path.is_ident("encode_path") || call.args.len() != 1 {
        return None;
    }
    let Expr::Reference(reference) = &call.args[0] else {
        return None;
    };
    let Expr::MethodCall(to_string) = &*reference.expr else {
        return None;
    };
    let Expr::Path(binding) = &*to_string.receiver else {
        return None;
    };
    if to_string.method != "to_string" || !to_string.args.is_empty() {
        return None;
    }
    let name = binding.path.get_ident()?.to_string();
    let check: syn::Path = syn::parse_str(CHECK).expect("CHECK is a path");
    Some(parse_quote! {
        #check(&#binding.to_string(), #name).map_err(Error::InvalidRequest)?
    })
}

/// Calls of `encode_path` in `tokens` (a `use` of it is not a call).
fn count_calls(tokens: proc_macro2::TokenStream) -> usize {
    let tokens: Vec<_> = tokens.into_iter().collect();
    tokens
        .iter()
        .enumerate()
        .map(|(index, token)| match token {
            proc_macro2::TokenTree::Ident(ident) if ident == "encode_path" => {
                usize::from(matches!(
                    tokens.get(index + 1),
                    Some(proc_macro2::TokenTree::Group(group))
                        if group.delimiter() == proc_macro2::Delimiter::Parenthesis
                ))
            }
            proc_macro2::TokenTree::Group(group) => count_calls(group.stream()),
            _ => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_parameter_goes_through_the_check_with_its_name() {
        let mut file: syn::File = parse_quote! {
            use progenitor_client::encode_path;
            async fn send() {
                let url = format!(
                    "{}/factories/{}/tasks/{}", client.baseurl,
                    encode_path(&factory_uid.to_string()), encode_path(&task_uid.to_string()),
                );
                let other = format!("{}/plain", client.baseurl);
            }
        };
        assert_eq!(apply(&mut file).unwrap(), 2);
        let out = prettyplease::unparse(&file);
        assert!(!out.contains("encode_path(&"), "{out}");
        // Macro arguments are printed token by token.
        insta::assert_snapshot!(out);
    }

    #[test]
    fn an_unrecognised_encode_path_call_fails_generation() {
        let mut file: syn::File = parse_quote! {
            fn send() { let url = format!("{}/x/{}", base, encode_path(&compute())); }
        };
        let err = apply(&mut file).unwrap_err().to_string();
        assert!(err.contains("encode_path"), "{err}");
        let mut file: syn::File = parse_quote! {
            fn send() { let url = encode_path(&id.to_string()); }
        };
        assert!(apply(&mut file).is_err());
    }
}
