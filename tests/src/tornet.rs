//! A private Tor network, offline, in network namespaces of its own (chutney's approach,
//! written out; see shared/TESTNET.md for the facts it rests on):
//!
//! - the Tor namespace, 127.0.0.1: 3 directory authorities, 4 relays that are exits and
//!   HSDirs, one client (SocksPort 127.0.0.1:9050 with IsolateSOCKSAuth and ExtendedErrors,
//!   ControlPort 127.0.0.1:9051), one onion service, and dnsmasq as the exits' resolver
//!   (every name under `.test` is the destination);
//! - the destination namespace, 198.51.100.7 and 2001:db8::7 (TEST-NET) behind a veth link:
//!   an HTTP server (a page and a git repository) and sshd with a throwaway host key; the
//!   onion service forwards its ports 22 and 80 there too.
//!
//! With [`Options::or_delay_ms`] set, every node's ORPort sits behind a [`DelayedPort`]: the
//! node advertises `ORPort 127.0.0.1:P NoListen` and binds `127.0.0.1:P+1000 NoAdvertise`, and
//! the forwarder on P delivers each chunk D ms late in each direction, so every OR connection
//! (client → guard, relay → relay, arti → guard) has a round trip of 2·D and a 3-hop circuit
//! one of 6·D. DirPorts stay direct (authorities' votes and relays' descriptor uploads use
//! them), which keeps the bootstrap short; clients still fetch directory documents over
//! their guard's ORPort (BEGIN_DIR), so a client's bootstrap is slowed too.
//!
//! Every process is started with PR_SET_PDEATHSIG: when the thread that started the network
//! ends (a test binary exiting, Ctrl-C) they all die with it.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use torify_core::socks5::{Command as SocksCommand, Handshake, Io as SocksIo, Target};

use crate::delay::DelayedPort;
use crate::netns::{self, REMOTE_V4, Remote};

/// The client's SocksPort.
pub const SOCKS_PORT: u16 = 9050;
/// The client's ControlPort.
pub const CONTROL_PORT: u16 = 9051;
/// The destination's name, resolved by the exits' dnsmasq.
pub const DEST_NAME: &str = "web.test";
/// The page the destination serves at `/`.
pub const PAGE: &str = "torify end-to-end: hello from the destination\n";
/// The path of a larger file the destination serves, for transfers with checksums.
pub const BLOB_PATH: &str = "/blob.bin";

/// The content of `BLOB_PATH`: 1.5 MiB that no compression or caching can fake (a xorshift
/// stream, the same on every run).
pub fn blob() -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..3 * 512 * 1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// The file in the git repository the destination serves at `/repo.git`.
pub const REPO_FILE: &str = "cloned through Tor\n";

const AUTHORITIES: usize = 3;
const RELAYS: usize = 4;
const VOTING: &str = "V3AuthVotingInterval 15\nV3AuthVoteDelay 2\nV3AuthDistDelay 2\nTestingV3AuthInitialVotingInterval 15\nTestingV3AuthInitialVoteDelay 2\nTestingV3AuthInitialDistDelay 2\n";

/// How the onion service and both clients agree on the HSDir ring (rend-spec-v3 2.2.1
/// [TIME-PERIODS], [HASHRING]):
/// - on a TestingTorNetwork, tor makes a time period one shared-random run long (24 votes) and
///   ignores the `hsdir_interval` parameter, while arti takes the parameter (at least 5
///   minutes); so the votes are 15 s apart (a 6-minute run) and the authorities vote
///   `hsdir_interval=6`;
/// - no shared-random protocol: tor uses whichever SRV is current, arti the one that was
///   current when the time period began. Without any SRV both use the same disaster SRV.
const HS_RING: &str = "AuthDirSharedRandomness 0\nConsensusParams hsdir_interval=6\n";

/// How long the network may take to carry streams to the destination and the onion service.
pub const READY_DEADLINE: Duration = Duration::from_secs(150);

/// How to build the network; the default is the plain loopback network the tests use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Milliseconds every OR connection adds in each direction (0: none, the ORPorts are
    /// bound directly).
    pub or_delay_ms: u64,
}

impl Options {
    /// The options from the environment: `TORNET_DELAY_MS` (default 0).
    pub fn from_env() -> Result<Options, String> {
        let or_delay_ms = match std::env::var("TORNET_DELAY_MS") {
            Ok(v) if !v.is_empty() => v
                .parse()
                .map_err(|_| format!("TORNET_DELAY_MS={v:?} is not a number of milliseconds"))?,
            _ => 0,
        };
        Ok(Options { or_delay_ms })
    }
}

