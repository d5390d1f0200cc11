//! The caged side: a child of the launcher that enters new namespaces, builds the cage, hands
//! its TUN device and SOCKS listener to the launcher, and runs the command in it.
//!
//! Forked from the launcher while it is still single-threaded (before any runtime starts;
//! torify-sys's fork refuses otherwise), so the child may allocate and use the standard library
//! freely. Its steps:
//! 1. unshare the user (when not root), network, mount and PID namespaces; map the caller's own
//!    uid and gid (files, HOME and the terminal stay the caller's), keeping the capabilities a
//!    new user namespace gives until the command is exec'd;
//! 2. fork the cage's init (PID 1 of the new PID namespace): when it ends, the kernel ends every
//!    process left in the cage, so nothing of the command outlives torify;
//! 3. in the init: a private mount tree with a fresh /proc, /etc/resolv.conf naming the cage's
//!    resolver, local resolver and proxy sockets hidden; loopback, the TUN device and the
//!    routes; a SOCKS listener on 127.0.0.1:9050 for the library inside;
//! 4. send the TUN device and the listener to the launcher; wait for its go;
//! 5. start the command under the cage's seccomp filter, pass signals on, reap, and exit with
//!    the command's status.

use std::ffi::OsString;
use std::io::{self, IoSlice, IoSliceMut, Write};
use std::mem::MaybeUninit;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};
use rustix::process::{Pid, WaitOptions};
use rustix::thread::UnshareFlags;
use torify_sys::process::{Forked, exit_now};

use super::names::{CAGE_V4, CAGE_V6};
use super::{mounts, netconf};
use crate::exit;
use crate::launch::{self, EnvChanges};
use crate::seccomp::Filters;

/// The SOCKS port the library inside the cage is pointed at (on the cage's own loopback).
pub(crate) const INNER_SOCKS: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 9050);

/// Everything the caged side needs, made before fork.
pub(crate) struct Plan {
    /// The command and its arguments.
    pub(crate) command: Vec<OsString>,
    /// The program to exec.
    pub(crate) program: PathBuf,
    /// The library.
    pub(crate) lib: PathBuf,
    /// The settings' environment.
    pub(crate) changes: EnvChanges,
    /// Variables for the command beyond those.
    pub(crate) extra: Vec<(String, String)>,
    /// The resolv.conf to bind over the cage's /etc/resolv.conf.
    pub(crate) resolv_conf: PathBuf,
    /// A new user namespace (the caller is not root).
    pub(crate) userns: bool,
    /// The cage's kernel filter.
    pub(crate) filters: Filters,
}

/// What the launcher gets back from the cage.
pub(crate) struct Handles {
    /// The process to wait for (in the launcher's PID namespace).
    pub(crate) pid: i32,
    /// The control socket (go, and the child's end of it closing).
    pub(crate) control: OwnedFd,
    /// The TUN device.
    pub(crate) tun: OwnedFd,
    /// The listener of the SOCKS endpoint inside the cage.
    pub(crate) socks: OwnedFd,
}

/// Writes `text` to a /proc file of this process (uid_map, gid_map, setgroups).
fn write_proc(name: &str, text: &str) -> io::Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/proc/self/{name}"))
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| io::Error::new(e.kind(), format!("write /proc/self/{name}: {e}")))
}

