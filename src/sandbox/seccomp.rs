//! The bind notifier: a seccomp filter that sends every bind(2) of the
//! container's processes to the supervisor (SECCOMP_RET_USER_NOTIF) and
//! allows every other call. It owns the filter only: what becomes of a bind
//! is the network's business. Its listener must always have a reader: a
//! bind with nobody listening fails with ENOSYS.

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

/// The program: bind of the native architecture -> notify, the rest ->
/// allow. A call of another ABI (i386 or x32 on x86_64) is allowed: its
/// numbers and layouts differ, and its binds simply stay in the container.
fn program(arch: u32) -> [libc::sock_filter; 6] {
    let load = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
    let ret = libc::BPF_RET | libc::BPF_K;
    [
        stmt(load, std::mem::offset_of!(libc::seccomp_data, arch) as u32),
        jeq(arch, 0, 3),
        stmt(load, std::mem::offset_of!(libc::seccomp_data, nr) as u32),
        jeq(libc::SYS_bind as u32, 0, 1),
        stmt(ret, libc::SECCOMP_RET_USER_NOTIF),
        stmt(ret, libc::SECCOMP_RET_ALLOW),
    ]
}

/// Installs the filter on this process (its children and the programs it
/// runs inherit it) and returns the listener, close-on-exec. Needs
/// CAP_SYS_ADMIN in the current user namespace (or no_new_privs).
/// `Ok(None)` on an architecture burrow has no filter for.
pub(crate) fn install_bind_notifier() -> Result<Option<OwnedFd>, rustix::io::Errno> {
    let Some(arch) = AUDIT_ARCH else {
        return Ok(None);
    };
    let filter = program(arch);
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
    fn the_program_notifies_native_bind_only() {
        // A tiny interpreter for the three kinds of instruction used.
        let run = |prog: &[libc::sock_filter], nr: u32, arch: u32| -> u32 {
            let (mut pc, mut acc) = (0usize, 0u32);
            loop {
                let i = prog[pc];
                match i.code as u32 {
                    c if c == libc::BPF_LD | libc::BPF_W | libc::BPF_ABS => {
                        acc = if i.k == 0 { nr } else { arch };
                        pc += 1;
                    }
                    c if c == libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K => {
                        pc += 1 + if acc == i.k { i.jt } else { i.jf } as usize;
                    }
                    _ => return i.k,
                }
            }
        };
        let prog = program(0xc000_003e);
        let bind = libc::SYS_bind as u32;
        assert_eq!(run(&prog, bind, 0xc000_003e), libc::SECCOMP_RET_USER_NOTIF);
        assert_eq!(run(&prog, bind + 1, 0xc000_003e), libc::SECCOMP_RET_ALLOW);
        assert_eq!(run(&prog, bind, 0x4000_0003), libc::SECCOMP_RET_ALLOW);
    }
}
