//! Webhook signatures: HMAC-SHA256 of the raw body with the webhook's secret, sent as
//! `X-Haul-Signature: sha256=<lowercase hex>`.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header carrying the signature (`sha256=<hex>`).
pub const SIGNATURE_HEADER: &str = "X-Haul-Signature";
/// The header carrying the event id (receivers drop duplicates by it).
pub const EVENT_HEADER: &str = "X-Haul-Event";

fn mac(secret: &[u8], body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    mac
}

/// The value of [`SIGNATURE_HEADER`] for `body` signed with `secret`: `sha256=<hex>`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let tag = mac(secret, body).finalize().into_bytes();
    let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// Whether `header` (the value of [`SIGNATURE_HEADER`]) is `body`'s signature with `secret`,
/// compared in constant time.
pub fn verify(secret: &[u8], body: &[u8], header: &str) -> bool {
    let Some(hex) = header.trim().strip_prefix("sha256=") else {
        return false;
    };
    if hex.len() != 64 || !hex.is_ascii() {
        return false;
    }
    let bytes: Option<Vec<u8>> = (0..32)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
        .collect();
    bytes.is_some_and(|b| mac(secret, body).verify_slice(&b).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_the_rfc_4231_vector_and_verify() {
        // RFC 4231, test case 2.
        let sig = sign(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            sig,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(verify(b"Jefe", b"what do ya want for nothing?", &sig));
        assert!(!verify(b"Jeff", b"what do ya want for nothing?", &sig));
        assert!(!verify(b"Jefe", b"what do ya want for nothing!", &sig));
        assert!(!verify(b"Jefe", b"x", "sha1=00"));
        assert!(!verify(b"Jefe", b"x", "sha256=zz"));
    }
}