/// Starts the cage; returns once its TUN device and listener have arrived (or why not).
pub(crate) fn start(plan: Plan) -> Result<Handles, String> {
    let (ours, theirs) = rustix::net::socketpair(
        rustix::net::AddressFamily::UNIX,
        rustix::net::SocketType::SEQPACKET,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )
    .map_err(|e| format!("cannot make the cage's control socket: {e}"))?;
    // In a single-threaded launcher (no runtime has started): the child runs ordinary code
    // and ends with exit, never returning here.
    let pid = match torify_sys::process::fork() {
        Err(e) => return Err(format!("cannot fork the cage: {e}")),
        Ok(Forked::Parent(pid)) => pid,
        Ok(Forked::Child) => {
            drop(ours);
            let code = match caged(&plan, theirs.as_fd()) {
                Ok(code) => code,
                Err(e) => {
                    report(theirs.as_fd(), &e);
                    i32::from(exit::Exit::Torify.code())
                }
            };
            // Without running the launcher's exit handlers.
            exit_now(code);
        }
    };
    drop(theirs);
    let (tun, socks) = receive(ours.as_fd()).inspect_err(|_| {
        // The cage failed; its exit status is of no use now.
        let _ = rustix::process::waitpid(Pid::from_raw(pid), WaitOptions::empty());
    })?;
    Ok(Handles {
        pid,
        control: ours,
        tun,
        socks,
    })
}

/// Says why the cage could not be built, to the launcher.
fn report(control: BorrowedFd<'_>, why: &str) {
    let msg = format!("E{why}");
    let _ = rustix::net::send(control, msg.as_bytes(), SendFlags::empty());
}

/// Receives the TUN device and the listener, or the reason there are none.
fn receive(control: BorrowedFd<'_>) -> Result<(OwnedFd, OwnedFd), String> {
    let mut data = [0u8; 1024];
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(2))];
    let mut cmsg = RecvAncillaryBuffer::new(&mut space);
    let mut iov = [IoSliceMut::new(&mut data)];
    let got = rustix::net::recvmsg(control, &mut iov, &mut cmsg, RecvFlags::CMSG_CLOEXEC)
        .map_err(|e| format!("the cage did not answer: {e}"))?;
    let mut fds: Vec<OwnedFd> = Vec::new();
    for msg in cmsg.drain() {
        if let RecvAncillaryMessage::ScmRights(received) = msg {
            fds.extend(received);
        }
    }
    let text = String::from_utf8_lossy(&data[..got.bytes]).into_owned();
    match (text.strip_prefix('E'), fds.len()) {
        (Some(why), _) => Err(format!("cannot build the cage: {why}")),
        (None, 2) if text == "R" => {
            let socks = fds.pop().ok_or("no listener")?;
            let tun = fds.pop().ok_or("no TUN device")?;
            Ok((tun, socks))
        }
        _ if got.bytes == 0 => {
            Err("cannot build the cage: it ended before it was ready".to_owned())
        }
        _ => Err(format!("cannot build the cage: unexpected answer {text:?}")),
    }
}

/// The caged side, up to the command's exit status.
fn caged(plan: &Plan, control: BorrowedFd<'_>) -> Result<i32, String> {
    let (uid, gid) = (
        rustix::process::getuid().as_raw(),
        rustix::process::getgid().as_raw(),
    );
    let mut flags = UnshareFlags::NEWNET | UnshareFlags::NEWNS | UnshareFlags::NEWPID;
    if plan.userns {
        flags |= UnshareFlags::NEWUSER;
    }
    torify_sys::process::unshare_namespaces(flags).map_err(|e| {
        format!(
            "cannot create the cage's namespaces ({e}){}",
            if plan.userns {
                "; this kernel does not let unprivileged users create user namespaces (see /proc/sys/kernel/unprivileged_userns_clone and /proc/sys/user/max_user_namespaces), or run as root"
            } else {
                ""
            }
        )
    })?;
    if plan.userns {
        write_proc("setgroups", "deny").map_err(|e| e.to_string())?;
        write_proc("uid_map", &format!("{uid} {uid} 1")).map_err(|e| e.to_string())?;
        write_proc("gid_map", &format!("{gid} {gid} 1")).map_err(|e| e.to_string())?;
    }
    // The first child of an unshare(CLONE_NEWPID) is PID 1 of the new namespace.
    match torify_sys::process::fork() {
        Err(e) => Err(format!("cannot start the cage's init: {e}")),
        Ok(Forked::Parent(init)) => {
            // This process stays outside the new PID namespace, as the launcher's handle on it.
            crate::child::forward_signals_to(init);
            Ok(wait_status(init))
        }
        Ok(Forked::Child) => {
            let code = match cage_init(plan, control) {
                Ok(code) => code,
                Err(e) => {
                    report(control, &e);
                    i32::from(exit::Exit::Torify.code())
                }
            };
            // Leaving the init without running exit handlers.
            exit_now(code);
        }
    }
}

