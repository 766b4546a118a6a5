//! Seccomp user notification, the one copy: a listener that takes the
//! calls a container's filter sends (SECCOMP_RET_USER_NOTIF), answers each,
//! and reads what the caller passed by pointer. What a call means is its
//! server's business: `sandbox::rootemu` answers the owners and ids of a
//! single-id map, `net::direct` the binds and connects of direct ports, and
//! one listener carries both when a container needs both (the kernel gives
//! a process tree one listener).
//!
//! It sits below `sandbox` and `net` and imports neither; it never blocks
//! on a caller and never starts a thread.

use rustix::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

/// One call a filter sent here: `libc::seccomp_notif` (`id`, `pid`, the
/// call's number and arguments in `data`).
pub type Notification = libc::seccomp_notif;

/// The answer to one notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Response {
    /// The kernel does the call as asked (SECCOMP_USER_NOTIF_FLAG_CONTINUE).
    Continue,
    /// Done here: the call returns this value.
    Value(i64),
    /// Done here: the call fails with this errno.
    Failed(i32),
}

/// A server of some of the calls a listener takes.
pub trait Server {
    /// The answer to `n`; `listener` tells whether the caller still waits
    /// (`Listener::still_waiting`) after reading its memory.
    fn serve(&mut self, listener: &Listener, n: &Notification) -> Response;
}

/// What a look at the listener found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ready {
    /// A notification waits.
    Waiting,
    /// Nothing now.
    Idle,
    /// Every process under the filter is gone, and none can come under it
    /// again: the listener is done.
    HungUp,
}

impl Ready {
    /// What a poll(2) of the listener for POLLIN found (its `revents`).
    pub fn of_revents(revents: i16) -> Ready {
        if revents & libc::POLLIN != 0 {
            Ready::Waiting
        } else if revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
            Ready::HungUp
        } else {
            Ready::Idle
        }
    }
}

/// SECCOMP_IOCTL_NOTIF_SET_FLAGS's one flag (linux/seccomp.h), which libc
/// does not have.
const SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP: u64 = 1;

/// A filter's notification listener.
pub struct Listener {
    fd: OwnedFd,
    /// The kernel's size of `struct seccomp_notif`, at least libc's.
    recv_len: usize,
    /// What was served, when `BURROW_NOTIFY_STATS` asks for it.
    stats: Option<std::cell::RefCell<Stats>>,
}

/// A count of the notifications a listener served, by call, with the CPU
/// time the server spent on them; written when the listener goes to the
/// file `BURROW_NOTIFY_STATS` names (appended), with the process's own
/// CPU time then: how benchmarks count the cost of a notification path
/// on a machine too busy to time it.
struct Stats {
    path: std::path::PathBuf,
    /// By call number: (notifications, ns of the server's CPU).
    calls: std::collections::BTreeMap<i32, (u64, u64)>,
}

/// CPU time of the calling thread (or process), ns.
fn cpu_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes one timespec, which `ts` is.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}

impl Stats {
    fn write(&self) -> std::io::Result<()> {
        use std::io::Write;
        let name = |nr: i32| {
            #[cfg(target_arch = "x86_64")]
            let s = syscalls::x86_64::Sysno::new(nr as usize).map(|s| s.name());
            #[cfg(target_arch = "aarch64")]
            let s = syscalls::aarch64::Sysno::new(nr as usize).map(|s| s.name());
            #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
            let s: Option<&str> = None;
            s.map_or_else(|| nr.to_string(), str::to_string)
        };
        let mut out = format!(
            "pid {} process-cpu-us {}\n",
            std::process::id(),
            cpu_ns(libc::CLOCK_PROCESS_CPUTIME_ID) / 1000
        );
        for (&nr, &(n, ns)) in &self.calls {
            out.push_str(&format!("{} {n} serve-us {}\n", name(nr), ns / 1000));
        }
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?
            .write_all(out.as_bytes())
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Some(s) = &self.stats {
            if let Err(e) = s.borrow().write() {
                eprintln!("burrow: BURROW_NOTIFY_STATS: {e}");
            }
        }
    }
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("fd", &self.fd.as_raw_fd())
            .finish()
    }
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

