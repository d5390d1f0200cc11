//! Loading from every source, precedence, and every kind of bad input.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::*;

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        Fixture {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

fn load_with(
    file: Option<&Path>,
    env: &[(&str, &str)],
    flags: &[FlagValue],
    secure: bool,
) -> Result<Loaded, ConfError> {
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let lookup = move |k: &str| env.get(k).cloned();
    load(&Sources {
        env: &lookup,
        secure,
        config_flag: file,
        flags,
        system_files: &[],
    })
}

fn load_file(path: &Path) -> Result<Loaded, ConfError> {
    load_with(Some(path), &[], &[], false)
}

fn flag(key: Key, value: &str, flag: &'static str) -> FlagValue {
    FlagValue {
        key,
        value: value.into(),
        flag,
    }
}

const EVERY_TOML_KEY: &str = r#"
[tor]
address = "10.1.2.3"
port = 9150
username = "alice"
password = "s3cret"

[dns]
onion_range = "127.99.0.0/16"

[allow]
inbound = true
outbound_localhost = 2
direct = ["192.168.1.0/24"]

[log]
level = "debug"
time = true
file = "/tmp/torify-test.log"

[system]
exempt_users = ["backup", "1001"]
exempt_programs = ["/usr/sbin/dhclient"]
"#;

#[test]
fn toml_sets_every_key() {
    let fx = Fixture::new();
    let loaded = load_file(&fx.file("t.toml", EVERY_TOML_KEY)).unwrap();
    let s = &loaded.settings;
    assert_eq!(s.tor_address.to_string(), "10.1.2.3");
    assert_eq!(s.tor_port, 9150);
    let creds = s.credentials.as_ref().unwrap();
    assert_eq!(creds.username.expose(), "alice");
    assert_eq!(creds.password.expose(), "s3cret");
    assert_eq!(s.onion_range.to_string(), "127.99.0.0/16");
    assert!(s.allow_inbound);
    assert_eq!(s.allow_outbound_localhost, Localhost::TcpUdp);
    assert_eq!(s.allow_direct, vec!["192.168.1.0/24".parse().unwrap()]);
    assert_eq!(s.log.level, LogLevel::Debug);
    assert_eq!(s.system.exempt_users, ["backup", "1001"]);
    assert_eq!(
        s.system.exempt_programs,
        [std::path::PathBuf::from("/usr/sbin/dhclient")]
    );
    assert!(s.log.time);
    assert_eq!(
        s.log.file.as_deref(),
        Some(Path::new("/tmp/torify-test.log"))
    );
    assert_eq!(
        loaded.origin(Key::TorPort).to_string(),
        format!("{}:4:8", fx.dir.path().join("t.toml").display())
    );
}

#[test]
fn dns_modes_and_the_exit_range() {
    let fx = Fixture::new();
    let path = fx.file(
        "d.toml",
        "[dns]\nmode = \"resolve\"\nexit_range = \"127.43.0.0/16\"\n",
    );
    let s = load_file(&path).unwrap().settings;
    assert_eq!(s.dns_mode, DnsMode::Resolve);
    assert_eq!(s.exit_range.to_string(), "127.43.0.0/16");
    assert_eq!(Settings::default().dns_mode, DnsMode::Exit);
    // With resolve, the exit range is unused, so an overlap with allow.direct is no conflict.
    let path = fx.file(
        "r.toml",
        "[dns]\nmode = \"resolve\"\nexit_range = \"10.0.0.0/8\"\n[allow]\ndirect = [\"10.1.0.0/16\"]\n",
    );
    assert!(load_file(&path).is_ok());
}

#[test]
fn toml_isolation_modes() {
    let fx = Fixture::new();
    for mode in Isolation::ALL {
        let path = fx.file("i.toml", &format!("[tor]\nisolation = \"{mode}\"\n"));
        assert_eq!(load_file(&path).unwrap().settings.isolation, mode);
    }
}

#[test]
fn the_shipped_example_is_valid_and_says_the_defaults() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("torify.toml");
    let loaded = load_file(&example).unwrap();
    assert_eq!(loaded.settings, Settings::default());
    // Every TOML key is documented in the example.
    let text = std::fs::read_to_string(&example).unwrap();
    for info in KEYS {
        if let Some(name) = info.toml {
            let leaf = name.rsplit('.').next().unwrap();
            assert!(
                text.contains(&format!("\n{leaf} = ")) || text.contains(&format!("\n# {leaf} = ")),
                "conf/torify.toml does not show {name}"
            );
        }
    }
}

