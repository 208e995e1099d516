//! Where a request wants to go, and whether the policy lets it (DESIGN.md
//! 2.2). Pure functions, unit-tested.
//!
//! Host names are normalised (case, one trailing dot) and must be ASCII
//! (clients send international names in their `xn--` form). Anything a
//! resolver would read as an address — `2852039166`, `0xA9FEA9FE`,
//! `0251.0376.0251.0376`, `127.1`, `[::ffff:169.254.169.254]` — is parsed as
//! the address it is and can only be allowed by an explicit IP/CIDR entry.
//! A name entry never reaches loopback, private, link-local, CGNAT,
//! multicast, unspecified, broadcast or cloud-metadata addresses.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::plan::ProxyRule;
use crate::policy::NetRule;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Name(String),
    Addr(IpAddr),
}

impl std::fmt::Display for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Host::Name(n) => f.write_str(n),
            Host::Addr(IpAddr::V6(a)) => write!(f, "[{a}]"),
            Host::Addr(a) => write!(f, "{a}"),
        }
    }
}

/// Names that are metadata services whatever they resolve to.
const METADATA_NAMES: [&str; 3] = ["metadata.google.internal", "metadata", "instance-data"];

/// Parse a host as a client sent it.
pub fn parse_host(raw: &str) -> Result<Host, String> {
    let raw = raw.trim();
    if let Some(inner) = raw.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        let inner = inner.split('%').next().unwrap_or(inner);
        let a: Ipv6Addr = inner
            .parse()
            .map_err(|_| format!("`{raw}` is not an IPv6 address"))?;
        return Ok(Host::Addr(unmap(IpAddr::V6(a))));
    }
    if let Ok(a) = raw.parse::<Ipv6Addr>() {
        return Ok(Host::Addr(unmap(IpAddr::V6(a))));
    }
    if let Some(a) = parse_ipv4_like(raw) {
        return Ok(Host::Addr(IpAddr::V4(a)));
    }
    let name = raw.strip_suffix('.').unwrap_or(raw).to_ascii_lowercase();
    if name.is_empty() || name.len() > 253 {
        return Err("empty or overlong host name".into());
    }
    if !name.is_ascii() {
        return Err("international host names must be sent in their xn-- form".into());
    }
    if !name.split('.').all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }) {
        return Err(format!("`{raw}` is not a valid host name"));
    }
    Ok(Host::Name(name))
}

/// inet_aton(3) semantics: 1 to 4 parts, each decimal, octal (leading 0)
/// or hex (0x); the last part fills the remaining bytes.
pub fn parse_ipv4_like(s: &str) -> Option<Ipv4Addr> {
    let s = s.strip_suffix('.').unwrap_or(s);
    let parts: Vec<&str> = s.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut nums = Vec::new();
    for p in &parts {
        let v = if let Some(h) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X")) {
            if h.is_empty() {
                0
            } else {
                u64::from_str_radix(h, 16).ok()?
            }
        } else if p.len() > 1 && p.starts_with('0') {
            u64::from_str_radix(&p[1..], 8).ok()?
        } else {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            p.parse::<u64>().ok()?
        };
        nums.push(v);
    }
    let last = *nums.last()?;
    let head = &nums[..nums.len() - 1];
    if head.iter().any(|&v| v > 255) {
        return None;
    }
    let rest_bits = 8 * (4 - head.len() as u32);
    if rest_bits < 64 && last >= (1u64 << rest_bits) {
        return None;
    }
    let mut v: u32 = 0;
    for (i, &h) in head.iter().enumerate() {
        v |= (h as u32) << (24 - 8 * i as u32);
    }
    v |= last as u32;
    Some(Ipv4Addr::from(v))
}

/// IPv4-mapped and IPv4-compatible IPv6 addresses are checked as IPv4.
pub fn unmap(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                if s[..6] == [0, 0, 0, 0, 0, 0] && !v6.is_loopback() && !v6.is_unspecified() {
                    IpAddr::V4(Ipv4Addr::new(
                        (s[6] >> 8) as u8,
                        s[6] as u8,
                        (s[7] >> 8) as u8,
                        s[7] as u8,
                    ))
                } else {
                    a
                }
            }
        },
        v4 => v4,
    }
}

/// Why an address may not be reached through a name entry, if it may not.
pub fn non_public(a: IpAddr) -> Option<&'static str> {
    match unmap(a) {
        IpAddr::V4(v) => {
            let o = v.octets();
            if v.is_loopback() {
                Some("loopback")
            } else if v.is_unspecified() || o[0] == 0 {
                Some("unspecified")
            } else if o == [169, 254, 169, 254] {
                Some("cloud metadata")
            } else if v.is_link_local() {
                Some("link-local")
            } else if v.is_private() {
                Some("private")
            } else if o[0] == 100 && (o[1] & 0xc0) == 64 {
                Some("CGNAT")
            } else if v.is_multicast() || o[0] >= 240 {
                Some("multicast or reserved")
            } else if v.is_broadcast() {
                Some("broadcast")
            } else if o[0] == 192 && o[1] == 0 && o[2] == 0 {
                Some("IETF protocol assignments")
            } else if o[0] == 198 && (o[1] & 0xfe) == 18 {
                Some("benchmarking")
            } else {
                None
            }
        }
        IpAddr::V6(v) => {
            let s = v.segments();
            if v.is_loopback() {
                Some("loopback")
            } else if v.is_unspecified() {
                Some("unspecified")
            } else if s[0] == 0xfd00 && s[1] == 0x0ec2 {
                Some("cloud metadata")
            } else if (s[0] & 0xfe00) == 0xfc00 {
                Some("private (unique local)")
            } else if (s[0] & 0xffc0) == 0xfe80 {
                Some("link-local")
            } else if (s[0] & 0xff00) == 0xff00 {
                Some("multicast")
            } else if s[0] == 0x64 && s[1] == 0xff9b {
                Some("NAT64 (maps to IPv4)")
            } else if s[0] == 0x2002 {
                Some("6to4 (maps to IPv4)")
            } else {
                None
            }
        }
    }
}

