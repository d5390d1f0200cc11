//! The TUN device as a tokio `AsyncRead + AsyncWrite`: one read is one packet, one write is one
//! packet. Every candidate gets this same device type, so the stacks differ, not the I/O.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// TUNSETIFF: _IOW('T', 202, int).
const TUNSETIFF: libc::c_ulong = 0x4004_54ca;

/// Attaches to the (persistent, already configured) TUN device `name`, non-blocking.
pub fn open(name: &str) -> io::Result<OwnedFd> {
    // SAFETY: a plain open(2) of a constant, NUL-terminated path.
    let fd = unsafe { libc::open(c"/dev/net/tun".as_ptr(), libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd was just opened and is owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    if name.len() >= req.ifr_name.len() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "device name too long"));
    }
    for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    // No packet-information header: every read/write is a bare IPv4 or IPv6 packet.
    req.ifr_ifru.ifru_flags = (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short;
    // SAFETY: TUNSETIFF reads a struct ifreq, which req is.
    if unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETIFF, &mut req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

/// The device, cloneable so a reader task and a writer task can share it.
#[derive(Clone)]
pub struct TunIo {
    fd: Arc<AsyncFd<OwnedFd>>,
}

impl TunIo {
    pub fn new(fd: OwnedFd) -> io::Result<Self> {
        // SAFETY: the AsyncFd owns the descriptor, so it stays open as long as it is registered.
        let fd = unsafe { AsyncFd::register(fd) }.map_err(|e| e.into_parts().1)?;
        Ok(TunIo { fd: Arc::new(fd) })
    }

    /// The descriptor, for code that does its own non-blocking I/O on it (src/smol.rs).
    pub fn async_fd(&self) -> &AsyncFd<OwnedFd> {
        &self.fd
    }
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.get_ref().as_raw_fd()
    }

    /// Reads one packet into `buf`, returning its length.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut guard = self.fd.readable().await?;
            // SAFETY: buf is writable for its length.
            match guard.try_io(|f| check(unsafe { libc::read(f.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) })) {
                Ok(Ok(0)) => continue,
                Ok(r) => return r,
                Err(_would_block) => continue,
            }
        }
    }

    /// Writes one packet.
    pub async fn send(&self, pkt: &[u8]) -> io::Result<usize> {
        loop {
            let mut guard = self.fd.writable().await?;
            match guard.try_io(|f| write(f.get_ref(), pkt)) {
                Ok(r) => return r,
                Err(_would_block) => continue,
            }
        }
    }
}

/// A read(2)/write(2) result as io::Result.
pub(crate) fn check(n: isize) -> io::Result<usize> {
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

fn write(fd: &OwnedFd, pkt: &[u8]) -> io::Result<usize> {
    // SAFETY: pkt is valid for its length; one write(2) on a TUN device is one packet.
    check(unsafe { libc::write(fd.as_raw_fd(), pkt.as_ptr().cast(), pkt.len()) })
}

// ipstack and tun2proxy take the device as AsyncRead + AsyncWrite.
impl AsyncRead for TunIo {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.fd.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            // SAFETY: unfilled is writable for its length.
            let r = guard.try_io(|f| check(unsafe { libc::read(f.as_raw_fd(), unfilled.as_mut_ptr().cast(), unfilled.len()) }));
            match r {
                // A zero-length read would make a stack spin on an empty packet.
                Ok(Ok(0)) => continue,
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for TunIo {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, pkt: &[u8]) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.fd.poll_write_ready(cx))?;
            match guard.try_io(|f| write(f.get_ref(), pkt)) {
                Ok(r) => return Poll::Ready(r),
                Err(_would_block) => continue,
            }
        }
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