/// How far above its advertised ORPort a node binds when a forwarder delays it.
const BEHIND_FORWARDER: u16 = 1000;

/// A running private Tor network.
pub struct TorNet {
    /// Its working directory (data directories, logs, keys, web root).
    pub dir: PathBuf,
    /// The onion service's address (`….onion`).
    pub onion: String,
    /// The private key ssh clients use (`ssh -i`).
    pub ssh_key: PathBuf,
    /// The user to log in as.
    pub ssh_user: String,
    /// How long it took from start to ready.
    pub ready_after: Duration,
    /// When each stage was reached, from the start: bootstrapped, exit path, onion path.
    pub phases: Vec<(&'static str, Duration)>,
    /// A torify.toml whose `[arti]` table joins this network (for `--backend arti`).
    pub arti_config: PathBuf,
    dir_authorities: String,
    ns: File,
    dest: Remote,
    children: Mutex<Vec<(String, Child)>>,
    options: Options,
    delays: Mutex<Vec<DelayedPort>>,
}

/// The torrc lines every node shares: a testing network of these authorities, logging to
/// `notice.log` in its data directory.
fn common_torrc(n: &Node, dir_authorities: &str) -> String {
    format!(
        "TestingTorNetwork 1\nDataDirectory {dir}\nNickname {nick}\nAddress 127.0.0.1\nPathsNeededToBuildCircuits 0.67\n\
         TestingDirAuthVoteExit *\nTestingDirAuthVoteGuard *\nTestingDirAuthVoteHSDir *\nV3AuthNIntervalsValid 2\n\
         TestingMinExitFlagThreshold 0\nAssumeReachable 1\nLog notice file {dir}/notice.log\nPidFile {dir}/pid\n\
         RunAsDaemon 0\nShutdownWaitLength 0\nSafeLogging 0\nProtocolWarnings 1\n{dir_authorities}",
        dir = n.dir.display(),
        nick = n.nick
    )
}

fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

struct Node {
    nick: String,
    dir: PathBuf,
    or_port: u16,
    dir_port: u16,
}

impl TorNet {
    /// Starts the network in a fresh network namespace entered by the calling thread, and
    /// waits until a stream reaches the destination through an exit and one reaches the onion
    /// service. The error carries the tail of every log.
    pub fn start(dir: &Path) -> Result<TorNet, String> {
        TorNet::start_with(dir, Options::default())
    }

    /// [`TorNet::start`] with `options` (latency on every OR connection).
    pub fn start_with(dir: &Path, options: Options) -> Result<TorNet, String> {
        let started = Instant::now();
        netns::unshare();
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let dest = Remote::link("tn0", "tn1");
        let mut net = TorNet {
            dir: dir.to_owned(),
            onion: String::new(),
            ssh_key: dir.join("ssh/id_ed25519"),
            ssh_user: whoami(),
            ready_after: Duration::ZERO,
            phases: Vec::new(),
            arti_config: dir.join("arti.toml"),
            dir_authorities: String::new(),
            ns: netns::current(),
            dest,
            children: Mutex::new(Vec::new()),
            options,
            delays: Mutex::new(Vec::new()),
        };
        let result = net.setup().and_then(|()| net.wait_ready(started));
        match result {
            Ok(()) => {
                net.ready_after = started.elapsed();
                Ok(net)
            }
            Err(e) => Err(format!("{e}\n{}", net.log_tails())),
        }
    }

    /// Moves the calling thread into the network's namespace (where 127.0.0.1:9050 is Tor).
    pub fn enter(&self) {
        netns::enter(&self.ns);
    }

