//! Which way this kernel mounts a container's root, found once per kernel
//! (`uname -r`) by `sandbox::probe::kernel_overlay` and remembered under
//! the storage root, so that a run pays one small read. Never probes when
//! the answer for the running kernel is on disk.

use crate::sandbox::{probe, OverlayApi, RootfsDriver, SandboxSpec};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Forces the kernel overlay's way (`lowerdir-plus` or `option-string`)
/// without probing or caching: a seam for tests, which prove the option
/// string on a kernel that has `lowerdir+`.
pub const FORCE_ENV: &str = "BURROW_TEST_OVERLAY_API";

/// What the probe found for one kernel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverlayChoice {
    /// `uname -r` of the kernel probed.
    pub kernel: String,
    /// The way the kernel overlay works here, if it does.
    pub api: Option<OverlayApi>,
    /// Why the kernel overlay does not work here.
    pub refused: Option<String>,
}

impl OverlayChoice {
    /// The spec's drivers and overlay way: without a kernel overlay,
    /// straight to the fallbacks (no failed attempt, no note at each run).
    pub fn apply(&self, spec: &mut SandboxSpec) {
        match self.api {
            Some(api) => spec.overlay_api = api,
            None => spec
                .rootfs_drivers
                .retain(|d| *d != RootfsDriver::KernelOverlay),
        }
    }
}

/// The running kernel's release.
pub fn release() -> String {
    rustix::system::uname()
        .release()
        .to_string_lossy()
        .into_owned()
}

/// The file that remembers `kernel`'s answer under `storage`.
pub fn cache_file(storage: &Path, kernel: &str) -> PathBuf {
    let name: String = kernel
        .chars()
        .map(|c| if c == '/' { '_' } else { c })
        .collect();
    storage.join("kernels").join(format!("{name}.json"))
}

/// The choice for the running kernel: forced by `FORCE_ENV`, remembered,
/// or probed now (in a scratch dir under `storage`, whose filesystem will
/// hold the upper dirs) and remembered. The caller must be
/// single-threaded (the probe forks into a user namespace).
pub fn overlay_choice(storage: &Path) -> OverlayChoice {
    let kernel = release();
    if let Some(api) = std::env::var(FORCE_ENV)
        .ok()
        .and_then(|v| v.parse::<OverlayApi>().ok())
    {
        return OverlayChoice {
            kernel,
            api: Some(api),
            refused: None,
        };
    }
    let file = cache_file(storage, &kernel);
    if let Some(known) = std::fs::read(&file)
        .ok()
        .and_then(|b| serde_json::from_slice::<OverlayChoice>(&b).ok())
        .filter(|c| c.kernel == kernel)
    {
        return known;
    }
    let (api, refused) = match probe::kernel_overlay(storage) {
        Ok(api) => (Some(api), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let choice = OverlayChoice {
        kernel,
        api,
        refused,
    };
    // Not remembering costs a probe next time, nothing more.
    let _ = remember(&file, &choice);
    choice
}

fn remember(file: &Path, choice: &OverlayChoice) -> std::io::Result<()> {
    let dir = file.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{}.tmp", std::process::id()));
    let written = serde_json::to_vec(choice)
        .map_err(std::io::Error::other)
        .and_then(|json| {
            let mut f = std::fs::File::create(&tmp)?;
            std::io::Write::write_all(&mut f, &json)?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, file));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kernel_is_probed_once_and_its_answer_kept_by_release() {
        let dir = tempfile::tempdir().unwrap();
        let first = overlay_choice(dir.path());
        assert_eq!(first.kernel, release());
        // This machine's kernel (6.18) takes lowerdir+.
        assert_eq!(first.api, Some(OverlayApi::LowerdirPlus), "{first:?}");
        let file = cache_file(dir.path(), &release());
        let kept: OverlayChoice = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        assert_eq!(kept, first);
        // The remembered answer is used as it is: no probe runs.
        let planted = OverlayChoice {
            api: Some(OverlayApi::OptionString),
            ..first.clone()
        };
        std::fs::write(&file, serde_json::to_vec(&planted).unwrap()).unwrap();
        assert_eq!(overlay_choice(dir.path()), planted);
        // An answer for another kernel under this release's name is not.
        let other = OverlayChoice {
            kernel: "5.10.0-32-amd64".into(),
            ..planted
        };
        std::fs::write(&file, serde_json::to_vec(&other).unwrap()).unwrap();
        assert_eq!(overlay_choice(dir.path()), first);
    }

    #[test]
    fn a_kernel_without_overlay_goes_straight_to_the_fallbacks() {
        let mut spec = SandboxSpec::new(
            crate::sandbox::userns::IdMap::single(1000, 1000),
            crate::sandbox::Rootfs::Dir("/x".into()),
            vec!["true".into()],
        );
        let refused = OverlayChoice {
            kernel: "5.10.0-32-amd64".into(),
            api: None,
            refused: Some("EPERM".into()),
        };
        refused.apply(&mut spec);
        assert_eq!(
            spec.rootfs_drivers,
            [RootfsDriver::FuseOverlayfs, RootfsDriver::Copy]
        );
        let mut spec2 = spec.clone();
        spec2.rootfs_drivers = RootfsDriver::preferred();
        OverlayChoice {
            api: Some(OverlayApi::OptionString),
            refused: None,
            ..refused
        }
        .apply(&mut spec2);
        assert_eq!(spec2.overlay_api, OverlayApi::OptionString);
        assert_eq!(spec2.rootfs_drivers, RootfsDriver::preferred());
    }
}
