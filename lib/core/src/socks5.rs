//! SOCKS5 client messages with Tor's extensions, as a sans-IO codec.
//!
//! References: RFC 1928 (SOCKS5), RFC 1929 (username/password), torspec `socks-extensions`
//! (RESOLVE 0xF0, RESOLVE_PTR 0xF1) and tor(1) `ExtendedErrors` (reply codes 0xF0-0xF7).
//!
//! The codec never allocates: messages are built in fixed buffers and replies are parsed from
//! what the caller has read so far. It always says exactly how many bytes it needs, so a caller
//! never reads past the end of a reply into data that belongs to the application.
//!
//! Every handshake is one flight: greeting, RFC 1929 message (when there are credentials) and
//! request in one write, so opening a stream never waits for the SOCKS port in between
//! (RFC 1929 lets a client that offers only username/password send it unasked).
//!
//! Facts about tor's server side that shape this (tor `proto_socks.c`, and measured against
//! tor 0.4.9 here):
//! - A greeting offering only "no authentication" followed by the request in one write is parsed
//!   in one go (tor's test `test_socks_5_supported_commands`).
//! - A pipelined greeting + username/password + request is parsed in one go too, but tor
//!   answers only `01 00` (auth accepted) and the request's reply: its method choice `05 02` is
//!   overwritten before it is sent. So an auth status where the method choice should be is
//!   read as "method 2 chosen"; a server that does send `05 02` is read as usual.
//! - A failed RESOLVE is answered `05 04 00 00` and 6 zero bytes: address type 0, which this
//!   parser accepts on error replies only.

// Replies carry a 255-byte host name inline: hooks must not allocate, so the size difference
// between enum variants is the point, not an accident.
#![allow(clippy::large_enum_variant)]

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

const VERSION: u8 = 5;
const AUTH_VERSION: u8 = 1;
const METHOD_NO_AUTH: u8 = 0x00;
const METHOD_USER_PASS: u8 = 0x02;
const METHOD_NONE_ACCEPTABLE: u8 = 0xFF;
const ATYP_IPV4: u8 = 1;
const ATYP_NAME: u8 = 3;
const ATYP_IPV6: u8 = 4;

/// The most bytes one flight of client messages can take: a greeting (3), an RFC 1929 message
/// (3 + 255 + 255) and a request (4 + 1 + 255 + 2).
pub const MAX_FLIGHT: usize = 3 + 513 + 262;

/// The most bytes the server's replies to one handshake can take: method choice (2), auth
/// status (2) and a reply carrying a 255-byte name (4 + 1 + 255 + 2).
pub const MAX_REPLIES: usize = 2 + 2 + 262;

/// What the client asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// CONNECT (1): open a stream.
    Connect,
    /// Tor's RESOLVE (0xF0): a name to an address.
    Resolve,
    /// Tor's RESOLVE_PTR (0xF1): an address to a name.
    ResolvePtr,
}

impl Command {
    fn code(self) -> u8 {
        match self {
            Command::Connect => 0x01,
            Command::Resolve => 0xF0,
            Command::ResolvePtr => 0xF1,
        }
    }
}

/// Where the request points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target<'a> {
    /// An IP address and port.
    Addr(SocketAddr),
    /// A host name (sent as is, so the exit or the onion service resolves it) and a port.
    Name(&'a str, u16),
}

/// RFC 1929 credentials.
#[derive(Clone, Copy)]
pub struct Credentials<'a> {
    /// Username, 1 to 255 bytes.
    pub username: &'a [u8],
    /// Password, 1 to 255 bytes.
    pub password: &'a [u8],
}

impl fmt::Debug for Credentials<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credentials(********)")
    }
}

