//! The socket notifier: a seccomp filter that sends the container's
//! bind(2) calls, its connect(2) calls with an IPv4 or IPv6 address, or
//! both, to the supervisor (SECCOMP_RET_USER_NOTIF) and allows every other
//! call. It owns the filter only: what becomes of a call is the network's
//! business. Its listener must always have a reader: a notified call with
//! nobody listening fails with ENOSYS.

use rustix::fd::{FromRawFd, OwnedFd};

/// `AUDIT_ARCH_*` of the build target (linux/audit.h: the ELF machine
/// with the 64-bit and little-endian bits), which libc does not define.
/// Other architectures get no filter: their binds stay as they are.
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: Option<u32> = Some(0xc000_003e);
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: Option<u32> = Some(0xc000_00b7);
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const AUDIT_ARCH: Option<u32> = None;

const fn stmt(code: u32, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    }
}

const fn jeq(k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    }
}

/// Which calls the notifier sends to the supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Notified {
    pub bind: bool,
    pub connect: bool,
}

/// The low 32 bits of argument `i` (the targets are little-endian).
fn arg_low(i: usize) -> u32 {
    (std::mem::offset_of!(libc::seccomp_data, args) + 8 * i) as u32
}

/// The program: a bind of the native architecture -> notify (if asked); a
/// connect whose address length is exactly a `sockaddr_in`'s or a
/// `sockaddr_in6`'s -> notify (if asked), so that unix sockets' connects
/// mostly skip the round trip; the rest -> allow. A call of another ABI
/// (i386 or x32 on x86_64) is allowed: its numbers and layouts differ, and
/// it simply stays in the container.
fn program(arch: u32, calls: Notified) -> [libc::sock_filter; 11] {
    let load = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
    let ret = libc::BPF_RET | libc::BPF_K;
    // A call not asked for: its test jumps to the same place either way.
    let bind = if calls.bind { 5 } else { 0 };
    let connect = if calls.connect { 0 } else { 5 };
    const IN: u32 = std::mem::size_of::<libc::sockaddr_in>() as u32;
    const IN6: u32 = std::mem::size_of::<libc::sockaddr_in6>() as u32;
    [
        /* 0 */ stmt(load, std::mem::offset_of!(libc::seccomp_data, arch) as u32),
        /* 1 */ jeq(arch, 0, 8),
        /* 2 */ stmt(load, std::mem::offset_of!(libc::seccomp_data, nr) as u32),
        /* 3 */ jeq(libc::SYS_bind as u32, bind, 0),
        /* 4 */ jeq(libc::SYS_connect as u32, connect, 5),
        /* 5 */ stmt(load, arg_low(2)),
        /* 6 */ jeq(IN, 2, 0),
        /* 7 */ jeq(IN6, 1, 0),
        /* 8 */ stmt(ret, libc::SECCOMP_RET_ALLOW),
        /* 9 */ stmt(ret, libc::SECCOMP_RET_USER_NOTIF),
        /* 10 */ stmt(ret, libc::SECCOMP_RET_ALLOW),
    ]
}

/// Installs the filter on this process (its children and the programs it
/// runs inherit it) and returns the listener, close-on-exec. Needs
/// CAP_SYS_ADMIN in the current user namespace (or no_new_privs).
/// `Ok(None)` on an architecture burrow has no filter for.
pub(crate) fn install_socket_notifier(
    calls: Notified,
) -> Result<Option<OwnedFd>, rustix::io::Errno> {
    let Some(arch) = AUDIT_ARCH else {
        return Ok(None);
    };
    let filter = program(arch, calls);
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: seccomp(2) reads the program through `prog`, which points at
    // `filter`; both outlive the call. The kernel copies the program.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            libc::SECCOMP_FILTER_FLAG_NEW_LISTENER,
            &prog as *const libc::sock_fprog,
        )
    };
    if fd < 0 {
        return Err(rustix::io::Errno::from_raw_os_error(
            std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
        ));
    }
    // SAFETY: the kernel just made this fd (close-on-exec) for us.
    Ok(Some(unsafe { OwnedFd::from_raw_fd(fd as i32) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_program_notifies_native_bind_and_inet_sized_connects_as_asked() {
        // A tiny interpreter for the three kinds of instruction used.
        let run = |prog: &[libc::sock_filter], nr: u32, arch: u32, len: u64| -> u32 {
            let (mut pc, mut acc) = (0usize, 0u32);
            loop {
                let i = prog[pc];
                match i.code as u32 {
                    c if c == libc::BPF_LD | libc::BPF_W | libc::BPF_ABS => {
                        acc = match i.k {
                            0 => nr,
                            4 => arch,
                            k if k == arg_low(2) => len as u32,
                            k if k == arg_low(2) + 4 => (len >> 32) as u32,
                            k => panic!("load of offset {k}"),
                        };
                        pc += 1;
                    }
                    c if c == libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K => {
                        pc += 1 + if acc == i.k { i.jt } else { i.jf } as usize;
                    }
                    _ => return i.k,
                }
            }
        };
        let x86 = 0xc000_003e;
        let (bind, connect) = (libc::SYS_bind as u32, libc::SYS_connect as u32);
        let (notify, allow) = (libc::SECCOMP_RET_USER_NOTIF, libc::SECCOMP_RET_ALLOW);
        let both = program(
            x86,
            Notified {
                bind: true,
                connect: true,
            },
        );
        assert_eq!(run(&both, bind, x86, 110), notify);
        assert_eq!(run(&both, bind, 0x4000_0003, 16), allow);
        assert_eq!(run(&both, bind + 1, x86, 16), allow);
        assert_eq!(run(&both, connect, x86, 16), notify);
        assert_eq!(run(&both, connect, x86, 28), notify);
        // Unix sockets' lengths, sockaddr_storage's, a length with high
        // bits the kernel ignores, another ABI.
        assert_eq!(run(&both, connect, x86, 110), allow);
        assert_eq!(run(&both, connect, x86, 128), allow);
        assert_eq!(run(&both, connect, x86, 0), allow);
        assert_eq!(run(&both, connect, x86, (1 << 32) | 16), notify);
        assert_eq!(run(&both, connect, 0x4000_0003, 16), allow);
        let bind_only = program(
            x86,
            Notified {
                bind: true,
                connect: false,
            },
        );
        assert_eq!(run(&bind_only, bind, x86, 16), notify);
        assert_eq!(run(&bind_only, connect, x86, 16), allow);
        let connect_only = program(
            x86,
            Notified {
                bind: false,
                connect: true,
            },
        );
        assert_eq!(run(&connect_only, bind, x86, 16), allow);
        assert_eq!(run(&connect_only, connect, x86, 28), notify);
        assert_eq!(run(&connect_only, u32::MAX, x86, 28), allow);
    }
}
