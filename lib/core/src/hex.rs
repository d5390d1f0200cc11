//! Lowercase hex of tokens and back: how isolation tokens and secrets travel in the
//! environment and in SOCKS credentials, written the same way by the launcher and the library.

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Appends `bytes` as lowercase hex to `out`. The room is reserved first, so the text of a
/// secret is never left behind in a buffer a reallocation gave up.
pub fn encode_into(bytes: &[u8], out: &mut String) {
    out.reserve(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
}

/// `bytes` as lowercase hex.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::new();
    encode_into(bytes, &mut out);
    out
}

/// The `N` bytes written as exactly `2N` hex digits (either case), or `None`.
pub fn decode<const N: usize>(text: &str) -> Option<[u8; N]> {
    let text = text.as_bytes();
    if text.len() != 2 * N {
        return None;
    }
    let digit = |c: u8| {
        char::from(c)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        *byte = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_refuses_what_is_not_hex() {
        let bytes = [0x00, 0x7f, 0x80, 0xff, 0x12];
        assert_eq!(encode(&bytes), "007f80ff12");
        assert_eq!(decode::<5>("007F80ff12"), Some(bytes));
        assert_eq!(decode::<5>("007f80ff1"), None);
        assert_eq!(decode::<5>("007f80ff1g"), None);
        assert_eq!(decode::<2>("+1ff"), None);
        let mut out = String::from("torify-");
        encode_into(&[0xab], &mut out);
        assert_eq!(out, "torify-ab");
    }
}
