//! Finding the file, merging the sources in order, and checking the result as a whole.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{ConfError, Origin};
use crate::keys::{Key, Value};
use crate::layer::Layer;
use crate::model::{Credentials, Isolation, Settings};
use crate::raw::Raw;
use crate::source;

/// System-wide files, tried in this order when no file is named.
pub const SYSTEM_FILES: [&str; 2] = ["/etc/torify/torify.toml", "/etc/tor/torsocks.conf"];

/// Variables that name a configuration file, tried in this order.
pub const FILE_VARIABLES: [&str; 2] = ["TORIFY_CONF_FILE", "TORSOCKS_CONF_FILE"];

/// The variable through which the launcher hands the session's isolation token to every
/// process it starts (32 hex digits), and a process that made its own passes it to its
/// children.
pub const SESSION_VARIABLE: &str = "TORIFY_SESSION";

/// A value given on the launcher's command line.
#[derive(Clone, Debug)]
pub struct FlagValue {
    /// The setting.
    pub key: Key,
    /// The value as typed.
    pub value: String,
    /// The flag, for messages (`-P`).
    pub flag: &'static str,
}

/// Everything settings may come from.
pub struct Sources<'a> {
    /// Environment lookup.
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// The process is secure-exec (`AT_SECURE`): ignore the environment, and files it names.
    pub secure: bool,
    /// A file named on the command line (`-c`); it must exist.
    pub config_flag: Option<&'a Path>,
    /// Values from launcher flags.
    pub flags: &'a [FlagValue],
    /// System-wide files to try when no file is named ([`SYSTEM_FILES`] outside tests).
    pub system_files: &'a [&'a str],
}

/// The effective settings and where each came from.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The settings.
    pub settings: Settings,
    /// The file that was read, if any.
    pub file: Option<PathBuf>,
    /// Where each setting that is not a default came from.
    pub origins: BTreeMap<Key, Origin>,
    /// Things worth saying that are not errors (a later source overriding isolation).
    pub notes: Vec<String>,
}

impl Loaded {
    /// Where `key`'s value came from.
    pub fn origin(&self, key: Key) -> &Origin {
        self.origins.get(&key).unwrap_or(&Origin::Default)
    }
}

/// Which file to read: the first one named (which must then exist) or the first that exists.
/// The origin says who named it, for the error when it cannot be read.
fn choose_file(src: &Sources<'_>) -> Option<(PathBuf, Origin, bool)> {
    if let Some(path) = src.config_flag {
        return Some((path.to_owned(), Origin::Flag("-c"), true));
    }
    if !src.secure {
        for var in FILE_VARIABLES {
            if let Some(path) = (src.env)(var).filter(|p| !p.is_empty()) {
                return Some((PathBuf::from(path), Origin::Env(var), true));
            }
        }
        let user_dir = (src.env)("XDG_CONFIG_HOME")
            .filter(|d| d.starts_with('/'))
            .map(PathBuf::from)
            .or_else(|| {
                (src.env)("HOME")
                    .filter(|d| d.starts_with('/'))
                    .map(|h| Path::new(&h).join(".config"))
            });
        if let Some(dir) = user_dir {
            let path = dir.join("torify/torify.toml");
            if path.exists() {
                return Some((path, Origin::Default, false));
            }
        }
    }
    src.system_files
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .map(|p| (p, Origin::Default, false))
}

/// The largest settings file read: a real one is a few kilobytes.
pub(crate) const MAX_FILE_BYTES: u64 = 1 << 20;

/// Why a settings file could not be read: it is not there or not readable, or it is no
/// settings file at all.
enum Unread {
    Io(String),
    NotSettings(String),
}

/// The text of a settings file: only a regular file, and only up to [`MAX_FILE_BYTES`] (a
/// device such as /dev/zero or a FIFO named by mistake would be read without end).
fn read_text(path: &Path) -> Result<String, Unread> {
    use std::io::Read;
    let unreadable =
        |e: std::io::Error| Unread::Io(format!("cannot read the configuration file: {e}"));
    let not_a_file = || {
        Unread::NotSettings(
            "the configuration file is not a regular file (a directory, a device or a FIFO)"
                .to_owned(),
        )
    };
    // Looked at before opening: opening a FIFO would wait for a writer.
    if !std::fs::metadata(path).map_err(unreadable)?.is_file() {
        return Err(not_a_file());
    }
    let file = std::fs::File::open(path).map_err(unreadable)?;
    let meta = file.metadata().map_err(unreadable)?;
    if !meta.is_file() {
        return Err(not_a_file());
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(Unread::NotSettings(format!(
            "the configuration file is {} bytes, more than a settings file can be ({MAX_FILE_BYTES})",
            meta.len()
        )));
    }
    // Sized from the file: `Take` hides the length, and reading up from nothing took nine
    // system calls for torsocks.conf.
    let mut text = String::with_capacity(usize::try_from(meta.len()).unwrap_or(0) + 1);
    file.take(MAX_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(unreadable)?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(Unread::NotSettings(format!(
            "the configuration file grew past {MAX_FILE_BYTES} bytes while it was read"
        )));
    }
    Ok(text)
}

