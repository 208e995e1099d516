//! `network.allow` entries: host names, `*.domain` wildcards, IP literals and
//! CIDR blocks, each with an optional port (default: 80 and 443).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NetRule {
    /// An exact host name, normalised (lower case, no trailing dot).
    Host { name: String, ports: Vec<u16> },
    /// `*.suffix`: any name strictly below `suffix`, not `suffix` itself.
    Subdomains { suffix: String, ports: Vec<u16> },
    /// An address block (a single address is a /32 or /128).
    Cidr {
        addr: IpAddr,
        prefix: u8,
        ports: Vec<u16>,
    },
}

/// Ports a rule without an explicit port allows.
pub const DEFAULT_PORTS: [u16; 2] = [80, 443];

impl NetRule {
    pub fn parse(entry: &str) -> Result<NetRule, String> {
        let entry = entry.trim();
        if entry.contains("://") {
            return Err("write a host name, not a URL (drop the scheme)".into());
        }
        if entry.contains('/')
            && entry.contains(':')
            && !entry.starts_with('[')
            && entry.matches(':').count() == 1
        {
            // `10.0.0.0/8:443` is not a form we accept; keep CIDR and port apart.
            return Err("a CIDR block cannot carry a port".into());
        }
        let (host, ports) = split_port(entry)?;
        if let Some((addr, prefix)) = host.split_once('/') {
            let addr: IpAddr = addr
                .parse()
                .map_err(|_| format!("`{addr}` is not an IP address"))?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let prefix: u8 = prefix
                .parse()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("prefix must be a number from 0 to {max}"))?;
            if prefix == 0 {
                return Err("a /0 block allows the whole internet; list hosts instead".into());
            }
            return Ok(NetRule::Cidr {
                addr: mask(addr, prefix),
                prefix,
                ports,
            });
        }
        if let Ok(addr) = host.parse::<IpAddr>() {
            let prefix = if addr.is_ipv4() { 32 } else { 128 };
            return Ok(NetRule::Cidr {
                addr,
                prefix,
                ports,
            });
        }
        if let Some(suffix) = host.strip_prefix("*.") {
            let suffix = normalise_host(suffix)?;
            if !suffix.contains('.') {
                return Err(format!(
                    "`*.{suffix}` would allow a whole top-level domain; name a registered domain"
                ));
            }
            return Ok(NetRule::Subdomains { suffix, ports });
        }
        if host.contains('*') {
            return Err("`*` is only allowed as a leading `*.` label".into());
        }
        if looks_numeric(host) {
            return Err(format!(
                "`{host}` looks like an IP address but is not one in dotted-decimal form"
            ));
        }
        Ok(NetRule::Host {
            name: normalise_host(host)?,
            ports,
        })
    }

    pub fn ports(&self) -> &[u16] {
        match self {
            NetRule::Host { ports, .. }
            | NetRule::Subdomains { ports, .. }
            | NetRule::Cidr { ports, .. } => ports,
        }
    }

    /// Human form for plans and messages.
    pub fn describe(&self) -> String {
        let ports = self
            .ports()
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(",");
        match self {
            NetRule::Host { name, .. } => format!("host {name} ports {ports}"),
            NetRule::Subdomains { suffix, .. } => format!("subdomains of {suffix} ports {ports}"),
            NetRule::Cidr { addr, prefix, .. } => format!("address {addr}/{prefix} ports {ports}"),
        }
    }
}

