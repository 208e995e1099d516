//! Interactive use under a real terminal (tmux): typed input reaches the
//! shell inside, a window resize reaches a full-screen program, and Ctrl-C
//! reaches the command.

use std::process::Command;
use std::time::{Duration, Instant};

use super::harness::*;

struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(cmd: &str) -> Option<Tmux> {
        let socket = format!("sbx-test-{}-{}", std::process::id(), rand_suffix());
        let ok = Command::new("tmux")
            .args([
                "-L",
                &socket,
                "new-session",
                "-d",
                "-x",
                "80",
                "-y",
                "24",
                cmd,
            ])
            .status()
            .ok()?
            .success();
        ok.then_some(Tmux { socket })
    }
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["-L", &self.socket, "send-keys", "-t", "0"];
        args.extend_from_slice(keys);
        let _ = Command::new("tmux").args(&args).status();
    }
    fn screen(&self) -> String {
        Command::new("tmux")
            .args(["-L", &self.socket, "capture-pane", "-p", "-t", "0"])
            .output()
            .map(|o| text(&o.stdout))
            .unwrap_or_default()
    }
    fn wait_for(&self, needle: &str) -> bool {
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(10) {
            if self.screen().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }
    fn resize(&self, cols: u16, rows: u16) {
        let _ = Command::new("tmux")
            .args([
                "-L",
                &self.socket,
                "resize-window",
                "-t",
                "0",
                "-x",
                &cols.to_string(),
                "-y",
                &rows.to_string(),
            ])
            .status();
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0)
}

fn ready(test: &str) -> bool {
    if !sandbox_ready(test) {
        return false;
    }
    if Command::new("tmux")
        .arg("-V")
        .output()
        .map(|o| !o.status.success())
        .unwrap_or(true)
    {
        skip(
            test,
            "tmux is not installed (ci/install-deps.sh installs it)",
        );
        return false;
    }
    true
}

fn sandboxed(sbx: &Sandbox, inner: &str) -> String {
    format!(
        "cd {} && {} run --no-audit -- {inner}; echo SANDBOX-EXIT=$?; sleep 30",
        sbx.path().display(),
        bin().display()
    )
}

#[test]
fn interactive_shell_takes_typed_input() {
    if !ready("interactive_shell_takes_typed_input") {
        return;
    }
    let sbx = Sandbox::new();
    let Some(t) = Tmux::start(&sandboxed(&sbx, "/bin/sh -i")) else {
        skip(
            "interactive_shell_takes_typed_input",
            "tmux could not start a session",
        );
        return;
    };
    std::thread::sleep(Duration::from_millis(500));
    t.keys(&["echo answer-$((6*7)); tty; hostname", "Enter"]);
    assert!(t.wait_for("answer-42"), "{}", t.screen());
    assert!(
        t.wait_for("/dev/pts/"),
        "the command has its own terminal: {}",
        t.screen()
    );
    t.keys(&["exit 5", "Enter"]);
    assert!(t.wait_for("SANDBOX-EXIT=5"), "{}", t.screen());
}

#[test]
fn window_resize_reaches_a_full_screen_program() {
    if !ready("window_resize_reaches_a_full_screen_program") {
        return;
    }
    let sbx = Sandbox::new();
    let inner = "/bin/sh -c 'trap \"echo size=\\$(stty size)\" WINCH; echo start=$(stty size); while :; do sleep 0.1; done'";
    let Some(t) = Tmux::start(&sandboxed(&sbx, inner)) else {
        skip(
            "window_resize_reaches_a_full_screen_program",
            "tmux could not start a session",
        );
        return;
    };
    assert!(t.wait_for("start=24 80"), "{}", t.screen());
    t.resize(100, 30);
    assert!(t.wait_for("size=30 100"), "{}", t.screen());
}

#[test]
fn ctrl_c_reaches_the_command() {
    if !ready("ctrl_c_reaches_the_command") {
        return;
    }
    let sbx = Sandbox::new();
    let inner = "/bin/sh -c 'trap \"echo got-interrupt; exit 3\" INT; echo ready; while :; do sleep 0.1; done'";
    let Some(t) = Tmux::start(&sandboxed(&sbx, inner)) else {
        skip(
            "ctrl_c_reaches_the_command",
            "tmux could not start a session",
        );
        return;
    };
    assert!(t.wait_for("ready"), "{}", t.screen());
    t.keys(&["C-c"]);
    assert!(t.wait_for("got-interrupt"), "{}", t.screen());
    assert!(t.wait_for("SANDBOX-EXIT=3"), "{}", t.screen());
}
