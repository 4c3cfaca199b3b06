//! URLs built by the appliance: a query parameter's value, percent-encoded.

/// What a query parameter's value keeps as is: unreserved characters and `/`
/// (so `next=/pick/12` stays readable); everything else is percent-encoded.
const QUERY_VALUE: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~').remove(b'/');

/// Percent-encodes a value for a query parameter or a path segment's text.
pub fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, QUERY_VALUE).to_string()
}
