//! One URL path segment, as a platform's URLs carry a name (a Jenkins job, an Azure
//! project with spaces): percent-encoded everything but the unreserved characters; or a
//! number, as they carry an id.

/// `name` percent-encoded as one path segment.
///
/// ```
/// assert_eq!(buildrunner_emulator_engine::encode_segment("a b/c"), "a%20b%2Fc");
/// ```
pub fn encode_segment(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A percent-encoded path segment decoded; `None` for a broken escape or invalid UTF-8.
///
/// ```
/// assert_eq!(buildrunner_emulator_engine::decode_segment("a%20b").as_deref(), Some("a b"));
/// assert_eq!(buildrunner_emulator_engine::decode_segment("a%2"), None);
/// ```
pub fn decode_segment(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = segment.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The number a path segment holds, read strictly, as a CI reads an id: decimal digits only,
/// no sign, no leading zero, at most 20 digits and within `u64`; `None` for anything else.
///
/// ```
/// use buildrunner_emulator_engine::parse_path_number;
/// assert_eq!(parse_path_number("42"), Some(42));
/// assert_eq!(parse_path_number("042"), None);
/// assert_eq!(parse_path_number("+4"), None);
/// assert_eq!(parse_path_number("99999999999999999999"), None);
/// ```
pub fn parse_path_number(text: &str) -> Option<u64> {
    if text.is_empty()
        || text.len() > 20
        || !text.bytes().all(|b| b.is_ascii_digit())
        || text.starts_with('0')
    {
        return None;
    }
    text.parse().ok()
}
