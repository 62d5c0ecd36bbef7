//! The closed sets of LIME: session states, encryption and compression options,
//! authentication schemes, command methods and statuses, notification events.
//!
//! Every enum is written in the lowercase spelling of PROTOCOL §1.9 and parsed
//! case-insensitively; an unknown spelling is a [`ParseError::UnknownValue`] naming the
//! accepted values, never a panic.

use std::{fmt, str::FromStr};

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

use crate::error::ParseError;

macro_rules! lime_enum {
    (
        $(#[$meta:meta])* $name:ident, $what:literal {
            $(#[$fmeta:meta])* $first:ident = $first_s:literal
            $(, $(#[$vmeta:meta])* $variant:ident = $s:literal)* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
        #[non_exhaustive]
        pub enum $name {
            $(#[$fmeta])* $first,
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[Self::$first $(, Self::$variant)*];

            /// The wire spelling.
            pub const fn as_str(self) -> &'static str {
                match self {
                    Self::$first => $first_s,
                    $(Self::$variant => $s,)*
                }
            }
        }

        impl FromStr for $name {
            type Err = ParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                if s.eq_ignore_ascii_case($first_s) {
                    return Ok(Self::$first);
                }
                $(if s.eq_ignore_ascii_case($s) {
                    return Ok(Self::$variant);
                })*
                Err(ParseError::unknown($what, s, concat!($first_s $(, ", ", $s)*)))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct V;
                impl de::Visitor<'_> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str(concat!("a ", $what))
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                        v.parse().map_err(E::custom)
                    }
                }
                deserializer.deserialize_str(V)
            }
        }
    };
}

lime_enum! {
    /// The state of a session. The order is significant: the C# implementation compares states
    /// (`state > Authenticating`), so `PartialOrd` follows the declaration order.
    #[derive(Default)]
    SessionState, "session state" {
        /// The client asks for a new session.
        #[default]
        New = "new",
        /// Transport options (encryption, compression) are being negotiated.
        Negotiating = "negotiating",
        /// The client is proving who it is.
        Authenticating = "authenticating",
        /// Messages, notifications and commands may flow.
        Established = "established",
        /// The client asked to end the session.
        Finishing = "finishing",
        /// The session ended normally.
        Finished = "finished",
        /// The session ended with an error (see the session's reason).
        Failed = "failed",
    }
}

impl SessionState {
    /// True for `finished` and `failed`, after which no session envelope may be sent.
    pub const fn is_terminal(self) -> bool {
        matches!(self, Self::Finished | Self::Failed)
    }
}

lime_enum! {
    /// Transport encryption negotiated in the `negotiating` state.
    SessionEncryption, "session encryption" {
        /// Plain text.
        None = "none",
        /// TLS, started on the same connection right after the negotiation confirmation.
        Tls = "tls",
    }
}

lime_enum! {
    /// Transport compression negotiated in the `negotiating` state.
    SessionCompression, "session compression" {
        /// No compression.
        None = "none",
        /// gzip (implemented by no other peer; offered only when both ends enable it).
        Gzip = "gzip",
    }
}

lime_enum! {
    /// How a client proves its identity.
    AuthenticationScheme, "authentication scheme" {
        /// No credentials.
        Guest = "guest",
        /// A password (base64 on the wire).
        Plain = "plain",
        /// The TLS client certificate.
        Transport = "transport",
        /// A key (base64 on the wire).
        Key = "key",
        /// A token issued by an external authority.
        External = "external",
    }
}

lime_enum! {
    /// What a command does with its resource.
    #[derive(Default)]
    CommandMethod, "command method" {
        /// Read the resource.
        #[default]
        Get = "get",
        /// Create or replace the resource.
        Set = "set",
        /// Delete the resource.
        Delete = "delete",
        /// Subscribe to changes of the resource.
        Subscribe = "subscribe",
        /// Cancel a subscription.
        Unsubscribe = "unsubscribe",
        /// One-way notification of a change (no response).
        Observe = "observe",
        /// Merge into the resource.
        Merge = "merge",
    }
}

lime_enum! {
    /// Whether a command is a request (`pending`, implicit) or a response.
    #[derive(Default)]
    CommandStatus, "command status" {
        /// A request; never written on the wire.
        #[default]
        Pending = "pending",
        /// The command succeeded.
        Success = "success",
        /// The command failed (see its reason).
        Failure = "failure",
    }
}

lime_enum! {
    /// What happened to a message, reported by a notification.
    NotificationEvent, "notification event" {
        /// The message could not be handled (see the reason).
        Failed = "failed",
        /// The server accepted the message.
        Accepted = "accepted",
        /// Obsolete: the message was validated.
        Validated = "validated",
        /// Obsolete: the message was authorized.
        Authorized = "authorized",
        /// The message was dispatched to its destination.
        Dispatched = "dispatched",
        /// The destination received the message.
        Received = "received",
        /// The destination consumed (read) the message.
        Consumed = "consumed",
        /// The message was deleted.
        Deleted = "deleted",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_case_insensitively_and_writes_lowercase() {
        assert_eq!("ESTABLISHED".parse::<SessionState>().unwrap(), SessionState::Established);
        assert_eq!(SessionState::Established.to_string(), "established");
        assert_eq!(serde_json::to_string(&CommandMethod::Merge).unwrap(), "\"merge\"");
        assert_eq!(
            serde_json::from_str::<NotificationEvent>("\"Received\"").unwrap(),
            NotificationEvent::Received
        );
    }

    #[test]
    fn unknown_values_name_the_accepted_ones() {
        let err = "sending".parse::<NotificationEvent>().unwrap_err();
        assert_eq!(err.kind(), "unknown_value");
        assert!(err.to_string().contains("failed, accepted"), "{err}");
        assert!(err.to_string().contains("\"sending\""), "{err}");
    }

    #[test]
    fn states_are_ordered_like_csharp() {
        let all = SessionState::ALL;
        assert!(all.windows(2).all(|w| w[0] < w[1]));
        assert!(SessionState::Failed.is_terminal() && !SessionState::Finishing.is_terminal());
    }

    #[test]
    fn every_spelling_round_trips() {
        for m in CommandMethod::ALL {
            assert_eq!(m.as_str().parse::<CommandMethod>().unwrap(), *m);
        }
        for e in NotificationEvent::ALL {
            assert_eq!(e.as_str().parse::<NotificationEvent>().unwrap(), *e);
        }
    }
}
