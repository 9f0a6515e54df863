//! Keys: parsed once, here, from the request path. Handlers only ever see a
//! [`Key`], so a key that reaches storage is always valid Cassandra `text`.

use std::fmt;

/// The partition key limit of Cassandra: a longer key cannot be stored.
pub const MAX_KEY_BYTES: usize = 65_535;

/// A key as stored: the single, percent-decoded path segment after the base URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key(String);

impl Key {
    pub fn as_str(&self) -> &str {
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
        Ok(Key(s.to_owned()))
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a path under the base URI does not name a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyError {
    /// 404: empty key, or more than one path segment.
    NotFound,
    /// 400: a query string, a malformed percent-escape, a key that is not
    /// UTF-8, or one longer than [`MAX_KEY_BYTES`].
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
    let s = String::from_utf8(decoded).map_err(|_| KeyError::BadRequest)?;
    if s.len() > MAX_KEY_BYTES {
        return Err(KeyError::BadRequest);
    }
    Ok(Key(s))
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

/// Whether every `%` in `input` is followed by two hex digits, without
/// decoding.
pub(crate) fn escapes_valid(input: &[u8]) -> bool {
    let mut i = 0;
    while let Some(at) = input[i..].iter().position(|&b| b == b'%') {
        let at = i + at;
        match (input.get(at + 1), input.get(at + 2)) {
            (Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => i = at + 3,
            _ => return false,
        }
    }
    true
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
        assert_eq!(parse("bad%zzescape", None), Err(KeyError::BadRequest));
        assert_eq!(parse("trailing%4", None), Err(KeyError::BadRequest));
        for s in ["", "a", "%41", "a%2fb%2F", "%e2%98%83x"] {
            assert!(escapes_valid(s.as_bytes()), "{s}");
        }
        for s in ["%", "%4", "a%zz", "%41%g0", "x%"] {
            assert!(!escapes_valid(s.as_bytes()), "{s}");
        }
    }

    #[test]
    fn key_length_limit() {
        let at = "k".repeat(MAX_KEY_BYTES);
        assert_eq!(
            parse(&at, None).map(|k| k.as_str().len()),
            Ok(MAX_KEY_BYTES)
        );
        let over = "k".repeat(MAX_KEY_BYTES + 1);
        assert_eq!(parse(&over, None), Err(KeyError::BadRequest));
        assert_eq!(Key::new(&over), Err(KeyError::BadRequest));
    }
}