/// Reads and checks one file: TOML when the name ends in `.toml`, torsocks.conf otherwise.
fn read_file(path: &Path, named_by: &Origin) -> Result<Layer, ConfError> {
    let text = read_text(path).map_err(|unread| {
        let (problem, fix) = match (unread, named_by) {
            (Unread::Io(p), Origin::Default) => (
                p,
                "fix its permissions, or name another file with -c".to_owned(),
            ),
            (Unread::Io(p), other) => (
                p,
                format!("fix the path or its permissions ({other} names it)"),
            ),
            (Unread::NotSettings(p), Origin::Default) => (
                p,
                "replace it with a settings file, or name another with -c".to_owned(),
            ),
            (Unread::NotSettings(p), other) => (
                p,
                format!("name a settings file instead ({other} names this one)"),
            ),
        };
        ConfError::new(
            Origin::File {
                path: path.to_owned(),
                line: 0,
                col: 0,
            },
            problem,
            fix,
        )
    })?;
    parse(path, &text)
}

/// One file's text: TOML when the name ends in `.toml`, torsocks.conf otherwise.
fn parse(path: &Path, text: &str) -> Result<Layer, ConfError> {
    if path.extension().is_some_and(|e| e == "toml") {
        source::toml_file::read(path, text)
    } else {
        source::legacy::read(path, text)
    }
}

/// Checks `text` as the settings file `path` would be read, and the settings it alone makes;
/// nothing is read from disk (for the fuzz targets, which feed it hostile files).
pub fn check_text(path: &Path, text: &str) -> Result<(), ConfError> {
    merge(vec![parse(path, text)?]).map(|_| ())
}

/// Checks a configuration file on its own (for `torify check` and tests).
pub fn check_file(path: &Path) -> Result<(), ConfError> {
    read_file(path, &Origin::Default).map(|_| ())
}

fn flags_layer(flags: &[FlagValue]) -> Result<Layer, ConfError> {
    let mut layer = Layer::default();
    for f in flags {
        layer.set(f.key, Raw::Text(&f.value), Origin::Flag(f.flag), f.flag)?;
    }
    layer.check_consistent()?;
    Ok(layer)
}

/// Loads the effective settings: defaults < file < environment < flags.
pub fn load(src: &Sources<'_>) -> Result<Loaded, ConfError> {
    let mut layers = Vec::with_capacity(3);
    let chosen = choose_file(src);
    if let Some((path, named_by, _)) = &chosen {
        layers.push(read_file(path, named_by)?);
    }
    if !src.secure {
        layers.push(source::env::read(src.env)?);
    }
    layers.push(flags_layer(src.flags)?);
    let mut loaded = merge(layers)?;
    loaded.file = chosen.map(|(p, _, _)| p);
    Ok(loaded)
}

/// The settings for a diagnosis (`torify show`, `torify check`): those of [`load`]; or, when
/// the settings file is what cannot be used, the settings without it and the file's error,
/// so that everything else can still be diagnosed. Nothing is run with those: a program
/// under torify stops on the error.
pub fn load_for_diagnosis(src: &Sources<'_>) -> Result<(Loaded, Option<ConfError>), ConfError> {
    match load(src) {
        Ok(loaded) => Ok((loaded, None)),
        Err(e) if matches!(e.origin, Origin::File { .. }) => {
            let mut layers = Vec::with_capacity(2);
            if !src.secure {
                layers.push(source::env::read(src.env)?);
            }
            layers.push(flags_layer(src.flags)?);
            Ok((merge(layers)?, Some(e)))
        }
        Err(e) => Err(e),
    }
}

fn merge(layers: Vec<Layer>) -> Result<Loaded, ConfError> {
    let mut values: BTreeMap<Key, (Value, Origin)> = BTreeMap::new();
    let mut notes = Vec::new();
    let mut arti = None;
    for layer in layers {
        if layer.arti.is_some() {
            arti = layer.arti.clone();
        }
        let sets_credentials =
            layer.values.contains_key(&Key::Username) || layer.values.contains_key(&Key::Password);
        let sets_isolation = layer.values.contains_key(&Key::Isolation);
        // Across sources the later one wins, also between credentials and isolation.
        if sets_credentials
            && let Some((Value::Isolation(mode), origin)) = values.get(&Key::Isolation)
            && *mode != Isolation::None
        {
            notes.push(format!(
                "isolation mode {mode} from {origin} is replaced by explicit SOCKS credentials"
            ));
            values.remove(&Key::Isolation);
        }
        if sets_isolation && !sets_credentials {
            for key in [Key::Username, Key::Password] {
                if let Some((_, origin)) = values.remove(&key) {
                    notes.push(format!(
                        "SOCKS credentials from {origin} are replaced by the isolation setting"
                    ));
                }
            }
        }
        values.extend(layer.values);
    }
    let mut loaded = build(values, notes)?;
    if let Some(a) = arti {
        loaded.settings.arti = a;
    }
    Ok(loaded)
}