impl Listener {
    /// The listener `fd` (SECCOMP_FILTER_FLAG_NEW_LISTENER's answer).
    pub fn new(fd: OwnedFd) -> Listener {
        let ours = std::mem::size_of::<libc::seccomp_notif>();
        // SAFETY: an all-zero seccomp_notif_sizes is a valid value.
        let mut sizes: libc::seccomp_notif_sizes = unsafe { std::mem::zeroed() };
        // SAFETY: SECCOMP_GET_NOTIF_SIZES writes one seccomp_notif_sizes.
        let r = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_GET_NOTIF_SIZES,
                0u32,
                &mut sizes as *mut libc::seccomp_notif_sizes,
            )
        };
        let recv_len = if r == 0 {
            ours.max(sizes.seccomp_notif as usize)
        } else {
            ours
        };
        // The caller blocks from the moment it is notified until the
        // answer: its CPU is free for the server, and the server's for the
        // caller once answered. A synchronous wake-up runs each on the
        // other's CPU instead of waking an idle one (Linux 6.6; an older
        // kernel refuses the flag and wakes as before).
        // SAFETY: SECCOMP_IOCTL_NOTIF_SET_FLAGS takes its flags by value.
        unsafe {
            libc::ioctl(
                fd.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_SET_FLAGS,
                SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP,
            )
        };
        let stats = std::env::var_os("BURROW_NOTIFY_STATS").map(|path| {
            std::cell::RefCell::new(Stats {
                path: path.into(),
                calls: Default::default(),
            })
        });
        Listener {
            fd,
            recv_len,
            stats,
        }
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Whether a notification waits, without waiting.
    pub fn ready(&self) -> Ready {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, no waiting.
        if unsafe { libc::poll(&mut pfd, 1, 0) } <= 0 {
            return Ready::Idle;
        }
        Ready::of_revents(pfd.revents)
    }

    /// Takes one notification; `None` if none could be read (its caller
    /// died between the poll and here).
    pub fn recv(&self) -> Option<Notification> {
        // Zeroed each time: the kernel refuses a buffer that is not.
        let mut buf = vec![0u64; self.recv_len.div_ceil(8)];
        loop {
            // SAFETY: the buffer holds `recv_len` bytes, at least the
            // kernel's struct seccomp_notif, aligned for it, and zeroed.
            let r = unsafe {
                libc::ioctl(
                    self.fd.as_raw_fd(),
                    libc::SECCOMP_IOCTL_NOTIF_RECV,
                    buf.as_mut_ptr(),
                )
            };
            if r == 0 {
                break;
            }
            if errno() != libc::EINTR {
                return None;
            }
            buf.fill(0);
        }
        // SAFETY: the kernel wrote a seccomp_notif at the start of the
        // buffer (plain integers: every bit pattern is valid), which is
        // large and aligned enough for one.
        Some(unsafe { std::ptr::read(buf.as_ptr().cast()) })
    }

    /// Answers notification `id`. A caller that died meanwhile makes the
    /// kernel answer ENOENT: nothing to tell then.
    pub fn respond(&self, id: u64, r: Response) {
        let resp = libc::seccomp_notif_resp {
            id,
            val: match r {
                Response::Value(v) => v,
                _ => 0,
            },
            error: match r {
                Response::Failed(e) => -e.clamp(1, 4095),
                _ => 0,
            },
            flags: match r {
                Response::Continue => libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32,
                _ => 0,
            },
        };
        loop {
            // SAFETY: SECCOMP_IOCTL_NOTIF_SEND reads one seccomp_notif_resp.
            let r = unsafe {
                libc::ioctl(
                    self.fd.as_raw_fd(),
                    libc::SECCOMP_IOCTL_NOTIF_SEND,
                    &resp as *const libc::seccomp_notif_resp,
                )
            };
            if r == 0 || errno() != libc::EINTR {
                return;
            }
        }
    }

    /// Whether notification `id` still waits (its caller alive and in the
    /// call): what was read of the caller before this is then its own, and
    /// its pid still names it.
    pub fn still_waiting(&self, id: u64) -> bool {
        // SAFETY: SECCOMP_IOCTL_NOTIF_ID_VALID reads one u64.
        unsafe {
            libc::ioctl(
                self.fd.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_ID_VALID,
                &id as *const u64,
            ) == 0
        }
    }

    /// Writes `data` at `addr` in the memory of notification `n`'s caller,
    /// as the call itself would have: through /proc/TID/mem opened first,
    /// then the notification checked to be still waiting. An open mem file
    /// holds the address space it was opened on, so the write lands in the
    /// caller's memory and nowhere else, even if the caller dies and its
    /// thread id is reused meanwhile; the check after tells whether anyone
    /// is left to answer. Like ptrace, the write reaches a private page the
    /// caller mapped read-only (its own memory: it could write it itself
    /// after mprotect); the kernel refuses it in a shared mapping.
    /// `Err(errno)`: ENOENT when the caller is gone, EFAULT when the range
    /// is not its memory.
    pub fn write_to_caller(&self, n: &Notification, addr: u64, data: &[u8]) -> Result<(), i32> {
        use rustix::fs::{Mode, OFlags};
        let path = format!("/proc/{}/mem", n.pid);
        let mem = rustix::fs::open(
            path.as_str(),
            OFlags::WRONLY | OFlags::CLOEXEC,
            Mode::empty(),
        );
        if !self.still_waiting(n.id) {
            return Err(libc::ENOENT);
        }
        let mem = mem.map_err(|e| e.raw_os_error())?;
        // Offsets past i64::MAX (kernel addresses) are refused (EINVAL).
        let written = rustix::io::pwrite(&mem, data, addr);
        if !self.still_waiting(n.id) {
            return Err(libc::ENOENT);
        }
        match written {
            Ok(k) if k == data.len() => Ok(()),
            _ => Err(libc::EFAULT),
        }
    }

    /// Answers up to `batch` waiting notifications with `server`; false
    /// once the listener hung up. `polled` is what the caller's poll of
    /// the listener found just before: the first turn takes it instead of
    /// polling again (one poll(2) less each time the supervisor wakes for
    /// a call; a caller that dies between that poll and the receive is the
    /// same case as one that died between the two polls before).
    pub fn serve_waiting(&self, server: &mut dyn Server, batch: usize, polled: Ready) -> bool {
        for turn in 0..batch {
            let ready = if turn == 0 { polled } else { self.ready() };
            match ready {
                Ready::Idle => return true,
                Ready::HungUp => return false,
                Ready::Waiting => {}
            }
            let Some(n) = self.recv() else {
                return true;
            };
            let start = self
                .stats
                .as_ref()
                .map(|_| cpu_ns(libc::CLOCK_THREAD_CPUTIME_ID));
            let r = server.serve(self, &n);
            self.respond(n.id, r);
            if let (Some(s), Some(start)) = (&self.stats, start) {
                let spent = cpu_ns(libc::CLOCK_THREAD_CPUTIME_ID).saturating_sub(start);
                let mut s = s.borrow_mut();
                let e = s.calls.entry(n.data.nr).or_default();
                e.0 += 1;
                e.1 += spent;
            }
        }
        true
    }
}

