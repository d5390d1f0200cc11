//! The ioctls that set up network interfaces and TUN devices (netdevice(7); tun:
//! Documentation/networking/tuntap.rst). rustix has the interface index (`name_to_index`)
//! but keeps ioctls unsafe, and the crates that wrap these (tun, tun-rs, rtnetlink) set no
//! IPv6 address or no route, or need an async runtime.
//!
//! Each function is one ioctl: which flags, addresses and sizes is the caller's to say.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, AsRawFd};

use libc::{c_int, c_short, c_uint, c_ulong};

/// TUNSETIFF: _IOW('T', 202, int).
const TUNSETIFF: c_ulong = 0x4004_54ca;
/// TUNGETFEATURES: _IOR('T', 207, unsigned int).
const TUNGETFEATURES: c_ulong = 0x8004_54cf;
/// TUNSETOFFLOAD: _IOW('T', 208, unsigned int).
const TUNSETOFFLOAD: c_ulong = 0x4004_54d0;

/// A C call's result: its value, or errno as the error.
fn cvt(ret: c_int) -> io::Result<c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// An ifreq naming interface `name` (ENAMETOOLONG when it does not fit), the rest zero.
fn ifreq(name: &str) -> io::Result<libc::ifreq> {
    // SAFETY: ifreq is plain old data; all zeroes is a valid value of it.
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

/// ioctl(fd, request, &mut req), for the requests that read and write an ifreq.
fn ioctl_ifreq(fd: impl AsFd, request: c_ulong, req: &mut libc::ifreq) -> io::Result<()> {
    // SAFETY: req is a whole ifreq, the size every interface and TUNSETIFF ioctl reads and
    // writes.
    cvt(unsafe {
        libc::ioctl(
            fd.as_fd().as_raw_fd(),
            request as _,
            std::ptr::from_mut(req),
        )
    })
    .map(|_| ())
}

/// A sockaddr holding the IPv4 address `addr` (port 0), as ifreq carries addresses.
fn sockaddr_v4(addr: Ipv4Addr) -> libc::sockaddr {
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(addr.octets()),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: sockaddr_in and sockaddr have the same size, and both are plain old data; the
    // kernel reads it as sockaddr_in.
    unsafe { std::mem::transmute(sin) }
}

/// The flags of interface `name` (SIOCGIFFLAGS), on any socket of the namespace.
pub fn interface_flags(sock: impl AsFd, name: &str) -> io::Result<c_short> {
    let mut req = ifreq(name)?;
    ioctl_ifreq(sock, libc::SIOCGIFFLAGS, &mut req)?;
    // SAFETY: SIOCGIFFLAGS filled the flags member.
    Ok(unsafe { req.ifr_ifru.ifru_flags })
}

/// Sets the flags of interface `name` (SIOCSIFFLAGS).
pub fn set_interface_flags(sock: impl AsFd, name: &str, flags: c_short) -> io::Result<()> {
    let mut req = ifreq(name)?;
    req.ifr_ifru.ifru_flags = flags;
    ioctl_ifreq(sock, libc::SIOCSIFFLAGS, &mut req)
}

/// Sets the MTU of interface `name` (SIOCSIFMTU).
pub fn set_mtu(sock: impl AsFd, name: &str, mtu: c_int) -> io::Result<()> {
    let mut req = ifreq(name)?;
    req.ifr_ifru.ifru_mtu = mtu;
    ioctl_ifreq(sock, libc::SIOCSIFMTU, &mut req)
}

/// Sets the IPv4 address of interface `name` (SIOCSIFADDR, on an AF_INET socket).
pub fn set_ipv4_address(sock: impl AsFd, name: &str, addr: Ipv4Addr) -> io::Result<()> {
    let mut req = ifreq(name)?;
    req.ifr_ifru.ifru_addr = sockaddr_v4(addr);
    ioctl_ifreq(sock, libc::SIOCSIFADDR, &mut req)
}

/// Sets the IPv4 netmask of interface `name` (SIOCSIFNETMASK, on an AF_INET socket).
pub fn set_ipv4_netmask(sock: impl AsFd, name: &str, mask: Ipv4Addr) -> io::Result<()> {
    let mut req = ifreq(name)?;
    req.ifr_ifru.ifru_netmask = sockaddr_v4(mask);
    ioctl_ifreq(sock, libc::SIOCSIFNETMASK, &mut req)
}

/// Gives interface `ifindex` the IPv6 address `addr`/`prefix` (SIOCSIFADDR, on an AF_INET6
/// socket).
pub fn set_ipv6_address(
    sock: impl AsFd,
    ifindex: u32,
    addr: Ipv6Addr,
    prefix: u32,
) -> io::Result<()> {
    let req = libc::in6_ifreq {
        ifr6_addr: libc::in6_addr {
            s6_addr: addr.octets(),
        },
        ifr6_prefixlen: prefix,
        ifr6_ifindex: ifindex as c_int,
    };
    // SAFETY: SIOCSIFADDR on an AF_INET6 socket reads one in6_ifreq.
    cvt(unsafe {
        libc::ioctl(
            sock.as_fd().as_raw_fd(),
            libc::SIOCSIFADDR as _,
            std::ptr::from_ref(&req),
        )
    })
    .map(|_| ())
}

/// The features this TUN driver offers (TUNGETFEATURES, on an open /dev/net/tun): IFF_TUN,
/// IFF_NO_PI, IFF_VNET_HDR and the rest. A descriptor of anything else gets an error.
pub fn tun_features(tun: impl AsFd) -> io::Result<c_uint> {
    let mut features: c_uint = 0;
    // SAFETY: TUNGETFEATURES writes one unsigned int.
    cvt(unsafe {
        libc::ioctl(
            tun.as_fd().as_raw_fd(),
            TUNGETFEATURES as _,
            std::ptr::from_mut(&mut features),
        )
    })?;
    Ok(features)
}

/// Makes the open /dev/net/tun `tun` the device `name` with `flags` (TUNSETIFF: IFF_TUN,
/// IFF_NO_PI, IFF_VNET_HDR, …).
pub fn tun_attach(tun: impl AsFd, name: &str, flags: c_short) -> io::Result<()> {
    let mut req = ifreq(name)?;
    req.ifr_ifru.ifru_flags = flags;
    ioctl_ifreq(tun, TUNSETIFF, &mut req)
}

/// Sets the offloads the TUN device's reader takes (TUNSETOFFLOAD: TUN_F_CSUM, …).
pub fn tun_set_offload(tun: impl AsFd, offloads: c_ulong) -> io::Result<()> {
    // SAFETY: TUNSETOFFLOAD takes its flags by value, no pointer.
    cvt(unsafe { libc::ioctl(tun.as_fd().as_raw_fd(), TUNSETOFFLOAD as _, offloads) }).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inet_socket() -> std::os::fd::OwnedFd {
        rustix::net::socket(
            rustix::net::AddressFamily::INET,
            rustix::net::SocketType::DGRAM,
            None,
        )
        .unwrap()
    }

    #[test]
    fn loopback_answers_as_loopback_and_a_long_name_does_not_fit() {
        let sock = inet_socket();
        let flags = interface_flags(&sock, "lo").unwrap();
        assert_ne!(flags & libc::IFF_LOOPBACK as c_short, 0);
        let long = "x".repeat(libc::IFNAMSIZ);
        let e = interface_flags(&sock, &long).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENAMETOOLONG));
        let e = interface_flags(&sock, "no-such-if").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENODEV));
    }

    #[test]
    fn a_socket_is_not_a_tun_device() {
        assert!(tun_features(inet_socket()).is_err());
    }

    #[test]
    fn an_address_is_laid_out_as_sockaddr_in() {
        let sa = sockaddr_v4(Ipv4Addr::new(10, 1, 2, 3));
        assert_eq!(sa.sa_family, libc::AF_INET as libc::sa_family_t);
        // sin_port (2 bytes), then sin_addr in network order.
        let data: Vec<u8> = sa.sa_data.iter().map(|b| *b as u8).collect();
        assert_eq!(&data[..6], &[0, 0, 10, 1, 2, 3]);
    }
}