/// The codes a SOCKS5 reply carries (RFC 1928 §6, Tor's ExtendedErrors).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyCode {
    /// 0x00.
    Succeeded,
    /// 0x01: general failure (tor: also "private address" and "no exit allows this").
    GeneralFailure,
    /// 0x02: not allowed by ruleset (tor: exit policy).
    NotAllowed,
    /// 0x03.
    NetworkUnreachable,
    /// 0x04 (tor: also every failed RESOLVE).
    HostUnreachable,
    /// 0x05.
    ConnectionRefused,
    /// 0x06 (tor: stream timeout).
    TtlExpired,
    /// 0x07.
    CommandNotSupported,
    /// 0x08.
    AddressTypeNotSupported,
    /// 0xF0: onion service descriptor can not be found.
    OnionDescNotFound,
    /// 0xF1: onion service descriptor is invalid.
    OnionDescInvalid,
    /// 0xF2: onion service introduction failed.
    OnionIntroFailed,
    /// 0xF3: onion service rendezvous failed.
    OnionRendezvousFailed,
    /// 0xF4: onion service missing client authorization.
    OnionMissingClientAuth,
    /// 0xF5: onion service wrong client authorization.
    OnionWrongClientAuth,
    /// 0xF6: onion address is invalid.
    OnionBadAddress,
    /// 0xF7: onion service introduction timed out.
    OnionIntroTimedOut,
    /// Any other code.
    Unknown(u8),
}

impl ReplyCode {
    /// The code for a byte.
    pub fn from_byte(b: u8) -> Self {
        use ReplyCode::*;
        match b {
            0x00 => Succeeded,
            0x01 => GeneralFailure,
            0x02 => NotAllowed,
            0x03 => NetworkUnreachable,
            0x04 => HostUnreachable,
            0x05 => ConnectionRefused,
            0x06 => TtlExpired,
            0x07 => CommandNotSupported,
            0x08 => AddressTypeNotSupported,
            0xF0 => OnionDescNotFound,
            0xF1 => OnionDescInvalid,
            0xF2 => OnionIntroFailed,
            0xF3 => OnionRendezvousFailed,
            0xF4 => OnionMissingClientAuth,
            0xF5 => OnionWrongClientAuth,
            0xF6 => OnionBadAddress,
            0xF7 => OnionIntroTimedOut,
            other => Unknown(other),
        }
    }

    /// The byte for a code.
    pub fn byte(self) -> u8 {
        use ReplyCode::*;
        match self {
            Succeeded => 0x00,
            GeneralFailure => 0x01,
            NotAllowed => 0x02,
            NetworkUnreachable => 0x03,
            HostUnreachable => 0x04,
            ConnectionRefused => 0x05,
            TtlExpired => 0x06,
            CommandNotSupported => 0x07,
            AddressTypeNotSupported => 0x08,
            OnionDescNotFound => 0xF0,
            OnionDescInvalid => 0xF1,
            OnionIntroFailed => 0xF2,
            OnionRendezvousFailed => 0xF3,
            OnionMissingClientAuth => 0xF4,
            OnionWrongClientAuth => 0xF5,
            OnionBadAddress => 0xF6,
            OnionIntroTimedOut => 0xF7,
            Unknown(b) => b,
        }
    }

    /// What it means, for a person.
    pub fn message(self) -> &'static str {
        use ReplyCode::*;
        match self {
            Succeeded => "succeeded",
            GeneralFailure => "general failure (no exit would carry it, or the address is private)",
            NotAllowed => "not allowed (refused by the exit policy or the SocksPort's rules)",
            NetworkUnreachable => "network unreachable",
            HostUnreachable => "host unreachable (or the name did not resolve)",
            ConnectionRefused => "connection refused by the destination",
            TtlExpired => "timed out",
            CommandNotSupported => "command not supported by the SOCKS server",
            AddressTypeNotSupported => "address type not supported by the SOCKS server",
            OnionDescNotFound => {
                "onion service descriptor not found (the service is offline or the address is wrong)"
            }
            OnionDescInvalid => "onion service descriptor is invalid",
            OnionIntroFailed => "onion service introduction failed",
            OnionRendezvousFailed => "onion service rendezvous failed",
            OnionMissingClientAuth => {
                "onion service requires client authorization, and none is configured"
            }
            OnionWrongClientAuth => "onion service rejected the client authorization",
            OnionBadAddress => "invalid onion address",
            OnionIntroTimedOut => "onion service introduction timed out",
            Unknown(_) => "unknown reply code",
        }
    }

    /// The errno a failed connect() reports for this code. The standard codes map as torsocks
    /// maps them; the onion codes map to the nearest meaning.
    pub fn errno(self) -> i32 {
        use ReplyCode::*;
        match self {
            Succeeded => 0,
            GeneralFailure
            | NotAllowed
            | ConnectionRefused
            | CommandNotSupported
            | AddressTypeNotSupported
            | OnionRendezvousFailed => libc::ECONNREFUSED,
            NetworkUnreachable => libc::ENETUNREACH,
            HostUnreachable | OnionDescNotFound | OnionDescInvalid | OnionIntroFailed
            | OnionBadAddress => libc::EHOSTUNREACH,
            TtlExpired | OnionIntroTimedOut => libc::ETIMEDOUT,
            OnionMissingClientAuth | OnionWrongClientAuth => libc::EACCES,
            Unknown(_) => libc::ECONNABORTED,
        }
    }

    /// True for Tor's onion service codes (0xF0-0xF7).
    pub fn is_onion(self) -> bool {
        (0xF0..=0xF7).contains(&self.byte())
    }
}

