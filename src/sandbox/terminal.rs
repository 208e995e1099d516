//! The supervisor's side of the terminal and of signals.

use std::io;
use std::os::fd::RawFd;

use super::proto::WinSize;

/// The terminal size of stdin, when stdin is a terminal.
pub fn stdin_size() -> Option<WinSize> {
    // SAFETY: isatty and TIOCGWINSZ on fd 0 with a valid winsize.
    unsafe {
        if libc::isatty(0) != 1 {
            return None;
        }
        let mut ws: libc::winsize = std::mem::zeroed();
        if libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) < 0 || ws.ws_row == 0 {
            return Some(WinSize { rows: 24, cols: 80 });
        }
        Some(WinSize {
            rows: ws.ws_row,
            cols: ws.ws_col,
        })
    }
}

/// Forward a window size to the pty; the kernel then sends SIGWINCH to the
/// foreground process group inside.
pub fn set_size(master: RawFd, size: WinSize) {
    let ws = libc::winsize {
        ws_row: size.rows,
        ws_col: size.cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: valid winsize pointer.
    unsafe { libc::ioctl(master, libc::TIOCSWINSZ, &ws) };
}

pub fn write_all(fd: RawFd, mut data: &[u8]) {
    while !data.is_empty() {
        // SAFETY: writing from a live slice.
        let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
        if n < 0 {
            if io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return;
        }
        data = &data[n as usize..];
    }
}

/// The outer terminal in raw mode, restored on drop, so keystrokes
/// (including ^C and ^Z) reach the inner terminal, which acts on them.
pub struct RawMode {
    fd: RawFd,
    saved: libc::termios,
}

impl RawMode {
    pub fn enter(fd: RawFd) -> Option<RawMode> {
        // SAFETY: termios calls on a terminal descriptor with valid buffers.
        unsafe {
            let mut saved: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(fd, &mut saved) < 0 {
                return None;
            }
            let mut raw = saved;
            libc::cfmakeraw(&mut raw);
            libc::tcsetattr(fd, libc::TCSADRAIN, &raw);
            Some(RawMode { fd, saved })
        }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: restoring the attributes read in `enter`.
        unsafe { libc::tcsetattr(self.fd, libc::TCSADRAIN, &self.saved) };
    }
}

/// Signals the supervisor handles, read synchronously from a signalfd.
pub struct SignalFd {
    fd: RawFd,
    old: libc::sigset_t,
}

const HANDLED: [libc::c_int; 8] = [
    libc::SIGCHLD,
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGWINCH,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

impl SignalFd {
    pub fn new() -> io::Result<SignalFd> {
        // SAFETY: sigset manipulation and signalfd on a local set. Blocking
        // happens on this thread before any other thread is started.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for s in HANDLED {
                libc::sigaddset(&mut set, s);
            }
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
            let fd = libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK);
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(SignalFd { fd, old })
        }
    }

    pub fn fd(&self) -> RawFd {
        self.fd
    }

    pub fn read(&self) -> Option<i32> {
        // SAFETY: reading one signalfd_siginfo into a zeroed buffer.
        unsafe {
            let mut info: libc::signalfd_siginfo = std::mem::zeroed();
            let n = libc::read(
                self.fd,
                (&mut info as *mut libc::signalfd_siginfo).cast(),
                std::mem::size_of::<libc::signalfd_siginfo>(),
            );
            (n == std::mem::size_of::<libc::signalfd_siginfo>() as isize)
                .then_some(info.ssi_signo as i32)
        }
    }
}

impl Drop for SignalFd {
    fn drop(&mut self) {
        // SAFETY: closing our descriptor and restoring the old mask.
        unsafe {
            libc::close(self.fd);
            libc::pthread_sigmask(libc::SIG_SETMASK, &self.old, std::ptr::null_mut());
        }
    }
}
