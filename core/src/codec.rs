//! The LIME stream framing codec (sans-IO).
//!
//! LIME over TCP has no length prefix and no delimiter: a receiver finds each envelope by
//! counting braces, ignoring braces inside JSON strings (and escaped quotes inside those), and
//! skips any bytes between envelopes (PROTOCOL §2.2). [`FrameDecoder`] does exactly that over a
//! caller-owned [`BytesMut`], scanning every byte once however the stream is chunked, and never
//! holds more than the configured maximum envelope size (8 MiB by default) plus one read.
//!
//! [`EnvelopeDecoder`] owns its buffer and also parses the frames: it is what `lime decode`
//! and the TCP transport use.
//!
//! # Examples
//!
//! ```
//! use lime::{EnvelopeDecoder, EnvelopeKind};
//!
//! let mut decoder = EnvelopeDecoder::new();
//! decoder.push(br#"{"state":"new"} {"id":"1","to":"a@b/c","type":"text/pl"#);
//! let (offset, first) = decoder.next_envelope()?.expect("a whole envelope");
//! assert_eq!((offset, first.kind()), (0, EnvelopeKind::Session));
//! assert!(decoder.next_envelope()?.is_none()); // the second one is incomplete
//! decoder.push(br#"ain","content":"hi"}"#);
//! assert_eq!(decoder.next_envelope()?.expect("now complete").0, 16);
//! decoder.finish()?;
//! # Ok::<(), lime::FrameError>(())
//! ```

use bytes::{Buf, Bytes, BytesMut};
use memchr::{memchr, memchr2, memchr3};

use crate::{envelope::Envelope, error::FrameError};

/// The default maximum size of one envelope: 8 MiB, as in the C# transports.
pub const DEFAULT_MAX_ENVELOPE_SIZE: usize = 8 * 1024 * 1024;

/// One envelope's bytes, cut from the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Stream offset of the envelope's opening brace.
    pub offset: u64,
    /// The bytes from `{` to the matching `}` inclusive.
    pub bytes: Bytes,
}

/// Incremental brace-counting framer. See the [module docs](self).
#[derive(Clone, Debug)]
pub struct FrameDecoder {
    max: usize,
    /// Stream offset of `buf[0]`.
    offset: u64,
    /// Whether `buf[0]` is the `{` of an envelope in progress.
    started: bool,
    /// Next index of `buf` to scan.
    pos: usize,
    depth: u32,
    in_string: bool,
    escaped: bool,
    error: Option<FrameError>,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameDecoder {
    /// A decoder with the default 8 MiB limit.
    pub fn new() -> Self {
        Self::with_max_envelope_size(DEFAULT_MAX_ENVELOPE_SIZE)
    }

    /// A decoder that rejects envelopes larger than `max` bytes.
    pub fn with_max_envelope_size(max: usize) -> Self {
        Self {
            max,
            offset: 0,
            started: false,
            pos: 0,
            depth: 0,
            in_string: false,
            escaped: false,
            error: None,
        }
    }

    /// The configured limit.
    pub fn max_envelope_size(&self) -> usize {
        self.max
    }

    /// True while an envelope has started but not ended, i.e. ending the stream now would
    /// truncate it.
    pub fn is_inside_envelope(&self) -> bool {
        self.started
    }

    /// Cuts the next complete envelope out of `buf`, consuming it and any bytes before it.
    ///
    /// Returns `Ok(None)` when more bytes are needed. After an error the decoder keeps
    /// returning it: the stream cannot be resynchronised safely.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        if let Some(err) = &self.error {
            return Err(err.clone());
        }
        if !self.started {
            match memchr(b'{', buf) {
                None => {
                    self.offset += buf.len() as u64;
                    buf.clear();
                    return Ok(None);
                }
                Some(i) => {
                    buf.advance(i);
                    self.offset += i as u64;
                    self.started = true;
                    self.pos = 1;
                    self.depth = 1;
                    self.in_string = false;
                    self.escaped = false;
                }
            }
        }
        match self.scan(buf) {
            Some(end) if end < self.max => {
                let bytes = buf.split_to(end + 1).freeze();
                let frame = Frame { offset: self.offset, bytes };
                self.offset += (end + 1) as u64;
                self.started = false;
                self.pos = 0;
                Ok(Some(frame))
            }
            Some(_) => Err(self.too_large()),
            None if buf.len() > self.max => Err(self.too_large()),
            None => Ok(None),
        }
    }

    /// Call at the end of the stream: fails when it ended inside an envelope.
    pub fn finish(&self) -> Result<(), FrameError> {
        match &self.error {
            Some(err) => Err(err.clone()),
            None if self.started => Err(FrameError::Truncated { offset: self.offset }),
            None => Ok(()),
        }
    }

    fn too_large(&mut self) -> FrameError {
        let err = FrameError::TooLarge { offset: self.offset, limit: self.max };
        self.error = Some(err.clone());
        err
    }

    /// Scans from `pos`; returns the index of the closing brace when the envelope is complete.
    fn scan(&mut self, buf: &[u8]) -> Option<usize> {
        let len = buf.len();
        let mut i = self.pos;
        if self.escaped && i < len {
            self.escaped = false;
            i += 1;
        }
        while i < len {
            if self.in_string {
                match memchr2(b'"', b'\\', &buf[i..]) {
                    None => i = len,
                    Some(j) => {
                        i += j;
                        if buf[i] == b'\\' {
                            if i + 1 < len {
                                i += 2;
                            } else {
                                self.escaped = true;
                                i += 1;
                            }
                        } else {
                            self.in_string = false;
                            i += 1;
                        }
                    }
                }
            } else {
                match memchr3(b'"', b'{', b'}', &buf[i..]) {
                    None => i = len,
                    Some(j) => {
                        i += j;
                        match buf[i] {
                            b'"' => self.in_string = true,
                            b'{' => self.depth += 1,
                            _ => {
                                self.depth -= 1;
                                if self.depth == 0 {
                                    return Some(i);
                                }
                            }
                        }
                        i += 1;
                    }
                }
            }
        }
        self.pos = i;
        None
    }
}

