//! Arbitrary command lines into the pre-check: it must return, never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(policy) = sandboxctl::policy::load_default() {
            let argv = vec!["sh".to_string(), "-c".to_string(), text.to_string()];
            let _ = sandboxctl::precheck::decide(&policy, &argv);
        }
    }
});
