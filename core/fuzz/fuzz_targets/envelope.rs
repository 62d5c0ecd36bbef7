//! Envelope parsing from bytes (`Envelope::from_slice`) and from text (`str::parse`).
//!
//! Checks: no panic; bytes and text parsing agree; a parsed envelope serializes to JSON that
//! parses again, and serialization is idempotent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lime::Envelope;
use lime_fuzz::check_envelope_roundtrip;

fuzz_target!(|data: &[u8]| {
    let from_bytes = Envelope::from_slice(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let from_text = text.parse::<Envelope>();
        assert_eq!(from_bytes.is_ok(), from_text.is_ok(), "bytes and text parsing disagree");
        if let (Ok(a), Ok(b)) = (&from_bytes, &from_text) {
            assert_eq!(a.to_vec(), b.to_vec());
        }
    }
    if let Ok(envelope) = from_bytes {
        check_envelope_roundtrip(&envelope);
        let _ = envelope.kind();
    }
});
