//! The closed sets of LIME as plain Dart enums, mirroring [`lime::enums`].
//!
//! The core enums are `#[non_exhaustive]`; these mirrors are exhaustive so the generated Dart
//! enums can be switched over. Converting a core value that a later lime-core might add falls
//! back to the documented variant of each `From` impl.

/// Session state ([`lime::SessionState`]); the order is the protocol's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SessionStateDto {
    /// `new`
    New,
    /// `negotiating`
    Negotiating,
    /// `authenticating`
    Authenticating,
    /// `established`
    Established,
    /// `finishing`
    Finishing,
    /// `finished`
    Finished,
    /// `failed`
    Failed,
}

/// Session encryption ([`lime::SessionEncryption`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SessionEncryptionDto {
    /// `none`
    None,
    /// `tls`
    Tls,
}

/// Session compression ([`lime::SessionCompression`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SessionCompressionDto {
    /// `none`
    None,
    /// `gzip`
    Gzip,
}

/// Authentication scheme ([`lime::AuthenticationScheme`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthenticationSchemeDto {
    /// `guest`
    Guest,
    /// `plain`
    Plain,
    /// `transport`
    Transport,
    /// `key`
    Key,
    /// `external`
    External,
}

/// Command method ([`lime::CommandMethod`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CommandMethodDto {
    /// `get`
    Get,
    /// `set`
    Set,
    /// `delete`
    Delete,
    /// `subscribe`
    Subscribe,
    /// `unsubscribe`
    Unsubscribe,
    /// `observe`
    Observe,
    /// `merge`
    Merge,
}

/// Command status ([`lime::CommandStatus`]); `Pending` marks a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CommandStatusDto {
    /// `pending` (a request; never written)
    Pending,
    /// `success`
    Success,
    /// `failure`
    Failure,
}

/// Notification event ([`lime::NotificationEvent`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NotificationEventDto {
    /// `failed`
    Failed,
    /// `accepted`
    Accepted,
    /// `validated` (obsolete)
    Validated,
    /// `authorized` (obsolete)
    Authorized,
    /// `dispatched`
    Dispatched,
    /// `received`
    Received,
    /// `consumed`
    Consumed,
    /// `deleted`
    Deleted,
}

/// Generates both conversions between a core enum and its mirror. `$fallback` is the mirror
/// value of a core variant this version does not know (the core enums are non-exhaustive).
macro_rules! mirror {
    ($dto:ident, $core:ty, fallback $fallback:ident, { $($v:ident),+ $(,)? }) => {
        impl From<$dto> for $core {
            fn from(v: $dto) -> Self {
                match v {
                    $($dto::$v => Self::$v,)+
                }
            }
        }

        impl From<$core> for $dto {
            fn from(v: $core) -> Self {
                match v {
                    $(<$core>::$v => Self::$v,)+
                    #[allow(unreachable_patterns)]
                    _ => Self::$fallback,
                }
            }
        }
    };
}

mirror!(SessionStateDto, lime::SessionState, fallback Failed, {
    New, Negotiating, Authenticating, Established, Finishing, Finished, Failed,
});
mirror!(SessionEncryptionDto, lime::SessionEncryption, fallback None, { None, Tls });
mirror!(SessionCompressionDto, lime::SessionCompression, fallback None, { None, Gzip });
mirror!(AuthenticationSchemeDto, lime::AuthenticationScheme, fallback Guest, {
    Guest, Plain, Transport, Key, External,
});
mirror!(CommandMethodDto, lime::CommandMethod, fallback Get, {
    Get, Set, Delete, Subscribe, Unsubscribe, Observe, Merge,
});
mirror!(CommandStatusDto, lime::CommandStatus, fallback Failure, { Pending, Success, Failure });
mirror!(NotificationEventDto, lime::NotificationEvent, fallback Failed, {
    Failed, Accepted, Validated, Authorized, Dispatched, Received, Consumed, Deleted,
});

#[cfg(test)]
mod tests {
    use super::*;

    /// Every core value maps to the mirror with the same wire spelling and back.
    #[test]
    fn mirrors_round_trip_every_core_value() {
        fn check<C, D>(all: &[C])
        where
            C: Copy + PartialEq + std::fmt::Debug + std::fmt::Display + From<D>,
            D: Copy + std::fmt::Debug + From<C>,
        {
            for &c in all {
                let d = D::from(c);
                assert_eq!(C::from(d), c, "{c} via {d:?}");
                assert!(format!("{d:?}").eq_ignore_ascii_case(&c.to_string()), "{c} vs {d:?}");
            }
        }
        check::<_, SessionStateDto>(lime::SessionState::ALL);
        check::<_, SessionEncryptionDto>(lime::SessionEncryption::ALL);
        check::<_, SessionCompressionDto>(lime::SessionCompression::ALL);
        check::<_, AuthenticationSchemeDto>(lime::AuthenticationScheme::ALL);
        check::<_, CommandMethodDto>(lime::CommandMethod::ALL);
        check::<_, CommandStatusDto>(lime::CommandStatus::ALL);
        check::<_, NotificationEventDto>(lime::NotificationEvent::ALL);
    }
}
