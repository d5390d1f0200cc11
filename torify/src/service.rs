//! The embedded Tor client as a per-user service (`torify serve`), seen from the commands that
//! use it: where it lives, whether it runs, starting one on demand, holding it while a command
//! runs. Nothing here needs arti: a command that finds a service running only talks to its
//! unix socket, and starting one runs this executable again as `torify serve`.
//!
//! The service's socket speaks SOCKS, and one more thing: a line starting `TORIFY ` (a first
//! byte no SOCKS version has) asks the service itself — `status`, `stop`, `lease` (count this
//! connection as a client until it closes) or `hold PID` (count that process as a client until
//! it exits). Only the user who runs the service gets an answer (the directory is 0700, the
//! socket 0600, and the service checks SO_PEERCRED).

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use torify_conf::{ArtiSettings, Loaded};

use crate::exit::{Failure, fail};
use crate::progress::{Progress, Show};

/// The first bytes of a line to the service itself rather than a SOCKS request.
pub(crate) const CONTROL: &[u8] = b"TORIFY ";

/// The service's file descriptor for reporting its start (`--ready-fd`): lines `progress PCT
/// TEXT`, then `ready MILLIS` or `fail LINE`.
pub(crate) const READY_FD: i32 = 3;

/// The directory of this user's service and the files in it.
#[derive(Clone, Debug)]
pub(crate) struct Place {
    dir: PathBuf,
}

impl Place {
    /// `$XDG_RUNTIME_DIR/torify`, or `/tmp/torify-UID` without it; created 0700 and refused
    /// when anyone else owns it. In a secure-exec process the environment is not trusted.
    pub(crate) fn find() -> Result<Place, String> {
        let uid = rustix::process::geteuid().as_raw();
        let runtime = if crate::settings::secure_exec() {
            None
        } else {
            std::env::var_os("XDG_RUNTIME_DIR")
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
        };
        let dir = match runtime {
            Some(base) => {
                owned_by_us(&base, uid, "XDG_RUNTIME_DIR", false)?;
                base.join("torify")
            }
            None => PathBuf::from(format!("/tmp/torify-{uid}")),
        };
        private_dir(&dir, uid)?;
        Ok(Place { dir })
    }

    /// The SOCKS socket.
    pub(crate) fn socket(&self) -> PathBuf {
        self.dir.join("socks.sock")
    }

    /// Held by the running service for its whole life: two cannot run.
    pub(crate) fn lock(&self) -> PathBuf {
        self.dir.join("serve.lock")
    }

    /// Held by a command while it starts a service: two commands do not start two.
    fn start_lock(&self) -> PathBuf {
        self.dir.join("start.lock")
    }

    /// The log of a service started in the background.
    pub(crate) fn log(&self) -> PathBuf {
        self.dir.join("serve.log")
    }

    /// Where `torify --shell` keeps the start-up files that mark a shell's prompt.
    pub(crate) fn shell_dir(&self) -> PathBuf {
        self.dir.clone()
    }
}

/// Refuses `path` unless it is a directory (not a symlink) owned by `uid`; with `private`,
/// also unless only its owner may enter it.
fn owned_by_us(path: &Path, uid: u32, what: &str, private: bool) -> Result<(), String> {
    let meta =
        std::fs::symlink_metadata(path).map_err(|e| format!("{what} {}: {e}", path.display()))?;
    if !meta.is_dir() {
        return Err(format!(
            "{what} {} is not a directory (a symlink?): torify refuses to keep its Tor service there; remove it, or set XDG_RUNTIME_DIR",
            path.display()
        ));
    }
    if meta.uid() != uid {
        return Err(format!(
            "{what} {} belongs to uid {}, not to you (uid {uid}): torify refuses to keep its Tor service there; remove it, or set XDG_RUNTIME_DIR",
            path.display(),
            meta.uid()
        ));
    }
    if private && meta.mode() & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| format!("cannot restrict {}: {e}", path.display()))?;
    }
    Ok(())
}

/// Creates `dir` 0700 if it is missing, then checks it is ours and private.
fn private_dir(dir: &Path, uid: u32) -> Result<(), String> {
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(format!("cannot create {}: {e}", dir.display())),
    }
    owned_by_us(dir, uid, "the service directory", true)
}

/// An exclusive lock on a file, released when dropped (or when the process dies).
pub(crate) struct Lock {
    _file: File,
}

impl Lock {
    /// Takes the lock on `path`; `None` when another process holds it and `wait` is false.
    pub(crate) fn take(path: &Path, wait: bool) -> Result<Option<Lock>, String> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        use rustix::fs::FlockOperation as Op;
        let op = if wait {
            Op::LockExclusive
        } else {
            Op::NonBlockingLockExclusive
        };
        match rustix::fs::flock(&file, op) {
            Ok(()) => Ok(Some(Lock { _file: file })),
            Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
            Err(e) => Err(format!("cannot lock {}: {e}", path.display())),
        }
    }
}

