//! Where local CI runs a repository's tests: a scratch directory per run (the throwaway clone, `HOME`, `TMPDIR`), a
//! clean environment, and bubblewrap when it works here.
//!
//! The tests are the repository's own code, as hostile as its names. Under bubblewrap they see the whole filesystem
//! read-only except the scratch directory, no network unless allowed, and their own PID namespace, so everything
//! they start dies with the run. Whether bubblewrap works (installed, user namespaces allowed) is probed once per
//! process; without it the log says once that local CI runs unconfined, and the clean environment, the throwaway
//! clone and the process-tree kill are what remains.

use std::{
    ffi::OsString,
    path::{Path, PathBuf},
    time::Duration,
};

use tokio::sync::OnceCell;

use hive_ecosystem::process::{CommandSpec, run};

/// How local CI confines a repository's tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Sandbox {
    /// Under bubblewrap (`bwrap`) when it is installed and works here; unconfined otherwise, said once in the log.
    #[default]
    Auto,
    /// Never under bubblewrap: only the clean environment, the throwaway clone and the process-tree kill.
    Off,
}

/// The program, and the flags the probe checks (every flag a run uses, network isolation included).
const BWRAP: &str = "bwrap";

/// Whether bubblewrap works, probed once per process.
static BWRAP_WORKS: OnceCell<bool> = OnceCell::const_new();

/// Whether runs are confined with `sandbox`: for [`Sandbox::Auto`], the once-per-process probe decides.
pub(crate) async fn confined(sandbox: Sandbox) -> bool {
    match sandbox {
        Sandbox::Off => false,
        Sandbox::Auto => *BWRAP_WORKS.get_or_init(probe).await,
    }
}

async fn probe() -> bool {
    let mut args = base_args(Path::new("/"), false, None);
    args.extend(["--", "true"].map(OsString::from));
    let spec = CommandSpec::new(BWRAP, args, "/").timeout(Duration::from_secs(20)).env_clear().env("PATH", path_var());
    let reason = match run(&spec).await {
        Ok(out) if out.success() => {
            tracing::info!("local ci runs tests under bubblewrap: read-only filesystem, no network, own PID namespace");
            return true;
        }
        Ok(out) => format!("bwrap failed: {}", out.stderr_text().trim()),
        Err(e) => format!("bwrap is not installed ({})", e.source),
    };
    tracing::warn!(
        reason,
        "local ci runs tests unconfined: they can read and write what hive can (install bubblewrap, with user \
         namespaces allowed, to confine them)"
    );
    false
}

/// The bubblewrap flags for a run whose writable directory is `scratch`. The user's home directory (`home`) is an
/// empty tmpfs inside the run, so keys, git credentials, tokens in `~/.config` and registry credentials cannot be
/// read, with only the toolchains a test needs bound back read-only; unless `scratch` lies inside it.
fn base_args(scratch: &Path, network: bool, home: Option<&Path>) -> Vec<OsString> {
    let mut args: Vec<OsString> =
        ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"].into_iter().map(OsString::from).collect();
    if let Some(home) = home.filter(|home| *home != Path::new("/") && !scratch.starts_with(home)) {
        args.extend([OsString::from("--tmpfs"), home.as_os_str().to_owned()]);
        for dir in toolchain_dirs(home) {
            args.extend([OsString::from("--ro-bind-try"), dir.clone().into_os_string(), dir.into_os_string()]);
        }
    }
    args.push("--bind".into());
    args.extend([scratch.as_os_str().to_owned(), scratch.as_os_str().to_owned()]);
    args.extend(["--unshare-pid", "--unshare-ipc", "--die-with-parent", "--new-session"].map(OsString::from));
    if !network {
        args.push("--unshare-net".into());
    }
    args
}

/// What a test's toolchain reads under the home directory: cargo's registry, git checkouts and installed binaries
/// (not its credentials or configuration), rustup's toolchains, and the interpreters on `PATH`.
fn toolchain_dirs(home: &Path) -> Vec<PathBuf> {
    let mut cargo = vec![home.join(".cargo")];
    let mut rustup = vec![home.join(".rustup")];
    cargo.extend(std::env::var_os("CARGO_HOME").map(PathBuf::from));
    rustup.extend(std::env::var_os("RUSTUP_HOME").map(PathBuf::from));
    let mut dirs: Vec<PathBuf> =
        cargo.iter().flat_map(|cargo| ["registry", "git", "bin"].map(|sub| cargo.join(sub))).chain(rustup).collect();
    // Interpreters installed under the home directory (pyenv, nvm, rbenv...) are found through PATH, and their
    // shims need the manager's whole directory; a PATH entry elsewhere in home is bound back alone.
    for entry in std::env::split_paths(&path_var()).filter(|entry| entry.is_absolute()) {
        let Ok(inside) = entry.strip_prefix(home) else { continue };
        let Some(first) = inside.components().next() else { continue };
        let first = first.as_os_str().to_string_lossy();
        let private = [".cargo", ".local", ".config", ".ssh", ".gnupg", ".aws", ".docker", ".kube"];
        if first.starts_with('.') && !private.contains(&first.as_ref()) {
            dirs.push(home.join(first.as_ref()));
        } else {
            dirs.push(entry.clone());
        }
    }
    // Only what the tmpfs hides needs binding back; the rest of the file system is there, read-only.
    dirs.retain(|dir| dir.starts_with(home));
    dirs.sort();
    dirs.dedup();
    dirs
}

