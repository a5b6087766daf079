//! The HTML page's inline style sheet and script are allowed by the
//! Content-Security-Policy through their SHA-256 hashes; the constants must
//! match the code.

use maskcalc::render::html::{SCRIPT, SCRIPT_SHA256, STYLE, STYLE_SHA256};
use sha2::{Digest, Sha256};

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn sha256_base64(text: &str) -> String {
    base64(&Sha256::digest(text.as_bytes()))
}

#[test]
fn base64_matches_rfc_4648_examples() {
    assert_eq!(base64(b""), "");
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foobar"), "Zm9vYmFy");
}

#[test]
fn csp_hashes_match_the_inline_code() {
    assert_eq!(
        STYLE_SHA256,
        sha256_base64(STYLE),
        "update STYLE_SHA256 in crates/maskcalc/src/render/html.rs"
    );
    assert_eq!(
        SCRIPT_SHA256,
        sha256_base64(SCRIPT),
        "update SCRIPT_SHA256 in crates/maskcalc/src/render/html.rs"
    );
}
