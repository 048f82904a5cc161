//! Linux `/proc` helpers: which processes run with a given Chromium profile, the memory (PSS)
//! of a process tree, removing a profile directory once Chromium has let go of it, and
//! sweeping away the Chromium processes and profiles of a haul that was killed (SIGKILL, the
//! OOM killer) before it could close them.
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

/// The name of the launcher script in a profile directory (see [`write_launcher`]).
const LAUNCHER_FILE: &str = "haul-launch-chromium";

/// `setpriv` (util-linux), found once: what [`write_launcher`] uses to give Chromium a
/// parent-death signal. `None` when it is not installed.
fn setpriv() -> Option<&'static Path> {
    static FOUND: std::sync::OnceLock<Option<std::path::PathBuf>> = std::sync::OnceLock::new();
    FOUND
        .get_or_init(|| {
            which::which("setpriv")
                .ok()
                .or_else(|| Some(Path::new("/usr/bin/setpriv").to_path_buf()))
                .filter(|p| p.is_file())
        })
        .as_deref()
}

/// `s` quoted for a POSIX shell (single quotes; an embedded `'` becomes `'\''`).
fn shell_quote(s: &std::ffi::OsStr) -> String {
    format!("'{}'", s.to_string_lossy().replace('\'', r"'\''"))
}

/// Writes into `profile` a launcher for `chrome` that dies with this process: a shell script
/// that execs `setpriv --pdeathsig KILL chrome "$@"`, so Chromium (same pid, same command
/// line) gets SIGKILL from the kernel when the thread that started it exits, however haul
/// ends (SIGKILL and the OOM killer included); Chromium's own children exit when it does.
/// No `pre_exec` (unsafe code is forbidden) and no helper binary: the library works in any
/// binary. Returns `None` (launch Chromium directly, with only the sweep of
/// [`sweep_stale_profiles`] as a safety net) when `setpriv` is missing, when `chrome` is not
/// valid UTF-8, or when the script cannot be written or made executable.
pub(crate) fn write_launcher(profile: &Path, chrome: &Path) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let Some(setpriv) = setpriv() else {
        tracing::debug!("setpriv not found: Chromium is launched without a parent-death signal");
        return None;
    };
    chrome.to_str()?;
    let script = format!(
        "#!/bin/sh\n# Written by haul: Chromium gets SIGKILL when haul dies.\nexec {} --pdeathsig KILL -- {} \"$@\"\n",
        shell_quote(setpriv.as_os_str()),
        shell_quote(chrome.as_os_str()),
    );
    let path = profile.join(LAUNCHER_FILE);
    let written = std::fs::write(&path, script)
        .and_then(|()| std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)));
    match written {
        Ok(()) => Some(path),
        Err(e) => {
            tracing::warn!(error = %e, "cannot write the Chromium launcher; Chromium may outlive a killed haul");
            None
        }
    }
}

/// The file in a profile directory that names the process owning it: `<pid> <start time>`
/// (the start time from `/proc/<pid>/stat`, so that a reused pid is not taken for the owner).
const OWNER_FILE: &str = "haul-owner";
/// Prefix of haul's temporary Chromium profiles.
pub(crate) const PROFILE_PREFIX: &str = "haul-chromium-";
/// Profiles without an owner file are only swept when older than this (one being created right
/// now has no owner file yet).
const UNOWNED_GRACE: Duration = Duration::from_secs(120);

/// The start time of `pid` (field 22 of `/proc/<pid>/stat`, in clock ticks since boot).
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    // Fields after the name start at field 3 (state): field 22 is the 20th of them.
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Marks `profile` as owned by this process (see [`sweep_stale_profiles`]).
pub(crate) fn mark_owner(profile: &Path) -> std::io::Result<()> {
    let me = std::process::id();
    let started = start_time(me).unwrap_or(0);
    std::fs::write(profile.join(OWNER_FILE), format!("{me} {started}"))
}

/// Whether the process named in `profile`'s owner file is gone; `None` without a readable
/// owner file.
fn owner_gone(profile: &Path) -> Option<bool> {
    let text = std::fs::read_to_string(profile.join(OWNER_FILE)).ok()?;
    let mut parts = text.split_whitespace();
    let pid: u32 = parts.next()?.parse().ok()?;
    let started: u64 = parts.next()?.parse().ok()?;
    Some(start_time(pid) != Some(started))
}

