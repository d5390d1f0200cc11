//! Name lookups for the resolver hooks: parsed locally, answered locally, given an onion
//! stand-in, or asked of Tor (SOCKS RESOLVE 0xF0 / RESOLVE_PTR 0xF1). The system resolver is
//! never used.

use std::net::IpAddr;

use libc::c_int;
use torify_conf::DnsMode;
use torify_core::dns::{self, Lookup};
use torify_core::pool::Pool;
use torify_core::socks5::{Answer, Command, ReplyCode, SocksError, Target};

use crate::guard::Shown;
use crate::proxy::{self, HANDSHAKE_SECS, ProxyError};
use crate::runtime::{self, Runtime};
use crate::{log, names, sys};

/// h_errno values (netdb.h).
pub(crate) const HOST_NOT_FOUND: c_int = 1;
pub(crate) const TRY_AGAIN: c_int = 2;
pub(crate) const NO_RECOVERY: c_int = 3;
pub(crate) const NO_DATA: c_int = 4;
pub(crate) const NETDB_INTERNAL: c_int = -1;

/// Why a lookup has no answer, in the terms glibc reports for the same failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LookupError {
    /// The name does not exist (Tor's reply 0x04), or was refused (logged).
    NotFound,
    /// Tor could not be asked (like an unreachable DNS server).
    TryAgain,
    /// Any other failure.
    Failed,
}

impl LookupError {
    /// The getaddrinfo/getnameinfo error code.
    pub(crate) fn eai(self) -> c_int {
        match self {
            LookupError::NotFound => libc::EAI_NONAME,
            LookupError::TryAgain => libc::EAI_AGAIN,
            LookupError::Failed => libc::EAI_FAIL,
        }
    }

    /// The h_errno value.
    pub(crate) fn h_errno(self) -> c_int {
        match self {
            LookupError::NotFound => HOST_NOT_FOUND,
            LookupError::TryAgain => TRY_AGAIN,
            LookupError::Failed => NO_RECOVERY,
        }
    }
}

/// One SOCKS request of our own to Tor.
fn ask_tor(rt: &Runtime, command: Command, target: &Target<'_>) -> Result<Answer, LookupError> {
    let deadline = sys::deadline_in(HANDSHAKE_SECS);
    let result = proxy::open_to_tor(rt, deadline).and_then(|fd| {
        let answer = proxy::handshake(
            fd,
            command,
            target,
            rt,
            deadline,
            crate::sys::OnSignal::Restart,
        );
        sys::close(fd);
        answer
    });
    let what = if command == Command::ResolvePtr {
        "reverse lookup"
    } else {
        "lookup"
    };
    match result {
        Ok(answer) => {
            log::debug!("{what} of {} through Tor: {answer:?}", Shown(target));
            Ok(answer)
        }
        Err(ProxyError::Socks(SocksError::Reply(ReplyCode::HostUnreachable))) => {
            log::debug!("{what} of {} through Tor: not found", Shown(target));
            Err(LookupError::NotFound)
        }
        Err(e @ ProxyError::Unreachable(..)) => {
            log::error!("{what} of {} failed: {e}", Shown(target));
            Err(LookupError::TryAgain)
        }
        Err(e) => {
            log::error!("{what} of {} through Tor failed: {e}", Shown(target));
            Err(LookupError::Failed)
        }
    }
}

/// The runtime, or `Failed` after the settings error was reported.
pub(crate) fn runtime() -> Result<&'static Runtime, LookupError> {
    runtime::get().map_err(|refusal| {
        log::refusal(refusal.reason.kind(), &refusal);
        LookupError::Failed
    })
}

/// The addresses of `name` (not numeric: callers parse numbers themselves).
pub(crate) fn forward(rt: &Runtime, name: &str) -> Result<Vec<IpAddr>, LookupError> {
    match dns::classify(name, names::local()) {
        Lookup::Local(addrs) => {
            log::debug!("lookup of {name}: local {addrs:?}");
            Ok(addrs)
        }
        Lookup::Onion(onion) => stand_in(rt, Pool::Onion, &onion),
        Lookup::Refuse(why) => {
            log::refusal(
                torify_core::refusal::Kind::Name,
                &format_args!("refused lookup of {name:?}: {why}"),
            );
            Err(LookupError::NotFound)
        }
        Lookup::Numeric => match dns::parse_inet_aton(name) {
            Some(v4) => Ok(vec![IpAddr::V4(v4)]),
            None => name
                .split('%')
                .next()
                .and_then(|a| a.parse().ok())
                .map(|a| vec![a])
                .ok_or(LookupError::NotFound),
        },
        _ if rt.settings.dns_mode == DnsMode::Exit => {
            stand_in(rt, Pool::Exit, &torify_core::pool::normalize(name))
        }
        _ => match ask_tor(rt, Command::Resolve, &Target::Name(name, 0))? {
            Answer::Address(ip) => Ok(vec![ip]),
            _ => Err(LookupError::Failed),
        },
    }
}

/// The stand-in address of `pool` for `name`: the connect sends the name to Tor.
fn stand_in(rt: &Runtime, pool: Pool, name: &str) -> Result<Vec<IpAddr>, LookupError> {
    match names::assign(&rt.settings, pool, name) {
        Ok(ip) => {
            log::debug!("lookup of {name}: stand-in {ip} ({})", pool.setting());
            Ok(vec![IpAddr::V4(ip)])
        }
        Err(e) => {
            log::error!("lookup of {name} refused: {e}");
            Err(LookupError::Failed)
        }
    }
}

/// The name of `addr`: the name a stand-in was handed out for, a local name for loopback, or what Tor's
/// RESOLVE_PTR answers.
pub(crate) fn reverse(rt: &Runtime, addr: IpAddr) -> Result<String, LookupError> {
    let addr = match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    };
    if let IpAddr::V4(v4) = addr
        && let Some(pool) = Pool::of(v4, &rt.settings)
    {
        return names::name_of(&rt.settings, pool, v4).ok_or(LookupError::NotFound);
    }
    if addr.is_loopback() || addr.is_unspecified() {
        return names::local().name_for(addr).ok_or(LookupError::NotFound);
    }
    let target = Target::Addr(std::net::SocketAddr::new(addr, 0));
    match ask_tor(rt, Command::ResolvePtr, &target)? {
        Answer::Name(name) => Ok(name.as_str().to_owned()),
        _ => Err(LookupError::Failed),
    }
}
