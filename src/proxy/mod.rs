//! The egress proxy (DESIGN.md 2.2): runs in the supervisor, outside the
//! sandbox, and accepts on a listening socket that init created on the
//! sandbox's own loopback. It speaks HTTP CONNECT, plain HTTP forwarding
//! and SOCKS5, checks every request against `network.allow` by host and
//! port before any byte leaves the machine, resolves names itself and
//! connects only to addresses it checked. Denials get HTTP 403 (or the
//! SOCKS refusal), one `sandboxctl: denied: network` line and a record.
//!
//! Abuse limits: request heads of at most 16 KiB within 10 s, at most 256
//! connections at once, tunnels closed after 5 minutes idle. A proxy that
//! stops means no network at all: the sandbox has no other way out.

pub mod destination;
pub mod request;

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use crate::plan::{Plan, ProxyRule};
use destination::{judge, non_public, parse_host, Host, Verdict};
use request::{parse_http_head, parse_socks_greeting, parse_socks_request, Request};

pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
pub const MAX_CONNECTIONS: usize = 256;

/// A proxy the caller itself must use (its own HTTP(S)_PROXY at start).
#[derive(Debug, Clone)]
pub struct Upstream {
    pub addr: String,
    pub no_proxy: Vec<String>,
}

impl Upstream {
    pub fn from_env() -> Option<Upstream> {
        let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let url = get("HTTPS_PROXY")
            .or_else(|| get("https_proxy"))
            .or_else(|| get("HTTP_PROXY"))
            .or_else(|| get("http_proxy"))?;
        let rest = url.strip_prefix("http://").unwrap_or(&url);
        let authority = rest.split('/').next().unwrap_or(rest);
        let authority = authority.rsplit('@').next().unwrap_or(authority);
        let addr = if authority.contains(':') {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        let no_proxy = get("NO_PROXY")
            .or_else(|| get("no_proxy"))
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().trim_start_matches('.').to_ascii_lowercase())
            .filter(|s| !s.is_empty())
            .collect();
        Some(Upstream { addr, no_proxy })
    }

    fn bypass(&self, host: &str) -> bool {
        self.no_proxy
            .iter()
            .any(|n| n == "*" || host == n || host.ends_with(&format!(".{n}")))
    }
}

struct Shared {
    rules: Vec<ProxyRule>,
    audit: Option<crate::audit::AuditSink>,
    /// Allow everything, recording what the policy would refuse.
    simulate: bool,
    upstream: Option<Upstream>,
    records: Mutex<Vec<Value>>,
    active: AtomicUsize,
    stop: AtomicBool,
}

pub struct Running {
    shared: Arc<Shared>,
    listener: TcpListener,
}

impl Running {
    /// Stop accepting and return the records of every connection.
    pub fn finish(self) -> Vec<Value> {
        self.shared.stop.store(true, Ordering::SeqCst);
        // SAFETY: shutting down our own listening socket wakes accept().
        unsafe { libc::shutdown(self.listener.as_raw_fd(), libc::SHUT_RDWR) };
        self.shared
            .records
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }
}

