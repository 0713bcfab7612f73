//! `--web.config.file` text (the YAML subset in `webconfig::yaml` and the checks on top):
//! any text is refused with a message or read into a configuration, without a panic, and a
//! configuration read is one this build can describe.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use pushgate::webconfig::{parse, Build};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // A directory that does not exist: file names in the text resolve against it, and
    // nothing outside the fuzzer's input is read.
    if let Ok(cfg) = parse(text, Path::new("/nonexistent/pushgate-fuzz")) {
        let _ = cfg.check_build(Build::THIS);
        let _ = cfg.response_headers();
    }
});