#[test]
fn legacy_torsocks_conf_sets_every_key() {
    let fx = Fixture::new();
    let path = fx.file(
        "torsocks.conf",
        "# comment\n\
         TorAddress 10.9.8.7\n\
         TorPort 9150   # trailing comment\n\
         OnionAddrRange 127.43.0.0/16\n\
         \tSOCKS5Username bob\n\
         SOCKS5Password hunter2\n\
         AllowInbound 1\n\
         AllowOutboundLocalhost 1\n\
         EnableIPv6 1\n\
         \n",
    );
    let s = load_file(&path).unwrap().settings;
    assert_eq!(s.tor_address.to_string(), "10.9.8.7");
    assert_eq!(s.tor_port, 9150);
    assert_eq!(s.onion_range.to_string(), "127.43.0.0/16");
    assert_eq!(s.credentials.as_ref().unwrap().username.expose(), "bob");
    assert!(s.allow_inbound);
    assert_eq!(s.allow_outbound_localhost, Localhost::Tcp);

    let path = fx.file("iso.conf", "IsolatePID 1\nTorPort 19050");
    let s = load_file(&path).unwrap().settings;
    assert_eq!(s.isolation, Isolation::Process);
    // torsocks drops the last character of a file without a final newline; we do not.
    assert_eq!(s.tor_port, 19050);
}

#[test]
fn environment_sets_every_variable() {
    let env = [
        ("TORSOCKS_TOR_ADDRESS", "::1"),
        ("TORSOCKS_TOR_PORT", "9999"),
        ("TORSOCKS_USERNAME", "u"),
        ("TORSOCKS_PASSWORD", "p"),
        ("TORSOCKS_ALLOW_INBOUND", "1"),
        ("TORSOCKS_LOG_LEVEL", "4"),
        ("TORSOCKS_LOG_TIME", "1"),
        ("TORSOCKS_LOG_FILE_PATH", "/tmp/x.log"),
        ("TORSOCKS_ENABLE_IPV6", "1"),
        ("TORIFY_ONION_RANGE", "127.50.0.0/16"),
        ("TORIFY_ALLOW_OUTBOUND_LOCALHOST", "1"),
        ("TORIFY_DIRECT", "192.168.1.0/24"),
    ];
    let loaded = load_with(None, &env, &[], false).unwrap();
    let s = &loaded.settings;
    assert_eq!(s.socks_endpoint().to_string(), "[::1]:9999");
    assert!(s.credentials.is_some());
    assert!(s.allow_inbound);
    assert_eq!(s.log.level, LogLevel::Notice);
    assert!(s.log.time);
    assert_eq!(s.onion_range.to_string(), "127.50.0.0/16");
    assert_eq!(s.allow_outbound_localhost, Localhost::Tcp);
    assert_eq!(s.allow_direct.len(), 1);
    assert_eq!(
        loaded.origin(Key::TorPort),
        &Origin::Env("TORSOCKS_TOR_PORT")
    );

    let s = load_with(None, &[("TORSOCKS_ISOLATE_PID", "1")], &[], false)
        .unwrap()
        .settings;
    assert_eq!(s.isolation, Isolation::Process);
    let s = load_with(None, &[("TORIFY_ISOLATION", "destination")], &[], false)
        .unwrap()
        .settings;
    assert_eq!(s.isolation, Isolation::Destination);
}