/// A [`FrameDecoder`] with its own buffer that also parses each frame into an [`Envelope`].
#[derive(Clone, Debug, Default)]
pub struct EnvelopeDecoder {
    frames: FrameDecoder,
    buf: BytesMut,
}

impl EnvelopeDecoder {
    /// A decoder with the default 8 MiB limit.
    pub fn new() -> Self {
        Self::default()
    }

    /// A decoder that rejects envelopes larger than `max` bytes.
    pub fn with_max_envelope_size(max: usize) -> Self {
        Self { frames: FrameDecoder::with_max_envelope_size(max), buf: BytesMut::new() }
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete envelope with the stream offset of its opening brace, or `Ok(None)`
    /// when more bytes are needed. A frame that is not a valid envelope is an error naming its
    /// offset; like every other error it ends the stream.
    pub fn next_envelope(&mut self) -> Result<Option<(u64, Envelope)>, FrameError> {
        let Some(frame) = self.next_frame()? else { return Ok(None) };
        match Envelope::from_slice(&frame.bytes) {
            Ok(env) => Ok(Some((frame.offset, env))),
            Err(error) => {
                let err = FrameError::Invalid { offset: frame.offset, error };
                self.frames.error = Some(err.clone());
                Err(err)
            }
        }
    }

    /// The next complete frame, unparsed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        self.frames.decode(&mut self.buf)
    }

    /// Call at the end of the stream: fails when it ended inside an envelope.
    pub fn finish(&self) -> Result<(), FrameError> {
        self.frames.finish()
    }

    /// Bytes received and not yet returned.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(chunks: &[&[u8]], max: usize) -> (Vec<String>, Option<FrameError>) {
        let mut dec = FrameDecoder::with_max_envelope_size(max);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for chunk in chunks {
            buf.extend_from_slice(chunk);
            loop {
                match dec.decode(&mut buf) {
                    Ok(Some(f)) => out.push(String::from_utf8(f.bytes.to_vec()).unwrap()),
                    Ok(None) => break,
                    Err(e) => return (out, Some(e)),
                }
            }
        }
        (out, dec.finish().err())
    }

    #[test]
    fn several_per_chunk_and_garbage_between() {
        let (f, e) = frames(&[b" \r\n{\"a\":1}xx}{\"b\":{\"c\":2}}\n"], 100);
        assert_eq!(f, ["{\"a\":1}", "{\"b\":{\"c\":2}}"]);
        assert_eq!(e, None);
    }

    #[test]
    fn braces_and_escapes_inside_strings() {
        let input = br#"{"a":"}{\"\\","b":"\\"}"#;
        for split in 0..input.len() {
            let (f, e) = frames(&[&input[..split], &input[split..]], 100);
            assert_eq!(f, [std::str::from_utf8(input).unwrap()], "split at {split}");
            assert_eq!(e, None);
        }
    }

    #[test]
    fn byte_by_byte() {
        let input = br#"{"state":"new"}{"x":"{"}"#;
        let chunks: Vec<&[u8]> = input.chunks(1).collect();
        let (f, e) = frames(&chunks, 100);
        assert_eq!(f, [r#"{"state":"new"}"#, r#"{"x":"{"}"#]);
        assert_eq!(e, None);
    }

    #[test]
    fn too_large_is_reported_before_the_end_arrives() {
        let (f, e) = frames(&[b"{\"a\":1}  {\"b\":\"0123456789"], 10);
        assert_eq!(f, ["{\"a\":1}"]);
        assert_eq!(e, Some(FrameError::TooLarge { offset: 9, limit: 10 }));
        // exactly the limit is fine
        let (f, e) = frames(&[b"{\"ab\":\"c\"}"], 10);
        assert_eq!((f.len(), e), (1, None));
    }

    #[test]
    fn truncated_at_end() {
        let (f, e) = frames(&[b"{\"a\":1} {\"b\""], 100);
        assert_eq!(f.len(), 1);
        assert_eq!(e, Some(FrameError::Truncated { offset: 8 }));
    }

    #[test]
    fn garbage_is_never_buffered() {
        let mut dec = FrameDecoder::with_max_envelope_size(16);
        let mut buf = BytesMut::from(&[b'x'; 1000][..]);
        assert_eq!(dec.decode(&mut buf), Ok(None));
        assert!(buf.is_empty());
    }

    #[test]
    fn invalid_frames_name_their_offset() {
        let mut dec = EnvelopeDecoder::new();
        dec.push(b"{\"state\":\"new\"}\n{\"nope\":1}{\"state\":\"new\"}");
        assert!(dec.next_envelope().unwrap().is_some());
        let err = dec.next_envelope().unwrap_err();
        assert_eq!(err.offset(), 16);
        assert_eq!(err.kind(), "not_envelope");
        assert!(dec.next_envelope().is_err(), "errors are sticky");
    }
}