fn build(values: BTreeMap<Key, (Value, Origin)>, notes: Vec<String>) -> Result<Loaded, ConfError> {
    let mut s = Settings::default();
    let mut username = None;
    let mut password = None;
    let mut origins = BTreeMap::new();
    for (key, (value, origin)) in values {
        match (key, value) {
            (Key::TorAddress, Value::Address(a)) => s.tor_address = a,
            (Key::TorPort, Value::Port(p)) => s.tor_port = p,
            (Key::Username, Value::Secret(u)) => username = Some((u, origin.clone())),
            (Key::Password, Value::Secret(p)) => password = Some((p, origin.clone())),
            (Key::Isolation, Value::Isolation(m)) => s.isolation = m,
            (Key::Backend, Value::Backend(b)) => s.backend = b,
            (Key::Strict, Value::Flag(b)) => s.strict = b,
            (Key::OnionRange, Value::Range(r)) => s.onion_range = r,
            (Key::ExitRange, Value::Range(r)) => s.exit_range = r,
            (Key::DnsMode, Value::Dns(m)) => s.dns_mode = m,
            (Key::AllowInbound, Value::Flag(b)) => s.allow_inbound = b,
            (Key::AllowOutboundLocalhost, Value::Localhost(l)) => s.allow_outbound_localhost = l,
            (Key::AllowDirect, Value::Nets(n)) => s.allow_direct = n,
            (Key::AllowPrivilegedExec, Value::Flag(b)) => s.allow_privileged_exec = b,
            (Key::AllowUnproxiedExec, Value::Flag(b)) => s.allow_unproxied_exec = b,
            (Key::LogLevel, Value::Level(l)) => s.log.level = l,
            (Key::LogTime, Value::Flag(b)) => s.log.time = b,
            (Key::LogFile, Value::Path(p)) => s.log.file = Some(p),
            (Key::SystemExemptUsers, Value::Names(n)) => s.system.exempt_users = n,
            (Key::SystemExemptPrograms, Value::Paths(p)) => s.system.exempt_programs = p,
            // Accepted for torsocks.conf compatibility; IPv6 always goes through Tor.
            (Key::EnableIpv6, Value::Flag(_)) => {}
            (key, _) => {
                return Err(ConfError::new(
                    origin,
                    format!("internal error: unexpected value for {key:?}"),
                    "report this as a bug",
                ));
            }
        }
        origins.insert(key, origin);
    }
    check_pools(&s, &origins)?;
    s.credentials = match (username, password) {
        (None, None) => None,
        (Some((username, _)), Some((password, _))) => Some(Credentials { username, password }),
        (Some((_, origin)), None) => {
            return Err(ConfError::new(
                origin,
                "a SOCKS username is set but no password",
                "set the password too (tor.password, SOCKS5Password, TORSOCKS_PASSWORD or -p), or neither",
            ));
        }
        (None, Some((_, origin))) => {
            return Err(ConfError::new(
                origin,
                "a SOCKS password is set but no username",
                "set the username too (tor.username, SOCKS5Username, TORSOCKS_USERNAME or -u), or neither",
            ));
        }
    };
    Ok(Loaded {
        settings: s,
        file: None,
        origins,
        notes,
    })
}

/// A stand-in address inside a direct network, or in both pools, would mean two things:
/// refuse the ambiguity rather than pick one silently.
fn check_pools(s: &Settings, origins: &BTreeMap<Key, Origin>) -> Result<(), ConfError> {
    let origin_of = |key| origins.get(&key).cloned().unwrap_or(Origin::Default);
    let mut pools = vec![(Key::OnionRange, "dns.onion_range", s.onion_range)];
    if s.dns_mode == crate::model::DnsMode::Exit {
        pools.push((Key::ExitRange, "dns.exit_range", s.exit_range));
    }
    for &(key, name, pool) in &pools {
        if let Some(net) = s
            .allow_direct
            .iter()
            .find(|n| n.overlaps(pool.base().into(), pool.prefix()))
        {
            return Err(ConfError::new(
                origin_of(Key::AllowDirect),
                format!(
                    "allow.direct network {net} overlaps {name} {pool} (set at {})",
                    origin_of(key)
                ),
                format!("move {name} to a block you never need to reach, or narrow allow.direct"),
            ));
        }
    }
    if let [(_, _, onion), (_, _, exit)] = pools[..]
        && (onion.contains(exit.base()) || exit.contains(onion.base()))
    {
        return Err(ConfError::new(
            origin_of(Key::ExitRange),
            format!("dns.exit_range {exit} overlaps dns.onion_range {onion}"),
            "give the two pools separate blocks (defaults 127.192.0.0/10 and 127.42.42.0/24)",
        ));
    }
    Ok(())
}
