//! Linux `/proc` helpers: which processes run with a given Chromium profile, the memory (PSS)
//! of a process tree, and removing a profile directory once Chromium has let go of it.
//!
//! Hand-rolled on purpose: it reads three small `/proc` files; the `procfs` crate would add a
//! large dependency tree for that. All functions do blocking file I/O: call them from
//! `spawn_blocking` or a plain thread, never directly on the async runtime.

use std::path::Path;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// The ids of running processes (zombies excluded) whose command line has
/// `--user-data-dir=<dir>`: a browser and all its children (renderers, zygotes, GPU, utility).
pub fn processes_using_profile(dir: &Path) -> Vec<u32> {
    let wanted = format!("--user-data-dir={}", dir.display());
    all_pids()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|cmd| has_switch(&cmd, wanted.as_bytes()))
        })
        .collect()
}

/// Whether `cmdline` contains `switch` as a whole argument. Chromium's child processes
/// rewrite their command line into one space-separated string, so arguments may end at a
/// NUL, a space or the end.
fn has_switch(cmdline: &[u8], switch: &[u8]) -> bool {
    cmdline
        .windows(switch.len())
        .enumerate()
        .filter(|(_, w)| *w == switch)
        .any(|(i, _)| {
            let before = i.checked_sub(1).map(|j| cmdline[j]);
            let after = cmdline.get(i + switch.len()).copied();
            matches!(before, None | Some(0 | b' ')) && matches!(after, None | Some(0 | b' '))
        })
}

/// Every process id currently in `/proc`.
fn all_pids() -> impl Iterator<Item = u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
}

/// The parent id of `pid`, from `/proc/<pid>/stat`.
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and parentheses: skip past the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// `root` and all its descendants.
pub fn process_tree(root: u32) -> Vec<u32> {
    let links: Vec<(u32, u32)> = all_pids()
        .filter_map(|pid| Some((pid, parent_of(pid)?)))
        .collect();
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(
            links
                .iter()
                .filter(|(_, ppid)| *ppid == parent)
                .map(|(pid, _)| *pid),
        );
        i += 1;
    }
    tree
}

/// Proportional set size of one process in bytes (`/proc/<pid>/smaps_rollup`), the honest
/// memory figure for processes that share pages; `None` if it is gone or unreadable.
pub fn pss_bytes(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    let line = text.lines().find(|l| l.starts_with("Pss:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Summed PSS of `root` and all its descendants, in bytes.
pub fn tree_pss_bytes(root: u32) -> u64 {
    process_tree(root).into_iter().filter_map(pss_bytes).sum()
}

/// Waits (up to `wait`) until no process uses the profile `dir`, then deletes it (retrying:
/// a dying Chromium child may still write into it). Blocking.
pub(crate) fn remove_profile(dir: TempDir, wait: Duration) {
    let deadline = Instant::now() + wait;
    while !processes_using_profile(dir.path()).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(25));
    }
    let path = dir.path().to_path_buf();
    // `keep` hands the path to us so a failed removal can be retried.
    let _ = dir.keep();
    for attempt in 0..5 {
        match std::fs::remove_dir_all(&path) {
            Ok(()) => return,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(e) if attempt == 4 => {
                tracing::warn!(profile = %path.display(), error = %e, "could not remove a Chromium profile directory");
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_tree_and_memory() {
        let me = std::process::id();
        assert!(process_tree(me).contains(&me));
        assert!(pss_bytes(me).unwrap() > 0);
        assert!(tree_pss_bytes(me) >= pss_bytes(me).unwrap() / 2);
        assert_eq!(parent_of(me), Some(std::os::unix::process::parent_id()));
    }

    #[test]
    fn switches_match_whole_arguments_in_both_cmdline_styles() {
        let switch = b"--user-data-dir=/tmp/haul-chromium-ab";
        for (cmdline, expected) in [
            (&b"/usr/lib/chromium/chromium\0--user-data-dir=/tmp/haul-chromium-ab\0"[..], true),
            (b"/usr/lib/chromium/chromium --type=utility --user-data-dir=/tmp/haul-chromium-ab --x", true),
            (b"chromium --user-data-dir=/tmp/haul-chromium-ab", true),
            (b"chromium --user-data-dir=/tmp/haul-chromium-abc", false),
            (b"chromium --user-data-dir=/tmp/haul-chromium-ab/x", false),
            (b"x--user-data-dir=/tmp/haul-chromium-ab", false),
            (b"", false),
        ] {
            assert_eq!(has_switch(cmdline, switch), expected, "{}", String::from_utf8_lossy(cmdline));
        }
    }

    #[test]
    fn profile_removal_without_users() {
        let dir = tempfile::Builder::new()
            .prefix("haul-chromium-test-")
            .tempdir()
            .unwrap();
        std::fs::write(dir.path().join("x"), b"1").unwrap();
        let path = dir.path().to_path_buf();
        assert!(processes_using_profile(&path).is_empty());
        remove_profile(dir, Duration::from_secs(1));
        assert!(!path.exists());
    }
}
