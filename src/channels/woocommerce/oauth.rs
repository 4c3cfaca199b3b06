//! OAuth 1.0a one-legged signing (RFC 5849 §3.4), the way WooCommerce
//! verifies it over plain HTTP (`WC_REST_Authentication::check_oauth_signature`),
//! where it ignores Basic auth.
//!
//! The signature base string is `METHOD&enc(base URI)&enc(normalized)`, where
//! `normalized` is every parameter name and value percent-encoded **once**
//! (RFC 3986 unreserved characters kept), sorted by name then value, joined
//! as `k=v` with `&`. The key is `enc(consumer_secret)&` (no token). Encoding
//! a value twice (`%3A` → `%253A`) is what a real store refuses as "Invalid
//! signature" as soon as a value holds a reserved character, a date's `:`.
//! The contract tests prove this against a real WooCommerce; the stand-in
//! checks it with an independent implementation (the `oauth1-request` crate).

use base64::Engine;
use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha2::Sha256;

/// RFC 3986 §2.3: everything but `ALPHA / DIGIT / "-" / "." / "_" / "~"` is encoded.
const RFC3986: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Percent-encoding as RFC 5849 §3.6 asks (UTF-8, upper-case hex).
pub fn encode(s: &str) -> String {
    utf8_percent_encode(s, RFC3986).to_string()
}

/// The signature base string of a request (RFC 5849 §3.4.1).
pub fn base_string(method: &str, url_without_query: &str, params: &[(String, String)]) -> String {
    let mut pairs: Vec<(String, String)> =
        params.iter().filter(|(k, _)| k != "oauth_signature").map(|(k, v)| (encode(k), encode(v))).collect();
    pairs.sort();
    let normalized = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
    format!("{}&{}&{}", method.to_uppercase(), encode(url_without_query), encode(&normalized))
}

/// The base64 HMAC-SHA256 signature of a request.
pub fn signature(method: &str, url_without_query: &str, params: &[(String, String)], consumer_secret: &str) -> String {
    let key = format!("{}&", encode(consumer_secret));
    // HMAC takes a key of any length, so this cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key.as_bytes()) else { return String::new() };
    mac.update(base_string(method, url_without_query, params).as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Adds `oauth_*` parameters and the signature to a request's query.
pub fn sign(
    method: &str,
    url_without_query: &str,
    query: &mut Vec<(String, String)>,
    consumer_key: &str,
    consumer_secret: &str,
    timestamp: i64,
    nonce: &str,
) {
    query.push(("oauth_consumer_key".into(), consumer_key.into()));
    query.push(("oauth_nonce".into(), nonce.into()));
    query.push(("oauth_signature_method".into(), "HMAC-SHA256".into()));
    query.push(("oauth_timestamp".into(), timestamp.to_string()));
    let sig = signature(method, url_without_query, query, consumer_secret);
    query.push(("oauth_signature".into(), sig));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn base_string_is_rfc_5849_section_3_4_1_1() {
        // The RFC's own example (§3.4.1.1), with its parameters as decoded values.
        let params = p(&[
            ("b5", "=%3D"),
            ("a3", "a"),
            ("c@", ""),
            ("a2", "r b"),
            ("oauth_consumer_key", "9djdj82h48djs9d2"),
            ("oauth_token", "kkk9d7dh3k39sjv7"),
            ("oauth_signature_method", "HMAC-SHA1"),
            ("oauth_timestamp", "137131201"),
            ("oauth_nonce", "7d8f3e4a"),
            ("c2", ""),
            ("a3", "2 q"),
        ]);
        let expected = "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q%26a3%3Da%26b5%3D%253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26oauth_token%3Dkkk9d7dh3k39sjv7";
        assert_eq!(base_string("post", "http://example.com/request", &params), expected);
    }

    #[test]
    fn a_date_is_encoded_once_in_the_value_and_once_more_in_the_string() {
        let s = base_string("GET", "http://wp/wp-json/wc/v3/orders", &p(&[("modified_after", "2026-11-22T02:17:20")]));
        assert!(s.ends_with("modified_after%3D2026-11-22T02%253A17%253A20"), "{s}");
        assert_eq!(encode("a b~:/ü+"), "a%20b~%3A%2F%C3%BC%2B");
        let a = signature("GET", "http://wp/x", &p(&[("a", "1")]), "cs_x");
        assert_ne!(a, signature("GET", "http://wp/x", &p(&[("a", "1")]), "cs_y"), "the secret matters");
    }
}
