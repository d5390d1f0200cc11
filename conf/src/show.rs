//! The effective settings as `torify show` prints them: one line per setting, with its source.

use std::fmt::Write;

use crate::error::Origin;
use crate::keys::Key;
use crate::load::Loaded;
use crate::secret::MASK;

/// The source, as its kind (default, file, env, flag) and the detail.
fn source(origin: &Origin) -> String {
    match origin {
        Origin::Default => "default".to_owned(),
        Origin::File { path, line, col } => format!("file {}:{line}:{col}", path.display()),
        Origin::Env(name) => format!("env {name}"),
        Origin::Flag(flag) => format!("flag {flag}"),
    }
}

/// One line per setting (`name = value  # source`), secrets masked.
pub fn render(loaded: &Loaded) -> String {
    let s = &loaded.settings;
    let creds = s.credentials.as_ref();
    let direct = if s.allow_direct.is_empty() {
        "(none)".to_owned()
    } else {
        s.allow_direct
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let list = |items: Vec<String>| {
        if items.is_empty() {
            "(none)".to_owned()
        } else {
            items.join(", ")
        }
    };
    let rows: [(&str, String, Key); 19] = [
        ("tor.address", s.tor_address.to_string(), Key::TorAddress),
        ("tor.port", s.tor_port.to_string(), Key::TorPort),
        (
            "tor.username",
            creds.map_or_else(|| "(none)".into(), |_| MASK.into()),
            Key::Username,
        ),
        (
            "tor.password",
            creds.map_or_else(|| "(none)".into(), |_| MASK.into()),
            Key::Password,
        ),
        ("tor.isolation", s.isolation.to_string(), Key::Isolation),
        ("tor.backend", s.backend.to_string(), Key::Backend),
        ("tor.strict", s.strict.to_string(), Key::Strict),
        (
            "dns.onion_range",
            s.onion_range.to_string(),
            Key::OnionRange,
        ),
        ("dns.mode", s.dns_mode.to_string(), Key::DnsMode),
        ("dns.exit_range", s.exit_range.to_string(), Key::ExitRange),
        (
            "allow.inbound",
            s.allow_inbound.to_string(),
            Key::AllowInbound,
        ),
        (
            "allow.outbound_localhost",
            s.allow_outbound_localhost.level().to_string(),
            Key::AllowOutboundLocalhost,
        ),
        ("allow.direct", direct, Key::AllowDirect),
        (
            "allow.privileged_exec",
            s.allow_privileged_exec.to_string(),
            Key::AllowPrivilegedExec,
        ),
        (
            "allow.unproxied_exec",
            s.allow_unproxied_exec.to_string(),
            Key::AllowUnproxiedExec,
        ),
        ("log.level", s.log.level.to_string(), Key::LogLevel),
        ("log.time", s.log.time.to_string(), Key::LogTime),
        (
            "system.exempt_users",
            list(s.system.exempt_users.clone()),
            Key::SystemExemptUsers,
        ),
        (
            "system.exempt_programs",
            list(
                s.system
                    .exempt_programs
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect(),
            ),
            Key::SystemExemptPrograms,
        ),
    ];
    let mut out = String::new();
    let file = loaded.file.as_ref().map_or_else(
        || "(none: built-in defaults)".to_owned(),
        |p| p.display().to_string(),
    );
    let _ = writeln!(out, "# settings file: {file}");
    for (name, value, key) in rows {
        let _ = writeln!(out, "{name} = {value}  # {}", source(loaded.origin(key)));
    }
    let log_file = s
        .log
        .file
        .as_ref()
        .map_or_else(|| "(stderr)".to_owned(), |p| p.display().to_string());
    let _ = writeln!(
        out,
        "log.file = {log_file}  # {}",
        source(loaded.origin(Key::LogFile))
    );
    let arti = &s.arti;
    let dir = |d: &Option<std::path::PathBuf>, default: &str| {
        d.as_ref()
            .map_or_else(|| default.to_owned(), |p| p.display().to_string())
    };
    // [arti] is read only from a torify.toml: a value other than the default came from it.
    let from = |is_default: bool| match (&loaded.file, is_default) {
        (Some(path), false) => format!("file {}", path.display()),
        _ => "default".to_owned(),
    };
    let defaults = crate::arti::ArtiSettings::default();
    let _ = writeln!(
        out,
        "arti.state_dir = {}  # {}",
        dir(&arti.state_dir, "$XDG_STATE_HOME/torify/arti"),
        from(arti.state_dir.is_none())
    );
    let _ = writeln!(
        out,
        "arti.cache_dir = {}  # {}",
        dir(&arti.cache_dir, "$XDG_CACHE_HOME/torify/arti"),
        from(arti.cache_dir.is_none())
    );
    let _ = writeln!(
        out,
        "arti.bootstrap_timeout = {}  # {}",
        arti.bootstrap_timeout,
        from(arti.bootstrap_timeout == defaults.bootstrap_timeout)
    );
    let _ = writeln!(
        out,
        "arti.linger = {}  # {}",
        arti.linger,
        from(arti.linger == defaults.linger)
    );
    let _ = writeln!(
        out,
        "arti.connect_timeout = {}  # {}",
        arti.connect_timeout,
        from(arti.connect_timeout == defaults.connect_timeout)
    );
    let _ = writeln!(
        out,
        "arti.network = {}  # {}",
        if arti.network.is_some() {
            "a private network ([arti.network])"
        } else {
            "the public Tor network"
        },
        from(arti.network.is_none())
    );
    for note in &loaded.notes {
        let _ = writeln!(out, "# note: {note}");
    }
    out
}
