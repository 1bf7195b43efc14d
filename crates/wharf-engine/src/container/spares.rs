//! Container directories made ahead: `create` renames one into place instead of making the
//! container's directory and the runtime's five inside it on the start's path.
//!
//! On this machine kind's data root (an ext4 without a journal, ADR-0017) those six `mkdir`s
//! (with the container directory's `TOPDIR` flag between) took 0.4–1.3 ms per container
//! (median of 60, `bench`-style loop in docs/perf-start.md, session 18), a rename 0.01 ms.
//! A thread at `SCHED_IDLE` ([`crate::background`]) keeps [`KEEP`] of them ready under
//! `<data_root>/spares/`; one taken is made again when the machine has nothing else to do.
//!
//! A spare is made under a name of its own and listed as ready only once whole, so a crash
//! leaves at most unlisted directories in `spares/`, which the next daemon removes before
//! it makes new ones. Nothing else reads `spares/`. Where none is ready (the thread was not
//! started, is behind, or cannot make them) `create` makes the directory as before.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

/// How many spares are kept ready: a `run` takes one, and `compose up` a few in a row.
const KEEP: usize = 2;

/// What the runtime makes in a container's directory
/// ([`wharf_runtime::rootfs::Layout`] and the cgroup binds' `cgroup/`).
const SUBDIRS: [&str; 6] = [
    "bundle",
    "rootfs",
    "upper",
    "work",
    "cgroup",
    "cgroup/.tree",
];

#[derive(Default)]
struct Ready {
    dirs: Vec<PathBuf>,
    /// The maker has stopped (it could not make one): nothing more will come.
    stopped: bool,
}

pub struct Spares {
    dir: PathBuf,
    ready: Mutex<Ready>,
    /// Signalled when one is taken.
    taken: Condvar,
}

impl Spares {
    /// The spares of the data root `data_root` (none made until [`Spares::start`]).
    pub fn new(data_root: &Path) -> Arc<Spares> {
        Arc::new(Spares {
            dir: data_root.join("spares"),
            ready: Mutex::new(Ready::default()),
            taken: Condvar::new(),
        })
    }

    fn ready(&self) -> std::sync::MutexGuard<'_, Ready> {
        self.ready.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts the thread that removes what an earlier daemon left in `spares/` and then keeps
    /// [`KEEP`] spares ready. Best effort: without it every `create` makes its directory.
    pub fn start(self: &Arc<Self>) {
        let me = self.clone();
        let started = crate::background::spawn("wharf-spares", move || {
            if let Err(e) = me.clear() {
                tracing::debug!(error = %e, "no spare container directories");
                me.ready().stopped = true;
                return;
            }
            let mut n = 0u64;
            loop {
                {
                    let mut r = me.ready();
                    while r.dirs.len() >= KEEP && !r.stopped {
                        r = me.taken.wait(r).unwrap_or_else(|p| p.into_inner());
                    }
                    if r.stopped {
                        return;
                    }
                }
                n += 1;
                match me.make(n) {
                    Ok(d) => me.ready().dirs.push(d),
                    Err(e) => {
                        tracing::debug!(error = %e, "stopped making spare container directories");
                        me.ready().stopped = true;
                        return;
                    }
                }
            }
        });
        if let Err(e) = started {
            tracing::debug!(error = %e, "no spare container directories");
        }
    }

    /// Empties `spares/` (what a daemon left there), or makes it.
    fn clear(&self) -> std::io::Result<()> {
        match std::fs::read_dir(&self.dir) {
            Ok(rd) => {
                for e in rd.flatten() {
                    std::fs::remove_dir_all(e.path())?;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir(&self.dir)?;
            }
            Err(e) => return Err(e),
        }
        // Each spare spreads over ext4's block groups as a container's directory does.
        super::store::spread_subdirectories(&self.dir);
        Ok(())
    }

    /// Makes spare number `n`: a directory with the container directory's flag, then the
    /// runtime's directories in it.
    fn make(&self, n: u64) -> std::io::Result<PathBuf> {
        let d = self.dir.join(n.to_string());
        std::fs::create_dir(&d)?;
        super::store::spread_subdirectories(&d);
        for s in SUBDIRS {
            std::fs::create_dir(d.join(s))?;
        }
        Ok(d)
    }

    /// Puts a ready spare at `dest` (which must not exist). False when none is ready or the
    /// rename fails: the caller makes `dest` itself.
    pub fn take(&self, dest: &Path) -> bool {
        let Some(d) = self.ready().dirs.pop() else {
            return false;
        };
        self.taken.notify_one();
        match std::fs::rename(&d, dest) {
            Ok(()) => true,
            Err(e) => {
                tracing::debug!(error = %e, from = %d.display(), "spare container directory not taken");
                let _ = std::fs::remove_dir_all(&d);
                if e.raw_os_error() == Some(libc::EXDEV) {
                    // `containers/` on another filesystem: no spare will ever do.
                    self.ready().stopped = true;
                }
                false
            }
        }
    }

    /// Whether the maker has stopped for good (tests).
    #[cfg(test)]
    fn stopped(&self) -> bool {
        self.ready().stopped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait_ready(s: &Spares, n: usize) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while s.ready().dirs.len() < n {
            assert!(std::time::Instant::now() < deadline, "no spares made");
            assert!(!s.stopped(), "the maker stopped");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    #[test]
    fn spares_are_made_ahead_taken_whole_and_made_again() {
        let root = tempfile::tempdir().unwrap();
        // What an earlier daemon left goes first.
        let left = root.path().join("spares/old/upper");
        std::fs::create_dir_all(&left).unwrap();
        std::fs::write(left.join("f"), b"x").unwrap();
        let s = Spares::new(root.path());
        let dest = root.path().join("c1");
        assert!(!s.take(&dest), "nothing is ready before the start");
        s.start();
        wait_ready(&s, KEEP);
        assert!(!root.path().join("spares/old").exists());
        assert!(s.take(&dest));
        for d in SUBDIRS {
            assert!(dest.join(d).is_dir(), "{d}");
        }
        assert_eq!(std::fs::read_dir(dest.join("upper")).unwrap().count(), 0);
        // The one taken is made again.
        wait_ready(&s, KEEP);
        let names: Vec<_> = std::fs::read_dir(root.path().join("spares"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), KEEP, "{names:?}");
        // A destination that exists is refused, and the spare is not left listed.
        std::fs::create_dir_all(root.path().join("c2/x")).unwrap();
        assert!(!s.take(&root.path().join("c2")));
    }

    #[test]
    fn a_data_root_without_room_for_spares_makes_none() {
        let root = tempfile::tempdir().unwrap();
        // `spares` is a file: nothing can be made, and `take` says so.
        std::fs::write(root.path().join("spares"), b"").unwrap();
        let s = Spares::new(root.path());
        s.start();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !s.stopped() {
            assert!(std::time::Instant::now() < deadline);
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(!s.take(&root.path().join("c1")));
    }
}
