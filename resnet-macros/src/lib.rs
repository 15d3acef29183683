//! The `resnet!` macro.

use proc_macro::TokenStream;

/// Expands a ResNet spec into a typed network.
#[proc_macro]
pub fn resnet(input: TokenStream) -> TokenStream {
    let _ = input;
    TokenStream::new()
}