fn in_cidr(a: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (unmap(a), unmap(net)) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let m = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix.min(32)))
            };
            u32::from(a) & m == u32::from(n) & m
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let m = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(prefix.min(128)))
            };
            u128::from(a) & m == u128::from(n) & m
        }
        _ => false,
    }
}

/// What the policy says about a destination before any resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// An address allowed by an explicit IP/CIDR entry.
    AllowAddr {
        rule: usize,
    },
    /// A name allowed by a name entry; its addresses must still be public.
    AllowName {
        rule: usize,
    },
    Deny(String),
}

pub fn judge(host: &Host, port: u16, rules: &[ProxyRule]) -> Verdict {
    match host {
        Host::Addr(a) => {
            for (i, r) in rules.iter().enumerate() {
                if let NetRule::Cidr {
                    addr,
                    prefix,
                    ports,
                } = &r.rule
                {
                    if in_cidr(*a, *addr, *prefix) && ports.contains(&port) {
                        return Verdict::AllowAddr { rule: i };
                    }
                }
            }
            Verdict::Deny(format!("{host}:{port} matches no network.allow entry (addresses need an explicit IP or CIDR entry)"))
        }
        Host::Name(name) => {
            if METADATA_NAMES.contains(&name.as_str()) {
                return Verdict::Deny(format!("{name} is a cloud metadata service"));
            }
            for (i, r) in rules.iter().enumerate() {
                let hit = match &r.rule {
                    NetRule::Host { name: n, ports } => n == name && ports.contains(&port),
                    NetRule::Subdomains { suffix, ports } => {
                        name.len() > suffix.len() + 1
                            && name.ends_with(suffix.as_str())
                            && name.as_bytes()[name.len() - suffix.len() - 1] == b'.'
                            && ports.contains(&port)
                    }
                    NetRule::Cidr { .. } => false,
                };
                if hit {
                    return Verdict::AllowName { rule: i };
                }
            }
            Verdict::Deny(format!("{name}:{port} matches no network.allow entry"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Origin;

    fn rules(entries: &[&str]) -> Vec<ProxyRule> {
        entries
            .iter()
            .map(|e| ProxyRule {
                rule: NetRule::parse(e).unwrap(),
                origin: Origin::builtin("t"),
            })
            .collect()
    }

    #[test]
    fn numeric_spellings_are_the_addresses_they_are() {
        let meta = Host::Addr(IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254)));
        for s in [
            "169.254.169.254",
            "2852039166",
            "0xA9FEA9FE",
            "0251.0376.0251.0376",
            "0xa9.0xfe.0xa9.0xfe",
            "169.254.43518",
            "[::ffff:169.254.169.254]",
            "::ffff:a9fe:a9fe",
            "169.254.169.254.",
        ] {
            assert_eq!(parse_host(s).unwrap(), meta, "{s}");
        }
        assert_eq!(
            parse_host("127.1").unwrap(),
            Host::Addr(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)))
        );
        assert_eq!(
            parse_host("0").unwrap(),
            Host::Addr(IpAddr::V4(Ipv4Addr::new(0, 0, 0, 0)))
        );
        assert_eq!(
            parse_host("Example.COM.").unwrap(),
            Host::Name("example.com".into())
        );
        assert!(parse_host("bücher.de").is_err());
        assert!(parse_host("a b").is_err());
        assert!(parse_ipv4_like("256.1.1.1").is_none());
        assert!(parse_ipv4_like("1.2.3.4.5").is_none());
    }

    #[test]
    fn address_classes() {
        for a in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "fd00:ec2::254",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(non_public(a.parse().unwrap()).is_some(), "{a}");
        }
        for a in ["8.8.8.8", "1.1.1.1", "2606:4700::1111"] {
            assert!(non_public(a.parse().unwrap()).is_none(), "{a}");
        }
    }

    #[test]
    fn judging_names_and_addresses() {
        let r = rules(&[
            "api.example.com",
            "*.github.com",
            "api.x.io:8443",
            "127.0.0.1:8080",
            "10.0.0.0/8",
        ]);
        let j = |h: &str, p| judge(&parse_host(h).unwrap(), p, &r);
        assert_eq!(j("API.example.com.", 443), Verdict::AllowName { rule: 0 });
        assert!(matches!(j("api.example.com", 22), Verdict::Deny(_)));
        assert_eq!(j("raw.github.com", 443), Verdict::AllowName { rule: 1 });
        assert!(
            matches!(j("github.com", 443), Verdict::Deny(_)),
            "*.x does not cover x"
        );
        assert!(matches!(j("evilgithub.com", 443), Verdict::Deny(_)));
        assert_eq!(j("api.x.io", 8443), Verdict::AllowName { rule: 2 });
        assert!(matches!(j("api.x.io", 443), Verdict::Deny(_)));
        assert_eq!(j("127.0.0.1", 8080), Verdict::AllowAddr { rule: 3 });
        assert_eq!(j("127.1", 8080), Verdict::AllowAddr { rule: 3 });
        assert!(matches!(j("127.0.0.1", 8081), Verdict::Deny(_)));
        assert_eq!(j("10.9.9.9", 80), Verdict::AllowAddr { rule: 4 });
        assert!(matches!(j("2852039166", 80), Verdict::Deny(_)));
        assert!(matches!(
            j("metadata.google.internal", 80),
            Verdict::Deny(_)
        ));
    }
}
