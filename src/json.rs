//! JSON strings written the way Go's encoding/json writes them (the
//! reference's encoder), so that problem bodies, `/healthz` and log lines
//! match it byte for byte.

use std::fmt::Write;

/// Writes `v` as a JSON string the way Go's encoding/json does (the
/// reference's encoder), so bodies match byte for byte: `<`, `>` and `&`
/// are escaped as `\u003c` ..., U+2028/U+2029 too.
pub(crate) fn push_json_string(out: &mut String, v: &str) {
    out.push('"');
    push_json_chars(out, v);
    out.push('"');
}

/// Writes the bytes `v` as a JSON string the way Go's encoding/json writes
/// a Go string holding them: as [`push_json_string`], and each byte that is
/// not part of valid UTF-8 as `\ufffd` (a U+FFFD that is there as valid
/// UTF-8 is written as it is).
pub(crate) fn push_json_bytes(out: &mut String, v: &[u8]) {
    out.push('"');
    for chunk in v.utf8_chunks() {
        push_json_chars(out, chunk.valid());
        for _ in chunk.invalid() {
            out.push_str("\\ufffd");
        }
    }
    out.push('"');
}

fn push_json_chars(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_is_escaped_like_go() {
        let mut s = String::new();
        push_json_string(&mut s, "a<b>&\"c\\\u{1}\u{2028}\u{e9}");
        assert_eq!(s, r#""a\u003cb\u003e\u0026\"c\\\u0001\u2028é""#);
    }

    #[test]
    fn invalid_utf8_is_escaped_like_go_one_per_byte() {
        let mut s = String::new();
        // A truncated snowman (2 bytes), a lone 0xff, an encoded surrogate
        // (3 bytes), and a real U+FFFD, which stays as it is.
        push_json_bytes(&mut s, b"a\xe2\x98b\xff<\xed\xa0\x80\xef\xbf\xbd");
        assert_eq!(
            s,
            "\"a\\ufffd\\ufffdb\\ufffd\\u003c\\ufffd\\ufffd\\ufffd\u{fffd}\""
        );
    }
}
