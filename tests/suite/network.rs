//! Network egress: only through the proxy, only to what the policy lists,
//! never to private addresses by name, and nothing direct.

use std::io::{Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::harness::*;
use crate::require;

/// A tiny HTTP server on the host's loopback that counts what it sees.
struct HostServer {
    port: u16,
    hits: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl HostServer {
    fn start() -> HostServer {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        l.set_nonblocking(true).expect("nonblocking");
        let hits = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (h, s) = (hits.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match l.accept() {
                    Ok((mut c, _)) => {
                        h.fetch_add(1, Ordering::SeqCst);
                        let _ = c.set_nonblocking(false);
                        let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
                        let mut buf = [0u8; 4096];
                        let _ = c.read(&mut buf);
                        let _ = c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello-host\n");
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        HostServer { port, hits, stop }
    }
}

impl Drop for HostServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn ready(test: &str) -> bool {
    if !sandbox_ready(test) {
        return false;
    }
    if !std::path::Path::new("/usr/bin/curl").exists() {
        skip(test, "curl is not installed in /usr/bin");
        return false;
    }
    true
}

fn net_policy(sbx: &Sandbox, allow: &[String]) -> String {
    let list = allow
        .iter()
        .map(|a| format!("\"{a}\""))
        .collect::<Vec<_>>()
        .join(", ");
    sbx.write("p.yaml", &format!("version: 1\nnetwork:\n  default: deny\n  allow: [{list}]\nfilesystem:\n  writable: [\".\"]\n")).display().to_string()
}

/// curl through the sandbox's proxy, ignoring NO_PROXY.
const CURL: &str = "curl -s -S -m 10 --noproxy '' -x \"$HTTP_PROXY\"";

#[test]
fn allowed_ip_port_works_and_other_ports_are_refused_unseen() {
    if !ready("allowed_ip_port_works_and_other_ports_are_refused_unseen") {
        return;
    }
    let allowed = HostServer::start();
    let other = HostServer::start();
    let sbx = Sandbox::new();
    let p = net_policy(&sbx, &[format!("127.0.0.1:{}", allowed.port)]);
    let script = format!("{CURL} http://127.0.0.1:{a}/; {CURL} -o /dev/null -w '%{{http_code}}\\n' http://127.0.0.1:{o}/; {CURL} -o /dev/null -w '%{{http_code}}\\n' http://127.0.0.1:{a}/x --proxytunnel", a = allowed.port, o = other.port);
    let out = sbx.run(&[
        "run",
        "--no-audit",
        "-p",
        &p,
        "--",
        "/bin/sh",
        "-c",
        &script,
    ]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("hello-host"),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(stdout.contains("403"), "{stdout}");
    assert_eq!(
        other.hits.load(Ordering::SeqCst),
        0,
        "the unlisted server saw a request"
    );
    assert!(
        text(&out.stderr).contains(&format!(
            "sandboxctl: denied: network: GET 127.0.0.1:{}",
            other.port
        )),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn names_resolving_to_loopback_and_metadata_spellings_are_refused() {
    if !ready("names_resolving_to_loopback_and_metadata_spellings_are_refused") {
        return;
    }
    let server = HostServer::start();
    let sbx = Sandbox::new();
    let p = net_policy(
        &sbx,
        &[format!("localhost:{}", server.port), "example.com".into()],
    );
    let mut script = format!(
        "{CURL} -o /dev/null -w 'localhost=%{{http_code}}\\n' http://localhost:{}/;",
        server.port
    );
    for spelling in [
        "169.254.169.254",
        "2852039166",
        "0xA9FEA9FE",
        "0251.0376.0251.0376",
        "169.254.43518",
        "[::ffff:169.254.169.254]",
        "127.1",
        "metadata.google.internal",
    ] {
        script.push_str(&format!(
            "{CURL} -o /dev/null -w '{spelling}=%{{http_code}}\\n' http://{spelling}/;"
        ));
    }
    let out = sbx.run(&[
        "run",
        "--no-audit",
        "-p",
        &p,
        "--",
        "/bin/sh",
        "-c",
        &script,
    ]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("localhost=403"),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stderr).contains("resolves to a loopback address"),
        "{}",
        text(&out.stderr)
    );
    for line in stdout.lines().filter(|l| l.contains('=')) {
        assert!(line.ends_with("=403"), "{line} in {stdout}");
    }
    assert_eq!(server.hits.load(Ordering::SeqCst), 0);
}

#[test]
fn nothing_direct_no_dns_no_udp_no_abstract_sockets() {
    if !ready("nothing_direct_no_dns_no_udp_no_abstract_sockets") {
        return;
    }
    require!(
        (!std::path::Path::new("/usr/bin/python3").exists())
            .then(|| "no /usr/bin/python3".to_string()),
        "nothing_direct_no_dns_no_udp_no_abstract_sockets",
        "needs python3 for the socket probes"
    );
    let server = HostServer::start();
    let udp = UdpSocket::bind("127.0.0.1:0").expect("udp");
    udp.set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    let udp_port = udp.local_addr().expect("addr").port();
    let name = format!("sbx-test-abstract-{}", std::process::id());
    let abstract_listener = Command::new("python3")
        .args(["-c", &format!("import socket,time\ns=socket.socket(socket.AF_UNIX)\ns.bind('\\0{name}')\ns.listen()\ntime.sleep(20)")])
        .spawn()
        .expect("abstract listener");
    std::thread::sleep(Duration::from_millis(300));
    let sbx = Sandbox::new();
    let p = net_policy(&sbx, &["example.com".into()]);
    let probe = format!(
        "import socket\n\
         def t(label, f):\n    try:\n        f(); print(label, 'REACHED')\n    except Exception as e:\n        print(label, 'refused', type(e).__name__)\n\
         t('tcp', lambda: socket.create_connection(('127.0.0.1', {port}), timeout=2))\n\
         u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         t('udp', lambda: u.sendto(b'x', ('127.0.0.1', {udp_port})))\n\
         t('dns', lambda: socket.getaddrinfo('example.com', 443))\n\
         a = socket.socket(socket.AF_UNIX)\n\
         t('abstract', lambda: a.connect('\\0{name}'))\n",
        port = server.port
    );
    let out = sbx.run(&[
        "run",
        "--no-audit",
        "-p",
        &p,
        "--",
        "/usr/bin/python3",
        "-c",
        &probe,
    ]);
    let mut child = abstract_listener;
    let _ = child.kill();
    let _ = child.wait();
    let stdout = text(&out.stdout);
    for label in ["tcp", "dns", "abstract"] {
        assert!(
            stdout.contains(&format!("{label} refused")),
            "{label}: {stdout}\n{}",
            text(&out.stderr)
        );
    }
    let mut buf = [0u8; 8];
    assert!(
        udp.recv(&mut buf).is_err(),
        "the host's UDP socket received a datagram"
    );
    assert_eq!(server.hits.load(Ordering::SeqCst), 0);
}

#[test]
fn socks5_goes_through_the_same_checks() {
    if !ready("socks5_goes_through_the_same_checks") {
        return;
    }
    let server = HostServer::start();
    let sbx = Sandbox::new();
    let p = net_policy(&sbx, &[format!("127.0.0.1:{}", server.port)]);
    let script = format!("curl -s -m 10 --noproxy '' -x socks5h://127.0.0.1:3128 http://127.0.0.1:{}/; curl -s -m 10 --noproxy '' -x socks5h://127.0.0.1:3128 http://127.0.0.1:1/ || echo refused", server.port);
    let out = sbx.run(&[
        "run",
        "--no-audit",
        "-p",
        &p,
        "--",
        "/bin/sh",
        "-c",
        &script,
    ]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("hello-host") && stdout.contains("refused"),
        "{stdout}\n{}",
        text(&out.stderr)
    );
}

#[test]
fn without_allow_entries_no_proxy_runs() {
    if !ready("without_allow_entries_no_proxy_runs") {
        return;
    }
    let out = Sandbox::new().sh(None, "env | grep -ci proxy; curl -s -m 3 -x http://127.0.0.1:3128 http://example.com/ || echo no-proxy");
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("0\n") && stdout.contains("no-proxy"),
        "{stdout}"
    );
}

/// The registry host of npm's own configuration, read at run time.
fn npm_registry_host() -> Option<String> {
    let out = Command::new("npm")
        .args(["config", "get", "registry"])
        .output()
        .ok()?;
    let url = text(&out.stdout).trim().to_string();
    let rest = url.split("://").nth(1)?;
    let host = rest.split(['/', ':']).next()?.to_string();
    (!host.is_empty()).then_some(host)
}

#[test]
fn a_real_package_client_fetches_only_when_allowed() {
    if !ready("a_real_package_client_fetches_only_when_allowed") {
        return;
    }
    require!(
        (!std::path::Path::new("/usr/bin/npm").exists())
            .then(|| "npm is not installed in /usr/bin".to_string()),
        "a_real_package_client_fetches_only_when_allowed",
        "needs npm"
    );
    let Some(host) = npm_registry_host() else {
        skip(
            "a_real_package_client_fetches_only_when_allowed",
            "npm has no registry configured",
        );
        return;
    };
    let reachable = Command::new("npm")
        .args(["view", "is-number", "version", "--fetch-retries=0"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !reachable {
        skip(
            "a_real_package_client_fetches_only_when_allowed",
            "the npm registry is not reachable from the host",
        );
        return;
    }
    let sbx = Sandbox::new();
    let p = net_policy(&sbx, std::slice::from_ref(&host));
    let out = sbx.run(&[
        "run",
        "--no-audit",
        "-p",
        &p,
        "--",
        "npm",
        "view",
        "is-number",
        "version",
        "--fetch-retries=0",
    ]);
    expect_code(&out, 0);
    assert!(
        text(&out.stdout)
            .trim()
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit()),
        "{}",
        text(&out.stdout)
    );
    let p = net_policy(&sbx, &["example.com".into()]);
    let out = sbx.run(&[
        "run",
        "--no-audit",
        "-p",
        &p,
        "--",
        "npm",
        "view",
        "is-number",
        "version",
        "--fetch-retries=0",
    ]);
    assert_ne!(code(&out), 0);
    assert!(
        text(&out.stderr).contains(&format!("sandboxctl: denied: network: CONNECT {host}:443")),
        "{}",
        text(&out.stderr)
    );
}

/// A fake corporate proxy on the host's loopback: answers CONNECT with 200
/// and then one HTTP response inside the tunnel, and plain absolute-form
/// requests directly; records each first line.
fn fake_upstream() -> (u16, Arc<std::sync::Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = seen.clone();
    std::thread::spawn(move || {
        for conn in l.incoming().take(8) {
            let Ok(mut c) = conn else { continue };
            let _ = c.set_read_timeout(Some(Duration::from_secs(3)));
            let read_head = |c: &mut std::net::TcpStream| {
                let mut head = Vec::new();
                let mut b = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n")
                    && c.read(&mut b).map(|n| n == 1).unwrap_or(false)
                {
                    head.push(b[0]);
                }
                String::from_utf8_lossy(&head)
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_string()
            };
            let first = read_head(&mut c);
            s.lock().expect("lock").push(first.clone());
            if first.starts_with("CONNECT ") {
                let _ = c.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
                let inner = read_head(&mut c);
                s.lock().expect("lock").push(inner);
                let _ = c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\nConnection: close\r\n\r\nvia-tunnel!\n");
            } else {
                let _ = c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nConnection: close\r\n\r\nvia-forward!\n");
            }
        }
    });
    (port, seen)
}

#[test]
fn allowed_traffic_goes_through_the_callers_own_proxy() {
    if !ready("allowed_traffic_goes_through_the_callers_own_proxy") {
        return;
    }
    let (port, seen) = fake_upstream();
    let sbx = Sandbox::new();
    // `.invalid` never resolves: only the upstream proxy can reach it.
    let p = net_policy(&sbx, &["upstream-only.invalid".into()]);
    let script = format!("{CURL} http://upstream-only.invalid/a; {CURL} -p http://upstream-only.invalid/b; {CURL} -o /dev/null -w '%{{http_code}}\\n' http://not-allowed.invalid/");
    let out = sbx
        .cmd()
        .env("HTTPS_PROXY", format!("http://127.0.0.1:{port}"))
        .env("NO_PROXY", "")
        .args([
            "run",
            "--no-audit",
            "-p",
            &p,
            "--",
            "/bin/sh",
            "-c",
            &script,
        ])
        .output()
        .expect("spawn");
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("via-forward!") && stdout.contains("via-tunnel!"),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(
        stdout.contains("403"),
        "a name outside the policy is refused before the upstream: {stdout}"
    );
    let lines = seen.lock().expect("lock").clone();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("GET http://upstream-only.invalid/a")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l == "CONNECT upstream-only.invalid:80 HTTP/1.1"),
        "{lines:?}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("not-allowed")),
        "{lines:?}"
    );
}

#[test]
fn a_hostile_client_cannot_exhaust_the_proxy() {
    if !ready("a_hostile_client_cannot_exhaust_the_proxy") {
        return;
    }
    let server = HostServer::start();
    let sbx = Sandbox::new();
    let p = net_policy(&sbx, &[format!("127.0.0.1:{}", server.port)]);
    let probe = format!(
        "import os, socket, time\n\
         held, refused = [], 0\n\
         for i in range(300):\n    s = socket.create_connection(('127.0.0.1', 3128)); s.sendall(b'CONNECT slow'); held.append(s)\n\
         time.sleep(0.5)\n\
         for s in held:\n    s.settimeout(0.05)\n    try:\n        if s.recv(64).startswith(b'HTTP/1.1 503'): refused += 1\n    except OSError: pass\n\
         print('refused', refused)\n\
         big = socket.create_connection(('127.0.0.1', 3128))\n\
         for s in held: s.close()\n\
         time.sleep(0.3)\n\
         big.sendall(b'GET http://127.0.0.1:{port}/ HTTP/1.1\\r\\nX: ' + b'a' * 20000 + b'\\r\\n\\r\\n')\n\
         print('oversized', big.recv(64).split(b'\\r\\n')[0].decode())\n\
         ok = socket.create_connection(('127.0.0.1', 3128))\n\
         ok.sendall(b'GET http://127.0.0.1:{port}/ HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n')\n\
         print('after', ok.recv(4096).split(b'\\r\\n')[0].decode())\n",
        port = server.port
    );
    let out = sbx.run(&[
        "run",
        "--no-audit",
        "-p",
        &p,
        "--",
        "/usr/bin/python3",
        "-c",
        &probe,
    ]);
    let stdout = text(&out.stdout);
    let refused: usize = stdout
        .lines()
        .find_map(|l| l.strip_prefix("refused "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    assert!(
        refused >= 40,
        "connections beyond the cap get 503: {stdout}\n{}",
        text(&out.stderr)
    );
    assert!(stdout.contains("oversized HTTP/1.1 431"), "{stdout}");
    assert!(
        stdout.contains("after HTTP/1.1 200"),
        "the proxy still serves: {stdout}"
    );
}