fn split_port(entry: &str) -> Result<(&str, Vec<u16>), String> {
    let parse_port = |p: &str| -> Result<Vec<u16>, String> {
        match p.parse::<u16>() {
            Ok(0) | Err(_) => Err(format!("`{p}` is not a port (1-65535)")),
            Ok(n) => Ok(vec![n]),
        }
    };
    if let Some(rest) = entry.strip_prefix('[') {
        let (addr, after) = rest
            .split_once(']')
            .ok_or("unclosed `[` in an IPv6 address")?;
        return match after.strip_prefix(':') {
            Some(p) => Ok((addr, parse_port(p)?)),
            None if after.is_empty() => Ok((addr, DEFAULT_PORTS.to_vec())),
            None => Err(format!("unexpected `{after}` after `]`")),
        };
    }
    match entry.matches(':').count() {
        0 => Ok((entry, DEFAULT_PORTS.to_vec())),
        1 => {
            let (h, p) = entry.split_once(':').unwrap_or((entry, ""));
            Ok((h, parse_port(p)?))
        }
        // A bare IPv6 address, or an IPv6 CIDR.
        _ => Ok((entry, DEFAULT_PORTS.to_vec())),
    }
}

/// Lower-case, strip one trailing dot, and check the name's shape (RFC 1123
/// labels). Non-ASCII names must be written in their `xn--` form.
pub fn normalise_host(host: &str) -> Result<String, String> {
    let name = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    if name.is_empty() {
        return Err("empty host name".into());
    }
    if !name.is_ascii() {
        return Err("write international names in their ASCII (xn--) form".into());
    }
    if name.len() > 253 {
        return Err("host name longer than 253 characters".into());
    }
    for label in name.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(format!("`{label}` is not a valid host name label"));
        }
    }
    Ok(name)
}

/// Names made only of digits, dots and hex prefixes are numeric address
/// spellings (`127.1`, `0x7f.1`, `2130706433`), which resolvers would turn
/// into addresses. A policy must spell addresses canonically.
fn looks_numeric(host: &str) -> bool {
    let last = host.rsplit('.').next().unwrap_or(host);
    !last.is_empty()
        && (last.bytes().all(|b| b.is_ascii_digit())
            || (last.len() > 2 && last[..2].eq_ignore_ascii_case("0x")))
}

fn mask(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let bits = u32::from(a);
            let m = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - prefix)
            };
            IpAddr::V4((bits & m).into())
        }
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            let m = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - prefix)
            };
            IpAddr::V6((bits & m).into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_documented_form() {
        assert_eq!(
            NetRule::parse("API.OpenRouter.ai.").unwrap(),
            NetRule::Host {
                name: "api.openrouter.ai".into(),
                ports: vec![80, 443]
            }
        );
        assert_eq!(
            NetRule::parse("*.github.com").unwrap(),
            NetRule::Subdomains {
                suffix: "github.com".into(),
                ports: vec![80, 443]
            }
        );
        assert_eq!(
            NetRule::parse("api.example.com:8443").unwrap(),
            NetRule::Host {
                name: "api.example.com".into(),
                ports: vec![8443]
            }
        );
        assert_eq!(
            NetRule::parse("127.0.0.1:8080").unwrap(),
            NetRule::Cidr {
                addr: "127.0.0.1".parse().unwrap(),
                prefix: 32,
                ports: vec![8080]
            }
        );
        assert_eq!(
            NetRule::parse("10.1.2.3/8").unwrap(),
            NetRule::Cidr {
                addr: "10.0.0.0".parse().unwrap(),
                prefix: 8,
                ports: vec![80, 443]
            }
        );
        assert_eq!(
            NetRule::parse("[::1]:9000").unwrap(),
            NetRule::Cidr {
                addr: "::1".parse().unwrap(),
                prefix: 128,
                ports: vec![9000]
            }
        );
        assert!(matches!(
            NetRule::parse("fd00::/8").unwrap(),
            NetRule::Cidr { prefix: 8, .. }
        ));
    }

    #[test]
    fn refuses_malformed_entries() {
        for bad in [
            "https://example.com",
            "exa mple.com",
            "*.com",
            "a.*.com",
            "example.com:0",
            "example.com:99999",
            "example.com:http",
            "10.0.0.0/33",
            "0.0.0.0/0",
            "1.2.3.4/x",
            "[::1",
            "-bad.com",
            "2852039166",
            "0xA9FEA9FE",
            "127.1",
            "bücher.de",
            ".",
            "",
        ] {
            assert!(NetRule::parse(bad).is_err(), "{bad} should be refused");
        }
    }
}