/// The home directory hive runs with, hidden from confined runs.
fn real_home() -> Option<PathBuf> {
    std::env::var_os("HOME").map(PathBuf::from).filter(|home| home.is_absolute() && home.is_dir())
}

/// `program args` wrapped in bubblewrap: writable only in `scratch`, starting in `cwd`.
pub(crate) fn wrap(
    program: &str,
    args: &[String],
    scratch: &Path,
    cwd: &Path,
    network: bool,
) -> (String, Vec<OsString>) {
    wrap_hiding(program, args, scratch, cwd, network, real_home().as_deref())
}

/// [`wrap`] with the home directory to hide given.
fn wrap_hiding(
    program: &str,
    args: &[String],
    scratch: &Path,
    cwd: &Path,
    network: bool,
    home: Option<&Path>,
) -> (String, Vec<OsString>) {
    let mut wrapped = base_args(scratch, network, home);
    wrapped.extend([OsString::from("--chdir"), cwd.as_os_str().to_owned(), OsString::from("--")]);
    wrapped.push(program.into());
    wrapped.extend(args.iter().map(OsString::from));
    (BWRAP.to_owned(), wrapped)
}

/// Where `program` is, as the run would find it: relative to `cwd` when it has a slash, else on `PATH`. Under
/// bubblewrap a missing program is an exit code like a failing test; looking first keeps it "could not run".
pub(crate) fn find_program(program: &str, cwd: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable =
        |path: &Path| std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    if program.contains('/') {
        let path = cwd.join(program);
        return executable(&path).then_some(path);
    }
    std::env::split_paths(&path_var()).map(|dir| dir.join(program)).find(|path| executable(path))
}

/// The parent's `PATH`, or a usual one when it has none.
fn path_var() -> OsString {
    std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into())
}

/// The whole environment of a test run: nothing of hive's (no tokens, no `HIVE_*`, no cloud credentials), `HOME`
/// and `TMPDIR` in the scratch directory, and what toolchains need to find themselves.
pub(crate) fn test_env(scratch: &Scratch) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = vec![
        ("PATH".into(), path_var()),
        ("HOME".into(), scratch.home().into()),
        ("TMPDIR".into(), scratch.tmp().into()),
        ("TERM".into(), "dumb".into()),
        // Test runners turn non-interactive (no watch mode, no prompts) on CI, as on any CI service.
        ("CI".into(), "true".into()),
    ];
    for key in ["LANG", "LC_ALL"] {
        if let Some(value) = std::env::var_os(key) {
            env.push((key.into(), value));
        }
    }
    // Cargo and rustup find their registry and toolchains through these, by default under the real HOME, which the
    // run does not see: pass them on, or point at the real HOME's directories when those exist.
    let home = std::env::var_os("HOME").map(PathBuf::from);
    for (key, default) in [("CARGO_HOME", ".cargo"), ("RUSTUP_HOME", ".rustup")] {
        let value = std::env::var_os(key)
            .or_else(|| home.as_ref().map(|h| h.join(default)).filter(|dir| dir.is_dir()).map(Into::into));
        if let Some(value) = value {
            env.push((key.into(), value));
        }
    }
    env
}

/// One run's scratch directory: `ws/<name>` (the throwaway clone, with clones of the siblings it depends on by
/// path beside it, as in the workspace), `home/` and `tmp/`. Removed by [`Scratch::remove`] off the async runtime,
/// or when dropped (a run cancelled by a shutdown).
#[derive(Debug)]
pub(crate) struct Scratch {
    dir: Option<PathBuf>,
}

/// Scratch directories are named `hive-ci-<pid>-...` after the process that made them, so one left behind by a hive
/// that died without cleaning up (`kill -9`, a second signal) is recognised and removed by the next one.
const SCRATCH_PREFIX: &str = "hive-ci-";

impl Scratch {
    pub(crate) fn new() -> std::io::Result<Scratch> {
        static SWEPT: std::sync::Once = std::sync::Once::new();
        SWEPT.call_once(|| sweep_orphans(&std::env::temp_dir()));
        let prefix = format!("{SCRATCH_PREFIX}{}-", std::process::id());
        let dir = tempfile::Builder::new().prefix(&prefix).tempdir()?.keep();
        // Canonical, so that "inside the scratch workspace" compares with the manifests' resolved paths even when
        // the temporary directory is reached through a symbolic link.
        let scratch = Scratch { dir: Some(dir.canonicalize().unwrap_or(dir)) };
        std::fs::create_dir(scratch.home())?;
        std::fs::create_dir(scratch.tmp())?;
        std::fs::create_dir(scratch.workspace())?;
        Ok(scratch)
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.as_deref().unwrap_or(Path::new("/nonexistent"))
    }

