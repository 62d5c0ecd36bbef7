//! [`ReasonDto`]: why something failed, `{"code": int, "description"?: string}`.
//!
//! Its own module because both the envelopes ([`super::envelope`]) and the error type
//! ([`super::error`]) carry one: with the reason in either of them, the two modules (and the
//! Dart libraries generated from them) would import each other.

/// Why something failed: `{"code": int, "description"?: string}`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReasonDto {
    /// LIME reason code (13: authentication failed, 42: destination not found, …).
    pub code: i32,
    /// Human-readable text.
    pub description: Option<String>,
}

impl From<&lime::Reason> for ReasonDto {
    fn from(r: &lime::Reason) -> Self {
        Self { code: r.code, description: r.description.clone() }
    }
}

impl From<ReasonDto> for lime::Reason {
    fn from(r: ReasonDto) -> Self {
        Self { code: r.code, description: r.description }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_both_ways() {
        let core = lime::Reason::new(42, "not found");
        let dto = ReasonDto::from(&core);
        assert_eq!(dto, ReasonDto { code: 42, description: Some("not found".into()) });
        assert_eq!(lime::Reason::from(dto), core);
        let bare = ReasonDto { code: 1, description: None };
        assert_eq!(lime::Reason::from(bare.clone()).description, None);
        assert_eq!(ReasonDto::from(&lime::Reason::from(bare.clone())), bare);
    }
}