impl fmt::Display for ReplyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (SOCKS reply 0x{:02x})", self.message(), self.byte())
    }
}

/// A host name of at most 255 bytes, stored inline (a RESOLVE_PTR answer).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct HostName {
    bytes: [u8; 255],
    len: u8,
}

impl HostName {
    /// The name; only printable ASCII ever gets in.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }

    fn from_wire(b: &[u8]) -> Option<Self> {
        if b.is_empty() || !b.iter().all(|c| c.is_ascii_graphic()) {
            return None;
        }
        let mut bytes = [0u8; 255];
        bytes.get_mut(..b.len())?.copy_from_slice(b);
        Some(HostName {
            bytes,
            len: u8::try_from(b.len()).ok()?,
        })
    }
}

impl fmt::Debug for HostName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

/// What a successful reply carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// CONNECT: the stream is open (tor reports no meaningful bound address).
    Connected,
    /// RESOLVE: the address.
    Address(IpAddr),
    /// RESOLVE_PTR: the name.
    Name(HostName),
}

/// Why a handshake failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocksError {
    /// The server answered with another SOCKS version.
    BadVersion(u8),
    /// The server accepted none of the offered methods.
    NoAcceptableMethod,
    /// The server chose a method that was not offered.
    UnexpectedMethod(u8),
    /// The username/password status had the wrong version byte.
    BadAuthVersion(u8),
    /// The server rejected the username/password.
    AuthRejected(u8),
    /// The reply has an unknown address type.
    BadAddressType(u8),
    /// A RESOLVE_PTR reply carried an empty or unprintable name.
    BadName,
    /// A successful reply does not fit the command (a name for RESOLVE, say).
    UnexpectedAnswer,
    /// The server refused the request.
    Reply(ReplyCode),
    /// A host name to send is empty, too long or has bytes outside printable ASCII.
    InvalidName,
    /// A username or password is empty or longer than 255 bytes.
    InvalidCredentials,
    /// RESOLVE needs a name and RESOLVE_PTR an address.
    TargetMismatch,
}

impl SocksError {
    /// The errno a caller reports for this failure.
    pub fn errno(self) -> i32 {
        match self {
            SocksError::Reply(code) => code.errno(),
            SocksError::AuthRejected(_) => libc::EACCES,
            SocksError::InvalidName
            | SocksError::InvalidCredentials
            | SocksError::TargetMismatch => libc::EINVAL,
            _ => libc::ECONNABORTED,
        }
    }
}

impl fmt::Display for SocksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SocksError::BadVersion(v) => {
                write!(
                    f,
                    "the SOCKS server answered with version {v}, not 5 (is it Tor's SocksPort?)"
                )
            }
            SocksError::NoAcceptableMethod => {
                f.write_str("the SOCKS server accepts none of the offered authentication methods")
            }
            SocksError::UnexpectedMethod(m) => write!(
                f,
                "the SOCKS server chose method 0x{m:02x}, which was not offered"
            ),
            SocksError::BadAuthVersion(v) => {
                write!(f, "malformed authentication reply (version {v})")
            }
            SocksError::AuthRejected(s) => write!(
                f,
                "the SOCKS server rejected the username/password (status {s})"
            ),
            SocksError::BadAddressType(t) => write!(f, "malformed SOCKS reply (address type {t})"),
            SocksError::BadName => {
                f.write_str("malformed SOCKS reply (the name is empty or not printable)")
            }
            SocksError::UnexpectedAnswer => {
                f.write_str("the SOCKS reply does not answer the request")
            }
            SocksError::Reply(code) => write!(f, "{code}"),
            SocksError::InvalidName => {
                f.write_str("the host name is empty, longer than 255 bytes, or not printable ASCII")
            }
            SocksError::InvalidCredentials => {
                f.write_str("SOCKS username and password must each be 1 to 255 bytes")
            }
            SocksError::TargetMismatch => {
                f.write_str("RESOLVE takes a name and RESOLVE_PTR an address")
            }
        }
    }
}

