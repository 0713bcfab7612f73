//! What `build.rs` recorded about this binary, and the places that show it: `--version` in
//! upstream's layout, `/api/v1/status` and the status page ([`info`]), and the labels of
//! `pushgateway_build_info` (`telemetry`).

use crate::webconfig::Build;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const REVISION: &str = env!("PUSHGATE_REVISION");
pub const BRANCH: &str = env!("PUSHGATE_BRANCH");
pub const BUILD_DATE: &str = env!("PUSHGATE_BUILD_DATE");
pub const BUILD_USER: &str = env!("PUSHGATE_BUILD_USER");
/// The compiler's version where upstream shows Go's, as `rustc1.95.0`.
pub const RUSTC_VERSION: &str = env!("PUSHGATE_RUSTC_VERSION");

/// pushgate's build, under upstream's keys.
pub fn info() -> [(&'static str, &'static str); 6] {
    [
        ("branch", BRANCH),
        ("buildDate", BUILD_DATE),
        ("buildUser", BUILD_USER),
        ("goVersion", RUSTC_VERSION),
        ("revision", REVISION),
        ("version", VERSION),
    ]
}

/// What `--version` prints: upstream's block (Prometheus' `version.Print`), with the optional
/// features compiled in where Go lists its build tags, so a binary says what it can serve.
pub fn print() -> String {
    let features: Vec<&str> = [
        ("basic-auth", Build::THIS.basic_auth),
        ("tls", Build::THIS.tls),
    ]
    .into_iter()
    .filter_map(|(name, on)| on.then_some(name))
    .collect();
    let tags = if features.is_empty() {
        "none".to_string()
    } else {
        features.join(",")
    };
    format!(
        "pushgate, version {VERSION} (branch: {BRANCH}, revision: {REVISION})\n  \
         build user:       {BUILD_USER}\n  \
         build date:       {BUILD_DATE}\n  \
         go version:       {RUSTC_VERSION}\n  \
         platform:         {}/{}\n  \
         tags:             {tags}\n",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}