#[test]
fn precedence_is_default_file_env_flag() {
    let fx = Fixture::new();
    let path = fx.file(
        "p.toml",
        "[tor]\nport = 1111\naddress = \"10.0.0.1\"\n[log]\nlevel = 3\n",
    );
    let env = [("TORSOCKS_TOR_PORT", "2222"), ("TORSOCKS_LOG_LEVEL", "4")];
    let flags = [flag(Key::TorPort, "3333", "-P")];
    let loaded = load_with(Some(&path), &env, &flags, false).unwrap();
    assert_eq!(loaded.settings.tor_port, 3333);
    assert_eq!(loaded.origin(Key::TorPort), &Origin::Flag("-P"));
    assert_eq!(loaded.settings.log.level, LogLevel::Notice);
    assert_eq!(loaded.settings.tor_address.to_string(), "10.0.0.1");
    assert_eq!(loaded.origin(Key::OnionRange), &Origin::Default);
}

#[test]
fn file_is_found_by_variable_then_user_dir_then_system() {
    let fx = Fixture::new();
    let named = fx.file("named.conf", "TorPort 1001\n");
    std::fs::create_dir_all(fx.dir.path().join("xdg/torify")).unwrap();
    fx.file("xdg/torify/torify.toml", "[tor]\nport = 1002\n");
    let system = fx.file("system.toml", "[tor]\nport = 1003\n");
    let xdg = fx.dir.path().join("xdg");
    let env: HashMap<&str, String> = [
        ("TORSOCKS_CONF_FILE", named.display().to_string()),
        ("XDG_CONFIG_HOME", xdg.display().to_string()),
    ]
    .into_iter()
    .collect();
    let system_files = [system.to_str().unwrap()];
    let port = |vars: &[&str], secure: bool| {
        let lookup = |k: &str| vars.contains(&k).then(|| env.get(k).cloned()).flatten();
        load(&Sources {
            env: &lookup,
            secure,
            config_flag: None,
            flags: &[],
            system_files: &system_files,
        })
        .unwrap()
        .settings
        .tor_port
    };
    assert_eq!(
        port(&["TORSOCKS_CONF_FILE", "XDG_CONFIG_HOME"], false),
        1001
    );
    assert_eq!(port(&["XDG_CONFIG_HOME"], false), 1002);
    assert_eq!(port(&[], false), 1003);
    // A secure-exec process reads neither the variables nor the files they name.
    assert_eq!(port(&["TORSOCKS_CONF_FILE", "XDG_CONFIG_HOME"], true), 1003);
}

#[test]
fn secure_exec_ignores_the_environment() {
    let env = [
        ("TORSOCKS_TOR_PORT", "2222"),
        ("TORSOCKS_ALLOW_INBOUND", "1"),
    ];
    let s = load_with(None, &env, &[], true).unwrap().settings;
    assert_eq!(s.tor_port, 9050);
    assert!(!s.allow_inbound);
}

