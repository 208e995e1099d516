//! Arbitrary bytes into the proxy's request parsers: they must return.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = sandboxctl::proxy::request::parse_http_head(data);
    let _ = sandboxctl::proxy::request::parse_socks_greeting(data);
    let _ = sandboxctl::proxy::request::parse_socks_request(data);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = sandboxctl::proxy::destination::parse_host(s);
    }
});
