//! The launcher talking to Tor's SOCKS port itself: is anything there, is it Tor, and Tor's
//! RESOLVE / RESOLVE_PTR (for `check` and `resolve`). The codec is torify-core's, the same the
//! library uses.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use torify_conf::{Settings, SocksEndpoint};
use torify_core::socks5::{
    Answer, Command, Credentials, Ended, Handshake, Io, ReplyCode, SocksError, Target,
};

/// A connection to the SOCKS port, whichever kind it is.
pub(crate) enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Stream {
    /// A second handle on the same connection (one thread reads, another writes).
    pub(crate) fn try_clone(&self) -> io::Result<Stream> {
        Ok(match self {
            Stream::Tcp(s) => Stream::Tcp(s.try_clone()?),
            Stream::Unix(s) => Stream::Unix(s.try_clone()?),
        })
    }

    fn set_read_timeout(&self, wait: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_read_timeout(wait),
            Stream::Unix(s) => s.set_read_timeout(wait),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What went wrong talking to the SOCKS port.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Nothing could be reached, or the connection broke.
    Io(io::Error),
    /// The server answered, with an error or with something that is not SOCKS5.
    Socks(SocksError),
}

impl Failure {
    /// One line for the user: what failed and, when nothing answered, the settings that say
    /// where Tor is.
    pub(crate) fn explain(&self, endpoint: SocksEndpoint<'_>) -> String {
        match self {
            Failure::Io(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionRefused
                        | io::ErrorKind::NotFound
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::PermissionDenied
                ) =>
            {
                format!(
                    "nothing answers SOCKS at {endpoint} ({e}); start tor, or point torify at it with -a/-P (tor.address/tor.port)"
                )
            }
            other => other.to_string(),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Io(e) => write!(f, "{e}"),
            Failure::Socks(e) => write!(f, "{e}"),
        }
    }
}

fn connect(endpoint: SocksEndpoint<'_>, wait: Duration) -> io::Result<Stream> {
    let stream = match endpoint {
        SocksEndpoint::Inet(addr) => Stream::Tcp(TcpStream::connect_timeout(&addr, wait)?),
        SocksEndpoint::Unix(path) => Stream::Unix(UnixStream::connect(path)?),
    };
    stream.set_read_timeout(Some(wait))?;
    Ok(stream)
}

/// True when a SOCKS5 server answers a no-authentication greeting at `endpoint` within a
/// second.
pub(crate) fn answers(endpoint: SocksEndpoint<'_>) -> bool {
    let Ok(mut s) = connect(endpoint, Duration::from_secs(1)) else {
        return false;
    };
    let mut reply = [0u8; 2];
    s.write_all(&[5, 1, 0]).is_ok() && s.read_exact(&mut reply).is_ok() && reply == [5, 0]
}

/// True when something accepts connections at `endpoint` within a second. A tor daemon under
/// load can take longer than that to answer the greeting; only a refused or unanswered
/// connect means nothing is there.
pub(crate) fn accepts(endpoint: SocksEndpoint<'_>) -> bool {
    connect(endpoint, Duration::from_secs(1)).is_ok()
}

/// Whether the server at `endpoint` is Tor: a tor SocksPort answers an HTTP request with its
/// own "Tor is not an HTTP Proxy" page, which no other SOCKS server sends.
pub(crate) fn is_tor(endpoint: SocksEndpoint<'_>) -> io::Result<bool> {
    let mut s = connect(endpoint, Duration::from_secs(5))?;
    s.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
    let mut reply = Vec::new();
    let _ = s.take(4096).read_to_end(&mut reply);
    Ok(String::from_utf8_lossy(&reply).contains("Tor is not an HTTP Proxy"))
}

/// One SOCKS exchange of `command` for `target`, with the settings' credentials if any.
fn exchange(
    settings: &Settings,
    endpoint: SocksEndpoint<'_>,
    command: Command,
    target: &Target<'_>,
    wait: Duration,
) -> Result<Answer, Failure> {
    let creds = settings.credentials.as_ref().map(|c| Credentials {
        username: c.username.expose().as_bytes(),
        password: c.password.expose().as_bytes(),
    });
    let (answer, _) = exchange_with(endpoint, command, target, creds.as_ref(), wait)?;
    Ok(answer)
}

/// One SOCKS exchange on a new connection to `endpoint`; returns the answer and the
/// connection (after CONNECT, a stream to the destination, no byte of it read yet).
fn exchange_with(
    endpoint: SocksEndpoint<'_>,
    command: Command,
    target: &Target<'_>,
    creds: Option<&Credentials<'_>>,
    wait: Duration,
) -> Result<(Answer, Stream), Failure> {
    let hs = Handshake::new(command, target, creds).map_err(Failure::Socks)?;
    let mut s = connect(endpoint, wait).map_err(Failure::Io)?;
    // Reads stop at the end of the replies: what follows belongs to the destination.
    let answer = hs.drive(
        |io| {
            match io {
                Io::Send(bytes) => s.write_all(bytes).map(|()| bytes.len()),
                Io::Recv(window) => s.read(window),
            }
            .map_err(Failure::Io)
        },
        |ended| match ended {
            Ended::Closed => Failure::Io(io::ErrorKind::UnexpectedEof.into()),
            Ended::Refused(e) => Failure::Socks(e),
        },
    )?;
    Ok((answer, s))
}

/// How long Tor may take to build a circuit and reach a destination (an onion service takes
/// longest: descriptor, introduction, rendezvous).
const CONNECT_WAIT: Duration = Duration::from_secs(120);

/// Tor's CONNECT to `target`: a stream carried through Tor, ready for data.
pub(crate) fn connect_through(
    endpoint: SocksEndpoint<'_>,
    target: &Target<'_>,
    creds: Option<&Credentials<'_>>,
) -> Result<Stream, Failure> {
    let (_, stream) = exchange_with(endpoint, Command::Connect, target, creds, CONNECT_WAIT)?;
    stream.set_read_timeout(None).map_err(Failure::Io)?;
    Ok(stream)
}

/// How long a lookup through Tor may take (a new circuit, then the exit's resolver).
const LOOKUP_WAIT: Duration = Duration::from_secs(60);

/// Tor's RESOLVE: the address the exit's resolver gives for `name`.
pub(crate) fn resolve(
    settings: &Settings,
    endpoint: SocksEndpoint<'_>,
    name: &str,
) -> Result<IpAddr, Failure> {
    match exchange(
        settings,
        endpoint,
        Command::Resolve,
        &Target::Name(name, 0),
        LOOKUP_WAIT,
    )? {
        Answer::Address(ip) => Ok(ip),
        _ => Err(Failure::Socks(SocksError::UnexpectedAnswer)),
    }
}

/// What the timing of a pipelined request says about optimistic data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Optimistic {
    /// The request rode with the stream's BEGIN: its answer came with the CONNECT reply.
    Sent,
    /// Tor held the request until the stream was open: one more circuit round trip.
    NotSent,
    /// The round trip (this long) is too short to tell the two apart.
    TooFast(Duration),
}