impl std::error::Error for SocksError {}

/// Bytes to send, in a fixed buffer.
#[derive(Clone)]
pub struct Flight {
    buf: [u8; MAX_FLIGHT],
    len: usize,
}

impl Flight {
    fn new() -> Self {
        Flight {
            buf: [0; MAX_FLIGHT],
            len: 0,
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        // Every caller stays under MAX_FLIGHT by construction; a short write here would
        // only ever truncate, never overflow.
        let end = (self.len + bytes.len()).min(MAX_FLIGHT);
        let n = end - self.len;
        self.buf[self.len..end].copy_from_slice(&bytes[..n]);
        self.len = end;
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Drop for Flight {
    fn drop(&mut self) {
        // The buffer may hold a password.
        zeroize::Zeroize::zeroize(&mut self.buf);
    }
}

impl fmt::Debug for Flight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Flight({} bytes)", self.len)
    }
}

fn valid_name(name: &str) -> bool {
    (1..=255).contains(&name.len()) && name.bytes().all(|c| c.is_ascii_graphic())
}

fn encode_request(
    flight: &mut Flight,
    command: Command,
    target: &Target<'_>,
) -> Result<(), SocksError> {
    match (command, target) {
        (Command::Resolve, Target::Addr(_)) | (Command::ResolvePtr, Target::Name(..)) => {
            return Err(SocksError::TargetMismatch);
        }
        _ => {}
    }
    flight.push(&[VERSION, command.code(), 0x00]);
    match target {
        // An IPv4 destination travels as text, as torsocks sends it: tor treats an address in
        // a name exactly like an address, and a SocksPort with SafeSocks refuses ATYP 1.
        Target::Addr(SocketAddr::V4(a)) if command == Command::Connect => {
            let mut text = [0u8; 15];
            let n = write_ipv4(&mut text, *a.ip());
            flight.push(&[ATYP_NAME, n as u8]);
            flight.push(&text[..n]);
            flight.push(&a.port().to_be_bytes());
        }
        Target::Addr(SocketAddr::V4(a)) => {
            flight.push(&[ATYP_IPV4]);
            flight.push(&a.ip().octets());
            flight.push(&a.port().to_be_bytes());
        }
        Target::Addr(SocketAddr::V6(a)) => {
            flight.push(&[ATYP_IPV6]);
            flight.push(&a.ip().octets());
            flight.push(&a.port().to_be_bytes());
        }
        Target::Name(name, port) => {
            if !valid_name(name) {
                return Err(SocksError::InvalidName);
            }
            flight.push(&[ATYP_NAME, name.len() as u8]);
            flight.push(name.as_bytes());
            flight.push(&port.to_be_bytes());
        }
    }
    Ok(())
}

/// Dotted-quad text of `ip` into `out`, without allocating; returns the length.
fn write_ipv4(out: &mut [u8; 15], ip: Ipv4Addr) -> usize {
    let mut n = 0;
    for (i, octet) in ip.octets().into_iter().enumerate() {
        if i > 0 {
            out[n] = b'.';
            n += 1;
        }
        let digits = [octet / 100, (octet / 10) % 10, octet % 10];
        let skip = if octet >= 100 {
            0
        } else if octet >= 10 {
            1
        } else {
            2
        };
        for d in &digits[skip..] {
            out[n] = b'0' + d;
            n += 1;
        }
    }
    n
}

/// The result of feeding the server's bytes to a handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Read until the buffer holds this many bytes in total, then ask again.
    Need(usize),
    /// Done: the answer, and how many bytes of the buffer the replies took.
    Done(Answer, usize),
}

