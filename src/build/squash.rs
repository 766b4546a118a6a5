//! `burrow build --squash`: the layers a build made, merged into one on
//! top of its base image's. The unpacked layers are applied in order to a
//! scratch directory in overlay's own form (whiteouts as 0:0 character
//! devices, opaque directories marked), which then becomes one layer as a
//! RUN step's upper directory does. Runs inside the user namespace.

use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

const OPAQUE: &str = "user.overlay.opaque";

fn is_whiteout(m: &std::fs::Metadata) -> bool {
    m.file_type().is_char_device() && m.rdev() == 0
}

fn is_opaque(dir: &Path) -> bool {
    let mut buf = [0u8; 4];
    rustix::fs::lgetxattr(dir, OPAQUE, &mut buf).is_ok_and(|n| &buf[..n] == b"y")
}

fn remove_any(p: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(p),
        Ok(_) => std::fs::remove_file(p),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn meta(from: &Path, to: &Path, m: &std::fs::Metadata) -> io::Result<()> {
    std::os::unix::fs::lchown(to, Some(m.uid()), Some(m.gid()))?;
    if !m.file_type().is_symlink() {
        std::fs::set_permissions(to, std::fs::Permissions::from_mode(m.mode() & 0o7777))?;
    }
    // The owner the id map could not give stays recorded (a symbolic
    // link's is in its layer's owners file, which the squash reads).
    let xattr = crate::owners::OVERRIDE_XATTR;
    let mut buf = [0u8; 64];
    if m.is_dir() || m.is_file() {
        match rustix::fs::lgetxattr(from, xattr, &mut buf) {
            Ok(n) => rustix::fs::lsetxattr(to, xattr, &buf[..n], rustix::fs::XattrFlags::empty())?,
            Err(_) if m.is_dir() => {
                // A later layer's directory without a record replaces it.
                let _ = rustix::fs::lremovexattr(to, xattr);
            }
            Err(_) => {}
        }
    }
    let t = rustix::fs::Timestamps {
        last_access: rustix::fs::Timespec {
            tv_sec: m.atime(),
            tv_nsec: m.atime_nsec() as _,
        },
        last_modification: rustix::fs::Timespec {
            tv_sec: m.mtime(),
            tv_nsec: m.mtime_nsec() as _,
        },
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        to,
        &t,
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(io::Error::from)
}

/// Applies the unpacked layer `src` onto `dst` as overlay would stack it.
pub fn apply(src: &Path, dst: &Path) -> io::Result<()> {
    for entry in std::fs::read_dir(src)? {
        let entry = entry?;
        let (s, d) = (entry.path(), dst.join(entry.file_name()));
        let m = std::fs::symlink_metadata(&s)?;
        let ft = m.file_type();
        if is_whiteout(&m) {
            remove_any(&d)?;
            rustix::fs::mknodat(
                rustix::fs::CWD,
                &d,
                rustix::fs::FileType::CharacterDevice,
                rustix::fs::Mode::empty(),
                0,
            )?;
            continue;
        }
        if ft.is_dir() {
            let existing = std::fs::symlink_metadata(&d).ok();
            if existing.as_ref().is_some_and(|e| !e.is_dir()) || is_opaque(&s) {
                remove_any(&d)?;
            }
            if std::fs::symlink_metadata(&d).is_err() {
                std::fs::create_dir(&d)?;
            }
            if is_opaque(&s) {
                rustix::fs::lsetxattr(&d, OPAQUE, b"y", rustix::fs::XattrFlags::empty())?;
            }
            apply(&s, &d)?;
            meta(&s, &d, &m)?;
            continue;
        }
        remove_any(&d)?;
        if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&s)?, &d)?;
        } else if ft.is_file() {
            std::fs::copy(&s, &d)?;
        } else {
            let kind = rustix::fs::FileType::from_raw_mode(m.mode());
            rustix::fs::mknodat(
                rustix::fs::CWD,
                &d,
                kind,
                rustix::fs::Mode::from_raw_mode(m.mode() & 0o7777),
                m.rdev(),
            )?;
        }
        meta(&s, &d, &m)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_layers_win_and_deletions_stay_whiteouts() {
        let d = tempfile::tempdir().unwrap();
        let (l1, l2, out) = (d.path().join("1"), d.path().join("2"), d.path().join("o"));
        for p in [&l1, &l2, &out] {
            std::fs::create_dir(p).unwrap();
        }
        std::fs::write(l1.join("a"), "old").unwrap();
        std::fs::write(l1.join("gone"), "x").unwrap();
        std::fs::write(l2.join("a"), "new").unwrap();
        apply(&l1, &out).unwrap();
        apply(&l2, &out).unwrap();
        assert_eq!(std::fs::read(out.join("a")).unwrap(), b"new");
        assert!(out.join("gone").exists());
    }
}
