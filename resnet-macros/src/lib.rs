//! The `resnet!` macro: a ResNet spec, inline or from a TOML file, checked
//! at compile time and expanded into a typed network.
//!
//! The options, their defaults, the TOML format and the validation rules
//! all belong to the `resnet-spec` crate; this crate parses tokens into its
//! values and points its errors at the tokens to blame.

mod expand;
mod input;
mod spec;
mod value;

use proc_macro::TokenStream;
use quote::quote;

use input::{Body, Invocation, Item};

/// Expands a ResNet spec into `resnet::core::typed::ResNet<H, W, C, K, ...>`,
/// a network whose input size and number of classes are part of its type.
///
/// Users depend on the `resnet` crate, which re-exports this macro; the
/// expansion names `::resnet::core::typed`.
///
/// # In type position
///
/// Options are `key: value` pairs with the names and values of a TOML spec
/// file; `input` and `classes` are required, every other option starts at
/// MATLAB's default:
///
/// ```ignore
/// use resnet::resnet;
///
/// type Net = resnet!(input: [224, 224, 3], classes: 10, stack_depth: [3, 4, 6, 3]);
/// let net = Net::new(&dfdx::tensor::Cpu::default())?;
/// ```
///
/// Values are integers, floats, `"strings"`, `true`/`false` and bracketed
/// lists. A spec file is read with `config = "path"`:
///
/// ```ignore
/// type ResNet50 = resnet!(config = "configs/resnet50.toml");
/// ```
///
/// A relative path starts at the calling crate's directory (the one with
/// its `Cargo.toml`) or, when no such file is there, at the directory of
/// the source file. The expansion includes the file with `include_bytes!`,
/// so editing it rebuilds the crate. The type uses `f32` on the `Cpu`.
///
/// # As named items
///
/// In item position, each `type NAME = { ... };` becomes a documented type
/// alias with element type and device parameters `E = f32` and `D = Cpu`;
/// the braces hold anything the type form accepts:
///
/// ```ignore
/// resnet! {
///     /// A small network for 28 x 28 grayscale digits.
///     pub type Mnist = {
///         input: [28, 28, 1],
///         classes: 10,
///         stack_depth: [2, 2],
///         num_filters: [16, 32],
///     };
///
///     /// ResNet-50 as the file describes it.
///     pub type ResNet50 = { config = "configs/resnet50.toml" };
/// }
/// let mnist = <Mnist>::new(&Default::default())?;
/// let wide: ResNet50<f64> = ResNet50::new(&Default::default())?;
/// ```
///
/// Rust applies the defaults of an alias only where a type is expected, so
/// in an expression write `<Mnist>::new(..)` or annotate the binding;
/// `Mnist::new(..)` alone leaves the element type to infer.
///
/// # Errors
///
/// A spec that the spec crate refuses is a compile error: an unknown or
/// repeated key points at the key, a value of the wrong type or an unknown
/// choice at the value, a broken rule at the `key: value` pair it names
/// (or at the invocation, for a default that does not fit or a missing
/// required option). For a file, the error sits on the path and reads
/// `file:line:column: key: message`.
#[proc_macro]
pub fn resnet(input: TokenStream) -> TokenStream {
    match syn::parse::<Invocation>(input).and_then(expand) {
        Ok(tokens) => tokens.into(),
        Err(err) => err.to_compile_error().into(),
    }
}

/// Expands a parsed invocation.
fn expand(invocation: Invocation) -> syn::Result<proc_macro2::TokenStream> {
    match invocation {
        Invocation::Type(body) => {
            let elements = quote!(f32);
            let device = quote!(::resnet::core::typed::Cpu);
            network_type(&body, elements, device)
        }
        Invocation::Items(items) => {
            let mut tokens = proc_macro2::TokenStream::new();
            let mut errors: Option<syn::Error> = None;
            for item in items {
                match alias(item) {
                    Ok(alias) => tokens.extend(alias),
                    Err(err) => match &mut errors {
                        Some(errors) => errors.combine(err),
                        None => errors = Some(err),
                    },
                }
            }
            match errors {
                Some(errors) => Err(errors),
                None => Ok(tokens),
            }
        }
    }
}

/// `attrs vis type NAME<E = f32, D = Cpu> = ResNet<..., E, D>;`.
fn alias(item: Item) -> syn::Result<proc_macro2::TokenStream> {
    let Item {
        attrs,
        vis,
        name,
        body,
    } = item;
    let ty = network_type(&body, quote!(E), quote!(D))?;
    Ok(quote! {
        #(#attrs)*
        #vis type #name<E = f32, D = ::resnet::core::typed::Cpu> = #ty;
    })
}

/// Checks a body and writes its type.
fn network_type(
    body: &Body,
    elements: proc_macro2::TokenStream,
    device: proc_macro2::TokenStream,
) -> syn::Result<proc_macro2::TokenStream> {
    let checked = spec::check(body)?;
    Ok(expand::network_type(
        &checked.spec,
        checked.file.as_deref(),
        elements,
        device,
    ))
}
