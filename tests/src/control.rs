//! A minimal client for tor's control protocol (control-spec): enough to ask which circuits
//! exist and which circuit each stream used.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A circuit of `GETINFO circuit-status`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Circuit {
    /// Its id.
    pub id: String,
    /// BUILT, EXTENDED, …
    pub status: String,
    /// The relays, as `$FINGERPRINT~nick`.
    pub path: Vec<String>,
    /// The SOCKS username of the streams it serves (its isolation key), if any.
    pub socks_username: Option<String>,
    /// The conflux set this circuit is a leg of (tor ≥ 0.4.8's CONFLUX_ID), if any: a stream
    /// of a set may be reported on either leg.
    pub conflux_id: Option<String>,
}

/// A stream of `GETINFO stream-status`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stream {
    /// Its id.
    pub id: String,
    /// SUCCEEDED, …
    pub status: String,
    /// The circuit carrying it.
    pub circuit: String,
    /// Where it goes (`host:port`).
    pub target: String,
}

/// A stream tor reported, with the SOCKS credentials tor isolates it by (IsolateSOCKSAuth).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeenStream {
    /// The circuit it ran on.
    pub circuit: String,
    /// Its SOCKS username, if it had one.
    pub username: Option<String>,
    /// Its SOCKS password, if it had one.
    pub password: Option<String>,
}

/// A connection to a ControlPort.
pub struct Control {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    /// Every asynchronous event line read so far, for failure messages.
    pub events: Vec<String>,
}

impl Control {
    /// Connects and authenticates (the test network's client uses no authentication).
    pub fn connect(addr: SocketAddr) -> io::Result<Control> {
        let writer = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        writer.set_read_timeout(Some(Duration::from_secs(30)))?;
        let reader = BufReader::new(writer.try_clone()?);
        let mut c = Control {
            reader,
            writer,
            events: Vec::new(),
        };
        c.command("AUTHENTICATE")?;
        Ok(c)
    }

    /// Sends one command; returns the reply lines (without status codes) or the error line.
    pub fn command(&mut self, line: &str) -> io::Result<Vec<String>> {
        self.writer.write_all(format!("{line}\r\n").as_bytes())?;
        let mut out = Vec::new();
        loop {
            let mut l = String::new();
            if self.reader.read_line(&mut l)? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "control port closed",
                ));
            }
            let l = l.trim_end().to_owned();
            // Events arrive between replies when some are asked for (control-spec 4.1).
            if l.starts_with("650") {
                self.events.push(l);
                continue;
            }
            let (code, sep, rest) = (
                l.get(..3).unwrap_or(""),
                l.get(3..4).unwrap_or(" "),
                l.get(4..).unwrap_or(""),
            );
            if !code.starts_with('2') {
                return Err(io::Error::other(format!("{line}: {l}")));
            }
            match sep {
                "+" => {
                    out.push(rest.to_owned());
                    loop {
                        let mut data = String::new();
                        self.reader.read_line(&mut data)?;
                        let data = data.trim_end().to_owned();
                        if data == "." {
                            break;
                        }
                        out.push(data);
                    }
                }
                "-" => out.push(rest.to_owned()),
                _ => {
                    if rest != "OK" {
                        out.push(rest.to_owned());
                    }
                    return Ok(out);
                }
            }
        }
    }

    /// Asks for STREAM events; [`Control::stream_circuits`] collects them.
    pub fn watch_streams(&mut self) -> io::Result<()> {
        self.command("SETEVENTS STREAM").map(|_| ())
    }

    /// Reads STREAM events until a stream for every one of `hosts` was seen on a circuit (a
    /// CONNECT that SUCCEEDED, or a RESOLVE that was SENT: programs resolve through Tor and
    /// then connect by address) or `within` passed; returns the last stream seen for each, in
    /// order (`None` if not seen).
    pub fn stream_circuits(
        &mut self,
        hosts: &[&str],
        within: Duration,
    ) -> io::Result<Vec<Option<SeenStream>>> {
        let deadline = std::time::Instant::now() + within;
        let mut found: Vec<Option<SeenStream>> = vec![None; hosts.len()];
        self.writer
            .set_read_timeout(Some(Duration::from_millis(200)))?;
        while found.iter().any(Option::is_none) && std::time::Instant::now() < deadline {
            let mut line = String::new();
            match self.reader.read_line(&mut line) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    continue;
                }
                Err(e) => return Err(e),
            }
            self.events.push(line.trim_end().to_owned());
            // 650 STREAM <id> <status> <circuit> <host:port> [KEY=VALUE…] (control-spec 4.1.2).
            // SENTCONNECT still names the host when the exit resolves it (dns.mode = exit):
            // by SUCCEEDED tor shows the address the exit answered.
            let w: Vec<&str> = line.split_whitespace().collect();
            if w.len() >= 6
                && w[1] == "STREAM"
                && matches!(w[3], "SUCCEEDED" | "SENTRESOLVE" | "SENTCONNECT")
            {
                let host = w[5]
                    .rsplit_once(':')
                    .map_or(w[5], |(h, _)| h)
                    .to_ascii_lowercase();
                if let Some(i) = hosts.iter().position(|h| *h == host) {
                    let field = |key: &str| {
                        w[6..].iter().find_map(|f| {
                            f.strip_prefix(key).map(|v| v.trim_matches('"').to_owned())
                        })
                    };
                    found[i] = Some(SeenStream {
                        circuit: w[4].to_owned(),
                        username: field("SOCKS_USERNAME="),
                        password: field("SOCKS_PASSWORD="),
                    });
                }
            }
        }
        self.writer
            .set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(found)
    }

    /// `GETINFO circuit-status`.
    pub fn circuits(&mut self) -> io::Result<Vec<Circuit>> {
        let lines = self.command("GETINFO circuit-status")?;
        Ok(lines
            .iter()
            .filter(|l| !l.starts_with("circuit-status="))
            .filter_map(|l| {
                let mut words = l.split(' ');
                let id = words.next()?.to_owned();
                let status = words.next()?.to_owned();
                let mut path = Vec::new();
                let mut socks_username = None;
                let mut conflux_id = None;
                for w in words {
                    if let Some(u) = w.strip_prefix("SOCKS_USERNAME=") {
                        socks_username = Some(u.trim_matches('"').to_owned());
                    } else if let Some(c) = w.strip_prefix("CONFLUX_ID=") {
                        conflux_id = Some(c.to_owned());
                    } else if w.starts_with('$') {
                        path = w.split(',').map(str::to_owned).collect();
                    }
                }
                Some(Circuit {
                    id,
                    status,
                    path,
                    socks_username,
                    conflux_id,
                })
            })
            .collect())
    }

    /// `GETINFO stream-status`.
    pub fn streams(&mut self) -> io::Result<Vec<Stream>> {
        let lines = self.command("GETINFO stream-status")?;
        Ok(lines
            .iter()
            .map(|l| l.trim_start_matches("stream-status="))
            .filter_map(|l| {
                let mut w = l.split(' ');
                Some(Stream {
                    id: w.next()?.to_owned(),
                    status: w.next()?.to_owned(),
                    circuit: w.next()?.to_owned(),
                    target: w.next()?.to_owned(),
                })
            })
            .collect())
    }
}