/// A fingerprint of the `[arti]` settings that decide which Tor network the service joins and
/// where it keeps its state: a command must not use a service of other settings.
pub(crate) fn fingerprint(a: &ArtiSettings) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    format!("{:?}|{:?}|{:?}", a.state_dir, a.cache_dir, a.network).hash(&mut h);
    format!("{:016x}", h.finish())
}

/// What a running service says of itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Status {
    /// Its process id.
    pub(crate) pid: u32,
    /// Connections and processes it counts as clients now.
    pub(crate) clients: u32,
    /// Seconds it stays after the last client left; `None`: until stopped.
    pub(crate) linger: Option<u64>,
    /// [`fingerprint`] of its settings.
    pub(crate) settings: String,
}

impl Status {
    /// Parses `ok pid=N clients=N linger=N|none settings=HEX`.
    pub(crate) fn parse(line: &str) -> Option<Status> {
        let mut words = line.split_whitespace();
        if words.next() != Some("ok") {
            return None;
        }
        let (mut pid, mut clients, mut linger, mut settings) = (None, None, None, None);
        for w in words {
            match w.split_once('=')? {
                ("pid", v) => pid = v.parse().ok(),
                ("clients", v) => clients = v.parse().ok(),
                ("linger", "none") => linger = Some(None),
                ("linger", v) => linger = Some(Some(v.parse().ok()?)),
                ("settings", v) => settings = Some(v.to_owned()),
                _ => {}
            }
        }
        Some(Status {
            pid: pid?,
            clients: clients?,
            linger: linger?,
            settings: settings?,
        })
    }

    /// The line [`Status::parse`] reads (the service writes it).
    #[allow(
        dead_code,
        reason = "the service writes it (torify-serve); the launcher reads"
    )]
    pub(crate) fn line(&self) -> String {
        let linger = self
            .linger
            .map_or_else(|| "none".to_owned(), |s| s.to_string());
        format!(
            "ok pid={} clients={} linger={linger} settings={}\n",
            self.pid, self.clients, self.settings
        )
    }
}

/// Connects to the service's socket, if it is ours and someone serves it.
fn connect(socket: &Path) -> Option<UnixStream> {
    let uid = rustix::process::geteuid().as_raw();
    let meta = std::fs::symlink_metadata(socket).ok()?;
    if meta.uid() != uid {
        return None;
    }
    let stream = UnixStream::connect(socket).ok()?;
    // The process that listens must be us too (systemd's socket activation listens as the
    // user manager, which is us as well).
    let peer = rustix::net::sockopt::socket_peercred(&stream).ok()?;
    (peer.uid.as_raw() == uid).then_some(stream)
}

/// Sends `TORIFY <request>` and reads the one-line answer, waiting up to `wait`.
fn ask_on(stream: &mut UnixStream, request: &str, wait: Duration) -> Option<String> {
    let mut line = CONTROL.to_vec();
    line.extend_from_slice(request.as_bytes());
    line.push(b'\n');
    stream.write_all(&line).ok()?;
    stream.set_read_timeout(Some(wait)).ok()?;
    let mut answer = Vec::new();
    let mut byte = [0u8; 1];
    while answer.len() < 512 {
        match stream.read(&mut byte) {
            Ok(1) if byte[0] == b'\n' => break,
            Ok(1) => answer.push(byte[0]),
            _ => return None,
        }
    }
    String::from_utf8(answer).ok()
}

/// The running service's status, if one runs. A socket-activated service answers once it
/// has bootstrapped: `wait` bounds that.
pub(crate) fn status(place: &Place, wait: Duration) -> Option<Status> {
    let mut stream = connect(&place.socket())?;
    Status::parse(&ask_on(&mut stream, "status", wait)?)
}

/// Asks the running service to stop and waits until its socket is gone; false when none ran.
pub(crate) fn stop(place: &Place) -> Result<bool, String> {
    let Some(mut stream) = connect(&place.socket()) else {
        return Ok(false);
    };
    if ask_on(&mut stream, "stop", Duration::from_secs(5)).as_deref() != Some("ok") {
        return Err(format!(
            "the torify service at {} did not accept `stop`; see {}",
            place.socket().display(),
            place.log().display()
        ));
    }
    // It exits when its lock is free.
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if Lock::take(&place.lock(), false)?.is_some() {
            return Ok(true);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!(
        "the torify service did not stop within 10 s; see {}",
        place.log().display()
    ))
}

/// While held, the service counts this command as a client and does not linger away.
pub(crate) struct Lease {
    _stream: UnixStream,
}

