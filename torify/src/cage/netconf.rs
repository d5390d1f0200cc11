//! The cage's network, set up from inside its new network namespace (interface ioctls and
//! netlink act on the caller's namespace): loopback up, a TUN device `torify0` with the
//! cage's addresses, and default routes of both families through it, so that the only way
//! out of the cage is the TUN device the launcher reads.
//!
//! Plain ioctls (netdevice(7), tun: Documentation/networking/tuntap.rst) and one rtnetlink
//! message per route (rtnetlink(7)): the crates that wrap these (tun, tun-rs, rtnetlink) set
//! no IPv6 address, no route, or need an async runtime, which a process between fork and exec
//! of a launcher must not start.

use std::ffi::CString;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use libc::{c_int, c_ulong};

/// The TUN device's name.
pub(crate) const TUN_NAME: &str = "torify0";
/// Its MTU (the stack's too): the largest a TUN device takes. Nothing leaves the cage as
/// these packets, and the fewer of them a transfer takes, the faster the stack is (bench/stacks:
/// 201 MB/s at 1500, 601 at 9000, 649 at 65535).
pub(crate) const MTU: u16 = 65535;

/// TUNSETIFF: _IOW('T', 202, int).
const TUNSETIFF: c_ulong = 0x4004_54ca;
/// TUNSETOFFLOAD: _IOW('T', 208, unsigned int).
const TUNSETOFFLOAD: c_ulong = 0x4004_54d0;
/// TUN_F_CSUM: we take packets whose checksum the kernel left partial.
const TUN_F_CSUM: c_ulong = 0x01;
/// The size of the virtio_net_hdr before every packet on the device (IFF_VNET_HDR, default).
pub(crate) const VNET_HDR: usize = 10;
/// TUNGETFEATURES: _IOR('T', 207, unsigned int).
const TUNGETFEATURES: c_ulong = 0x8004_54cf;

/// True when `file` (an open /dev/net/tun) answers as the TUN device does.
pub(crate) fn is_tun_device(file: &std::fs::File) -> bool {
    let mut features: libc::c_uint = 0;
    // SAFETY: TUNGETFEATURES writes one unsigned int.
    let ret = unsafe {
        libc::ioctl(
            file.as_raw_fd(),
            TUNGETFEATURES as _,
            std::ptr::from_mut(&mut features),
        )
    };
    ret == 0 && features & libc::IFF_TUN as libc::c_uint != 0
}

/// A C call's result: its value, or errno as the error.
pub(super) fn cvt(ret: c_int) -> io::Result<c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// A socket of `family` for interface ioctls.
fn ioctl_socket(family: c_int) -> io::Result<OwnedFd> {
    // SAFETY: socket takes no pointers; the descriptor is owned by the result.
    let fd = cvt(unsafe { libc::socket(family, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: a fresh descriptor of ours.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn ifreq(name: &str) -> io::Result<libc::ifreq> {
    // SAFETY: ifreq is plain old data.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    let bytes = name.as_bytes();
    if bytes.len() >= req.ifr_name.len() {
        return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
    }
    for (slot, b) in req.ifr_name.iter_mut().zip(bytes) {
        *slot = *b as libc::c_char;
    }
    Ok(req)
}

/// ioctl(fd, request, &mut req).
fn ioctl(fd: &OwnedFd, request: c_ulong, req: &mut libc::ifreq) -> io::Result<()> {
    // SAFETY: req is an ifreq of the size every interface ioctl here reads and writes.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), request as _, std::ptr::from_mut(req)) }).map(|_| ())
}

fn sockaddr_v4(addr: Ipv4Addr) -> libc::sockaddr {
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(addr.octets()),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: sockaddr_in and sockaddr have the same size; the kernel reads it as sockaddr_in.
    unsafe { std::mem::transmute(sin) }
}

/// Brings `name` up.
fn set_up(sock: &OwnedFd, name: &str) -> io::Result<()> {
    let mut req = ifreq(name)?;
    ioctl(sock, libc::SIOCGIFFLAGS, &mut req)?;
    // SAFETY: SIOCGIFFLAGS filled the flags member.
    unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    ioctl(sock, libc::SIOCSIFFLAGS, &mut req)
}

fn if_index(sock: &OwnedFd, name: &str) -> io::Result<u32> {
    let mut req = ifreq(name)?;
    ioctl(sock, libc::SIOCGIFINDEX, &mut req)?;
    // SAFETY: SIOCGIFINDEX filled the index member.
    Ok(unsafe { req.ifr_ifru.ifru_ifindex } as u32)
}

/// Opens /dev/net/tun and makes the TUN device, non-blocking: IP packets each after a
/// virtio_net_hdr (IFF_NO_PI, IFF_VNET_HDR), so that neither side of the device sums every
/// byte of every packet: the kernel may hand us partial checksums (TUN_F_CSUM), and we mark
/// ours valid.
fn open_tun() -> io::Result<OwnedFd> {
    let path =
        CString::new("/dev/net/tun").map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: a NUL-terminated path; the descriptor is owned by the result.
    let fd = cvt(unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_RDWR | libc::O_CLOEXEC | libc::O_NONBLOCK,
        )
    })?;
    // SAFETY: a fresh descriptor of ours.
    let tun = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut req = ifreq(TUN_NAME)?;
    req.ifr_ifru.ifru_flags =
        (libc::IFF_TUN | libc::IFF_NO_PI | libc::IFF_VNET_HDR) as libc::c_short;
    ioctl(&tun, TUNSETIFF, &mut req)?;
    // SAFETY: TUNSETOFFLOAD takes its flags by value. Without it the kernel sums packets
    // before handing them over, which costs time and nothing else: its failure is ignored.
    let _ = unsafe { libc::ioctl(tun.as_raw_fd(), TUNSETOFFLOAD as _, TUN_F_CSUM) };
    Ok(tun)
}

/// Adds a default route of `family` through interface `ifindex` (what `ip route add default
/// dev torify0` sends).
fn add_default_route(family: u8, ifindex: u32) -> io::Result<()> {
    // SAFETY: socket takes no pointers; the descriptor is owned below.
    let fd = cvt(unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        )
    })?;
    // SAFETY: a fresh descriptor of ours.
    let nl = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut m: Vec<u8> = Vec::with_capacity(36);
    // struct nlmsghdr: length (patched below), type, flags, sequence, port id.
    m.extend(0u32.to_ne_bytes());
    m.extend(libc::RTM_NEWROUTE.to_ne_bytes());
    let flags = libc::NLM_F_REQUEST | libc::NLM_F_ACK | libc::NLM_F_CREATE | libc::NLM_F_EXCL;
    m.extend((flags as u16).to_ne_bytes());
    m.extend(1u32.to_ne_bytes());
    m.extend(0u32.to_ne_bytes());
    // struct rtmsg: family, dst_len 0 (default), src_len, tos, table, protocol, scope, type.
    let scope = if family == libc::AF_INET as u8 {
        libc::RT_SCOPE_LINK
    } else {
        libc::RT_SCOPE_UNIVERSE
    };
    m.extend([
        family,
        0,
        0,
        0,
        libc::RT_TABLE_MAIN,
        libc::RTPROT_BOOT,
        scope,
        libc::RTN_UNICAST,
    ]);
    m.extend(0u32.to_ne_bytes());
    // struct rtattr RTA_OIF: length 8, type, the interface index.
    m.extend(8u16.to_ne_bytes());
    m.extend(libc::RTA_OIF.to_ne_bytes());
    m.extend(ifindex.to_ne_bytes());
    let len = m.len() as u32;
    m[..4].copy_from_slice(&len.to_ne_bytes());
    // SAFETY: sockaddr_nl is plain old data; pid 0 is the kernel.
    let mut to: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    to.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    // SAFETY: m and to are valid for the lengths given.
    cvt(unsafe {
        libc::sendto(
            nl.as_raw_fd(),
            m.as_ptr().cast(),
            m.len(),
            0,
            std::ptr::from_ref(&to).cast(),
            size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        ) as c_int
    })?;
    let mut reply = [0u8; 256];
    // SAFETY: reply is writable for its length.
    let n = cvt(unsafe {
        libc::recv(nl.as_raw_fd(), reply.as_mut_ptr().cast(), reply.len(), 0) as c_int
    })?;
    // The reply is NLMSG_ERROR: nlmsghdr (16 bytes), then the error (0 is the acknowledgement).
    let error = reply
        .get(16..20)
        .filter(|_| n >= 20)
        .map_or(-libc::EPROTO, |b| {
            i32::from_ne_bytes([b[0], b[1], b[2], b[3]])
        });
    if error != 0 {
        return Err(io::Error::from_raw_os_error(-error));
    }
    Ok(())
}

