//! JSON strings written the way Go's encoding/json writes them (the
//! reference's encoder), so that problem bodies, `/healthz` and log lines
//! match it byte for byte.

use std::fmt::Write;

/// Writes `v` as a JSON string the way Go's encoding/json does (the
/// reference's encoder), so bodies match byte for byte: `<`, `>` and `&`
/// are escaped as `\u003c` ..., U+2028/U+2029 too.
pub(crate) fn push_json_string(out: &mut String, v: &str) {
    out.push('"');
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
    out.push('"');
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
}
