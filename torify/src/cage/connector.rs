//! How the cage reaches Tor: a SOCKS port (the tor daemon's SocksPort, or the unix socket of
//! the embedded client's service), with a SOCKS5 handshake of our own codec per stream and
//! credentials as the isolation key.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::pin::Pin;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixStream};
use torify_conf::SocksEndpoint;
use torify_core::socks5::{
    Answer, Command, Credentials, Handshake, MAX_REPLIES, Progress, SocksError, Target,
};
use zeroize::Zeroizing;

/// A byte stream to Tor (or, for allow.direct, to the destination).
pub(crate) trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// A boxed [`Stream`].
pub(crate) type BoxedStream = Pin<Box<dyn Stream>>;

/// Where a flow goes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Dest {
    /// A name (from the cage's resolver): the exit resolves it.
    Name(String, u16),
    /// An address.
    Addr(SocketAddr),
}

impl std::fmt::Display for Dest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dest::Name(n, p) => write!(f, "{n}:{p}"),
            Dest::Addr(a) => write!(f, "{a}"),
        }
    }
}

/// The circuit-sharing key of a flow: nothing (share with anything), a key of our own, or the
/// user's explicit credentials. It holds no secret: those stay in the settings (and the cage's
/// own secret in [`Tor`]), wiped when dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Key {
    /// No isolation.
    Shared,
    /// Flows of one key share circuits, of different keys never.
    Own(u64),
    /// The credentials of tor.username/tor.password.
    Explicit,
}

/// Tor's SOCKS port, owned.
#[derive(Clone, Debug)]
pub(crate) enum Endpoint {
    /// A TCP SocksPort.
    Inet(SocketAddr),
    /// A unix-socket SocksPort.
    Unix(PathBuf),
}

impl Endpoint {
    /// From the settings' endpoint.
    pub(crate) fn of(e: SocksEndpoint<'_>) -> Self {
        match e {
            SocksEndpoint::Inet(a) => Endpoint::Inet(a),
            SocksEndpoint::Unix(p) => Endpoint::Unix(p.to_owned()),
        }
    }

    async fn open(&self) -> io::Result<BoxedStream> {
        Ok(match self {
            Endpoint::Inet(a) => {
                let s = TcpStream::connect(a).await?;
                s.set_nodelay(true)?;
                Box::pin(s)
            }
            Endpoint::Unix(p) => Box::pin(UnixStream::connect(p).await?),
        })
    }
}

/// The Tor the cage uses: a SOCKS port.
#[derive(Clone)]
pub(crate) struct Tor {
    /// The tor daemon's SocksPort or the service's socket.
    pub(crate) endpoint: Endpoint,
    /// This cage's random secret, part of every key's credentials.
    pub(crate) secret: Zeroizing<String>,
}

fn socks_failure(e: SocksError) -> io::Error {
    io::Error::other(e.to_string())
}

/// Runs one SOCKS exchange on `s`: sends the flight, reads the replies, no further.
async fn exchange(s: &mut BoxedStream, hs: &Handshake) -> io::Result<Answer> {
    s.write_all(hs.flight()).await?;
    let mut buf = [0u8; MAX_REPLIES];
    let mut have = 0;
    loop {
        match hs.progress(&buf[..have]).map_err(socks_failure)? {
            Progress::Need(n) => {
                let got = s.read(&mut buf[have..n]).await?;
                if got == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "Tor's SOCKS port closed the connection during the handshake",
                    ));
                }
                have += got;
            }
            Progress::Done(answer, _) => return Ok(answer),
        }
    }
}

impl Tor {
    /// Opens a stream to `dest` with the circuits of `key`; `explicit` are the settings'
    /// credentials, which [`Key::Explicit`] stands for.
    pub(crate) async fn connect(
        &self,
        dest: &Dest,
        key: Key,
        explicit: Option<&torify_conf::Credentials>,
    ) -> io::Result<BoxedStream> {
        let own;
        let creds = match (key, explicit) {
            (Key::Shared, _) | (Key::Explicit, None) => None,
            (Key::Own(k), _) => {
                own = Zeroizing::new(format!("{}-{k}", self.secret.as_str()));
                Some(Credentials {
                    username: b"torify-cage",
                    password: own.as_bytes(),
                })
            }
            (Key::Explicit, Some(c)) => Some(Credentials {
                username: c.username.expose().as_bytes(),
                password: c.password.expose().as_bytes(),
            }),
        };
        let target = match dest {
            Dest::Name(n, p) => Target::Name(n, *p),
            Dest::Addr(a) => Target::Addr(*a),
        };
        let hs =
            Handshake::new(Command::Connect, &target, creds.as_ref()).map_err(socks_failure)?;
        let mut s = self.endpoint.open().await?;
        exchange(&mut s, &hs).await?;
        Ok(s)
    }

    /// The name Tor gives `ip` (RESOLVE_PTR), if any.
    pub(crate) async fn resolve_ptr(&self, ip: IpAddr) -> Option<String> {
        let target = Target::Addr(SocketAddr::new(ip, 0));
        let hs = Handshake::new(Command::ResolvePtr, &target, None).ok()?;
        let mut s = self.endpoint.open().await.ok()?;
        match exchange(&mut s, &hs).await.ok()? {
            Answer::Name(n) => Some(n.as_str().to_owned()),
            Answer::Connected | Answer::Address(_) => None,
        }
    }

    /// Serves the cage's own SOCKS port (for the library inside): each connection relayed to
    /// Tor's SOCKS port as it is.
    pub(crate) async fn serve_socks(self, listener: TcpListener) {
        loop {
            let Ok((mut inner, _)) = listener.accept().await else {
                continue;
            };
            let endpoint = self.endpoint.clone();
            tokio::spawn(async move {
                if let Ok(mut outer) = endpoint.open().await {
                    let _ = tokio::io::copy_bidirectional_with_sizes(
                        &mut inner,
                        &mut outer,
                        1 << 16,
                        1 << 16,
                    )
                    .await;
                }
            });
        }
    }
}

/// A direct TCP connection (a destination of allow.direct), outside Tor.
pub(crate) async fn direct(to: SocketAddr) -> io::Result<BoxedStream> {
    Ok(Box::pin(TcpStream::connect(to).await?))
}