/// Whether Tor sends a client's first bytes along with the stream request (optimistic data,
/// tor-spec "Opening streams and transferring data"; tor 0.4.8 and later do not on conflux
/// circuits, the default for exit streams). Timed, not asked: a CONNECT to `name`:80 with an
/// HTTP request written behind it in the same send, twice (the first builds the circuit). The
/// answer's first byte comes right after the CONNECT reply when the request rode along, one
/// circuit round trip after it otherwise.
pub(crate) fn optimistic_data(
    endpoint: SocksEndpoint<'_>,
    name: &str,
) -> Result<Optimistic, Failure> {
    let len = u8::try_from(name.len())
        .ok()
        .filter(|n| *n > 0)
        .ok_or(Failure::Socks(SocksError::InvalidName))?;
    let once = || -> Result<(Duration, Duration), Failure> {
        let mut s = connect(endpoint, CONNECT_WAIT).map_err(Failure::Io)?;
        // Greeting (no authentication) and CONNECT to a name (RFC 1928 §4), then the request.
        let mut bytes = vec![5, 1, 0, 5, 1, 0, 3, len];
        bytes.extend_from_slice(name.as_bytes());
        bytes.extend_from_slice(&80u16.to_be_bytes());
        bytes.extend_from_slice(format!("HEAD / HTTP/1.0\r\nHost: {name}\r\n\r\n").as_bytes());
        let start = std::time::Instant::now();
        s.write_all(&bytes).map_err(Failure::Io)?;
        let mut head = [0u8; 6];
        s.read_exact(&mut head).map_err(Failure::Io)?;
        if head[..2] != [5, 0] {
            return Err(Failure::Socks(SocksError::NoAcceptableMethod));
        }
        if head[3] != 0 {
            return Err(Failure::Socks(SocksError::Reply(ReplyCode::from_byte(
                head[3],
            ))));
        }
        let rest = match head[5] {
            1 => 4 + 2,
            4 => 16 + 2,
            other => return Err(Failure::Socks(SocksError::BadAddressType(other))),
        };
        let mut bound = [0u8; 18];
        s.read_exact(&mut bound[..rest]).map_err(Failure::Io)?;
        let reply = start.elapsed();
        let mut first = [0u8; 1];
        s.read_exact(&mut first).map_err(Failure::Io)?;
        Ok((reply, start.elapsed() - reply))
    };
    once()?;
    let (reply, then) = once()?;
    Ok(if reply < Duration::from_millis(30) {
        Optimistic::TooFast(reply)
    } else if then * 2 < reply {
        Optimistic::Sent
    } else {
        Optimistic::NotSent
    })
}

/// Tor's RESOLVE_PTR: the name the exit's resolver gives for `ip`.
pub(crate) fn resolve_ptr(
    settings: &Settings,
    endpoint: SocksEndpoint<'_>,
    ip: IpAddr,
) -> Result<String, Failure> {
    match exchange(
        settings,
        endpoint,
        Command::ResolvePtr,
        &Target::Addr(SocketAddr::new(ip, 0)),
        LOOKUP_WAIT,
    )? {
        Answer::Name(name) => Ok(name.as_str().to_owned()),
        _ => Err(Failure::Socks(SocksError::UnexpectedAnswer)),
    }
}
