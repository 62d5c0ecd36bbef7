//! Property tests: generated envelopes survive serialize → parse, and no input panics the
//! parser or the framing codec.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use lime::{
    Authentication, AuthenticationScheme, Command, CommandMethod, CommandStatus, Document,
    Envelope, EnvelopeDecoder, FrameError, Message, Node, Notification, NotificationEvent, Reason,
    Session, SessionCompression, SessionEncryption, SessionState,
};
use proptest::{collection::vec, option, prelude::*};
use serde_json::{Map, Value};

fn name_part() -> impl Strategy<Value = String> {
    // Names and domains exclude `@` and `/` (they delimit) and must not be blank.
    "[a-zA-Z0-9._%!#~-]{1,12}|[a-zé ñ中]{0,3}[a-z]{1,3}"
}

fn node() -> impl Strategy<Value = Node> {
    (name_part(), name_part(), option::of("[a-zA-Z0-9/!#:. é-]{0,12}"))
        .prop_map(|(n, d, i)| Node::new(Some(&n), Some(&d), i.as_deref()))
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        ".{0,10}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            vec((".{0,6}", inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn document() -> impl Strategy<Value = Document> {
    prop_oneof![
        ".{0,40}".prop_map(Document::text),
        vec(("[a-z]{1,6}", json_value()), 0..4).prop_map(|kv| {
            Document::json(Value::Object(kv.into_iter().collect::<Map<_, _>>()))
        }),
        ("[a-z]{1,8}", json_value().prop_filter("null is no document", |v| !v.is_null())).prop_map(
            |(sub, v)| {
                let mt = format!("application/vnd.test.{sub}+json").parse().unwrap();
                Document::new(mt, v)
            }
        ),
    ]
}

fn reason() -> impl Strategy<Value = Reason> {
    (any::<i32>(), option::of(".{0,20}"))
        .prop_map(|(code, description)| Reason { code, description })
}

#[derive(Debug, Clone)]
struct Header {
    id: Option<String>,
    from: Option<Node>,
    pp: Option<Node>,
    to: Option<Node>,
    metadata: Option<lime::Metadata>,
}

fn header() -> impl Strategy<Value = Header> {
    (
        option::of(".{0,36}"),
        option::of(node()),
        option::of(node()),
        option::of(node()),
        option::of(vec(("[a-z#$]{1,8}", ".{0,8}"), 0..3)),
    )
        .prop_map(|(id, from, pp, to, md)| Header {
            id,
            from,
            pp,
            to,
            metadata: md.map(|kv| kv.into_iter().collect()),
        })
}

fn pick<T: Copy + std::fmt::Debug + 'static>(all: &'static [T]) -> impl Strategy<Value = T> {
    proptest::sample::select(all)
}

fn authentication() -> impl Strategy<Value = Authentication> {
    (
        pick(AuthenticationScheme::ALL),
        option::of("[A-Za-z0-9+/=]{0,16}"),
        option::of("[a-z.]{0,10}"),
    )
        .prop_map(|(scheme, secret, issuer)| match scheme {
            AuthenticationScheme::Plain => Authentication::Plain { password: secret },
            AuthenticationScheme::Key => Authentication::Key { key: secret },
            AuthenticationScheme::External => Authentication::External { token: secret, issuer },
            other => Authentication::empty(other),
        })
}

fn envelope() -> impl Strategy<Value = Envelope> {
    let message = (header(), document()).prop_map(|(h, content)| {
        Envelope::Message(Message {
            id: h.id,
            from: h.from,
            pp: h.pp,
            to: h.to,
            metadata: h.metadata,
            content: Some(content),
        })
    });
    let notification = (header(), pick(NotificationEvent::ALL), option::of(reason())).prop_map(
        |(h, event, reason)| {
            Envelope::Notification(Notification {
                id: h.id,
                from: h.from,
                pp: h.pp,
                to: h.to,
                metadata: h.metadata,
                event,
                reason,
            })
        },
    );
    let command = (
        header(),
        pick(CommandMethod::ALL),
        pick(CommandStatus::ALL),
        option::of(prop_oneof![
            "/[a-z/?=&%]{0,20}[a-z]",
            "lime://[a-z]{1,5}@[a-z.]{1,8}/[a-z]{1,8}"
        ]),
        option::of(document()),
        option::of(reason()),
    )
        .prop_map(|(h, method, status, uri, resource, reason)| {
            Envelope::Command(Command {
                id: h.id,
                from: h.from,
                pp: h.pp,
                to: h.to,
                metadata: h.metadata,
                uri: uri.map(|u| u.parse().unwrap()),
                method,
                status,
                resource,
                reason,
            })
        });
    let session = (
        header(),
        pick(SessionState::ALL),
        option::of(vec(pick(SessionEncryption::ALL), 0..3)),
        option::of(pick(SessionEncryption::ALL)),
        option::of(vec(pick(SessionCompression::ALL), 0..3)),
        option::of(pick(SessionCompression::ALL)),
        option::of(vec(pick(AuthenticationScheme::ALL), 0..3)),
        option::of(authentication()),
        option::of(reason()),
    )
        .prop_map(|(h, state, eo, e, co, c, so, authentication, reason)| {
            Envelope::Session(Session {
                id: h.id,
                from: h.from,
                pp: h.pp,
                to: h.to,
                metadata: h.metadata,
                state,
                encryption_options: eo,
                encryption: e,
                compression_options: co,
                compression: c,
                scheme_options: so,
                authentication,
                reason,
            })
        });
    prop_oneof![message, notification, command, session]
}

