//! Option values written inline: literals and bracketed lists, read into
//! the spec crate's [`Value`].

use resnet_spec::Value;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{bracketed, Lit, LitFloat, LitInt, Token};

/// A value as the parser reads it: a wrapper so that `Punctuated` can parse
/// list items.
pub struct ParsedValue(pub Value);

impl Parse for ParsedValue {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        parse_value(input).map(ParsedValue)
    }
}

/// Reads one value: an integer, float, string or boolean literal, a
/// negative number, or a bracketed list of values (possibly nested).
///
/// Errors point at the token that is not a value, saying what a value looks
/// like; a bare word gets the hint to quote it.
pub fn parse_value(input: ParseStream) -> syn::Result<Value> {
    if input.peek(syn::token::Bracket) {
        let content;
        bracketed!(content in input);
        let items = Punctuated::<ParsedValue, Token![,]>::parse_terminated(&content)?;
        return Ok(Value::List(items.into_iter().map(|item| item.0).collect()));
    }

    if input.peek(Token![-]) {
        input.parse::<Token![-]>()?;
        return match input.parse::<Lit>() {
            Ok(Lit::Int(lit)) => int(&lit, "-"),
            Ok(Lit::Float(lit)) => float(&lit).map(|x| Value::Float(-x)),
            _ => Err(input.error("expected a number after `-`")),
        };
    }

    if input.peek(syn::Ident) && !input.peek(syn::LitBool) {
        let word: syn::Ident = input.parse()?;
        return Err(syn::Error::new(
            word.span(),
            format!(
                "expected a value, found the bare word `{word}`; \
                 write strings in quotes, e.g. \"{word}\""
            ),
        ));
    }

    match input.parse::<Lit>() {
        Ok(Lit::Int(lit)) => int(&lit, ""),
        Ok(Lit::Float(lit)) => float(&lit).map(Value::Float),
        Ok(Lit::Str(lit)) => Ok(Value::Str(lit.value())),
        Ok(Lit::Bool(lit)) => Ok(Value::Bool(lit.value)),
        Ok(other) => Err(syn::Error::new(other.span(), NOT_A_VALUE)),
        Err(err) => Err(syn::Error::new(err.span(), NOT_A_VALUE)),
    }
}

/// What a value looks like, for errors about tokens that are not one.
const NOT_A_VALUE: &str = "expected a value: an integer, a float, a \"string\", \
                           true or false, or a [list] of values";

/// An integer literal, with `sign` ("" or "-") in front; suffixes such as
/// `usize` are refused because TOML has no such thing.
fn int(lit: &LitInt, sign: &str) -> syn::Result<Value> {
    no_suffix(lit.suffix(), lit.span(), lit.base10_digits())?;

    let text = format!("{sign}{}", lit.base10_digits());
    text.parse::<i64>().map(Value::Int).map_err(|_| {
        syn::Error::new(
            lit.span(),
            format!("the integer {text} does not fit in 64 bits"),
        )
    })
}

/// A float literal without its sign.
fn float(lit: &LitFloat) -> syn::Result<f64> {
    no_suffix(lit.suffix(), lit.span(), lit.base10_digits())?;
    lit.base10_parse::<f64>()
}

/// Refuses a literal suffix, naming the literal without it.
fn no_suffix(suffix: &str, span: proc_macro2::Span, digits: &str) -> syn::Result<()> {
    if suffix.is_empty() {
        return Ok(());
    }
    Err(syn::Error::new(
        span,
        format!("write `{digits}` without the suffix `{suffix}`: options take plain numbers"),
    ))
}
