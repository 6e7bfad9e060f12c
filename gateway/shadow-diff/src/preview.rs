//! Previews of values that are not JSON: header values and body bytes.

use http::HeaderValue;

use crate::canonical::{ELLIPSIS, write_json_str};

/// Bytes of a non-JSON body shown before the first difference.
const PREVIEW_CONTEXT: usize = 16;
/// Characters of a UTF-8 body preview.
const PREVIEW_CHARS: usize = 48;
/// Bytes of a binary body preview (shown as hex).
const PREVIEW_BYTES: usize = 24;

/// A header's values as shown in a difference: one JSON string, or a JSON
/// array of strings when repeated; `None` when the header is absent.
pub(crate) fn header_preview(values: &[&HeaderValue]) -> Option<String> {
    let text = |v: &HeaderValue| {
        let mut out = String::new();
        write_json_str(&mut out, &String::from_utf8_lossy(v.as_bytes()));
        out
    };
    match values {
        [] => None,
        [one] => Some(text(one)),
        many => Some(format!(
            "[{}]",
            many.iter().map(|v| text(v)).collect::<Vec<_>>().join(",")
        )),
    }
}

/// `"<n> bytes[, first difference at byte <k>]: <preview>"`; the preview is a
/// JSON string for UTF-8 bodies, hex otherwise, starting a little before the
/// first difference, with `…` where it was cut.
pub(crate) fn bytes_preview(bytes: &[u8], first_difference: Option<usize>) -> String {
    let len = bytes.len();
    let mut out = format!("{len} bytes");
    if let Some(at) = first_difference {
        out.push_str(&format!(", first difference at byte {at}"));
    }
    if len == 0 {
        return out;
    }
    out.push_str(": ");
    let start = first_difference
        .map_or(0, |at| at.saturating_sub(PREVIEW_CONTEXT))
        .min(len);
    match std::str::from_utf8(bytes) {
        Ok(text) => {
            let mut start = start;
            while !text.is_char_boundary(start) {
                start -= 1;
            }
            let tail = &text[start..];
            let shown: String = tail.chars().take(PREVIEW_CHARS).collect();
            if start > 0 {
                out.push(ELLIPSIS);
            }
            write_json_str(&mut out, &shown);
            if shown.len() < tail.len() {
                out.push(ELLIPSIS);
            }
        }
        Err(_) => {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            let end = (start + PREVIEW_BYTES).min(len);
            if start > 0 {
                out.push(ELLIPSIS);
            }
            out.push_str("0x");
            for &b in &bytes[start..end] {
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0x0f)]));
            }
            if end < len {
                out.push(ELLIPSIS);
            }
        }
    }
    out
}
