//! A FUSE "network share" for the tests: bindfs mounts a folder (`under`, where another PC's
//! writes land) on a folder of the office. Files written underneath raise no inotify event on the
//! mount, and attributes are cached for a second, as SMB and NFS clients do. The share can be
//! unmounted and mounted again, as a real share that goes away and comes back.
//!
//! Needs root and the `bindfs` package; where either is missing the test says SKIPPED loudly on
//! stderr and returns.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::Office;
use super::takeover::Site;

pub const FUSE_SUPER_MAGIC: i64 = 0x6573_5546;

pub fn skip(why: &str) {
    super::skip(why, "root and bindfs (Debian package `bindfs`)");
}

/// A folder of the office as a bindfs mount of `under`; unmounted when dropped, also when the
/// test panics. Declare it after the `Office` and before the `Daemon`.
pub struct Share {
    /// Where the "other PC" writes: the folder underneath the mount.
    pub under: PathBuf,
    pub mount_point: PathBuf,
}

impl Share {
    /// The office's inbox as a share (the office's `inbox/scanner` comes along underneath).
    pub fn mount(o: &Office) -> Option<Share> {
        let under = o.path("share");
        std::fs::create_dir_all(under.join("scanner")).unwrap();
        let mount_point = o.path("inbox");
        // The office comes with inbox/scanner; the share brings its own.
        std::fs::remove_dir(mount_point.join("scanner")).unwrap();
        Share::mount_at(&under, &mount_point)
    }

    /// `under` mounted on `mount_point` (both made if missing).
    pub fn mount_at(under: &Path, mount_point: &Path) -> Option<Share> {
        std::fs::create_dir_all(under).unwrap();
        std::fs::create_dir_all(mount_point).unwrap();
        let share = Share {
            under: under.to_path_buf(),
            mount_point: mount_point.to_path_buf(),
        };
        if let Err(why) = share.bind() {
            skip(&why);
            // Nothing is mounted: dropping must not unmount anything.
            std::mem::forget(share);
            return None;
        }
        assert_eq!(
            fs_type(mount_point),
            FUSE_SUPER_MAGIC,
            "bindfs mounted, but {} is not a FUSE filesystem",
            mount_point.display()
        );
        Some(share)
    }

    fn bind(&self) -> Result<(), String> {
        match Command::new("bindfs")
            .arg(&self.under)
            .arg(&self.mount_point)
            .output()
        {
            Err(e) => Err(format!("cannot run bindfs: {e}")),
            Ok(out) if !out.status.success() => {
                let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
                // A machine without FUSE or without the right to mount: say so. Anything else
                // is this test's mistake.
                let missing = [
                    "fuse device",
                    "/dev/fuse",
                    "ermission denied",
                    "not permitted",
                ];
                assert!(
                    missing.iter().any(|m| err.contains(m)),
                    "bindfs failed: {err}"
                );
                Err(format!("bindfs cannot mount here: {err}"))
            }
            Ok(_) => Ok(()),
        }
    }

    /// Writes a file as another machine would: underneath the mount, so no event reaches it.
    pub fn write(&self, name: &str, bytes: &[u8]) {
        let p = self.under.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }

    /// This share as the place a scenario of [`super::takeover`] drops its files: written whole
    /// underneath ([`Share::write_whole`]), looked at underneath (no FUSE cache in between);
    /// archive and failed are the office's local folders. Whole, because the mount caches a
    /// file's size for 1 s, longer than the tests' `settle`: a file seen at the moment it was
    /// created could settle as empty (tests/share.rs covers files written in place).
    pub fn site<'a>(&'a self, o: &Office) -> Site<'a> {
        Site::new(
            "bindfs",
            |rel, bytes| self.write_whole(rel, bytes),
            self.mount_point.clone(),
            self.under.clone(),
            o.path("archive"),
            o.path("failed"),
        )
    }

    /// Writes a file underneath as copy tools that write a temporary name and rename it do: it
    /// appears whole under its name, never empty or half-written.
    pub fn write_whole(&self, name: &str, bytes: &[u8]) {
        let p = self.under.join(name);
        let dir = p.parent().unwrap();
        std::fs::create_dir_all(dir).unwrap();
        let part = dir.join(format!(
            ".{}.part",
            p.file_name().unwrap().to_string_lossy()
        ));
        std::fs::write(&part, bytes).unwrap();
        std::fs::rename(&part, &p).unwrap();
    }

    /// The share goes away: unmounted (lazily if busy), leaving the empty mount point.
    pub fn unmount(&self) {
        umount(&self.mount_point);
        assert_ne!(
            fs_type(&self.mount_point),
            FUSE_SUPER_MAGIC,
            "still mounted"
        );
    }

    /// The share comes back (a new FUSE device, as after a real remount).
    pub fn remount(&self) {
        self.bind()
            .expect("bindfs mounted before, so it mounts again");
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        if fs_type(&self.mount_point) == FUSE_SUPER_MAGIC {
            umount(&self.mount_point);
        }
    }
}

fn umount(p: &Path) {
    let c = std::ffi::CString::new(p.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid path; a busy mount is detached instead, so none outlives the test.
    unsafe {
        if libc::umount2(c.as_ptr(), 0) != 0 {
            libc::umount2(c.as_ptr(), libc::MNT_DETACH);
        }
    }
}

pub fn fs_type(p: &Path) -> i64 {
    let c = std::ffi::CString::new(p.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid path and a zeroed out-parameter of the right type.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return 0;
    }
    st.f_type as i64
}
