//! `uniffi-bindgen`: generates the Kotlin, Swift and Python bindings of `lime-ffi` from the
//! built library (library mode), e.g.
//! `uniffi-bindgen generate target/debug/liblime_ffi.so --language kotlin --out-dir out`.
//!
//! It lives in its own crate because uniffi's `cli` feature costs minutes of build time that
//! the library itself does not need.

fn main() {
    uniffi::uniffi_bindgen_main()
}