/// Every bad input gives one line: file:line:col (or the variable/flag), the problem, the fix.
#[test]
fn bad_input_is_one_line_with_location_problem_and_fix() {
    let fx = Fixture::new();
    let cases: &[(&str, &str, &str)] = &[
        (
            "syntax.toml",
            "[tor]\nport = = 9050\n",
            "syntax.toml:2:8: TOML syntax error: ",
        ),
        (
            "unknown.toml",
            "[tor]\nadress = \"127.0.0.1\"\n",
            "unknown.toml:2:1: unknown key tor.adress (did you mean tor.address?); remove it or use a key listed in torify.toml(5)",
        ),
        (
            "section.toml",
            "[socks]\nport = 1\n",
            "section.toml:1:2: unknown section [socks]",
        ),
        (
            "port.toml",
            "[tor]\nport = 70000\n",
            "port.toml:2:8: tor.port 70000 is out of range 1-65535; set tor.port to a port from 1 to 65535 (Tor's SocksPort, 9050 for a tor daemon)",
        ),
        (
            "port.conf",
            "TorPort 70000\n",
            "port.conf:1:9: TorPort 70000 is out of range 1-65535; set TorPort to a port from 1 to 65535",
        ),
        (
            "addr.conf",
            "TorAddress tor.example.com\n",
            "addr.conf:1:12: TorAddress \"tor.example.com\" is not an IP address (host names are not accepted); set TorAddress to an IPv4 or IPv6 address, or unix:/absolute/path",
        ),
        (
            "range.conf",
            "OnionAddrRange 127.42.42.0\n",
            "range.conf:1:16: OnionAddrRange \"127.42.42.0\" is not of the form a.b.c.d/prefix; set OnionAddrRange to an IPv4 block",
        ),
        (
            "range2.conf",
            "OnionAddrRange 127.42.42.1/24\n",
            "range2.conf:1:16: OnionAddrRange \"127.42.42.1/24\" has host bits set (the block starts at 127.42.42.0/24)",
        ),
        (
            "user.conf",
            "SOCKS5Username alice\n",
            "user.conf:1:16: a SOCKS username is set but no password; set the password too",
        ),
        (
            "pass.toml",
            "[tor]\npassword = \"x\"\n",
            "pass.toml:2:12: a SOCKS password is set but no username; set the username too",
        ),
        (
            "both.conf",
            "SOCKS5Username a\nSOCKS5Password b\nIsolatePID 1\n",
            "both.conf:1:16: SOCKS credentials and isolation mode process (set at ",
        ),
        (
            "dup.conf",
            "TorPort 1\nTorPort 2\n",
            "dup.conf:2:9: TorPort is set a second time (first at ",
        ),
        (
            "directive.conf",
            "TorPrt 9050\n",
            "directive.conf:1:1: unknown directive TorPrt (did you mean TorPort?)",
        ),
        (
            "novalue.conf",
            "TorPort\n",
            "novalue.conf:1:1: TorPort has no value; write `TorPort <value>` with a port",
        ),
        (
            "twovalues.conf",
            "TorPort 9050 9051\n",
            "twovalues.conf:1:14: TorPort takes one value, found another: \"9051\"",
        ),
        (
            "bool.conf",
            "AllowInbound yes\n",
            "bool.conf:1:14: AllowInbound \"yes\" is neither 0 nor 1; set AllowInbound to 0 or 1",
        ),
        (
            "localhost.toml",
            "[allow]\noutbound_localhost = 3\n",
            "localhost.toml:2:22: allow.outbound_localhost 3 is not 0, 1 or 2",
        ),
        (
            "type.toml",
            "[tor]\nport = \"9050\"\n",
            "type.toml:2:8: tor.port \"9050\" is a string, not a number",
        ),
        (
            "toplevel.toml",
            "port = 9050\n",
            "toplevel.toml:1:1: key `port` is not inside a section (did you mean tor.port?)",
        ),
    ];
    for (name, text, want) in cases {
        let path = fx.file(name, text);
        let err = load_file(&path).unwrap_err().to_string();
        let prefix = format!("{}/", fx.dir.path().display());
        let shown = err.strip_prefix(&prefix).unwrap_or(&err);
        assert!(
            shown.starts_with(want),
            "{name}:\n got: {shown}\nwant: {want}"
        );
        assert!(!err.contains('\n'), "{name}: {err}");
        assert!(err.contains("; "), "{name} has no fix: {err}");
    }
}

#[test]
fn bad_environment_and_flags_name_their_source() {
    let err = load_with(None, &[("TORSOCKS_TOR_PORT", "70000")], &[], false)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(
            "environment variable TORSOCKS_TOR_PORT: TORSOCKS_TOR_PORT 70000 is out of range"
        ),
        "{err}"
    );
    let err = load_with(None, &[], &[flag(Key::TorAddress, "nowhere", "-a")], false)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("flag -a: -a \"nowhere\" is not an IP address"),
        "{err}"
    );
    let err = load_with(None, &[("TORSOCKS_USERNAME", "u")], &[], false)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(
            "environment variable TORSOCKS_USERNAME: a SOCKS username is set but no password"
        ),
        "{err}"
    );
}

