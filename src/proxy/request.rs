//! Parsing what a client sends the egress proxy: an HTTP request head
//! (CONNECT, or plain HTTP with an absolute URI) or a SOCKS5 handshake.
//! Pure and bounded; fuzzed by `fuzz/fuzz_targets/proxy_request.rs`.

/// Largest request head accepted.
pub const MAX_HEAD: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `CONNECT host:port`: a tunnel.
    Connect { host: String, port: u16 },
    /// Plain HTTP: `head` is the request rewritten for the origin server
    /// (origin-form target, proxy headers dropped, `Connection: close`);
    /// `absolute` is the same for an upstream proxy (absolute-form).
    Forward {
        method: String,
        host: String,
        port: u16,
        head: Vec<u8>,
        absolute: Vec<u8>,
    },
}

impl Request {
    pub fn target(&self) -> (&str, u16) {
        match self {
            Request::Connect { host, port } | Request::Forward { host, port, .. } => (host, *port),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRequest {
    pub status: u16,
    pub reason: String,
}

fn bad(status: u16, reason: impl Into<String>) -> BadRequest {
    BadRequest {
        status,
        reason: reason.into(),
    }
}

/// Split `host:port` (with `[v6]:port`); `default` when there is no port.
pub fn split_host_port(s: &str, default: Option<u16>) -> Result<(String, u16), BadRequest> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest
            .split_once(']')
            .ok_or_else(|| bad(400, "unclosed `[`"))?;
        (format!("[{h}]"), after.strip_prefix(':'))
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h.to_string(), Some(p)),
            _ => (s.to_string(), None),
        }
    };
    let port = match port {
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| bad(400, format!("bad port `{p}`")))?,
        None => default.ok_or_else(|| bad(400, "a port is required"))?,
    };
    if host.is_empty() {
        return Err(bad(400, "empty host"));
    }
    Ok((host, port))
}

/// Parse a complete request head. `Ok(None)`: not complete yet.
pub fn parse_http_head(buf: &[u8]) -> Result<Option<(Request, usize)>, BadRequest> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        if buf.len() > MAX_HEAD {
            return Err(bad(431, "request head too large"));
        }
        return Ok(None);
    };
    if end + 4 > MAX_HEAD {
        return Err(bad(431, "request head too large"));
    }
    let head =
        std::str::from_utf8(&buf[..end]).map_err(|_| bad(400, "request head is not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let first = lines.next().unwrap_or_default();
    let mut parts = first.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad(400, "malformed request line"));
    };
    if !version.starts_with("HTTP/1.")
        || method.is_empty()
        || !method.bytes().all(|b| b.is_ascii_uppercase())
    {
        return Err(bad(400, "malformed request line"));
    }
    let headers: Vec<(&str, &str)> = lines
        .map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim(), v.trim()))
                .ok_or_else(|| bad(400, "malformed header"))
        })
        .collect::<Result<_, _>>()?;
    if headers.iter().any(|(k, _)| k.is_empty() || k.contains(' ')) {
        return Err(bad(400, "malformed header"));
    }
    if method == "CONNECT" {
        let (host, port) = split_host_port(target, None)?;
        return Ok(Some((Request::Connect { host, port }, end + 4)));
    }
    let Some(rest) = target.strip_prefix("http://") else {
        return Err(bad(
            400,
            if target.starts_with("https://") {
                "use CONNECT for https"
            } else {
                "a proxy request needs an absolute http:// URI"
            },
        ));
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.contains('@') {
        return Err(bad(400, "credentials in the URI are not forwarded"));
    }
    let (host, port) = split_host_port(authority, Some(80))?;
    let mut out = format!("{method} {path} {version}\r\n");
    let mut abs = format!("{method} http://{authority}{path} {version}\r\n");
    for (k, v) in &headers {
        let lower = k.to_ascii_lowercase();
        if lower.starts_with("proxy-")
            || lower == "connection"
            || lower == "keep-alive"
            || lower == "host"
        {
            continue;
        }
        out.push_str(&format!("{k}: {v}\r\n"));
        abs.push_str(&format!("{k}: {v}\r\n"));
    }
    for o in [&mut out, &mut abs] {
        o.push_str(&format!("Host: {authority}\r\nConnection: close\r\n\r\n"));
    }
    Ok(Some((
        Request::Forward {
            method: method.to_string(),
            host,
            port,
            head: out.into_bytes(),
            absolute: abs.into_bytes(),
        },
        end + 4,
    )))
}

/// SOCKS5 reply codes.
pub const SOCKS_OK: u8 = 0;
pub const SOCKS_NOT_ALLOWED: u8 = 2;
pub const SOCKS_UNREACHABLE: u8 = 4;
pub const SOCKS_CMD_UNSUPPORTED: u8 = 7;
pub const SOCKS_ATYP_UNSUPPORTED: u8 = 8;

/// A SOCKS5 greeting that is malformed or offers no method we accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoAcceptableMethod;

/// The SOCKS5 greeting: `Ok(Some(len))` when it offers "no
/// authentication", `Err` when it does not or is malformed.
pub fn parse_socks_greeting(buf: &[u8]) -> Result<Option<usize>, NoAcceptableMethod> {
    if buf.len() < 2 {
        return Ok(None);
    }
    if buf[0] != 5 {
        return Err(NoAcceptableMethod);
    }
    let n = usize::from(buf[1]);
    if buf.len() < 2 + n {
        return Ok(None);
    }
    if buf[2..2 + n].contains(&0) {
        Ok(Some(2 + n))
    } else {
        Err(NoAcceptableMethod)
    }
}

