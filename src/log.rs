//! Structured logging to stderr in logfmt or JSON, filtered by level.
//!
//! One line per event: `ts=... level=... msg=... key=value ...`. Values are quoted and escaped
//! when they need it. Owns formatting only; callers decide what is worth a line.

use std::fmt::Write as _;
use std::io::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::civil::civil_from_days;
use crate::config::{LogFormat, LogLevel};

#[derive(Clone, Copy, Debug)]
pub struct Logger {
    pub level: LogLevel,
    pub format: LogFormat,
}

impl Logger {
    pub fn new(level: LogLevel, format: LogFormat) -> Logger {
        Logger { level, format }
    }

    pub fn enabled(&self, level: LogLevel) -> bool {
        level >= self.level
    }

    pub fn debug(&self, msg: &str, kv: &[(&str, &dyn std::fmt::Display)]) {
        self.log(LogLevel::Debug, msg, kv)
    }
    pub fn info(&self, msg: &str, kv: &[(&str, &dyn std::fmt::Display)]) {
        self.log(LogLevel::Info, msg, kv)
    }
    pub fn warn(&self, msg: &str, kv: &[(&str, &dyn std::fmt::Display)]) {
        self.log(LogLevel::Warn, msg, kv)
    }
    pub fn error(&self, msg: &str, kv: &[(&str, &dyn std::fmt::Display)]) {
        self.log(LogLevel::Error, msg, kv)
    }

    pub fn log(&self, level: LogLevel, msg: &str, kv: &[(&str, &dyn std::fmt::Display)]) {
        if !self.enabled(level) {
            return;
        }
        let line = self.format_line(&timestamp(SystemTime::now()), level, msg, kv);
        // A failed write to stderr has nowhere better to be reported.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn format_line(
        &self,
        ts: &str,
        level: LogLevel,
        msg: &str,
        kv: &[(&str, &dyn std::fmt::Display)],
    ) -> String {
        let mut fields: Vec<(&str, String)> = vec![
            ("ts", ts.to_string()),
            ("level", level.name().into()),
            ("msg", msg.into()),
        ];
        fields.extend(kv.iter().map(|(k, v)| (*k, v.to_string())));
        let mut line = String::new();
        match self.format {
            LogFormat::Logfmt => {
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        line.push(' ');
                    }
                    line.push_str(k);
                    line.push('=');
                    if v.is_empty()
                        || v.contains(|c: char| c == ' ' || c == '"' || c == '=' || c.is_control())
                    {
                        let _ = write!(line, "{v:?}");
                    } else {
                        line.push_str(v);
                    }
                }
            }
            LogFormat::Json => {
                line.push('{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        line.push(',');
                    }
                    json_string(&mut line, k);
                    line.push(':');
                    json_string(&mut line, v);
                }
                line.push('}');
            }
        }
        line.push('\n');
        line
    }
}

/// Appends `s` as a JSON string literal.
pub fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// RFC 3339 UTC with milliseconds, e.g. `2026-11-25T00:04:32.123Z`.
pub fn timestamp(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86400, secs % 86400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats() {
        let ts = timestamp(UNIX_EPOCH + Duration::from_millis(1_795_565_182_962));
        assert_eq!(ts, "2026-11-25T00:06:22.962Z");
        let leap = timestamp(UNIX_EPOCH + Duration::from_secs(951_782_400));
        assert_eq!(leap, "2000-02-29T00:00:00.000Z");
        assert_eq!(timestamp(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let l = Logger::new(LogLevel::Info, LogFormat::Logfmt);
        let line = l.format_line(
            "T",
            LogLevel::Warn,
            "push rejected",
            &[("err", &"bad \"x\""), ("n", &3)],
        );
        assert_eq!(
            line,
            "ts=T level=warn msg=\"push rejected\" err=\"bad \\\"x\\\"\" n=3\n"
        );
        let j = Logger::new(LogLevel::Info, LogFormat::Json);
        let line = j.format_line("T", LogLevel::Info, "a\nb", &[]);
        assert_eq!(
            line,
            "{\"ts\":\"T\",\"level\":\"info\",\"msg\":\"a\\nb\"}\n"
        );
        assert!(!l.enabled(LogLevel::Debug) && l.enabled(LogLevel::Error));
    }
}