#[test]
fn missing_named_file_is_an_error() {
    let err = load_file(Path::new("/nonexistent/torify.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("/nonexistent/torify.toml: cannot read the configuration file"),
        "{err}"
    );
    assert!(err.contains("(flag -c names it)"), "{err}");
}

#[test]
fn credentials_and_isolation_later_source_wins() {
    let fx = Fixture::new();
    // Explicit credentials in the environment win over IsolatePID in the file.
    let path = fx.file("iso.conf", "IsolatePID 1\n");
    let env = [("TORSOCKS_USERNAME", "u"), ("TORSOCKS_PASSWORD", "p")];
    let loaded = load_with(Some(&path), &env, &[], false).unwrap();
    assert_eq!(loaded.settings.isolation, Isolation::None);
    assert!(loaded.settings.credentials.is_some());
    assert_eq!(loaded.notes.len(), 1);
    // -i on the command line wins over credentials in the file.
    let path = fx.file("creds.conf", "SOCKS5Username a\nSOCKS5Password b\n");
    let flags = [flag(Key::IsolatePid, "1", "-i")];
    let loaded = load_with(Some(&path), &[], &flags, false).unwrap();
    assert_eq!(loaded.settings.isolation, Isolation::Process);
    assert!(loaded.settings.credentials.is_none());
    // Both in the same source: an error.
    let flags = [
        flag(Key::IsolatePid, "1", "-i"),
        flag(Key::Username, "a", "-u"),
        flag(Key::Password, "b", "-p"),
    ];
    let err = load_with(None, &[], &flags, false).unwrap_err().to_string();
    assert!(err.contains("both given"), "{err}");
}

#[test]
fn show_masks_secrets_and_names_sources() {
    let env = [
        ("TORSOCKS_USERNAME", "alice-user"),
        ("TORSOCKS_PASSWORD", "pw-123456"),
    ];
    let flags = [flag(Key::TorPort, "9150", "-P")];
    let loaded = load_with(None, &env, &flags, false).unwrap();
    let text = render(&loaded);
    assert!(!text.contains("alice-user"), "{text}");
    assert!(!text.contains("pw-123456"), "{text}");
    assert!(
        text.contains("tor.password = ********  # env TORSOCKS_PASSWORD\n"),
        "{text}"
    );
    assert!(text.contains("tor.port = 9150  # flag -P\n"), "{text}");
    assert!(
        text.contains("arti.network = the public Tor network  # default\n"),
        "{text}"
    );
    assert!(
        text.contains("tor.address = 127.0.0.1  # default\n"),
        "{text}"
    );
    assert!(!format!("{loaded:?}").contains("pw-123456"));
}

#[test]
fn check_file_reports_the_same_errors() {
    let fx = Fixture::new();
    assert!(check_file(&fx.file("ok.toml", "[tor]\nport = 9050\n")).is_ok());
    assert!(check_file(&fx.file("bad.toml", "[tor]\nport = 0\n")).is_err());
}

#[test]
fn backend_from_every_source() {
    let fx = Fixture::new();
    let path = fx.file("b.toml", "[tor]\nbackend = \"arti\"\n");
    assert_eq!(load_file(&path).unwrap().settings.backend, Backend::Arti);
    let s = load_with(None, &[("TORIFY_BACKEND", "tor")], &[], false)
        .unwrap()
        .settings;
    assert_eq!(s.backend, Backend::Tor);
    let s = load_with(None, &[], &[flag(Key::Backend, "auto", "--backend")], false)
        .unwrap()
        .settings;
    assert_eq!(s.backend, Backend::Auto);
    let err = load_with(None, &[("TORIFY_BACKEND", "daemon")], &[], false)
        .unwrap_err()
        .to_string();
    assert!(err.contains("\"daemon\" is not a backend"), "{err}");
    assert_eq!(Settings::default().backend, Backend::Auto);
}

const PRIVATE_NETWORK: &str = r#"
[arti]
state_dir = "/var/lib/t/state"
cache_dir = "/var/lib/t/cache"
bootstrap_timeout = 60
linger = 30
connect_timeout = 45

[arti.network]
authorities = [{ v3ident = "3D8969A8B90A1EDF919EC3410FEE62BD48149BB7", address = "127.0.0.1:7100" }]
fallbacks = [
  { rsa_identity = "E0765DFD6C774410EAD6993BF1AA589D16EEEB3B", ed_identity = "FlrqyXkVOag3EIr4IozeDNETEOehYtYTUspuLAZOPns", orports = ["127.0.0.1:5100"] },
]
allow_local_addrs = true
ipv4_subnet_family_prefix = 33
ipv6_subnet_family_prefix = 129
"#;

#[test]
fn arti_table_with_a_private_network() {
    let fx = Fixture::new();
    let a = load_file(&fx.file("a.toml", PRIVATE_NETWORK))
        .unwrap()
        .settings
        .arti;
    assert_eq!(a.state_dir.as_deref(), Some(Path::new("/var/lib/t/state")));
    assert_eq!(a.bootstrap_timeout, 60);
    assert_eq!(a.linger, 30);
    assert_eq!(a.connect_timeout, 45);
    let n = a.network.unwrap();
    assert_eq!(n.authorities[0].address.to_string(), "127.0.0.1:7100");
    assert_eq!(n.fallbacks[0].orports.len(), 1);
    assert!(n.allow_local_addrs);
    assert_eq!(
        (n.ipv4_subnet_family_prefix, n.ipv6_subnet_family_prefix),
        (33, 129)
    );
    assert_eq!(
        load_file(&fx.file("none.toml", "[tor]\nport = 9050\n"))
            .unwrap()
            .settings
            .arti,
        ArtiSettings::default()
    );
}

#[test]
fn bad_arti_tables_are_one_line_errors() {
    let fx = Fixture::new();
    let rows: &[(&str, &str)] = &[
        (
            "[arti]\nstate_dir = \"relative\"\n",
            "arti.state_dir is not an absolute path",
        ),
        (
            "[arti]\nbootstrap_timeout = 0\n",
            "arti.bootstrap_timeout is not a number of seconds",
        ),
        (
            "[arti]\nlinger = -5\n",
            "arti.linger is not a number of seconds from 0 to 86400",
        ),
        (
            "[arti]\nconnect_timeout = 0\n",
            "arti.connect_timeout is not a number of seconds from 1 to 3600",
        ),
        ("[arti]\nlogs = 1\n", "unknown key arti.logs"),
        (
            "[arti.network]\nauthorities = []\nfallbacks = []\n",
            "needs at least one authority and one fallback",
        ),
        (
            "[arti.network]\nauthorities = [{ v3ident = \"xyz\", address = \"127.0.0.1:1\" }]\n",
            "v3ident is not 40 hex digits",
        ),
        (
            "[arti.network]\nauthorities = [{ v3ident = \"3D8969A8B90A1EDF919EC3410FEE62BD48149BB7\", address = \"here\" }]\n",
            "address is not an address:port",
        ),
        (
            "[arti.network]\nfallbacks = [{ rsa_identity = \"E0765DFD6C774410EAD6993BF1AA589D16EEEB3B\", ed_identity = \"short\", orports = [] }]\n",
            "ed_identity is not 43 characters of base64",
        ),
        (
            "[arti.network]\nipv4_subnet_family_prefix = 40\n",
            "is not 0 to 33",
        ),
    ];
    for (text, want) in rows {
        let err = load_file(&fx.file("bad.toml", text))
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{text}\n{err}");
        assert!(err.contains("bad.toml:") && !err.contains('\n'), "{err}");
    }
}

#[test]
fn allow_direct_from_toml_and_environment() {
    let fx = Fixture::new();
    let path = fx.file(
        "d.toml",
        "[allow]\ndirect = [\"192.168.0.0/16\", \"10.1.2.0/24\", \"fd00::/8\", \"192.168.7.9\"]\n",
    );
    let loaded = load_file(&path).unwrap();
    let shown: Vec<String> = loaded
        .settings
        .allow_direct
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        shown,
        [
            "192.168.0.0/16",
            "10.1.2.0/24",
            "fd00::/8",
            "192.168.7.9/32"
        ]
    );
    assert_eq!(
        loaded.origin(Key::AllowDirect).to_string(),
        format!("{}:2:10", path.display())
    );
    let text = render(&loaded);
    assert!(
        text.contains(&format!(
            "allow.direct = 192.168.0.0/16, 10.1.2.0/24, fd00::/8, 192.168.7.9/32  # file {}:2:10\n",
            path.display()
        )),
        "{text}"
    );
    // An empty list is allowed and means off.
    let path = fx.file("e.toml", "[allow]\ndirect = []\n");
    assert!(load_file(&path).unwrap().settings.allow_direct.is_empty());

    // The environment: comma-separated, spaces allowed; it wins over the file.
    let path = fx.file("f.toml", "[allow]\ndirect = [\"10.0.0.0/8\"]\n");
    let env = [("TORIFY_DIRECT", "192.168.77.0/24, fe80::/10")];
    let loaded = load_with(Some(&path), &env, &[], false).unwrap();
    let shown: Vec<String> = loaded
        .settings
        .allow_direct
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(shown, ["192.168.77.0/24", "fe80::/10"]);
    assert!(
        render(&loaded)
            .contains("allow.direct = 192.168.77.0/24, fe80::/10  # env TORIFY_DIRECT\n")
    );
    // Off by default, and shown so.
    let loaded = load_with(None, &[], &[], false).unwrap();
    assert!(loaded.settings.allow_direct.is_empty());
    assert!(render(&loaded).contains("allow.direct = (none)  # default\n"));
    // A secure-exec process ignores the variable like every other.
    let s = load_with(None, &env, &[], true).unwrap().settings;
    assert!(s.allow_direct.is_empty());
}