/// Sets the IPv6 address of `ifindex`.
fn set_ipv6(ifindex: u32, addr: Ipv6Addr, prefix: u32) -> io::Result<()> {
    let sock = ioctl_socket(libc::AF_INET6)?;
    let req = libc::in6_ifreq {
        ifr6_addr: libc::in6_addr {
            s6_addr: addr.octets(),
        },
        ifr6_prefixlen: prefix,
        ifr6_ifindex: ifindex as c_int,
    };
    // SAFETY: SIOCSIFADDR on an AF_INET6 socket reads an in6_ifreq.
    cvt(unsafe {
        libc::ioctl(
            sock.as_raw_fd(),
            libc::SIOCSIFADDR as _,
            std::ptr::from_ref(&req),
        )
    })
    .map(|_| ())
}

/// Sets up the cage's network in the current (new) network namespace; returns the TUN device.
pub(crate) fn configure(v4: Ipv4Addr, v6: Ipv6Addr) -> io::Result<OwnedFd> {
    let step =
        |what: &'static str| move |e: io::Error| io::Error::new(e.kind(), format!("{what}: {e}"));
    let sock = ioctl_socket(libc::AF_INET)?;
    set_up(&sock, "lo").map_err(step("bring up loopback"))?;
    let tun = open_tun().map_err(step("create the TUN device (/dev/net/tun)"))?;
    let mut req = ifreq(TUN_NAME)?;
    req.ifr_ifru.ifru_mtu = c_int::from(MTU);
    ioctl(&sock, libc::SIOCSIFMTU, &mut req).map_err(step("set the TUN device's MTU"))?;
    let mut req = ifreq(TUN_NAME)?;
    req.ifr_ifru.ifru_addr = sockaddr_v4(v4);
    ioctl(&sock, libc::SIOCSIFADDR, &mut req).map_err(step("give the TUN device its address"))?;
    let mut req = ifreq(TUN_NAME)?;
    req.ifr_ifru.ifru_netmask = sockaddr_v4(Ipv4Addr::new(255, 255, 255, 0));
    ioctl(&sock, libc::SIOCSIFNETMASK, &mut req).map_err(step("set the TUN device's netmask"))?;
    set_up(&sock, TUN_NAME).map_err(step("bring up the TUN device"))?;
    let index = if_index(&sock, TUN_NAME)?;
    set_ipv6(index, v6, 64).map_err(step("give the TUN device its IPv6 address"))?;
    add_default_route(libc::AF_INET as u8, index)
        .map_err(step("route IPv4 through the TUN device"))?;
    add_default_route(libc::AF_INET6 as u8, index)
        .map_err(step("route IPv6 through the TUN device"))?;
    Ok(tun)
}