/// Takes a lease on the running service.
fn lease(place: &Place) -> Option<Lease> {
    let mut stream = connect(&place.socket())?;
    (ask_on(&mut stream, "lease", Duration::from_secs(10)).as_deref() == Some("ok"))
        .then_some(Lease { _stream: stream })
}

/// Asks the running service to count process `pid` as a client until it exits (a shell
/// torified by `torify on`, whose commands do not pass through a launcher).
pub(crate) fn hold(place: &Place, pid: u32) -> Result<(), String> {
    let mut stream =
        connect(&place.socket()).ok_or_else(|| "the torify service is not running".to_owned())?;
    match ask_on(&mut stream, &format!("hold {pid}"), Duration::from_secs(10)) {
        Some(a) if a == "ok" => Ok(()),
        other => Err(format!(
            "the torify service would not keep itself for this shell ({})",
            other.unwrap_or_else(|| "no answer".to_owned())
        )),
    }
}

/// How a service is started.
pub(crate) struct Start<'a> {
    /// The settings (the service reads them again from the same sources).
    pub(crate) loaded: &'a Loaded,
    /// The settings file given with -c.
    pub(crate) config_flag: Option<&'a Path>,
    /// `Some`: exit this long after the last client left; `None`: run until stopped.
    pub(crate) linger: Option<u64>,
    /// -d: the service logs its details.
    pub(crate) debug: bool,
    /// -q: show no progress.
    pub(crate) quiet: bool,
}

/// The running service of these settings, started (in the background, lingering) if none
/// runs; returns its socket and a lease that keeps it while the command runs.
pub(crate) fn ensure(start: &Start<'_>) -> Result<(PathBuf, Lease), Failure> {
    let place = Place::find().map_err(fail)?;
    let wanted = fingerprint(&start.loaded.settings.arti);
    let timeout = Duration::from_secs(start.loaded.settings.arti.bootstrap_timeout);
    let usable = |place: &Place| -> Result<Option<Lease>, Failure> {
        let Some(st) = status(place, timeout) else {
            return Ok(None);
        };
        if st.settings != wanted {
            return Err(fail(format!(
                "a torify service with other [arti] settings runs (pid {}, {}); stop it with `torify serve stop` to use these",
                st.pid,
                place.socket().display()
            )));
        }
        Ok(lease(place))
    };
    if let Some(lease) = usable(&place)? {
        return Ok((place.socket(), lease));
    }
    // A torified process cannot host the client: the library would catch its connections
    // to relays. Using a running service is fine (a unix socket), starting one is not.
    crate::library::refuse_if_loaded_here().map_err(fail)?;
    let _starting = Lock::take(&place.start_lock(), true).map_err(fail)?;
    // Someone else may have started it while this command waited for the lock.
    if let Some(lease) = usable(&place)? {
        return Ok((place.socket(), lease));
    }
    spawn(&place, start)?;
    let lease = lease(&place).ok_or_else(|| {
        fail(format!(
            "the torify service started but does not answer at {}; see {}",
            place.socket().display(),
            place.log().display()
        ))
    })?;
    Ok((place.socket(), lease))
}

/// `torify serve`: starts the service in the background unless one runs; returns its pid.
pub(crate) fn start_detached(place: &Place, start: &Start<'_>) -> Result<u32, Failure> {
    let _starting = Lock::take(&place.start_lock(), true).map_err(fail)?;
    if let Some(st) = status(place, Duration::from_secs(5)) {
        return Err(fail(format!(
            "a torify service already runs for you (pid {}, unix:{}); `torify serve stop` stops it",
            st.pid,
            place.socket().display()
        )));
    }
    spawn(place, start)
}

/// The service program (`torify-serve`, beside the launcher) with the arguments that make it
/// run in the foreground with these settings, reporting its start on `ready_fd` if given.
pub(crate) fn program(start: &Start<'_>, ready_fd: Option<i32>) -> Result<Command, Failure> {
    let exe = crate::library::service().map_err(|why| {
        fail(format!(
            "cannot start the embedded Tor client: {why}; or start a tor daemon and use --backend tor"
        ))
    })?;
    let mut cmd = Command::new(exe);
    cmd.arg("serve").arg("--foreground");
    if let Some(secs) = start.linger {
        cmd.arg("--linger").arg(secs.to_string());
    }
    if let Some(fd) = ready_fd {
        cmd.arg("--ready-fd").arg(fd.to_string());
    }
    if let Some(file) = start.config_flag {
        cmd.arg("-c")
            .arg(std::path::absolute(file).unwrap_or_else(|_| file.to_owned()));
    }
    if start.debug {
        cmd.arg("-d");
    }
    Ok(cmd)
}