/// allow.direct errors point at the entry (file:line:col of the item) and carry their own fix.
#[test]
fn allow_direct_refusals_are_one_line_at_the_entry() {
    let fx = Fixture::new();
    let rows: &[(&str, &str)] = &[
        (
            "[allow]\ndirect = [\"192.168.0.0/16\", \"8.8.8.0/24\"]\n",
            "bad.toml:2:29: allow.direct \"8.8.8.0/24\" is public address space, which must go through Tor; remove it; only private networks may bypass Tor (10.0.0.0/8, ",
        ),
        (
            "[allow]\ndirect = [\"0.0.0.0/0\"]\n",
            "bad.toml:2:11: allow.direct \"0.0.0.0/0\" is every address, public ones included; list only private networks",
        ),
        (
            "[allow]\ndirect = [\"10.0.0.0/7\"]\n",
            "bad.toml:2:11: allow.direct \"10.0.0.0/7\" reaches beyond the private range 10.0.0.0/8 into public addresses; narrow it to 10.0.0.0/8",
        ),
        (
            "[allow]\ndirect = [\"127.0.0.0/8\"]\n",
            "bad.toml:2:11: allow.direct \"127.0.0.0/8\" is loopback; loopback is allow.outbound_localhost's job: remove it and set allow.outbound_localhost = 1",
        ),
        (
            "[allow]\ndirect = [\"::1\"]\n",
            "bad.toml:2:11: allow.direct \"::1\" is loopback; loopback is allow.outbound_localhost's job",
        ),
        (
            "[allow]\ndirect = [\"224.0.0.0/4\"]\n",
            "bad.toml:2:11: allow.direct \"224.0.0.0/4\" is multicast or broadcast; remove it",
        ),
        (
            "[allow]\ndirect = [\n  \"192.168.1.0/24\",\n  \"192.168.1.5/24\",\n]\n",
            "bad.toml:4:3: allow.direct \"192.168.1.5/24\" has host bits set; write 192.168.1.0/24 for the network, or 192.168.1.5 alone for the one host",
        ),
        (
            "[allow]\ndirect = [\"192.168.1.0/33\"]\n",
            "bad.toml:2:11: allow.direct \"192.168.1.0/33\" has prefix length \"33\", not a number from 0 to 32; write the prefix length as /0 to /32",
        ),
        (
            "[allow]\ndirect = [\"printer.lan\"]\n",
            "bad.toml:2:11: allow.direct \"printer.lan\" is not an IP address or network; write a network in CIDR form",
        ),
        (
            "[allow]\ndirect = [24]\n",
            "bad.toml:2:11: allow.direct entry 1: 24 is a number, not a network; write each network as a string",
        ),
        (
            "[allow]\ndirect = \"192.168.0.0/16\"\n",
            "bad.toml:2:10: allow.direct \"192.168.0.0/16\" is a string, not a list; write it as a list of private networks such as [\"192.168.1.0/24\", \"fd00::/8\"]",
        ),
        (
            "[allow]\ndirect = [\"10.0.0.0/8\"]\n[dns]\nonion_range = \"10.192.0.0/10\"\n",
            "bad.toml:2:10: allow.direct network 10.0.0.0/8 overlaps dns.onion_range 10.192.0.0/10 (set at ",
        ),
        (
            "[allow]\ndirect = [\"10.0.0.0/8\"]\n[dns]\nexit_range = \"10.192.0.0/10\"\n",
            "bad.toml:2:10: allow.direct network 10.0.0.0/8 overlaps dns.exit_range 10.192.0.0/10 (set at ",
        ),
        (
            "[dns]\nexit_range = \"127.42.0.0/16\"\n",
            "bad.toml:2:14: dns.exit_range 127.42.0.0/16 overlaps dns.onion_range 127.42.42.0/24; give the two pools separate blocks",
        ),
        (
            "[dns]\nmode = \"system\"\n",
            "bad.toml:2:8: dns.mode \"system\" is not resolve or exit",
        ),
        (
            "[allow]\ndirects = [\"10.0.0.0/8\"]\n",
            "bad.toml:2:1: unknown key allow.directs (did you mean allow.direct?)",
        ),
    ];
    for (text, want) in rows {
        let err = load_file(&fx.file("bad.toml", text))
            .unwrap_err()
            .to_string();
        let prefix = format!("{}/", fx.dir.path().display());
        let shown = err.strip_prefix(&prefix).unwrap_or(&err);
        assert!(shown.starts_with(want), "\n got: {shown}\nwant: {want}");
        assert!(!err.contains('\n'), "{err}");
    }
    let env_rows: &[(&str, &str)] = &[
        (
            "8.8.8.0/24",
            "environment variable TORIFY_DIRECT: TORIFY_DIRECT \"8.8.8.0/24\" is public address space, which must go through Tor; remove it",
        ),
        (
            "192.168.0.0/16,127.0.0.1",
            "environment variable TORIFY_DIRECT: TORIFY_DIRECT \"127.0.0.1\" is loopback; loopback is allow.outbound_localhost's job",
        ),
        (
            "192.168.0.0/16,,fd00::/8",
            "environment variable TORIFY_DIRECT: TORIFY_DIRECT \"192.168.0.0/16,,fd00::/8\" has an empty entry; separate networks with single commas",
        ),
        (
            "192.168.0.0/255.255.0.0",
            "environment variable TORIFY_DIRECT: TORIFY_DIRECT \"192.168.0.0/255.255.0.0\" has prefix length \"255.255.0.0\", not a number from 0 to 32",
        ),
    ];
    for (value, want) in env_rows {
        let err = load_with(None, &[("TORIFY_DIRECT", value)], &[], false)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with(want), "\n got: {err}\nwant: {want}");
        assert!(!err.contains('\n'), "{err}");
    }
}

