//! Helpers the fuzz targets share: splitting one input into several, and independent
//! references for the properties they assert.

/// Splits `data` in two at the first `0xFF` byte (never part of UTF-8 text), or `(data, [])`.
pub fn split2(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == 0xFF) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[]),
    }
}

/// Inverse of cache-keys' id escaping (`%XX` per byte) for a tag that was not shortened;
/// `None` when the tag is not a well-formed escaping.
pub fn unescape_tag(tag: &str) -> Option<String> {
    let raw = tag.as_bytes();
    let mut bytes = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            let hex = std::str::from_utf8(raw.get(i + 1..i + 3)?).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            bytes.push(raw[i]);
            i += 1;
        }
    }
    String::from_utf8(bytes).ok()
}

/// A CSV field quoted the RFC 4180 way, whatever it holds.
pub fn csv_field(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}