/// Starts the service in the background (its own session, its log in the service
/// directory) and shows its progress until it is ready; returns its pid.
fn spawn(place: &Place, start: &Start<'_>) -> Result<u32, Failure> {
    let log = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(place.log())
        .map_err(|e| fail(format!("cannot open {}: {e}", place.log().display())))?;
    let (read, write) = report_pipe().map_err(|e| fail(format!("cannot make a pipe: {e}")))?;
    let mut cmd = program(start, Some(READY_FD))?;
    cmd.stdin(Stdio::null())
        .stdout(
            log.try_clone()
                .map_err(|e| fail(format!("cannot open the log: {e}")))?,
        )
        .stderr(log)
        // The service is no part of the command: it needs no library of its own.
        .env_remove("LD_PRELOAD")
        .current_dir("/");
    // The service is a session (and process group) of its own, so that a terminal's Ctrl-C for
    // the command does not reach it; the report pipe is at READY_FD, without FD_CLOEXEC.
    torify_sys::exec::new_session(&mut cmd);
    torify_sys::exec::pass_fd(&mut cmd, write, READY_FD);
    let child = cmd
        .spawn()
        .map_err(|e| fail(format!("cannot start the torify service: {e}")))?;
    // The command held our end of the pipe: closed now, so that the service's end closing
    // ends the report.
    drop(cmd);
    follow_start(read, place, start.quiet)?;
    Ok(child.id())
}

/// A close-on-exec pipe: (read end, write end).
fn report_pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    Ok(rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?)
}

/// Reads the starting service's report: its progress onto our stderr, then its verdict.
fn follow_start(read: OwnedFd, place: &Place, quiet: bool) -> Result<(), Failure> {
    let mut progress = Progress::new(Show::new(quiet));
    let mut lines = BufReader::new(File::from(read)).lines();
    loop {
        let Some(Ok(line)) = lines.next() else {
            progress.finish();
            return Err(fail(format!(
                "the torify service stopped while starting; see {}",
                place.log().display()
            )));
        };
        match line.split_once(' ') {
            Some(("progress", rest)) => {
                let (percent, text) = rest.split_once(' ').unwrap_or((rest, ""));
                progress.update(percent.parse().unwrap_or(0), text);
            }
            Some(("ready", millis)) => {
                progress.finish();
                if !quiet {
                    let secs = millis.parse::<f64>().unwrap_or(0.0) / 1000.0;
                    crate::ui::error(format!("Tor is ready (embedded client, {secs:.1}s)"));
                }
                return Ok(());
            }
            Some(("fail", why)) => {
                progress.finish();
                return Err(fail(why.to_owned()));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_round_trip_and_bad_ones_are_refused() {
        let st = Status {
            pid: 42,
            clients: 2,
            linger: Some(300),
            settings: "00ff".into(),
        };
        assert_eq!(Status::parse(st.line().trim()), Some(st.clone()));
        let forever = Status {
            linger: None,
            ..st.clone()
        };
        assert_eq!(Status::parse(&forever.line()), Some(forever));
        for bad in [
            "",
            "fail no",
            "ok pid=x clients=1 linger=1 settings=a",
            "ok pid=1 clients=1 settings=a",
            "ok pid=1 clients=1 linger=soon settings=a",
        ] {
            assert_eq!(Status::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn fingerprints_follow_the_network_not_the_timings() {
        let a = ArtiSettings::default();
        let mut b = a.clone();
        b.linger = 5;
        b.bootstrap_timeout = 9;
        assert_eq!(fingerprint(&a), fingerprint(&b));
        b.cache_dir = Some("/elsewhere".into());
        assert_ne!(fingerprint(&a), fingerprint(&b));
    }

    #[test]
    fn the_directory_is_private_and_refused_when_not_ours() {
        let base = std::env::temp_dir().join(format!("torify-place-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        let uid = rustix::process::geteuid().as_raw();
        let dir = base.join("torify");
        private_dir(&dir, uid).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        // Loosened: tightened again, since it is ours.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        private_dir(&dir, uid).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        // Someone else's: refused, whatever its mode.
        let err = private_dir(&dir, uid + 1).unwrap_err();
        assert!(err.contains("not to you"), "{err}");
        // A symlink to a directory: refused.
        let link = base.join("link");
        std::os::unix::fs::symlink(&dir, &link).unwrap();
        let err = private_dir(&link, uid).unwrap_err();
        assert!(err.contains("not a directory"), "{err}");
        // The lock is exclusive.
        let path = dir.join("serve.lock");
        let held = Lock::take(&path, false).unwrap().unwrap();
        // flock locks belong to the open file: a second open in this process conflicts.
        assert!(Lock::take(&path, false).unwrap().is_none());
        drop(held);
        assert!(Lock::take(&path, false).unwrap().is_some());
        std::fs::remove_dir_all(&base).unwrap();
    }
}