    /// The client's SocksPort.
    pub fn socks(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], SOCKS_PORT))
    }

    /// The client's ControlPort.
    pub fn control(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], CONTROL_PORT))
    }

    /// ssh options that make a throwaway login work: this key, no host key prompts.
    pub fn ssh_options(&self) -> Vec<String> {
        vec![
            "-i".into(),
            self.ssh_key.display().to_string(),
            "-o".into(),
            "StrictHostKeyChecking=no".into(),
            "-o".into(),
            "UserKnownHostsFile=/dev/null".into(),
            "-o".into(),
            "BatchMode=yes".into(),
            "-o".into(),
            "LogLevel=ERROR".into(),
            "-o".into(),
            "ConnectTimeout=60".into(),
        ]
    }

    /// The environment a script gets (`tornet run`): TORNET_SOCKS, TORNET_CONTROL,
    /// TORNET_ONION, TORNET_DEST, TORNET_SSH_KEY, TORNET_SSH_USER, TORNET_DIR.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("TORNET_SOCKS", self.socks().to_string()),
            ("TORNET_CONTROL", self.control().to_string()),
            ("TORNET_ONION", self.onion.clone()),
            ("TORNET_DEST", DEST_NAME.to_owned()),
            ("TORNET_SSH_KEY", self.ssh_key.display().to_string()),
            ("TORNET_SSH_USER", self.ssh_user.clone()),
            ("TORNET_DIR", self.dir.display().to_string()),
            ("TORNET_ARTI_CONFIG", self.arti_config.display().to_string()),
            ("TORNET_DELAY_MS", self.options.or_delay_ms.to_string()),
        ]
    }

    fn spawn(&self, name: &str, cmd: &mut Command, ns: Option<&File>) -> Result<(), String> {
        let log = File::create(self.dir.join(format!("{name}.out"))).map_err(|e| e.to_string())?;
        let err = log.try_clone().map_err(|e| e.to_string())?;
        cmd.stdin(Stdio::null()).stdout(log).stderr(err);
        let child = netns::spawn_in(cmd, ns).map_err(|e| format!("cannot start {name}: {e}"))?;
        if let Ok(mut children) = self.children.lock() {
            children.push((name.to_owned(), child));
        }
        Ok(())
    }

    fn setup(&mut self) -> Result<(), String> {
        self.start_destination()?;
        self.start_dnsmasq()?;
        self.start_tor()
    }

    /// The HTTP server and sshd at 198.51.100.7.
    fn start_destination(&self) -> Result<(), String> {
        let web = self.dir.join("web");
        std::fs::create_dir_all(&web).map_err(|e| e.to_string())?;
        write(&web.join("index.html"), PAGE)?;
        std::fs::write(web.join(BLOB_PATH.trim_start_matches('/')), blob())
            .map_err(|e| format!("{}: {e}", web.display()))?;
        let work = self.dir.join("repo-work");
        std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
        write(&work.join("README"), REPO_FILE)?;
        let git = |args: &[&str], at: &Path| {
            run(Command::new("git")
                .args([
                    "-c",
                    "user.name=torify",
                    "-c",
                    "user.email=torify@test.test",
                    "-c",
                    "init.defaultBranch=main",
                ])
                .args(args)
                .current_dir(at))
        };
        git(&["init", "-q"], &work)?;
        git(&["add", "README"], &work)?;
        git(&["commit", "-q", "-m", "first"], &work)?;
        git(
            &[
                "clone",
                "-q",
                "--bare",
                work.to_str().unwrap_or_default(),
                "repo.git",
            ],
            &web,
        )?;
        git(&["update-server-info"], &web.join("repo.git"))?;

        let ssh = self.dir.join("ssh");
        std::fs::create_dir_all(&ssh).map_err(|e| e.to_string())?;
        for key in ["host_ed25519", "id_ed25519"] {
            run(Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(ssh.join(key)))?;
        }
        std::fs::copy(ssh.join("id_ed25519.pub"), ssh.join("authorized_keys"))
            .map_err(|e| e.to_string())?;
        // sshd insists on its privilege separation directory.
        let _ = std::fs::create_dir_all("/run/sshd");

        let ns = Some(self.dest.ns());
        self.spawn(
            "http",
            Command::new("python3")
                .args(["-m", "http.server", "80", "--bind", "::", "--directory"])
                .arg(&web),
            ns,
        )?;
        self.spawn(
            "sshd",
            Command::new("/usr/sbin/sshd")
                .args(["-D", "-e", "-f", "/dev/null", "-p", "22", "-h"])
                .arg(ssh.join("host_ed25519"))
                .arg("-o")
                .arg(format!(
                    "AuthorizedKeysFile={}",
                    ssh.join("authorized_keys").display()
                ))
                .args([
                    "-o",
                    "UsePAM=no",
                    "-o",
                    "StrictModes=no",
                    "-o",
                    "PidFile=none",
                    "-o",
                    "PasswordAuthentication=no",
                    "-o",
                    "PermitRootLogin=prohibit-password",
                ]),
            ns,
        )
    }

    /// dnsmasq on 127.0.0.1:53: every name under .test is the destination.
    fn start_dnsmasq(&self) -> Result<(), String> {
        write(&self.dir.join("resolv.conf"), "nameserver 127.0.0.1\n")?;
        self.spawn(
            "dnsmasq",
            Command::new("dnsmasq")
                .args([
                    "--keep-in-foreground",
                    "--no-resolv",
                    "--no-hosts",
                    "--bind-interfaces",
                    "--listen-address=127.0.0.1",
                    "--port=53",
                    // Staying root:root keeps PR_SET_PDEATHSIG: the kernel clears it when a
                    // process changes its uid or gid (dnsmasq's default group is "dip").
                    "--user=root",
                    "--group=root",
                    "--pid-file=",
                    "--log-queries",
                    "--log-facility=-",
                ])
                .arg(format!("--address=/test/{REMOTE_V4}"))
                .arg(format!(
                    "--ptr-record=7.100.51.198.in-addr.arpa,{DEST_NAME}"
                )),
            None,
        )
    }

    fn start_tor(&mut self) -> Result<(), String> {
        let node = |nick: String, i: u16| Node {
            dir: self.dir.join(&nick),
            nick,
            or_port: 5100 + i,
            dir_port: 7100 + i,
        };
        let auths: Vec<Node> = (0..AUTHORITIES)
            .map(|i| node(format!("auth{i}"), i as u16))
            .collect();
        let relays: Vec<Node> = (0..RELAYS)
            .map(|i| node(format!("relay{i}"), 10 + i as u16))
            .collect();
        let mut dir_authorities = String::new();
        let mut arti_authorities = Vec::new();
        let mut arti_fallbacks = Vec::new();
        for a in &auths {
            let keys = a.dir.join("keys");
            std::fs::create_dir_all(&keys).map_err(|e| e.to_string())?;
            let mut gencert = Command::new("tor-gencert");
            gencert
                .args([
                    "--create-identity-key",
                    "-m",
                    "12",
                    "-a",
                    &format!("127.0.0.1:{}", a.dir_port),
                ])
                .args([
                    "-i",
                    "authority_identity_key",
                    "-s",
                    "authority_signing_key",
                    "-c",
                    "authority_certificate",
                ])
                .args(["--passphrase-fd", "0"])
                .current_dir(&keys)
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            let mut child = gencert.spawn().map_err(|e| format!("tor-gencert: {e}"))?;
            if let Some(mut stdin) = child.stdin.take() {
                let _ = stdin.write_all(b"\n");
            }
            let out = child.wait_with_output().map_err(|e| e.to_string())?;
            if !out.status.success() {
                return Err(format!(
                    "tor-gencert failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            let cert = std::fs::read_to_string(keys.join("authority_certificate"))
                .map_err(|e| e.to_string())?;
            let v3ident = cert
                .lines()
                .find_map(|l| l.strip_prefix("fingerprint "))
                .ok_or("no fingerprint in the authority certificate")?
                .trim()
                .to_owned();
            let fingerprint = self.fingerprint(a)?;
            arti_authorities.push(format!(
                "{{ v3ident = \"{v3ident}\", address = \"127.0.0.1:{}\" }}",
                a.dir_port
            ));
            arti_fallbacks.push(self.arti_fallback(a, &fingerprint)?);
            let _ = writeln!(
                dir_authorities,
                "DirAuthority {} orport={} no-v2 v3ident={v3ident} 127.0.0.1:{} {fingerprint}",
                a.nick, a.or_port, a.dir_port
            );
        }
        self.dir_authorities = dir_authorities;
        let or_ports: Vec<String> = auths
            .iter()
            .chain(&relays)
            .map(|n| self.or_port_lines(n))
            .collect::<Result<_, _>>()?;
        let (auth_or_ports, relay_or_ports) = or_ports.split_at(AUTHORITIES);
        let common = |n: &Node| common_torrc(n, &self.dir_authorities);
        for (a, or_port) in auths.iter().zip(auth_or_ports) {
            let torrc = format!(
                "{}SocksPort 0\n{or_port}DirPort {}\nAuthoritativeDirectory 1\nV3AuthoritativeDirectory 1\nContactInfo auth@test.test\nExitPolicy reject *:*\n{VOTING}{HS_RING}",
                common(a),
                a.dir_port
            );
            self.start_node(a, &torrc)?;
        }
        for (r, or_port) in relays.iter().zip(relay_or_ports) {
            std::fs::create_dir_all(&r.dir).map_err(|e| e.to_string())?;
            let fingerprint = self.fingerprint(r)?;
            arti_fallbacks.push(self.arti_fallback(r, &fingerprint)?);
            let torrc = format!(
                "{}SocksPort 0\n{or_port}DirPort {}\nContactInfo relay@test.test\nFetchDirInfoEarly 1\nFetchDirInfoExtraEarly 1\nExitRelay 1\nIPv6Exit 1\nExitPolicy accept *:*\nExitPolicyRejectPrivate 0\n\
                 ServerDNSResolvConfFile {}\nServerDNSDetectHijacking 0\nServerDNSTestAddresses\nServerDNSAllowNonRFC953Hostnames 1\n",
                common(r),
                r.dir_port,
                self.dir.join("resolv.conf").display()
            );
            self.start_node(r, &torrc)?;
        }
        write(
            &self.arti_config,
            &format!(
                "# Joins the private network of {dir} with the embedded client.\n[arti]\nstate_dir = \"{dir}/arti/state\"\ncache_dir = \"{dir}/arti/cache\"\nbootstrap_timeout = 120\n\n[arti.network]\nauthorities = [{}]\nfallbacks = [\n  {},\n]\nallow_local_addrs = true\nipv4_subnet_family_prefix = 33\nipv6_subnet_family_prefix = 129\n",
                arti_authorities.join(", "),
                arti_fallbacks.join(",\n  "),
                dir = self.dir.display()
            ),
        )?;
        let client = node("client".into(), 20);
        std::fs::create_dir_all(&client.dir).map_err(|e| e.to_string())?;
        let torrc = format!(
            "{}SocksPort 127.0.0.1:{SOCKS_PORT} IsolateSOCKSAuth ExtendedErrors\nControlPort 127.0.0.1:{CONTROL_PORT}\nCookieAuthentication 0\n",
            common(&client)
        );
        self.start_node(&client, &torrc)?;
        Ok(())
    }

    /// A node's ORPort lines. Without a delay, `ORPort P`; with one, P is advertised and
    /// served by a forwarder that delays every chunk, and the node binds P+1000 behind it.
    fn or_port_lines(&self, n: &Node) -> Result<String, String> {
        if self.options.or_delay_ms == 0 {
            return Ok(format!("ORPort {}\n", n.or_port));
        }
        let behind = n.or_port + BEHIND_FORWARDER;
        let port = DelayedPort::start(
            SocketAddr::from(([127, 0, 0, 1], n.or_port)),
            SocketAddr::from(([127, 0, 0, 1], behind)),
            Duration::from_millis(self.options.or_delay_ms),
        )
        .map_err(|e| format!("the delaying forwarder on port {}: {e}", n.or_port))?;
        if let Ok(mut delays) = self.delays.lock() {
            delays.push(port);
        }
        Ok(format!(
            "ORPort 127.0.0.1:{} NoListen\nORPort 127.0.0.1:{behind} NoAdvertise\n",
            n.or_port
        ))
    }

    /// The onion service, started once the client's consensus lists every relay: a service
    /// that starts on an early consensus of one or two relays picks its vanguards-lite layer-2
    /// nodes from those, fails every introduction circuit, and exhausts its retry budget for
    /// minutes.
    fn start_onion_service(&mut self) -> Result<(), String> {
        let hs = Node {
            nick: "onion".into(),
            dir: self.dir.join("onion"),
            or_port: 5121,
            dir_port: 7121,
        };
        let hs_dir = hs.dir.join("hs");
        std::fs::create_dir_all(&hs_dir).map_err(|e| e.to_string())?;
        set_mode(&hs_dir, 0o700)?;
        let torrc = format!(
            "{}SocksPort 0\nHiddenServiceDir {}\nHiddenServicePort 22 {REMOTE_V4}:22\nHiddenServicePort 80 {REMOTE_V4}:80\n",
            common_torrc(&hs, &self.dir_authorities),
            hs_dir.display()
        );
        self.start_node(&hs, &torrc)?;
        let hostname = hs_dir.join("hostname");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !hostname.exists() {
            if Instant::now() > deadline {
                return Err("the onion service wrote no hostname file".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.onion = std::fs::read_to_string(&hostname)
            .map_err(|e| e.to_string())?
            .trim()
            .to_owned();
        Ok(())
    }

    /// Starts one more tor client, cold (an empty data directory `name`), with its SocksPort
    /// at 127.0.0.1:`socks_port`; it stops with the network. For measuring bootstrap.
    pub fn start_client(&self, name: &str, socks_port: u16) -> Result<(), String> {
        let n = Node {
            nick: name.to_owned(),
            dir: self.dir.join(name),
            or_port: 0,
            dir_port: 0,
        };
        let _ = std::fs::remove_dir_all(&n.dir);
        self.start_node(&n, &self.client_torrc(name, &n.dir, socks_port))
    }

    /// The torrc of one more client of this network named `name`, keeping its state, log and
    /// pid file in `data_dir` (as its tor will see that path), with its SocksPort at
    /// 127.0.0.1:`socks_port`: for a tor a test starts itself.
    pub fn client_torrc(&self, name: &str, data_dir: &Path, socks_port: u16) -> String {
        let n = Node {
            nick: name.to_owned(),
            dir: data_dir.to_owned(),
            or_port: 0,
            dir_port: 0,
        };
        format!(
            "{}SocksPort 127.0.0.1:{socks_port}\n",
            common_torrc(&n, &self.dir_authorities)
        )
    }

    /// An arti configuration for this network whose state and cache are `dir` (a fresh one
    /// makes a cold start).
    pub fn arti_config_at(&self, dir: &Path) -> Result<PathBuf, String> {
        let text = std::fs::read_to_string(&self.arti_config).map_err(|e| e.to_string())?;
        let base = self.dir.join("arti");
        let text = text.replace(&base.display().to_string(), &dir.display().to_string());
        let path = dir.with_extension("toml");
        write(&path, &text)?;
        Ok(path)
    }

    /// The fewest relays listed by the consensus of the client or of any exit (an exit refuses
    /// streams that reach it through a relay missing from its own consensus: "open a stream
    /// from unknown relay", END reason MISC).
    fn relays_in_consensus(&self) -> usize {
        let count = |file: PathBuf| {
            std::fs::read_to_string(file)
                .unwrap_or_default()
                .lines()
                .filter(|l| l.starts_with("r "))
                .count()
        };
        (0..RELAYS)
            .map(|i| count(self.dir.join(format!("relay{i}/cached-consensus"))))
            .chain([count(self.dir.join("client/cached-microdesc-consensus"))])
            .min()
            .unwrap_or(0)
    }

    /// The relay fingerprint of a node, creating its identity key.
    fn fingerprint(&self, n: &Node) -> Result<String, String> {
        run(Command::new("tor")
            .args(["--list-fingerprint", "--DataDirectory"])
            .arg(&n.dir)
            .args([
                "--ORPort",
                &n.or_port.to_string(),
                "--Nickname",
                &n.nick,
                "--Address",
                "127.0.0.1",
            ])
            .args(["-f", "/dev/null", "--ignore-missing-torrc"]))?;
        let text = std::fs::read_to_string(n.dir.join("fingerprint")).map_err(|e| e.to_string())?;
        text.split_whitespace()
            .nth(1)
            .map(str::to_owned)
            .ok_or_else(|| format!("no fingerprint for {}", n.nick))
    }

    /// A `fallbacks` entry for node `n` of the arti configuration.
    fn arti_fallback(&self, n: &Node, fingerprint: &str) -> Result<String, String> {
        let ed = std::fs::read_to_string(n.dir.join("fingerprint-ed25519"))
            .map_err(|e| e.to_string())?;
        let ed = ed
            .split_whitespace()
            .nth(1)
            .ok_or("no ed25519 fingerprint")?;
        Ok(format!(
            "{{ rsa_identity = \"{fingerprint}\", ed_identity = \"{ed}\", orports = [\"127.0.0.1:{}\"] }}",
            n.or_port
        ))
    }

    fn start_node(&self, n: &Node, torrc: &str) -> Result<(), String> {
        std::fs::create_dir_all(&n.dir).map_err(|e| e.to_string())?;
        set_mode(&n.dir, 0o700)?;
        let path = n.dir.join("torrc");
        write(&path, torrc)?;
        self.spawn(&n.nick, Command::new("tor").arg("-f").arg(&path), None)
    }

    /// Waits for the client to bootstrap, then until a stream reaches the destination by name
    /// through an exit and one reaches the onion service.
    fn wait_ready(&mut self, started: Instant) -> Result<(), String> {
        let deadline = started + READY_DEADLINE;
        let log = self.dir.join("client/notice.log");
        loop {
            self.check_alive()?;
            if std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("Bootstrapped 100%")
            {
                self.phases.push(("client bootstrapped", started.elapsed()));
                break;
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the tor client did not bootstrap within {}s",
                    READY_DEADLINE.as_secs()
                ));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        while self.relays_in_consensus() < AUTHORITIES + RELAYS {
            self.check_alive()?;
            if Instant::now() > deadline {
                return Err(format!(
                    "some node's consensus listed only {} of {} relays after {}s",
                    self.relays_in_consensus(),
                    AUTHORITIES + RELAYS,
                    READY_DEADLINE.as_secs()
                ));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        self.phases
            .push(("every relay in every consensus", started.elapsed()));
        self.start_onion_service()?;
        let onion = self.onion.clone();
        for (host, what) in [
            (DEST_NAME, "the destination through an exit"),
            (onion.as_str(), "the onion service"),
        ] {
            loop {
                self.check_alive()?;
                match http_get_via_socks(self.socks(), host, 80) {
                    Ok(body) if body.contains(PAGE.trim()) => {
                        self.phases.push((what, started.elapsed()));
                        break;
                    }
                    Ok(body) => return Err(format!("{what} answered something else: {body:?}")),
                    Err(e) if Instant::now() > deadline => {
                        return Err(format!(
                            "no stream reached {what} within {}s: {e}",
                            READY_DEADLINE.as_secs()
                        ));
                    }
                    Err(_) => std::thread::sleep(Duration::from_secs(1)),
                }
            }
        }
        Ok(())
    }

    fn check_alive(&self) -> Result<(), String> {
        let Ok(mut children) = self.children.lock() else {
            return Ok(());
        };
        for (name, child) in children.iter_mut() {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("{name} exited ({status})"));
            }
        }
        Ok(())
    }

    /// The last lines of every log, for a failure message.
    pub fn log_tails(&self) -> String {
        let mut out = String::new();
        let mut logs: Vec<PathBuf> = Vec::new();
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for e in entries.flatten() {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "out") {
                    logs.push(p);
                } else if p.join("notice.log").exists() {
                    logs.push(p.join("notice.log"));
                }
            }
        }
        logs.sort();
        for log in logs {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let _ = writeln!(out, "==> {} <==", log.display());
            for l in &lines[lines.len().saturating_sub(8)..] {
                let _ = writeln!(out, "{l}");
            }
        }
        out
    }

    /// Stops every process.
    pub fn stop(&self) {
        if let Ok(mut children) = self.children.lock() {
            for (_, child) in children.iter_mut() {
                let _ = child.kill();
                let _ = child.wait();
            }
            children.clear();
        }
        if let Ok(mut delays) = self.delays.lock() {
            delays.clear();
        }
    }
}

impl Drop for TorNet {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Removes working directories named `PREFIX<pid>` in the temporary directory whose process is
/// gone (left behind by a run that was killed).
pub fn remove_stale_dirs(prefix: &str) {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name.strip_prefix(prefix)
            && pid.parse::<u32>().is_ok()
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

fn set_mode(path: &Path, mode: u32) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|e| e.to_string())
}

fn whoami() -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(|| {
            run(Command::new("id").arg("-un"))
                .ok()
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_else(|| "root".to_owned())
}

/// GET / from `host:port` through the SOCKS port (our own codec, without the preload library):
/// the readiness probe of the network.
pub fn http_get_via_socks(socks: SocketAddr, host: &str, port: u16) -> Result<String, String> {
    let mut s =
        TcpStream::connect_timeout(&socks, Duration::from_secs(5)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| e.to_string())?;
    let hs = Handshake::new(SocksCommand::Connect, &Target::Name(host, port), None)
        .map_err(|e| e.to_string())?;
    hs.drive(
        |io| {
            match io {
                SocksIo::Send(bytes) => s.write_all(bytes).map(|()| bytes.len()),
                SocksIo::Recv(window) => s.read(window),
            }
            .map_err(|e| e.to_string())
        },
        |ended| format!("SOCKS handshake: {ended:?}"),
    )?;
    s.write_all(format!("GET / HTTP/1.0\r\nHost: {host}\r\n\r\n").as_bytes())
        .map_err(|e| e.to_string())?;
    let mut body = String::new();
    s.read_to_string(&mut body).map_err(|e| e.to_string())?;
    Ok(body)
}
