//! Keys: parsed once, here, from the request path. Handlers only ever see a
//! [`Key`], so a key that reaches storage is always valid Cassandra `text`:
//! the bytes Cassandra 4.1's `text` validator accepts, which is UTF-8 and a
//! little more (encoded surrogates such as `%ED%A0%80`, which Go Kask stores
//! too, the two-byte `%C0%80`, and four-byte sequences up to `%F7%BF%BF%BF`).

use std::fmt;

/// The partition key limit of Cassandra: a longer key cannot be stored.
pub const MAX_KEY_BYTES: usize = 65_535;

/// A key as stored: the single, percent-decoded path segment after the base URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key(Vec<u8>);

impl Key {
    /// The bytes Cassandra stores as the `text` key.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Builds a key from an already-decoded string, with the same rules as
    /// [`parse`] (non-empty, no `/`, at most [`MAX_KEY_BYTES`]).
    #[cfg(test)]
    pub(crate) fn new(s: &str) -> Result<Key, KeyError> {
        if s.is_empty() || s.contains('/') {
            return Err(KeyError::NotFound);
        }
        if s.len() > MAX_KEY_BYTES {
            return Err(KeyError::BadRequest);
        }
        Ok(Key(s.as_bytes().to_vec()))
    }
}

/// As text; what is not UTF-8 shows as U+FFFD.
impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

/// Why a path under the base URI does not name a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyError {
    /// 404: empty key, or more than one path segment.
    NotFound,
    /// 400: a query string, a malformed percent-escape, a key that is not
    /// Cassandra `text` ([`cassandra_text`]), or one longer than
    /// [`MAX_KEY_BYTES`].
    BadRequest,
}

/// Parses the key from `rest`, the raw (still percent-encoded) part of the
/// path after the base URI, and the raw query string. The query is checked
/// first, as the reference does; a bare trailing `?` (empty query) is not a
/// query string.
pub(crate) fn parse(rest: &str, query: Option<&str>) -> Result<Key, KeyError> {
    if query.is_some_and(|q| !q.is_empty()) {
        return Err(KeyError::BadRequest);
    }
    let decoded = percent_decode(rest.as_bytes()).ok_or(KeyError::BadRequest)?;
    if decoded.is_empty() || decoded.contains(&b'/') {
        return Err(KeyError::NotFound);
    }
    if decoded.len() > MAX_KEY_BYTES || !cassandra_text(&decoded) {
        return Err(KeyError::BadRequest);
    }
    Ok(Key(decoded))
}

/// Whether Cassandra 4.1 accepts `b` as `text` (its UTF8Serializer's
/// validator): UTF-8, except that a three-byte sequence may encode a
/// surrogate (`ED A0..BF ..`), `C0 80` (modified UTF-8's NUL) is allowed,
/// and four-byte sequences may lead with `F0`-`F7` (`F0` then `90`-`BF`).
/// Overlong forms other than `C0 80` and stray continuation bytes are not.
pub(crate) fn cassandra_text(b: &[u8]) -> bool {
    let cont = |i: usize| b.get(i).is_some_and(|&c| c & 0xc0 == 0x80);
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let len = match c {
            0x00..=0x7f => 1,
            0xc0 if b.get(i + 1) == Some(&0x80) => 2,
            0xc2..=0xdf if cont(i + 1) => 2,
            0xe0 if b.get(i + 1).is_some_and(|&d| (0xa0..=0xbf).contains(&d)) && cont(i + 2) => 3,
            0xe1..=0xef if cont(i + 1) && cont(i + 2) => 3,
            0xf0 if b.get(i + 1).is_some_and(|&d| (0x90..=0xbf).contains(&d))
                && cont(i + 2)
                && cont(i + 3) =>
            {
                4
            }
            0xf1..=0xf7 if cont(i + 1) && cont(i + 2) && cont(i + 3) => 4,
            _ => return false,
        };
        i += len;
    }
    true
}

/// Strict percent-decoding: `None` on a `%` not followed by two hex digits.
pub(crate) fn percent_decode(input: &[u8]) -> Option<Vec<u8>> {
    if !input.contains(&b'%') {
        return Some(input.to_vec());
    }
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%' {
            let hi = hex(*input.get(i + 1)?)?;
            let lo = hex(*input.get(i + 2)?)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(input[i]);
            i += 1;
        }
    }
    Some(out)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The reference's parse table, plus the cases the contract adds.
    #[test]
    fn parse_table() {
        let ok =
            |rest: &str, key: &str| assert_eq!(parse(rest, None), Ok(Key(key.into())), "{rest}");
        ok("cat", "cat");
        ok("foo%3Fbar", "foo?bar");
        ok("cat%20dog", "cat dog");
        ok("enwiki%3AMWSession%3Aabc123", "enwiki:MWSession:abc123");
        ok("%E2%98%83", "\u{2603}");
        ok("caf\u{e9}", "caf\u{e9}");
        assert_eq!(parse("cat/dog", None), Err(KeyError::NotFound));
        assert_eq!(parse("cat%2Fdog", None), Err(KeyError::NotFound));
        assert_eq!(parse("cat%2fdog", None), Err(KeyError::NotFound));
        assert_eq!(parse("", None), Err(KeyError::NotFound));
        assert_eq!(parse("foo", Some("bar")), Err(KeyError::BadRequest));
        assert_eq!(parse("", Some("bar")), Err(KeyError::BadRequest));
        assert_eq!(parse("foo", Some("")), Ok(Key("foo".into())));
        assert_eq!(parse("%ff%fe", None), Err(KeyError::BadRequest));
        // What Cassandra's text accepts beyond UTF-8, as Go Kask stores it.
        assert_eq!(
            parse("a%ED%A0%80", None).map(|k| k.as_bytes().to_vec()),
            Ok(b"a\xed\xa0\x80".to_vec())
        );
        assert_eq!(parse("bad%zzescape", None), Err(KeyError::BadRequest));
        assert_eq!(parse("trailing%4", None), Err(KeyError::BadRequest));
    }

    #[test]
    fn cassandra_text_is_what_cassandra_4_1_accepts() {
        for ok in [
            &b""[..],
            b"cat",
            "caf\u{e9}\u{2603}\u{1f600}".as_bytes(),
            b"\xed\xa0\x80",     // a high surrogate
            b"\xed\xbf\xbf",     // a low one
            b"\xc0\x80",         // modified UTF-8 NUL
            b"\xf4\x90\x80\x80", // above U+10FFFF
            b"\xf7\xbf\xbf\xbf",
        ] {
            assert!(cassandra_text(ok), "{ok:x?}");
        }
        for bad in [
            &b"\xff"[..],
            b"\x80",
            b"\xc1\xbf", // overlong
            b"\xc0\x81",
            b"\xe0\x80\x80", // overlong
            b"\xe2\x98",     // cut short
            b"\xf0\x80\x80\x80",
            b"\xf8\x80\x80\x80\x80",
            b"a\xc3",
        ] {
            assert!(!cassandra_text(bad), "{bad:x?}");
        }
    }

    #[test]
    fn key_length_limit() {
        let at = "k".repeat(MAX_KEY_BYTES);
        assert_eq!(
            parse(&at, None).map(|k| k.as_bytes().len()),
            Ok(MAX_KEY_BYTES)
        );
        let over = "k".repeat(MAX_KEY_BYTES + 1);
        assert_eq!(parse(&over, None), Err(KeyError::BadRequest));
        assert_eq!(Key::new(&over), Err(KeyError::BadRequest));
    }
}
