//! CQL native protocol framing, as far as the relay needs it.
//!
//! A frame is a header and a body of `length` bytes. Versions 1 and 2 have an
//! 8-byte header (one-byte stream id), versions 3 to 5 a 9-byte one (two-byte
//! stream id); v5 switches to checksummed segments only after a successful
//! STARTUP, which a 2.1 node never gives, so every frame seen here is in one
//! of these two shapes.

use bytes::{Bytes, BytesMut};
use std::fmt;

/// Cassandra refuses frames whose body exceeds 256 MiB; so does the relay.
pub const MAX_BODY_LEN: usize = 256 << 20;

/// Opcodes the relay looks at.
pub const OP_STARTUP: u8 = 0x01;
pub const OP_QUERY: u8 = 0x07;
pub const OP_RESULT: u8 = 0x08;

/// Header flags the relay has to honour when it reads a body.
pub const FLAG_COMPRESSION: u8 = 0x01;
pub const FLAG_TRACING: u8 = 0x02;

/// One frame, kept as the exact bytes that arrived.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Protocol version, without the direction bit.
    pub version: u8,
    pub flags: u8,
    pub stream: i16,
    pub opcode: u8,
    header_len: usize,
    raw: Bytes,
}

/// The stream cannot be read as frames; the connection has to go.
#[derive(Debug, PartialEq, Eq)]
pub struct FrameError(pub String);

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FrameError {}

fn header_len(version: u8) -> usize {
    if version <= 2 {
        8
    } else {
        9
    }
}

/// How many bytes the frame at the front of `buf` needs in all, once its
/// header is there; `None` while the header itself is incomplete.
pub fn needed(buf: &[u8]) -> Result<Option<usize>, FrameError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let header = header_len(first & 0x7f);
    if buf.len() < header {
        return Ok(None);
    }
    let len = &buf[header - 4..header];
    let body = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
    if body > MAX_BODY_LEN {
        return Err(FrameError(format!(
            "frame body of {body} bytes is over the limit"
        )));
    }
    Ok(Some(header + body))
}

/// Takes the first complete frame off the front of `buf`, if there is one.
pub fn split(buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
    let Some(total) = needed(buf)? else {
        return Ok(None);
    };
    if buf.len() < total {
        return Ok(None);
    }
    let raw = buf.split_to(total).freeze();
    let version = raw[0] & 0x7f;
    let (stream, opcode) = if version <= 2 {
        (i16::from(raw[2] as i8), raw[3])
    } else {
        (i16::from_be_bytes([raw[2], raw[3]]), raw[4])
    };
    Ok(Some(Frame {
        version,
        flags: raw[1],
        stream,
        opcode,
        header_len: header_len(version),
        raw,
    }))
}

impl Frame {
    /// The frame exactly as it arrived.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    pub fn body(&self) -> &[u8] {
        &self.raw[self.header_len..]
    }

    /// The same header (version, flags, stream, opcode) over a new body.
    pub fn with_body(&self, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.header_len + body.len());
        out.extend_from_slice(&self.raw[..self.header_len - 4]);
        out.extend_from_slice(&(body.len() as u32).to_be_bytes());
        out.extend_from_slice(body);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v3_frame(stream: i16, opcode: u8, body: &[u8]) -> Vec<u8> {
        let mut f = vec![0x03, 0x00];
        f.extend_from_slice(&stream.to_be_bytes());
        f.push(opcode);
        f.extend_from_slice(&(body.len() as u32).to_be_bytes());
        f.extend_from_slice(body);
        f
    }

    #[test]
    fn splits_frames_only_when_complete() {
        let whole = [v3_frame(7, OP_QUERY, b"abc"), v3_frame(-1, 0x0c, b"")].concat();
        let mut buf = BytesMut::from(&whole[..5]);
        assert!(split(&mut buf).unwrap().is_none());
        buf.extend_from_slice(&whole[5..11]);
        assert!(
            split(&mut buf).unwrap().is_none(),
            "body still one byte short"
        );
        buf.extend_from_slice(&whole[11..]);
        let first = split(&mut buf).unwrap().unwrap();
        assert_eq!(
            (first.version, first.stream, first.opcode),
            (3, 7, OP_QUERY)
        );
        assert_eq!(first.body(), b"abc");
        assert_eq!(first.raw(), &whole[..12]);
        let second = split(&mut buf).unwrap().unwrap();
        assert_eq!((second.stream, second.opcode), (-1, 0x0c));
        assert!(buf.is_empty());
    }

    #[test]
    fn old_versions_have_an_eight_byte_header() {
        // v2 response (direction bit set), stream 5, RESULT, body "xy".
        let mut buf = BytesMut::from(&[0x82, 0, 5, OP_RESULT, 0, 0, 0, 2, b'x', b'y'][..]);
        let f = split(&mut buf).unwrap().unwrap();
        assert_eq!((f.version, f.stream, f.opcode), (2, 5, OP_RESULT));
        assert_eq!(f.body(), b"xy");
    }

    #[test]
    fn rebuilt_frame_keeps_header_and_new_length() {
        let mut buf = BytesMut::from(&v3_frame(300, OP_QUERY, b"old")[..]);
        let f = split(&mut buf).unwrap().unwrap();
        assert_eq!(f.with_body(b"newer"), v3_frame(300, OP_QUERY, b"newer"));
    }

    #[test]
    fn oversized_frame_is_an_error() {
        let mut header = vec![0x04, 0, 0, 1, OP_QUERY];
        header.extend_from_slice(&(MAX_BODY_LEN as u32 + 1).to_be_bytes());
        assert!(needed(&header).is_err());
    }
}
