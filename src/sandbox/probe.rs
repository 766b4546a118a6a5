//! Tries, for `burrow doctor`, the kernel features the root filesystem
//! needs: overlayfs in a user namespace, fuse-overlayfs with /dev/fuse.
//! Works only in scratch directories it makes and removes itself, and in a
//! child's private mount namespace; never touches the store.

use super::rootfs::{mount_overlay, OverlayLayers};
use super::spec::OverlayApi;
use super::userns::{self, IdMap};
use nix::mount::{mount, umount, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::unistd::{Gid, Uid};
use serde::{Deserialize, Serialize};
use std::fs;
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Why the kernel overlay could not be used: the helper that enters the
/// user namespace failed, or a step inside it did.
#[derive(Debug, thiserror::Error)]
pub enum OverlayProbeError {
    #[error(transparent)]
    Helper(#[from] userns::UsernsError),
    #[error(transparent)]
    Step(#[from] OverlayStepError),
}

/// The step of the overlay probe that failed in the user namespace, with
/// the kernel's reason (as text: it crosses from the helper process).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum OverlayStepError {
    #[error("{step}: {reason}")]
    Failed { step: String, reason: String },
    #[error("the upper layer has no 0:0 whiteout for the deleted directory")]
    NoWhiteout,
}

/// Mounts a kernel overlay with `userxattr` in a scratch directory under
/// `parent`, inside a user namespace, the way this kernel takes it
/// (`lowerdir+` by fd, else a mount(2) option string), and does what a
/// container's first writes do: create a file, delete a file and a
/// directory of the lower layer (the step that fails with EIO without
/// `userxattr`). Returns the way that worked, or an error naming the step
/// that failed. The caller must be single-threaded.
pub fn kernel_overlay(parent: &Path) -> Result<OverlayApi, OverlayProbeError> {
    let scratch = parent.join(format!(".burrow-doctor-{}", std::process::id()));
    let map = IdMap::single(Uid::current().as_raw(), Gid::current().as_raw());
    let inner = scratch.clone();
    let result = userns::run_in_userns(&map, move || {
        let outcome = overlay_steps(&inner);
        // The mount dies with the child's mount namespace; the files it
        // wrote are ours to remove.
        let _ = fs::remove_dir_all(&inner);
        outcome
    })
    .map_err(OverlayProbeError::from)
    .and_then(|outcome| outcome.map_err(OverlayProbeError::from));
    // In case the child died before its own clean-up.
    let _ = fs::remove_dir_all(&scratch);
    result
}

fn overlay_steps(scratch: &Path) -> Result<OverlayApi, OverlayStepError> {
    let step = |what: &str, e: &dyn std::fmt::Display| OverlayStepError::Failed {
        step: what.to_string(),
        reason: e.to_string(),
    };
    fs::create_dir(scratch).map_err(|e| step(&format!("creating {}", scratch.display()), &e))?;
    for d in ["lower/dir", "upper", "work", "merged"] {
        fs::create_dir_all(scratch.join(d)).map_err(|e| step("creating the layer dirs", &e))?;
    }
    fs::write(scratch.join("lower/dir/file"), b"lower\n")
        .map_err(|e| step("writing the lower layer", &e))?;
    unshare(CloneFlags::CLONE_NEWNS).map_err(|e| step("unshare(CLONE_NEWNS)", &e))?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| step("making / private", &e))?;
    let layers = OverlayLayers::open(
        &[scratch.join("lower")],
        &scratch.join("upper"),
        &scratch.join("work"),
        None,
    )
    .map_err(|e| step("opening the layer dirs", &e))?;
    let merged = scratch.join("merged");
    let target = fs::File::open(&merged).map_err(|e| step("opening merged", &e))?;
    let mut refused = Vec::new();
    let mut api = None;
    for way in [OverlayApi::LowerdirPlus, OverlayApi::OptionString] {
        match mount_overlay(way, &layers, false, target.as_fd()) {
            Ok(()) => {
                api = Some(way);
                break;
            }
            Err(e) => refused.push(e),
        }
    }
    let Some(api) = api else {
        let hint = userns::restricted_hint(Some(nix::Error::EPERM));
        return Err(OverlayStepError::Failed {
            step: "mount -t overlay -o userxattr".into(),
            reason: format!(
                "{}{hint}",
                refused
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        });
    };
    let checks = (|| {
        fs::write(merged.join("new"), b"upper\n").map_err(|e| step("creating a file", &e))?;
        fs::remove_file(merged.join("dir/file"))
            .map_err(|e| step("deleting a file of the lower layer", &e))?;
        fs::remove_dir(merged.join("dir"))
            .map_err(|e| step("deleting a directory of the lower layer", &e))?;
        let whiteout = fs::symlink_metadata(scratch.join("upper/dir"))
            .map_err(|e| step("finding the whiteout in the upper layer", &e))?;
        if !(whiteout.file_type().is_char_device() && whiteout.rdev() == 0) {
            return Err(OverlayStepError::NoWhiteout);
        }
        Ok(api)
    })();
    let _ = umount(&merged);
    checks
}

/// fuse-overlayfs as burrow would use it: the program on PATH, and
/// /dev/fuse opened read-write.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FuseFacts {
    pub program: Option<PathBuf>,
    /// Why /dev/fuse cannot be used, if it cannot.
    pub dev_fuse_error: Option<String>,
}

impl FuseFacts {
    pub fn probe() -> FuseFacts {
        FuseFacts {
            program: userns::find_program("fuse-overlayfs"),
            dev_fuse_error: open_rw(Path::new("/dev/fuse")).err().map(|e| e.to_string()),
        }
    }

    pub fn usable(&self) -> bool {
        self.program.is_some() && self.dev_fuse_error.is_none()
    }
}

/// Opens a device read-write and closes it: the test for /dev/fuse and
/// /dev/net/tun, whose use needs exactly that.
pub fn open_rw(path: &Path) -> Result<(), DeviceError> {
    fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map(drop)
        .map_err(|source| DeviceError {
            path: path.to_path_buf(),
            source,
        })
}

/// A device that cannot be opened read-write; shows as the kernel's reason
/// alone, the device being named where it is reported.
#[derive(Debug, thiserror::Error)]
#[error("{source}")]
pub struct DeviceError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_overlay_works_in_a_user_namespace_and_cleans_up() {
        // This kernel (6.18) has unprivileged overlay with userxattr.
        let dir = tempfile::tempdir().unwrap();
        kernel_overlay(dir.path()).unwrap();
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0, "scratch left");
    }

    #[test]
    fn kernel_overlay_names_the_step_that_failed() {
        let e = kernel_overlay(Path::new("/nonexistent/burrow")).unwrap_err();
        let OverlayProbeError::Step(OverlayStepError::Failed { step, reason }) = &e else {
            panic!("{e}");
        };
        assert!(
            step.starts_with("creating /nonexistent/burrow/.burrow-doctor-"),
            "{e}"
        );
        assert!(reason.contains("No such file"), "{e}");
    }

    #[test]
    fn open_rw_reports_why() {
        open_rw(Path::new("/dev/null")).unwrap();
        let e = open_rw(Path::new("/nonexistent")).unwrap_err();
        assert_eq!(e.path, Path::new("/nonexistent"));
        assert!(e.to_string().contains("No such file"), "{e}");
    }
}
