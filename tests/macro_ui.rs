//! Compile-fail tests of the `resnet!` macro: every validation rule through
//! the inline and the TOML route, malformed invocations, and tensors of the
//! wrong shape. The expected compiler output is in `tests/ui/*.stderr`;
//! regenerate it with `TRYBUILD=overwrite cargo test --test macro_ui` and
//! read the diff.

#[test]
fn bad_specs_and_shapes_do_not_compile() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