/// A client handshake: the bytes to send, and a parser for what comes back.
pub struct Handshake {
    command: Command,
    auth: bool,
    flight: Flight,
}

impl fmt::Debug for Handshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handshake")
            .field("command", &self.command)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

impl Handshake {
    /// Prepares a handshake: greeting, credentials (if any) and request, in one flight.
    pub fn new(
        command: Command,
        target: &Target<'_>,
        credentials: Option<&Credentials<'_>>,
    ) -> Result<Self, SocksError> {
        let mut flight = Flight::new();
        match credentials {
            None => flight.push(&[VERSION, 1, METHOD_NO_AUTH]),
            Some(c) => {
                let (u, p) = (c.username, c.password);
                if !(1..=255).contains(&u.len()) || !(1..=255).contains(&p.len()) {
                    return Err(SocksError::InvalidCredentials);
                }
                flight.push(&[VERSION, 1, METHOD_USER_PASS]);
                flight.push(&[AUTH_VERSION, u.len() as u8]);
                flight.push(u);
                flight.push(&[p.len() as u8]);
                flight.push(p);
            }
        }
        encode_request(&mut flight, command, target)?;
        Ok(Handshake {
            command,
            auth: credentials.is_some(),
            flight,
        })
    }

    /// The bytes to send, all at once.
    pub fn flight(&self) -> &[u8] {
        self.flight.as_bytes()
    }

    /// What the server's replies to this handshake look like.
    pub fn replies(&self) -> Replies {
        Replies {
            command: self.command,
            auth: self.auth,
        }
    }

    /// Parses everything received so far (`received` starts at the first reply byte).
    pub fn progress(&self, received: &[u8]) -> Result<Progress, SocksError> {
        self.replies().progress(received)
    }

    /// Runs the whole handshake over a connection through `io`: it sends the flight (all of
    /// it), then reads (returning how many bytes it put in the buffer, 0 at the end of the
    /// stream), never past the end of the replies, so what follows is left for the caller.
    pub fn drive<E>(
        &self,
        mut io: impl FnMut(Io<'_>) -> Result<usize, E>,
        fail: impl Fn(Ended) -> E,
    ) -> Result<Answer, E> {
        io(Io::Send(self.flight()))?;
        let mut buf = [0u8; MAX_REPLIES];
        let mut have = 0;
        loop {
            match self
                .progress(&buf[..have])
                .map_err(|e| fail(Ended::Refused(e)))?
            {
                Progress::Need(n) => {
                    let window = buf
                        .get_mut(have..n)
                        .ok_or_else(|| fail(Ended::Refused(SocksError::UnexpectedAnswer)))?;
                    match io(Io::Recv(window))? {
                        0 => return Err(fail(Ended::Closed)),
                        got => have += got,
                    }
                }
                Progress::Done(answer, _) => return Ok(answer),
            }
        }
    }
}

/// What [`Handshake::drive`] asks of the connection.
#[derive(Debug)]
pub enum Io<'a> {
    /// Send all of these bytes.
    Send(&'a [u8]),
    /// Read into this buffer: some bytes, or 0 at the end of the stream.
    Recv(&'a mut [u8]),
}

/// How a driven handshake ended without an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// The server closed the connection before its replies were complete.
    Closed,
    /// The server refused, or answered something this codec does not take.
    Refused(SocksError),
}

/// The replies a handshake expects, without the handshake's own bytes (which may hold a
/// password): what is kept while a reply is still on its way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Replies {
    command: Command,
    auth: bool,
}

