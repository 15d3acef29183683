//! The syntax of a `resnet!` invocation.
//!
//! ```text
//! invocation := body                      -- expands to a type
//!             | item*                     -- expands to type aliases
//! item       := attribute* visibility `type` NAME `=` `{` body `}` `;`
//! body       := `config` `=` "path" `,`?  -- a TOML file
//!             | (KEY `:` value),* `,`?    -- inline options
//! value      := integer | float | "string" | true | false | `[` value,* `]`
//! ```

use proc_macro2::{Span, TokenStream, TokenTree};
use resnet_spec::Value;
use syn::parse::{Parse, ParseStream, Parser};
use syn::{braced, Attribute, Ident, LitStr, Token, Visibility};

use crate::value::parse_value;

/// A whole invocation.
pub enum Invocation {
    /// `resnet!(body)` in type position.
    Type(Body),
    /// `resnet! { pub type Name = { body }; ... }` in item position.
    Items(Vec<Item>),
}

impl Parse for Invocation {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let is_item = input.peek(Token![#]) || input.peek(Token![pub]) || input.peek(Token![type]);
        if !is_item {
            return Body::parse_with_span(input, Span::call_site()).map(Invocation::Type);
        }

        let mut items = Vec::new();
        while !input.is_empty() {
            items.push(input.parse()?);
        }
        Ok(Invocation::Items(items))
    }
}

/// `attribute* visibility type NAME = { body };`: a named network type.
pub struct Item {
    /// Doc comments and other attributes, carried over to the alias.
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub name: Ident,
    pub body: Body,
}

impl Parse for Item {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis = input.parse()?;
        input.parse::<Token![type]>()?;
        let name = input.parse()?;
        input.parse::<Token![=]>()?;

        let content;
        let braces = braced!(content in input);
        let body = Body::parse_with_span(&content, braces.span.join())?;
        input.parse::<Token![;]>()?;

        Ok(Item {
            attrs,
            vis,
            name,
            body,
        })
    }
}

/// The description of one network: a file or inline options.
pub enum Body {
    /// `config = "path"`.
    File(LitStr),
    /// `key: value, ...`, with the span that errors about the whole list
    /// (a missing option) point at.
    Inline(Vec<Pair>, Span),
}

impl Body {
    /// Reads a body that fills all of `input`; `whole` is where errors
    /// about the body as a whole will point.
    fn parse_with_span(input: ParseStream, whole: Span) -> syn::Result<Self> {
        if input.peek(Ident) && input.peek2(Token![=]) {
            let keyword: Ident = input.parse()?;
            if keyword != "config" {
                return Err(syn::Error::new(
                    keyword.span(),
                    format!(
                        "expected `config = \"path/to/spec.toml\"` or `key: value` options, \
                         found `{keyword} =`"
                    ),
                ));
            }
            input.parse::<Token![=]>()?;
            let path = input.parse()?;
            input.parse::<Option<Token![,]>>()?;
            if !input.is_empty() {
                return Err(input.error(
                    "a config file describes the whole network: \
                     nothing may follow `config = \"...\"`",
                ));
            }
            return Ok(Body::File(path));
        }

        let mut pairs = Vec::new();
        while !input.is_empty() {
            pairs.push(input.parse()?);
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        Ok(Body::Inline(pairs, whole))
    }
}

/// One inline option, `key: value`, with the tokens it was written with so
/// that errors can point at the key, the value or both.
pub struct Pair {
    pub key: Ident,
    pub value: Value,
    /// The tokens of the value.
    pub value_tokens: TokenStream,
    /// The tokens of the key, colon and value.
    pub tokens: TokenStream,
}

impl Parse for Pair {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let key: Ident = input.call(syn::ext::IdentExt::parse_any)?;
        let colon: Token![:] = input.parse().map_err(|_| {
            syn::Error::new(
                input.span(),
                format!("expected `:` after the option name `{key}`, as in `{key}: value`"),
            )
        })?;

        // The value's tokens run to the next top-level comma; lists are
        // bracket groups, so their commas are not top-level.
        let mut value_tokens = TokenStream::new();
        while !input.is_empty() && !input.peek(Token![,]) {
            value_tokens.extend([input.parse::<TokenTree>()?]);
        }
        if value_tokens.is_empty() {
            return Err(syn::Error::new(
                colon.span,
                format!("expected a value after `{key}:`"),
            ));
        }

        let value = parse_value_tokens(value_tokens.clone())?;
        let mut tokens = quote::quote!(#key #colon);
        tokens.extend(value_tokens.clone());
        Ok(Pair {
            key,
            value,
            value_tokens,
            tokens,
        })
    }
}

/// Reads one value that must take up all of `tokens`.
fn parse_value_tokens(tokens: TokenStream) -> syn::Result<Value> {
    let parser = |input: ParseStream| {
        let value = parse_value(input)?;
        if !input.is_empty() {
            return Err(input.error("expected `,` between options"));
        }
        Ok(value)
    };
    parser.parse2(tokens)
}
