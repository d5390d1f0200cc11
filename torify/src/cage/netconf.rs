//! The cage's network, set up from inside its new network namespace (interface ioctls and
//! netlink act on the caller's namespace): loopback up, a TUN device `torify0` with the
//! cage's addresses, and default routes of both families through it, so that the only way
//! out of the cage is the TUN device the launcher reads.
//!
//! Plain ioctls (netdevice(7), tun: Documentation/networking/tuntap.rst; torify-sys makes each
//! one) and one rtnetlink message per route (rtnetlink(7), on rustix's netlink socket): the
//! crates that wrap these (tun, tun-rs, rtnetlink) set no IPv6 address, no route, or need an
//! async runtime, which a process between fork and exec of a launcher must not start.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::OwnedFd;

use libc::c_ulong;
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};
use torify_sys::netdev;

/// The TUN device's name.
pub(crate) const TUN_NAME: &str = "torify0";
/// Its MTU (the stack's too): the largest a TUN device takes. Nothing leaves the cage as
/// these packets, and the fewer of them a transfer takes, the faster the stack is (bench/stacks:
/// 201 MB/s at 1500, 601 at 9000, 649 at 65535).
pub(crate) const MTU: u16 = 65535;

/// TUN_F_CSUM: we take packets whose checksum the kernel left partial.
const TUN_F_CSUM: c_ulong = 0x01;
/// The size of the virtio_net_hdr before every packet on the device (IFF_VNET_HDR, default).
pub(crate) const VNET_HDR: usize = 10;

/// True when `file` (an open /dev/net/tun) answers as the TUN device does.
pub(crate) fn is_tun_device(file: &std::fs::File) -> bool {
    netdev::tun_features(file).is_ok_and(|features| features & libc::IFF_TUN as libc::c_uint != 0)
}

/// A socket of `family` for interface ioctls.
fn ioctl_socket(family: AddressFamily) -> io::Result<OwnedFd> {
    Ok(rustix::net::socket_with(
        family,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC,
        None,
    )?)
}

/// Brings `name` up.
fn set_up(sock: &OwnedFd, name: &str) -> io::Result<()> {
    let flags = netdev::interface_flags(sock, name)?;
    netdev::set_interface_flags(sock, name, flags | libc::IFF_UP as libc::c_short)
}

/// Opens /dev/net/tun and makes the TUN device, non-blocking: IP packets each after a
/// virtio_net_hdr (IFF_NO_PI, IFF_VNET_HDR), so that neither side of the device sums every
/// byte of every packet: the kernel may hand us partial checksums (TUN_F_CSUM), and we mark
/// ours valid.
fn open_tun() -> io::Result<OwnedFd> {
    use rustix::fs::{Mode, OFlags};
    let tun = rustix::fs::open(
        "/dev/net/tun",
        OFlags::RDWR | OFlags::CLOEXEC | OFlags::NONBLOCK,
        Mode::empty(),
    )?;
    netdev::tun_attach(
        &tun,
        TUN_NAME,
        (libc::IFF_TUN | libc::IFF_NO_PI | libc::IFF_VNET_HDR) as libc::c_short,
    )?;
    // Without it the kernel sums packets before handing them over, which costs time and
    // nothing else: its failure is ignored.
    let _ = netdev::tun_set_offload(&tun, TUN_F_CSUM);
    Ok(tun)
}

/// Adds a default route of `family` through interface `ifindex` (what `ip route add default
/// dev torify0` sends).
fn add_default_route(family: u8, ifindex: u32) -> io::Result<()> {
    // NETLINK_ROUTE is protocol 0.
    let nl = rustix::net::socket_with(
        AddressFamily::NETLINK,
        SocketType::RAW,
        SocketFlags::CLOEXEC,
        None,
    )?;
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
    // Port id 0 is the kernel.
    let kernel = rustix::net::netlink::SocketAddrNetlink::new(0, 0);
    rustix::net::sendto(&nl, &m, SendFlags::empty(), &kernel)?;
    let mut reply = [0u8; 256];
    let (n, _) = rustix::net::recv(&nl, &mut reply, RecvFlags::empty())?;
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

/// Sets up the cage's network in the current (new) network namespace; returns the TUN device.
pub(crate) fn configure(v4: Ipv4Addr, v6: Ipv6Addr) -> io::Result<OwnedFd> {
    let step =
        |what: &'static str| move |e: io::Error| io::Error::new(e.kind(), format!("{what}: {e}"));
    let sock = ioctl_socket(AddressFamily::INET)?;
    set_up(&sock, "lo").map_err(step("bring up loopback"))?;
    let tun = open_tun().map_err(step("create the TUN device (/dev/net/tun)"))?;
    netdev::set_mtu(&sock, TUN_NAME, libc::c_int::from(MTU))
        .map_err(step("set the TUN device's MTU"))?;
    netdev::set_ipv4_address(&sock, TUN_NAME, v4)
        .map_err(step("give the TUN device its address"))?;
    netdev::set_ipv4_netmask(&sock, TUN_NAME, Ipv4Addr::new(255, 255, 255, 0))
        .map_err(step("set the TUN device's netmask"))?;
    set_up(&sock, TUN_NAME).map_err(step("bring up the TUN device"))?;
    let index = rustix::net::netdevice::name_to_index(&sock, TUN_NAME)?;
    ioctl_socket(AddressFamily::INET6)
        .and_then(|sock6| netdev::set_ipv6_address(&sock6, index, v6, 64))
        .map_err(step("give the TUN device its IPv6 address"))?;
    add_default_route(libc::AF_INET as u8, index)
        .map_err(step("route IPv4 through the TUN device"))?;
    add_default_route(libc::AF_INET6 as u8, index)
        .map_err(step("route IPv6 through the TUN device"))?;
    Ok(tun)
}