/// Text messages as applications send them (the shape `Envelope::write_json` writes without
/// serde), with the characters JSON escapes and node texts that do not display as themselves
/// mixed in.
fn text_message() -> impl Strategy<Value = Envelope> {
    let text = || {
        prop_oneof![
            4 => "[a-zA-Z0-9 é中\u{7f}/]{0,24}",
            1 => "[a-zA-Z0-9 é中\"\\\\\u{1}\u{1f}\u{7f}/]{0,24}",
        ]
    };
    let node_text = prop_oneof![
        4 => (name_part(), name_part(), "[a-z0-9]{0,6}").prop_map(|(n, d, i)| format!("{n}@{d}/{i}")),
        1 => Just("a@b@c".to_owned()),
        1 => Just(" @b/x".to_owned()),
        1 => Just("q\"uote@x/1".to_owned()),
        1 => Just("name".to_owned()),
    ];
    let node = node_text.prop_map(|t| t.parse::<Node>().unwrap());
    let media_type =
        prop_oneof![Just("text/plain"), Just("text/x-\"q"), Just("application/x-custom")];
    (
        option::of(text()),
        option::of(node.clone()),
        option::of(node.clone()),
        option::of(node),
        text(),
        media_type,
    )
        .prop_map(|(id, from, pp, to, content, mt)| {
            let doc = Document::new(mt.parse().unwrap(), Value::String(content));
            Envelope::Message(Message { id, from, pp, to, metadata: None, content: Some(doc) })
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn the_fast_writer_writes_what_serde_writes(env in prop_oneof![text_message(), envelope()]) {
        let fast = env.to_vec();
        let serde = serde_json::to_vec(&env).unwrap();
        prop_assert_eq!(String::from_utf8_lossy(&fast), String::from_utf8_lossy(&serde));
    }

    #[test]
    fn serialize_then_parse_is_identity(env in envelope()) {
        let json = env.to_json();
        let back: Envelope = json.parse().map_err(|e| TestCaseError::fail(format!("{e}: {json}")))?;
        prop_assert_eq!(&back, &env, "{}", json);
        prop_assert_eq!(back.to_json(), json);
    }

    #[test]
    fn envelopes_survive_any_chunking(envs in vec(envelope(), 1..5), cuts in vec(any::<usize>(), 0..8), garbage in "[ \r\n\t]{0,3}") {
        let mut stream = Vec::new();
        for env in &envs {
            stream.extend_from_slice(garbage.as_bytes());
            env.write_json(&mut stream);
        }
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
        points.sort_unstable();
        let mut decoder = EnvelopeDecoder::new();
        let mut got = Vec::new();
        let mut last = 0;
        for p in points.into_iter().chain([stream.len()]) {
            decoder.push(&stream[last..p]);
            last = p;
            while let Some((_, env)) = decoder.next_envelope().map_err(|e| TestCaseError::fail(e.to_string()))? {
                got.push(env);
            }
        }
        prop_assert!(decoder.finish().is_ok());
        prop_assert_eq!(got, envs);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..512), max in 1usize..256) {
        let _ = Envelope::from_slice(&bytes);
        let mut decoder = EnvelopeDecoder::with_max_envelope_size(max);
        for chunk in bytes.chunks(7) {
            decoder.push(chunk);
            loop {
                match decoder.next_envelope() {
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(e) => {
                        let expected = matches!(e, FrameError::TooLarge { .. } | FrameError::Invalid { .. });
                        prop_assert!(expected, "unexpected error {:?}", e);
                        return Ok(());
                    }
                }
            }
            prop_assert!(decoder.buffered() <= max + 7, "buffered {} with max {}", decoder.buffered(), max);
        }
        let _ = decoder.finish();
    }

    #[test]
    fn json_like_noise_never_panics(s in r#"[{}\[\]":,\\ a-z0-9.@/-]{0,200}"#) {
        let _ = Envelope::from_slice(s.as_bytes());
        let mut decoder = EnvelopeDecoder::with_max_envelope_size(64);
        decoder.push(s.as_bytes());
        while let Ok(Some(_)) = decoder.next_envelope() {}
        let _ = decoder.finish();
    }

    #[test]
    fn node_display_parse_round_trip(n in node()) {
        let shown = n.to_string();
        let back: Node = shown.parse().map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert_eq!(back.to_string(), shown);
        prop_assert_eq!(back, n);
    }

    #[test]
    fn node_parse_never_panics(s in ".{0,30}") {
        if let Ok(n) = s.parse::<Node>() {
            // whatever parses displays to something that parses to an equal node
            let again: Node = n.to_string().parse().map_err(|e| TestCaseError::fail(format!("{s:?}: {e}")))?;
            prop_assert_eq!(again.to_string(), n.to_string());
        }
    }
}
