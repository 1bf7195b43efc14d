//! Work that no request waits for runs at `SCHED_IDLE`: today the deletion of removed
//! containers' files (the trash).
//!
//! On a small machine the scheduler often keeps a whole `run` on one CPU (this machine kind's
//! kernel packs tasks onto as few vCPUs as it can: `sched_vcpu_pack` on its command line), so
//! work done "in the background" at the normal priority takes its time slices from the
//! container being started or removed right then. At `SCHED_IDLE` it runs when nothing else
//! wants the CPU, and still gets a small share under load (it is not starved for good). Best
//! effort: where the policy cannot be set, the work runs at the normal priority.

/// Starts a thread named `name` that runs `f` at `SCHED_IDLE`.
pub fn spawn<F: FnOnce() + Send + 'static>(name: &str, f: F) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            let param = libc::sched_param { sched_priority: 0 };
            // SAFETY: sets the calling thread's policy; `param` is read during the call only.
            unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
            f()
        })
        .map(drop)
}

#[cfg(test)]
mod tests {
    #[test]
    fn spawned_work_runs_idle_and_the_caller_does_not() {
        let (tx, rx) = std::sync::mpsc::channel();
        // SAFETY: reads the calling thread's policy.
        let policy = || unsafe { libc::sched_getscheduler(0) };
        super::spawn("test-idle", move || tx.send(policy()).unwrap()).unwrap();
        assert_eq!(rx.recv().unwrap(), libc::SCHED_IDLE);
        assert_eq!(policy(), libc::SCHED_OTHER);
    }
}