impl Replies {
    /// Parses everything received so far (`received` starts at the first reply byte).
    pub fn progress(&self, received: &[u8]) -> Result<Progress, SocksError> {
        let Some(&first) = received.first() else {
            return Ok(Progress::Need(2));
        };
        let mut at = 0;
        // tor answers a pipelined greeting + auth without its method choice (module docs).
        let method_skipped = self.auth && first == AUTH_VERSION;
        if !method_skipped {
            let Some(choice) = received.get(..2) else {
                return Ok(Progress::Need(2));
            };
            if choice[0] != VERSION {
                return Err(SocksError::BadVersion(choice[0]));
            }
            let wanted = if self.auth {
                METHOD_USER_PASS
            } else {
                METHOD_NO_AUTH
            };
            match choice[1] {
                m if m == wanted => {}
                METHOD_NONE_ACCEPTABLE => return Err(SocksError::NoAcceptableMethod),
                m => return Err(SocksError::UnexpectedMethod(m)),
            }
            at = 2;
        }
        if self.auth {
            let Some(status) = received.get(at..at + 2) else {
                return Ok(Progress::Need(at + 2));
            };
            if status[0] != AUTH_VERSION {
                return Err(SocksError::BadAuthVersion(status[0]));
            }
            if status[1] != 0 {
                return Err(SocksError::AuthRejected(status[1]));
            }
            at += 2;
        }
        let rest = received.get(at..).unwrap_or(&[]);
        match parse_reply(rest)? {
            ReplyParse::Need(n) => Ok(Progress::Need(at + n)),
            ReplyParse::Done(code, bound, len) => {
                if code != ReplyCode::Succeeded {
                    return Err(SocksError::Reply(code));
                }
                let answer = match (self.command, bound) {
                    (Command::Connect, _) => Answer::Connected,
                    (Command::Resolve, Bound::Ip(ip)) => Answer::Address(ip),
                    (Command::ResolvePtr, Bound::Name(name)) => Answer::Name(name),
                    (Command::ResolvePtr, Bound::BadName) => return Err(SocksError::BadName),
                    (Command::Resolve | Command::ResolvePtr, _) => {
                        return Err(SocksError::UnexpectedAnswer);
                    }
                };
                Ok(Progress::Done(answer, at + len))
            }
        }
    }
}

/// The address part of a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bound {
    Ip(IpAddr),
    Name(HostName),
    /// A name that is empty or not printable: an error only where the name is the answer.
    BadName,
    /// Address type 0, which tor uses on failed RESOLVE replies.
    Nothing,
}

enum ReplyParse {
    Need(usize),
    Done(ReplyCode, Bound, usize),
}

/// Parses one request reply: `VER REP RSV ATYP ADDR PORT`.
fn parse_reply(b: &[u8]) -> Result<ReplyParse, SocksError> {
    // Each byte is judged as soon as it arrives, so garbage fails without waiting for more.
    match b.first() {
        None => return Ok(ReplyParse::Need(1)),
        Some(&v) if v != VERSION => return Err(SocksError::BadVersion(v)),
        Some(_) => {}
    }
    let Some(head) = b.get(..4) else {
        return Ok(ReplyParse::Need(4));
    };
    let code = ReplyCode::from_byte(head[1]);
    let atyp = head[3];
    let (addr_len, addr_at) = match atyp {
        ATYP_IPV4 => (4, 4),
        ATYP_IPV6 => (16, 4),
        ATYP_NAME => match b.get(4) {
            Some(&len) => (usize::from(len), 5),
            None => return Ok(ReplyParse::Need(5)),
        },
        0 if code != ReplyCode::Succeeded => (4, 4),
        other => return Err(SocksError::BadAddressType(other)),
    };
    let total = addr_at + addr_len + 2;
    let Some(addr) = b.get(addr_at..addr_at + addr_len) else {
        return Ok(ReplyParse::Need(total));
    };
    if b.len() < total {
        return Ok(ReplyParse::Need(total));
    }
    let bound = match atyp {
        ATYP_IPV4 => {
            let octets: [u8; 4] = addr
                .try_into()
                .map_err(|_| SocksError::BadAddressType(ATYP_IPV4))?;
            Bound::Ip(IpAddr::V4(Ipv4Addr::from(octets)))
        }
        ATYP_IPV6 => {
            let octets: [u8; 16] = addr
                .try_into()
                .map_err(|_| SocksError::BadAddressType(ATYP_IPV6))?;
            Bound::Ip(IpAddr::V6(Ipv6Addr::from(octets)))
        }
        ATYP_NAME => HostName::from_wire(addr).map_or(Bound::BadName, Bound::Name),
        _ => Bound::Nothing,
    };
    Ok(ReplyParse::Done(code, bound, total))
}

#[cfg(test)]
mod tests;