/// Kills the Chromium processes and removes the profiles in `tmp` that a haul left behind
/// when it was killed before it could close its browsers: profiles whose owner process is
/// gone, and profiles without an owner file that are older than two minutes and that no
/// process uses. Profiles of running hauls are left alone. Returns how many profiles were
/// removed. Blocking (call it from a plain thread or `spawn_blocking`).
pub fn sweep_stale_profiles(tmp: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        let is_profile = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(PROFILE_PREFIX))
            && path.is_dir();
        if !is_profile {
            continue;
        }
        let users = processes_using_profile(&path);
        let stale = match owner_gone(&path) {
            Some(gone) => gone,
            None => {
                let age = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok());
                users.is_empty() && age.is_some_and(|a| a >= UNOWNED_GRACE)
            }
        };
        if !stale {
            continue;
        }
        for pid in &users {
            if let Some(pid) = i32::try_from(*pid)
                .ok()
                .and_then(rustix::process::Pid::from_raw)
            {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while !processes_using_profile(&path).is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(25));
        }
        if std::fs::remove_dir_all(&path).is_ok() {
            tracing::info!(profile = %path.display(), killed = users.len(), "removed the Chromium profile of a haul that was killed");
            removed += 1;
        }
    }
    removed
}

/// The sweep started by [`sweep_in_background`], until [`finish_sweep`] waits for it.
static SWEEP: std::sync::Mutex<Option<std::thread::JoinHandle<usize>>> =
    std::sync::Mutex::new(None);

/// Runs [`sweep_stale_profiles`] on the temporary directory once per process, on a helper
/// thread (it reads `/proc` and may wait for killed processes to exit).
pub(crate) fn sweep_in_background() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let spawned = std::thread::Builder::new()
            .name("haul-profile-sweep".into())
            .spawn(|| sweep_stale_profiles(&std::env::temp_dir()));
        match spawned {
            Ok(handle) => *crate::instance::lock(&SWEEP) = Some(handle),
            Err(e) => tracing::warn!(error = %e, "could not start the stale-profile sweep"),
        }
    });
}

/// Waits for the sweep, if one runs, so that a short crawl does not exit in its middle.
pub(crate) async fn finish_sweep() {
    let handle = crate::instance::lock(&SWEEP).take();
    if let Some(handle) = handle {
        let _ = tokio::task::spawn_blocking(move || handle.join()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_of_dead_owners_are_swept_and_live_or_fresh_ones_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = |name: &str| {
            let p = tmp.path().join(name);
            std::fs::create_dir(&p).unwrap();
            std::fs::write(p.join("Local State"), b"{}").unwrap();
            p
        };
        let mine = dir("haul-chromium-mine");
        mark_owner(&mine).unwrap();
        // A pid that is surely not running with that start time.
        let dead = dir("haul-chromium-dead");
        std::fs::write(dead.join(OWNER_FILE), format!("{} 1", std::process::id())).unwrap();
        let fresh = dir("haul-chromium-fresh");
        let other = dir("not-haul");
        assert_eq!(sweep_stale_profiles(tmp.path()), 1);
        assert!(mine.exists() && fresh.exists() && other.exists());
        assert!(!dead.exists());
    }

    #[test]
    fn a_launched_process_dies_with_the_thread_that_started_it() {
        use std::os::unix::process::ExitStatusExt;
        let dir = tempfile::tempdir().unwrap();
        let launcher = write_launcher(dir.path(), Path::new("/bin/sleep"))
            .expect("setpriv (util-linux) is installed");
        // The parent-death signal fires when the forking *thread* exits, not the process:
        // why the pool launches Chromium from a runtime thread, never a short-lived one.
        let started = Instant::now();
        let mut child = std::thread::spawn(move || {
            let child = std::process::Command::new(&launcher)
                .arg("30")
                .spawn()
                .unwrap();
            // Until setpriv has run there is no signal to fire (the sweep covers a haul
            // killed in these few milliseconds).
            std::thread::sleep(Duration::from_millis(500));
            child
        })
        .join()
        .unwrap();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            assert!(started.elapsed() < Duration::from_secs(10), "still running");
            std::thread::sleep(Duration::from_millis(10));
        };
        assert_eq!(status.signal(), Some(9), "{status:?}");
    }

    #[test]
    fn shell_quoting_survives_quotes_and_spaces() {
        let quoted = shell_quote(std::ffi::OsStr::new("/opt/my 'chrome'/chrome"));
        assert_eq!(quoted, r"'/opt/my '\''chrome'\''/chrome'");
        let out = std::process::Command::new("sh")
            .args(["-c", &format!("printf %s {quoted}")])
            .output()
            .unwrap();
        assert_eq!(out.stdout, b"/opt/my 'chrome'/chrome");
    }

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
