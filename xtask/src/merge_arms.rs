//! One match arm for the statuses an operation answers the same way.
//!
//! progenitor writes one arm per declared status, so a typical `send` matches `400`,
//! `400..=499`, `401`, `403`, `429`, `500` and `500..=599` with seven identical bodies, each
//! awaiting its own read of the error body. Every `.await` is one more state of the request's
//! future for the compiler to build, and most of the crate's compile time is those futures.
//! This pass joins consecutive arms whose bodies are the same into one arm with an or-pattern
//! (`400u16 | 400u16..=499u16 | 401u16 ... => ...`). Only neighbours are joined and only arms
//! without a guard, so the first arm a status matches still has the same body: what each
//! status does is unchanged.

use quote::ToTokens;
use syn::visit_mut::VisitMut;
use syn::{Arm, ExprMatch, Item, Pat, PatOr, punctuated::Punctuated};

/// Joins the identical neighbouring arms of every `match` in `pub mod builder`; returns how many
/// arms were folded into the one before them.
pub fn apply(file: &mut syn::File) -> usize {
    let mut joiner = Joiner { folded: 0 };
    for item in &mut file.items {
        if let Item::Mod(module) = item
            && module.ident == "builder"
        {
            joiner.visit_item_mod_mut(module);
        }
    }
    joiner.folded
}

struct Joiner {
    folded: usize,
}

impl VisitMut for Joiner {
    fn visit_expr_match_mut(&mut self, node: &mut ExprMatch) {
        syn::visit_mut::visit_expr_match_mut(self, node);
        let arms = std::mem::take(&mut node.arms);
        let mut joined: Vec<(Arm, String)> = Vec::with_capacity(arms.len());
        for arm in arms {
            let body = arm.body.to_token_stream().to_string();
            match joined.last_mut() {
                Some((last, last_body))
                    if last.guard.is_none() && arm.guard.is_none() && *last_body == body =>
                {
                    push_case(&mut last.pat, arm.pat);
                    self.folded += 1;
                }
                _ => joined.push((arm, body)),
            }
        }
        node.arms = joined.into_iter().map(|(arm, _)| arm).collect();
    }
}

/// Adds `case` to the alternatives of `pat`.
fn push_case(pat: &mut Pat, case: Pat) {
    if !matches!(pat, Pat::Or(_)) {
        let first = std::mem::replace(pat, Pat::Verbatim(Default::default()));
        let mut cases = Punctuated::new();
        cases.push(first);
        *pat = Pat::Or(PatOr {
            attrs: Vec::new(),
            leading_vert: None,
            cases,
        });
    }
    let Pat::Or(or) = pat else {
        unreachable!("made an or-pattern above")
    };
    match case {
        Pat::Or(inner) => or.cases.extend(inner.cases),
        case => or.cases.push(case),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    fn joined(body: syn::Block) -> (String, usize) {
        let mut file: syn::File = parse_quote! {
            pub mod builder {
                impl X { async fn send(self) #body }
            }
        };
        let folded = apply(&mut file);
        (prettyplease::unparse(&file), folded)
    }

    #[test]
    fn identical_neighbours_become_one_arm_and_others_stay_in_order() {
        let (out, folded) = joined(parse_quote!({
            match status {
                200u16 => ok(response).await,
                400u16 => Err(error(response).await?),
                400u16..=499u16 => Err(error(response).await?),
                401u16 => Err(error(response).await?),
                304u16 => Ok(not_modified()),
                500u16 => Err(error(response).await?),
                500u16..=599u16 => Err(error(response).await?),
                _ => Err(unexpected(response)),
            }
        }));
        assert_eq!(folded, 3);
        let expected: syn::File = parse_quote! {
            pub mod builder {
                impl X {
                    async fn send(self) {
                        match status {
                            200u16 => ok(response).await,
                            400u16 | 400u16..=499u16 | 401u16 => { Err(error(response).await?) }
                            304u16 => Ok(not_modified()),
                            500u16 | 500u16..=599u16 => { Err(error(response).await?) }
                            _ => Err(unexpected(response)),
                        }
                    }
                }
            }
        };
        // 304 sits between the two error groups: they are not joined across it.
        assert_eq!(out, prettyplease::unparse(&expected));
    }

    #[test]
    fn arms_with_guards_are_left_alone() {
        let (_, folded) = joined(parse_quote!({
            match status {
                400u16 if retry => Err(error(response).await?),
                401u16 => Err(error(response).await?),
            }
        }));
        assert_eq!(folded, 0);
    }

    #[test]
    fn the_generated_client_has_one_error_arm_per_group() {
        let spec = std::fs::read_to_string(crate::workspace_root().join("openapi.json"))
            .expect("openapi.json");
        let code = crate::generate::generate(&spec).expect("generation");
        assert!(!code.contains("400u16 => {"), "a lone 400 arm is left");
        assert!(code.contains("400u16 | 400u16..=499u16"), "no joined arm");
    }
}