    /// Where the clones go, laid out as the workspace is: `<workspace>/<name>`.
    pub(crate) fn workspace(&self) -> PathBuf {
        self.path().join("ws")
    }

    /// The clone of the repository called `name`.
    pub(crate) fn clone_dir(&self, name: &str) -> PathBuf {
        self.workspace().join(name)
    }

    fn home(&self) -> PathBuf {
        self.path().join("home")
    }

    fn tmp(&self) -> PathBuf {
        self.path().join("tmp")
    }

    /// Deletes the directory on tokio's blocking pool: a clone with a build directory can be large.
    pub(crate) async fn remove(mut self) {
        if let Some(dir) = self.dir.take() {
            let _ = tokio::task::spawn_blocking(move || remove_tree(&dir)).await;
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            remove_tree(&dir);
        }
    }
}

/// Removes the scratch directories in `tmp` whose process is gone (only ones this user owns can be removed).
fn sweep_orphans(tmp: &Path) {
    let Ok(entries) = std::fs::read_dir(tmp) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|name| name.strip_prefix(SCRATCH_PREFIX))
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        let alive = Path::new("/proc").join(pid.to_string()).exists();
        if !alive && entry.file_type().is_ok_and(|t| t.is_dir()) {
            tracing::info!(dir = %entry.path().display(), "removing a local ci scratch directory left by a dead hive");
            remove_tree(&entry.path());
        }
    }
}

/// Removes `dir`, first making every directory in it writable if needed: a test may leave read-only directories.
fn remove_tree(dir: &Path) {
    if std::fs::remove_dir_all(dir).is_ok() {
        return;
    }
    make_writable(dir);
    if let Err(error) = std::fs::remove_dir_all(dir) {
        tracing::warn!(dir = %dir.display(), %error, "could not remove a local ci scratch directory");
    }
}

fn make_writable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        // Never through a symbolic link: only what is inside the scratch directory itself.
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            make_writable(&entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hive_ecosystem::process::{CommandSpec, run};

    #[test]
    fn scratch_directories_of_dead_processes_are_swept_and_live_ones_kept() {
        let tmp = tempfile::tempdir().expect("tempdir");
        // No process has a pid this high (the kernel's limit is 2^22).
        let dead = tmp.path().join(format!("{SCRATCH_PREFIX}99999999-abc"));
        let live = tmp.path().join(format!("{SCRATCH_PREFIX}{}-abc", std::process::id()));
        let other = tmp.path().join("hive-ci-notapid-abc");
        for dir in [&dead, &live, &other] {
            std::fs::create_dir_all(dir.join("ws/app/target")).expect("mkdir");
        }
        sweep_orphans(tmp.path());
        assert!(!dead.exists(), "left by a dead hive");
        assert!(live.exists(), "this process's own");
        assert!(other.exists(), "not named by a pid");
    }

    #[tokio::test]
    async fn a_confined_run_sees_an_empty_home_but_for_the_toolchains() {
        if !confined(Sandbox::Auto).await {
            eprintln!("SKIPPED: bubblewrap does not work here (not installed, or no user namespaces)");
            return;
        }
        let home = tempfile::tempdir().expect("tempdir");
        let home = home.path().canonicalize().expect("canonical");
        std::fs::create_dir_all(home.join(".ssh")).expect("mkdir");
        std::fs::write(home.join(".ssh/id_ed25519"), "PRIVATE KEY").expect("write");
        std::fs::write(home.join(".git-credentials"), "https://u:secret@example.com").expect("write");
        std::fs::create_dir_all(home.join(".cargo/registry")).expect("mkdir");
        std::fs::write(home.join(".cargo/registry/crate"), "public").expect("write");
        std::fs::write(home.join(".cargo/credentials.toml"), "token = \"secret\"").expect("write");
        let scratch = tempfile::tempdir().expect("tempdir");
        let scratch = scratch.path().canonicalize().expect("canonical");
        let read = |path: PathBuf| {
            let script = format!("cat '{}' 2>/dev/null || echo unreadable", path.display());
            wrap_hiding("sh", &["-c".to_owned(), script], &scratch, &scratch, false, Some(&home))
        };
        let mut seen = Vec::new();
        for (file, expected) in [
            (".ssh/id_ed25519", "unreadable"),
            (".git-credentials", "unreadable"),
            (".cargo/credentials.toml", "unreadable"),
            (".cargo/registry/crate", "public"),
        ] {
            let (program, args) = read(home.join(file));
            let out = run(&CommandSpec::new(program, args, &scratch)).await.expect("bwrap runs");
            seen.push((file, out.stdout_text().trim().to_owned()));
            assert_eq!(seen.last().map(|(_, text)| text.as_str()), Some(expected), "{file}: {seen:?}");
        }
    }
}