pub fn start(
    listener: OwnedFd,
    plan: &Plan,
    audit: Option<crate::audit::AuditSink>,
    simulate: bool,
) -> io::Result<Running> {
    let listener = TcpListener::from(listener);
    listener.set_nonblocking(false)?;
    let shared = Arc::new(Shared {
        rules: plan.network.allow.clone(),
        audit,
        simulate,
        upstream: Upstream::from_env(),
        records: Mutex::new(Vec::new()),
        active: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
    });
    let accept = listener.try_clone()?;
    let s = shared.clone();
    std::thread::Builder::new()
        .name("proxy-accept".into())
        .spawn(move || accept_loop(accept, s))?;
    Ok(Running { shared, listener })
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for conn in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(mut conn) = conn else { continue };
        if shared.active.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
            let _ = conn.write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            continue;
        }
        shared.active.fetch_add(1, Ordering::SeqCst);
        let s = shared.clone();
        let spawned = std::thread::Builder::new()
            .name("proxy-conn".into())
            .stack_size(256 * 1024)
            .spawn(move || {
                handle(conn, &s);
                s.active.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            shared.active.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

enum Kind {
    Http,
    Socks,
}

fn respond(conn: &mut TcpStream, status: u16, reason: &str, body: &str) {
    let text = format!("HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
    let _ = conn.write_all(text.as_bytes());
}

fn socks_reply(conn: &mut TcpStream, code: u8) {
    let _ = conn.write_all(&[5, code, 0, 1, 0, 0, 0, 0, 0, 0]);
}

fn record(shared: &Shared, v: Value) {
    if let Ok(mut r) = shared.records.lock() {
        if r.len() < 10_000 {
            r.push(v);
        }
    }
}

fn deny(
    shared: &Shared,
    conn: &mut TcpStream,
    kind: &Kind,
    what: &str,
    host: &str,
    port: u16,
    reason: &str,
) {
    eprintln!("sandboxctl: denied: network: {what} {host}:{port}: {reason}");
    // Recorded before the client hears of it: a client that exits on the
    // refusal may end the run before this thread runs again.
    let v = json!({ "type": "network", "allowed": false, "request": what, "host": host, "port": port, "reason": reason });
    if let Some(a) = &shared.audit {
        a.denial("network", v.clone());
    }
    record(shared, v);
    match kind {
        Kind::Http => respond(
            conn,
            403,
            "Forbidden",
            &format!("sandboxctl: denied: network: {host}:{port}: {reason}\n"),
        ),
        Kind::Socks => socks_reply(conn, request::SOCKS_NOT_ALLOWED),
    }
}

/// Read until `done` says the buffer holds a complete message.
fn read_until<T>(
    conn: &mut TcpStream,
    buf: &mut Vec<u8>,
    mut done: impl FnMut(&[u8]) -> Option<T>,
) -> Option<T> {
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(t) = done(buf) {
            return Some(t);
        }
        if buf.len() > request::MAX_HEAD {
            return None;
        }
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn handle(mut conn: TcpStream, shared: &Shared) {
    let _ = conn.set_read_timeout(Some(HEADER_TIMEOUT));
    let _ = conn.set_nodelay(true);
    let mut buf = Vec::new();
    let mut first = [0u8; 1];
    match conn.peek(&mut first) {
        Ok(1) => {}
        _ => return,
    }
    let (kind, host_raw, port, what, forward, rest) = if first[0] == 5 {
        let Some(Ok(n)) = read_until(&mut conn, &mut buf, |b| match parse_socks_greeting(b) {
            Ok(Some(n)) => Some(Ok(n)),
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        }) else {
            let _ = conn.write_all(&[5, 0xff]);
            return;
        };
        let _ = conn.write_all(&[5, 0]);
        buf.drain(..n);
        let parsed = read_until(&mut conn, &mut buf, |b| match parse_socks_request(b) {
            Ok(Some(r)) => Some(Ok(r)),
            Ok(None) => None,
            Err(code) => Some(Err(code)),
        });
        match parsed {
            Some(Ok((host, port, n))) => {
                let rest = buf[n..].to_vec();
                (
                    Kind::Socks,
                    host,
                    port,
                    "SOCKS5 CONNECT".to_string(),
                    None,
                    rest,
                )
            }
            Some(Err(code)) => return socks_reply(&mut conn, code),
            None => return,
        }
    } else {
        let parsed = read_until(&mut conn, &mut buf, |b| match parse_http_head(b) {
            Ok(Some(r)) => Some(Ok(r)),
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        });
        match parsed {
            Some(Ok((req, n))) => {
                let rest = buf[n..].to_vec();
                match req {
                    Request::Connect { host, port } => {
                        (Kind::Http, host, port, "CONNECT".to_string(), None, rest)
                    }
                    Request::Forward {
                        method,
                        host,
                        port,
                        head,
                        absolute,
                    } => (Kind::Http, host, port, method, Some((head, absolute)), rest),
                }
            }
            Some(Err(e)) => {
                return respond(
                    &mut conn,
                    e.status,
                    "Bad Request",
                    &format!("sandboxctl: {}\n", e.reason),
                )
            }
            None => {
                return respond(
                    &mut conn,
                    408,
                    "Request Timeout",
                    "sandboxctl: incomplete or oversized request head\n",
                )
            }
        }
    };

    let host = match parse_host(&host_raw) {
        Ok(h) => h,
        Err(why) => return deny(shared, &mut conn, &kind, &what, &host_raw, port, &why),
    };
    let shown = host.to_string();
    let verdict = match judge(&host, port, &shared.rules) {
        Verdict::Deny(why) if shared.simulate => {
            record(
                shared,
                json!({ "type": "network", "allowed": true, "would_allow": false, "request": what, "host": shown, "port": port, "reason": why }),
            );
            match &host {
                Host::Addr(_) => Verdict::AllowAddr { rule: usize::MAX },
                Host::Name(_) => Verdict::AllowName { rule: usize::MAX },
            }
        }
        v => v,
    };
    let (rule, addrs, via_upstream) = match verdict {
        Verdict::Deny(why) => return deny(shared, &mut conn, &kind, &what, &shown, port, &why),
        Verdict::AllowAddr { rule } => {
            let Host::Addr(a) = host else { return };
            (rule, vec![SocketAddr::new(a, port)], false)
        }
        Verdict::AllowName { rule } => {
            let Host::Name(name) = &host else { return };
            match (name.as_str(), port).to_socket_addrs() {
                Ok(list) => {
                    let list: Vec<SocketAddr> = list.collect();
                    if let Some((a, class)) = list
                        .iter()
                        .find_map(|a| non_public(a.ip()).map(|c| (a.ip(), c)))
                        .filter(|_| !shared.simulate)
                    {
                        let why = format!("{name} resolves to a {class} address ({a}); allow it with an explicit IP or CIDR entry if intended");
                        return deny(shared, &mut conn, &kind, &what, &shown, port, &why);
                    }
                    (rule, list, false)
                }
                // The caller's own proxy resolves names we cannot.
                Err(_) if shared.upstream.as_ref().is_some_and(|u| !u.bypass(name)) => {
                    (rule, Vec::new(), true)
                }
                Err(e) => {
                    record(
                        shared,
                        json!({ "type": "network", "allowed": true, "host": shown, "port": port, "error": format!("cannot resolve: {e}") }),
                    );
                    return match kind {
                        Kind::Http => respond(
                            &mut conn,
                            502,
                            "Bad Gateway",
                            &format!("sandboxctl: cannot resolve {shown}: {e}\n"),
                        ),
                        Kind::Socks => socks_reply(&mut conn, request::SOCKS_UNREACHABLE),
                    };
                }
            }
        }
    };
    let use_upstream = via_upstream || shared.upstream.as_ref().is_some_and(|u| !u.bypass(&shown));
    let origin = shared
        .rules
        .get(rule)
        .map(|r| r.origin.to_string())
        .unwrap_or_default();

    let upstream_conn = if use_upstream {
        let Some(u) = &shared.upstream else { return };
        open_via_upstream(
            u,
            &shown,
            port,
            forward.as_ref().map(|(_, abs)| abs.as_slice()),
        )
    } else {
        connect_checked(&addrs)
    };
    let mut server = match upstream_conn {
        Ok(s) => s,
        Err(e) => {
            record(
                shared,
                json!({ "type": "network", "allowed": true, "host": shown, "port": port, "rule": origin, "error": e.to_string() }),
            );
            return match kind {
                Kind::Http => respond(
                    &mut conn,
                    502,
                    "Bad Gateway",
                    &format!("sandboxctl: cannot connect to {shown}:{port}: {e}\n"),
                ),
                Kind::Socks => socks_reply(&mut conn, request::SOCKS_UNREACHABLE),
            };
        }
    };
    let ok = match (&kind, &forward) {
        (Kind::Socks, _) => conn.write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0]),
        (Kind::Http, None) => conn.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n"),
        (Kind::Http, Some((head, _))) => {
            if use_upstream {
                Ok(()) // the absolute-form head went to the upstream proxy already
            } else {
                server.write_all(head)
            }
        }
    };
    if ok.is_err() || server.write_all(&rest).is_err() {
        return;
    }
    let (up, down) = splice(&mut conn, &mut server);
    record(
        shared,
        json!({ "type": "network", "allowed": true, "request": what, "host": shown, "port": port, "rule": origin, "bytes_up": up + rest.len() as u64, "bytes_down": down, "via_upstream_proxy": use_upstream }),
    );
}

fn connect_checked(addrs: &[SocketAddr]) -> io::Result<TcpStream> {
    let mut last = io::Error::other("no address");
    for a in addrs {
        match TcpStream::connect_timeout(a, CONNECT_TIMEOUT) {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Reach `host:port` through the caller's proxy: CONNECT for tunnels, the
/// absolute-form request for plain HTTP.
fn open_via_upstream(
    u: &Upstream,
    host: &str,
    port: u16,
    absolute: Option<&[u8]>,
) -> io::Result<TcpStream> {
    let addrs: Vec<SocketAddr> = u.addr.to_socket_addrs()?.collect();
    let mut s = connect_checked(&addrs)?;
    if let Some(abs) = absolute {
        s.write_all(abs)?;
        return Ok(s);
    }
    s.write_all(
        format!("CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n").as_bytes(),
    )?;
    s.set_read_timeout(Some(CONNECT_TIMEOUT))?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < request::MAX_HEAD {
        if s.read(&mut byte)? == 0 {
            return Err(io::Error::other("upstream proxy closed the connection"));
        }
        head.push(byte[0]);
    }
    let line = String::from_utf8_lossy(&head);
    if line.split(' ').nth(1).is_none_or(|c| c != "200") {
        return Err(io::Error::other(format!(
            "upstream proxy refused: {}",
            line.lines().next().unwrap_or_default()
        )));
    }
    s.set_read_timeout(None)?;
    Ok(s)
}

enum Fill {
    Data,
    Empty,
    Eof,
}

/// One direction of a tunnel: bytes move socket → pipe → socket with
/// splice(2), never through user space.
struct Pipe {
    r: OwnedFd,
    w: OwnedFd,
    pending: usize,
}

impl Pipe {
    fn new() -> io::Result<Pipe> {
        let mut fds = [0; 2];
        // SAFETY: pipe2 fills two descriptors we then own.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fresh descriptors.
        let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // A bigger pipe moves more per call (best effort).
        // SAFETY: fcntl on our own pipe.
        unsafe { libc::fcntl(w.as_raw_fd(), libc::F_SETPIPE_SZ, 1 << 20) };
        Ok(Pipe { r, w, pending: 0 })
    }

    /// Move what `from` has into the pipe.
    fn fill(&mut self, from: &TcpStream) -> io::Result<Fill> {
        // SAFETY: splice between descriptors we own; no user memory.
        let n = unsafe {
            libc::splice(
                from.as_raw_fd(),
                std::ptr::null_mut(),
                self.w.as_raw_fd(),
                std::ptr::null_mut(),
                1 << 20,
                libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::WouldBlock {
                Ok(Fill::Empty)
            } else {
                Err(e)
            };
        }
        if n == 0 {
            return Ok(Fill::Eof);
        }
        self.pending += n as usize;
        Ok(Fill::Data)
    }

    /// Move everything `from` has now to `to`; Ok(false) at end of stream.
    /// Loops while bytes are queued, so a busy tunnel does not pay a poll
    /// per chunk. SPLICE_F_NONBLOCK covers only the pipe, and the sockets
    /// block: after the first splice (which poll vouched for), go on only
    /// while FIONREAD says data is waiting.
    fn pump(&mut self, from: &TcpStream, to: &TcpStream, moved: &mut u64) -> io::Result<bool> {
        for round in 0..64 {
            if round > 0 {
                let mut queued: libc::c_int = 0;
                // SAFETY: FIONREAD writes an int.
                if unsafe { libc::ioctl(from.as_raw_fd(), libc::FIONREAD, &mut queued) } < 0
                    || queued <= 0
                {
                    return Ok(true);
                }
            }
            match self.fill(from)? {
                Fill::Data => *moved += self.drain(to)? as u64,
                Fill::Empty => return Ok(true),
                Fill::Eof => return Ok(false),
            }
        }
        Ok(true)
    }

    /// Move the pipe's contents to `to` (blocking socket write).
    fn drain(&mut self, to: &TcpStream) -> io::Result<usize> {
        let mut moved = 0;
        while self.pending > 0 {
            // SAFETY: as above.
            let n = unsafe {
                libc::splice(
                    self.r.as_raw_fd(),
                    std::ptr::null_mut(),
                    to.as_raw_fd(),
                    std::ptr::null_mut(),
                    self.pending,
                    libc::SPLICE_F_MOVE,
                )
            };
            if n <= 0 {
                return Err(io::Error::last_os_error());
            }
            self.pending -= n as usize;
            moved += n as usize;
        }
        Ok(moved)
    }
}

/// Copy both ways until both sides close or the tunnel is idle too long.
fn splice(a: &mut TcpStream, b: &mut TcpStream) -> (u64, u64) {
    let _ = a.set_read_timeout(None);
    let _ = b.set_read_timeout(None);
    let (Ok(mut ab), Ok(mut ba)) = (Pipe::new(), Pipe::new()) else {
        return (0, 0);
    };
    let (mut up, mut down) = (0u64, 0u64);
    let (mut a_open, mut b_open) = (true, true);
    while a_open || b_open {
        let mut fds = [
            libc::pollfd {
                fd: if a_open { a.as_raw_fd() } else { -1 },
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: if b_open { b.as_raw_fd() } else { -1 },
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: polling two valid (or ignored, -1) descriptors.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, IDLE_TIMEOUT.as_millis() as i32) };
        if n <= 0 {
            break;
        }
        if fds[0].revents != 0 {
            match ab.pump(a, b, &mut up) {
                Ok(true) => {}
                Ok(false) => {
                    a_open = false;
                    let _ = b.shutdown(std::net::Shutdown::Write);
                }
                Err(_) => break,
            }
        }
        if fds[1].revents != 0 {
            match ba.pump(b, a, &mut down) {
                Ok(true) => {}
                Ok(false) => {
                    b_open = false;
                    let _ = a.shutdown(std::net::Shutdown::Write);
                }
                Err(_) => break,
            }
        }
    }
    (up, down)
}

/// For tests and `check`: is this address one a name entry may reach?
pub fn is_public(a: IpAddr) -> bool {
    non_public(a).is_none()
}