/// PID 1 of the cage.
fn cage_init(plan: &Plan, control: BorrowedFd<'_>) -> Result<i32, String> {
    // If the launcher's side goes away, nothing in the cage may live on.
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))
        .map_err(|e| format!("cannot tie the cage to the launcher: {e}"))?;
    mounts::seal(&plan.resolv_conf).map_err(|e| format!("cannot set up the cage's files: {e}"))?;
    let tun = netconf::configure(CAGE_V4, CAGE_V6)
        .map_err(|e| format!("cannot set up the cage's network: {e}"))?;
    let listener = TcpListener::bind(INNER_SOCKS)
        .map_err(|e| format!("cannot open the cage's SOCKS port: {e}"))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("cannot open the cage's SOCKS port: {e}"))?;
    let listener: OwnedFd = listener.into();
    {
        let fds = [tun.as_fd(), listener.as_fd()];
        let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(2))];
        let mut cmsg = SendAncillaryBuffer::new(&mut space);
        cmsg.push(SendAncillaryMessage::ScmRights(&fds));
        rustix::net::sendmsg(
            control,
            &[IoSlice::new(b"R")],
            &mut cmsg,
            SendFlags::empty(),
        )
        .map_err(|e| format!("cannot hand the cage's devices to the launcher: {e}"))?;
    }
    drop(tun);
    drop(listener);
    // Wait for the launcher: Tor is ready (or it gives up and closes).
    let mut go = [0u8; 1];
    match rustix::net::recv(control, &mut go, RecvFlags::empty()) {
        Ok((1, _)) if go[0] == b'G' => {}
        _ => return Ok(i32::from(exit::Exit::Torify.code())),
    }
    let mut cmd = Command::new(&plan.program);
    cmd.arg0(&plan.command[0]).args(&plan.command[1..]);
    launch::apply(&mut cmd, &plan.lib, &plan.changes);
    cmd.envs(plan.extra.iter().map(|(k, v)| (k, v)));
    launch::filter(&mut cmd, Some(plan.filters.clone()));
    let child = cmd
        .spawn()
        .map_err(|e| format!("{}: {e}", plan.program.display()));
    let child = match child {
        Ok(c) => c,
        Err(e) => {
            crate::ui::error(e);
            return Ok(i32::from(exit::Exit::CannotRun.code()));
        }
    };
    let pid = child.id() as i32;
    crate::child::forward_signals_to(pid);
    // As init: reap everything, until the command itself ends.
    Ok(wait_for(pid, true))
}

/// The shell's way of telling an exit status: the code, or 128 + the signal.
fn exit_code(status: i32) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        1
    }
}

/// Waits for `pid` (restarting after signals) and returns its exit code.
pub(crate) fn wait_status(pid: i32) -> i32 {
    wait_for(pid, false)
}

/// Waits for `pid` as [`wait_status`] does; with `reap_all` (the cage's init, parent of every
/// orphan in the cage) it reaps any other child that ends meanwhile.
fn wait_for(pid: i32, reap_all: bool) -> i32 {
    let Some(pid) = Pid::from_raw(pid) else {
        return 1;
    };
    loop {
        let got = if reap_all {
            rustix::process::wait(WaitOptions::empty())
        } else {
            rustix::process::waitpid(Some(pid), WaitOptions::empty())
        };
        match got {
            Ok(Some((got, status))) if got == pid => return exit_code(status.as_raw()),
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(_) => return 1,
        }
    }
}

/// Tells the cage to start the command.
pub(crate) fn go(control: &OwnedFd) -> io::Result<()> {
    rustix::net::send(control, b"G", SendFlags::empty())?;
    Ok(())
}
