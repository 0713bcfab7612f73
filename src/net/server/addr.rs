//! What a `--web.listen-address` names: Go-style `:port` (every IPv4 interface), an IP
//! address with a port (`127.0.0.1:9091`, `[::1]:9091`), or a host name found in `/etc/hosts`
//! (`localhost` also without one).
//!
//! Names are not resolved through the C library: in a static binary its resolver would load
//! the host's NSS modules, which belong to another C library or, in a scratch container, do
//! not exist, and linking it costs 130 KB. A listener binds one of the machine's own
//! addresses, which `/etc/hosts` names; DNS is not consulted. Among several addresses the
//! first IPv4 one wins, as Go's `net.Listen` picks it.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// The address `text` asks to listen on; `hosts` is the text of `/etc/hosts` (empty if there
/// is none).
pub(super) fn parse(text: &str, hosts: &str) -> io::Result<SocketAddr> {
    let invalid = |msg: String| io::Error::new(io::ErrorKind::InvalidInput, msg);
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    let (host, port) = text
        .rsplit_once(':')
        .ok_or_else(|| invalid("missing port".into()))?;
    let port = port
        .parse::<u16>()
        .map_err(|e| invalid(format!("port {port:?}: {e}")))?;
    if host.is_empty() {
        return Ok(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)));
    }
    let ip = lookup(host, hosts).ok_or_else(|| {
        invalid(format!(
            "host {host:?} is not an IP address nor in /etc/hosts"
        ))
    })?;
    Ok(SocketAddr::new(ip, port))
}

/// `host`'s address in `hosts` (first IPv4 one, else first), or loopback for `localhost`.
fn lookup(host: &str, hosts: &str) -> Option<IpAddr> {
    let mut found = hosts.lines().filter_map(|line| {
        let mut words = line.split('#').next()?.split_whitespace();
        let ip = words.next()?.parse::<IpAddr>().ok()?;
        words
            .any(|name| name.eq_ignore_ascii_case(host))
            .then_some(ip)
    });
    let first = found.next();
    let ipv4 = first
        .filter(IpAddr::is_ipv4)
        .or_else(|| found.find(IpAddr::is_ipv4));
    ipv4.or(first).or_else(|| {
        host.eq_ignore_ascii_case("localhost")
            .then_some(IpAddr::V4(Ipv4Addr::LOCALHOST))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTS: &str = "# comment localhost\n::1 localhost ip6-localhost\n\
        127.0.0.1\tlocalhost\n10.1.2.3 gw.example gw # the gateway\n\
        fe80::1 only6\nnot-an-ip bogus\n";

    #[test]
    fn listen_addresses() {
        let ok = |text: &str, hosts: &str| parse(text, hosts).unwrap().to_string();
        assert_eq!(ok(":9091", ""), "0.0.0.0:9091");
        assert_eq!(ok("127.0.0.1:80", ""), "127.0.0.1:80");
        assert_eq!(ok("[::1]:9091", ""), "[::1]:9091");
        assert_eq!(ok("localhost:9091", ""), "127.0.0.1:9091");
        // IPv4 first, as Go listens, though /etc/hosts lists ::1 first.
        assert_eq!(ok("LocalHost:1", HOSTS), "127.0.0.1:1");
        assert_eq!(ok("gw:2", HOSTS), "10.1.2.3:2");
        assert_eq!(ok("only6:3", HOSTS), "[fe80::1]:3");
        for bad in [
            ":",
            "nonsense",
            "9091",
            "localhost",
            "localhost:x",
            ":70000",
            "the-gateway:1",
            "bogus:1",
            "comment:1",
        ] {
            let err = parse(bad, HOSTS).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad}: {err}");
        }
    }
}