#[test]
fn system_exemptions_are_lists_checked_entry_by_entry_and_come_from_files_only() {
    let fx = Fixture::new();
    for (text, problem) in [
        (
            "[system]\nexempt_programs = [\"/usr/bin/a\", \"relative\"]\n",
            "system.exempt_programs entry 2: \"relative\" is not an absolute path",
        ),
        (
            "[system]\nexempt_users = [\"ok\", 7]\n",
            "system.exempt_users entry 2: 7 is a number, not a string",
        ),
        (
            "[system]\nexempt_users = \"debian-tor\"\n",
            "system.exempt_users \"debian-tor\" is a string, not a list",
        ),
        (
            "[system]\nexempt_users = [\"a b\"]\n",
            "system.exempt_users entry 1: \"a b\" is not a user name",
        ),
    ] {
        let err = load_file(&fx.file("s.toml", text)).unwrap_err().to_string();
        assert!(err.contains(problem), "{text}: {err}");
    }
    // No variable sets them: a program cannot exempt itself.
    for info in crate::KEYS {
        if matches!(info.key, Key::SystemExemptUsers | Key::SystemExemptPrograms) {
            assert_eq!((info.env, info.legacy), (None, None), "{:?}", info.key);
        }
    }
    let shown = crate::render(&load_with(None, &[], &[], false).unwrap());
    assert!(
        shown.contains("system.exempt_users = (none)  # default\n"),
        "{shown}"
    );
}