/// `len` bytes at `addr` in thread `tid`, all of them or nothing.
pub fn read_memory(tid: u32, addr: u64, len: usize) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; len];
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: len,
    };
    let remote = libc::iovec {
        iov_base: usize::try_from(addr).ok()? as *mut libc::c_void,
        iov_len: len,
    };
    // SAFETY: writes at most `len` bytes into `buf`, which holds `len`;
    // the remote range is checked by the kernel against the other process.
    let n = unsafe { libc::process_vm_readv(tid as libc::pid_t, &local, 1, &remote, 1, 0) };
    (usize::try_from(n).ok() == Some(len)).then_some(buf)
}

/// Writes `data` at `addr` in thread `tid`; false unless all of it was.
pub fn write_memory(tid: u32, addr: u64, data: &[u8]) -> bool {
    let local = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    let Ok(remote_addr) = usize::try_from(addr) else {
        return false;
    };
    let remote = libc::iovec {
        iov_base: remote_addr as *mut libc::c_void,
        iov_len: data.len(),
    };
    // SAFETY: reads `data.len()` bytes from `data`; the remote range is
    // checked by the kernel against the other process.
    let n = unsafe { libc::process_vm_writev(tid as libc::pid_t, &local, 1, &remote, 1, 0) };
    usize::try_from(n).ok() == Some(data.len())
}
