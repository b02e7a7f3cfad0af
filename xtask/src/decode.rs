//! Success and error bodies decoded through the client's own `decode`.
//!
//! progenitor decodes a JSON answer with `ResponseValue::from_response(response)`. This pass
//! makes every such call `crate::hooks::decode(client, response)`: on native targets that is the
//! same call (the hook already bounded the body and scrubbed the key from error answers while
//! the response passed through it), while on `wasm32`, where a `reqwest::Response` cannot be
//! rebuilt with another body, `decode` is where the body is bounded and an error answer's echo
//! of the key is scrubbed. A generated file without such a call fails the pass: progenitor
//! changed how it decodes, and the bound would be lost on `wasm32`.

use anyhow::{Result, bail};
use syn::visit_mut::VisitMut;
use syn::{Expr, parse_quote};

/// Replaces every `ResponseValue::from_response(response)`; fails when there is none.
pub fn apply(file: &mut syn::File) -> Result<()> {
    let mut pass = Rewrite { replaced: 0 };
    pass.visit_file_mut(file);
    if pass.replaced == 0 {
        bail!(
            "no `ResponseValue::from_response(response)` in progenitor's output \
             (xtask/src/decode.rs): it decodes answers another way now"
        );
    }
    Ok(())
}

struct Rewrite {
    replaced: usize,
}

impl VisitMut for Rewrite {
    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        syn::visit_mut::visit_expr_mut(self, expr);
        let Expr::Call(call) = expr else { return };
        let Expr::Path(func) = &*call.func else {
            return;
        };
        let names: Vec<String> = func
            .path
            .segments
            .iter()
            .map(|s| s.ident.to_string())
            .collect();
        if names != ["ResponseValue", "from_response"] || call.args.len() != 1 {
            return;
        }
        let argument = &call.args[0];
        *expr = parse_quote!(crate::hooks::decode(client, #argument));
        self.replaced += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_from_response_goes_through_the_clients_decode() {
        let mut file: syn::File = parse_quote! {
            async fn send(client: &Client, response: reqwest::Response) -> Result<(), Error> {
                match response.status().as_u16() {
                    200u16 => ResponseValue::from_response(response).await.map_err(Error::from),
                    _ => Err(Error::Problem(ResponseValue::from_response(response).await?)),
                }
            }
        };
        apply(&mut file).unwrap();
        let expected: syn::File = parse_quote! {
            async fn send(client: &Client, response: reqwest::Response) -> Result<(), Error> {
                match response.status().as_u16() {
                    200u16 => crate::hooks::decode(client, response).await.map_err(Error::from),
                    _ => Err(Error::Problem(crate::hooks::decode(client, response).await?)),
                }
            }
        };
        assert_eq!(file, expected);
    }

    #[test]
    fn a_file_without_it_fails() {
        let mut file: syn::File = parse_quote! { fn nothing() {} };
        assert!(apply(&mut file).is_err());
    }
}