/// A SOCKS5 CONNECT request: host (names as given, addresses formatted)
/// and port, or the reply code to refuse with.
pub fn parse_socks_request(buf: &[u8]) -> Result<Option<(String, u16, usize)>, u8> {
    if buf.len() < 5 {
        return Ok(None);
    }
    if buf[0] != 5 || buf[2] != 0 {
        return Err(SOCKS_CMD_UNSUPPORTED);
    }
    if buf[1] != 1 {
        return Err(SOCKS_CMD_UNSUPPORTED); // only CONNECT; no BIND or UDP ASSOCIATE
    }
    let (host, at) = match buf[3] {
        1 => {
            if buf.len() < 10 {
                return Ok(None);
            }
            (
                std::net::Ipv4Addr::new(buf[4], buf[5], buf[6], buf[7]).to_string(),
                8,
            )
        }
        3 => {
            let n = usize::from(buf[4]);
            if buf.len() < 5 + n + 2 {
                return Ok(None);
            }
            let name = std::str::from_utf8(&buf[5..5 + n]).map_err(|_| SOCKS_NOT_ALLOWED)?;
            (name.to_string(), 5 + n)
        }
        4 => {
            if buf.len() < 22 {
                return Ok(None);
            }
            let mut o = [0u8; 16];
            o.copy_from_slice(&buf[4..20]);
            (format!("[{}]", std::net::Ipv6Addr::from(o)), 20)
        }
        _ => return Err(SOCKS_ATYP_UNSUPPORTED),
    };
    let port = u16::from_be_bytes([buf[at], buf[at + 1]]);
    Ok(Some((host, port, at + 2)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_and_forward() {
        let input = b"CONNECT api.example.com:443 HTTP/1.1\r\nHost: x\r\n\r\nrest";
        let (r, n) = parse_http_head(input).unwrap().unwrap();
        assert_eq!(
            r,
            Request::Connect {
                host: "api.example.com".into(),
                port: 443
            }
        );
        assert_eq!(n, input.len() - b"rest".len());
        let (r, _) = parse_http_head(b"GET http://h.example:8080/a?b HTTP/1.1\r\nHost: evil\r\nProxy-Authorization: x\r\nAccept: */*\r\n\r\n").unwrap().unwrap();
        let Request::Forward {
            host, port, head, ..
        } = r
        else {
            panic!()
        };
        assert_eq!((host.as_str(), port), ("h.example", 8080));
        let head = String::from_utf8(head).unwrap();
        assert!(head.starts_with("GET /a?b HTTP/1.1\r\n"));
        assert!(
            head.contains("Host: h.example:8080\r\n")
                && !head.contains("evil")
                && !head.contains("Proxy-")
        );
        assert!(head.contains("Connection: close"));
        let (r, _) = parse_http_head(b"CONNECT [::1]:8443 HTTP/1.1\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(r.target(), ("[::1]", 8443));
    }

    #[test]
    fn incomplete_and_malformed() {
        assert_eq!(parse_http_head(b"CONNECT a:1 HTTP/1.1\r\n"), Ok(None));
        for bad in [
            &b"GARBAGE\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\n\r\n",
            b"GET https://x/ HTTP/1.1\r\n\r\n",
            b"CONNECT a HTTP/1.1\r\n\r\n",
            b"CONNECT a:0 HTTP/1.1\r\n\r\n",
            b"CONNECT a:1 HTTP/1.1\r\nnocolon\r\n\r\n",
            b"get http://a/ HTTP/1.1\r\n\r\n",
            b"GET http://u:p@a/ HTTP/1.1\r\n\r\n",
        ] {
            assert!(
                parse_http_head(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let huge = vec![b'a'; MAX_HEAD + 1];
        assert_eq!(parse_http_head(&huge).unwrap_err().status, 431);
    }

    #[test]
    fn socks5() {
        assert_eq!(parse_socks_greeting(&[5, 1, 0]), Ok(Some(3)));
        assert_eq!(parse_socks_greeting(&[5, 1, 2]), Err(NoAcceptableMethod));
        assert_eq!(parse_socks_greeting(&[5, 2]), Ok(None));
        let mut req = vec![5, 1, 0, 3, 11];
        req.extend_from_slice(b"example.com");
        req.extend_from_slice(&443u16.to_be_bytes());
        assert_eq!(
            parse_socks_request(&req),
            Ok(Some(("example.com".into(), 443, req.len())))
        );
        assert_eq!(
            parse_socks_request(&[5, 1, 0, 1, 127, 0, 0, 1, 0, 80]),
            Ok(Some(("127.0.0.1".into(), 80, 10)))
        );
        assert_eq!(
            parse_socks_request(&[5, 3, 0, 1, 127, 0, 0, 1, 0, 80]),
            Err(SOCKS_CMD_UNSUPPORTED)
        );
        assert_eq!(
            parse_socks_request(&[5, 1, 0, 9, 0]),
            Err(SOCKS_ATYP_UNSUPPORTED)
        );
    }
}
