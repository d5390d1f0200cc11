//! Random tokens: isolation secrets, SOCKS credentials, names of private directories.

use std::io;

use zeroize::Zeroizing;

/// `N` random bytes as lowercase hex; the bytes and the text are wiped when dropped.
pub(crate) fn hex<const N: usize>() -> io::Result<Zeroizing<String>> {
    let mut raw = Zeroizing::new([0u8; N]);
    getrandom::fill(raw.as_mut_slice()).map_err(|e| io::Error::other(e.to_string()))?;
    let mut text = Zeroizing::new(String::with_capacity(2 * N));
    torify_core::hex::encode_into(raw.as_slice(), &mut text);
    Ok(text)
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_has_two_digits_per_byte_and_differs() {
        let (a, b) = (super::hex::<16>().unwrap(), super::hex::<16>().unwrap());
        assert_eq!(a.len(), 32);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_ne!(*a, *b);
    }
}
