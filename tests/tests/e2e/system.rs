//! The system-wide mode (`torify system enable`), in a root of the test's own whose
//! /etc/ld.so.preload is the test's: never the machine's. Its tor daemon, exempt, bootstraps
//! through the private network while every other program, torified without any launcher,
//! reaches the destination through that tor and has its UDP refused; PID 1, exempt users and
//! setuid programs behave as promised; `disable` gives the file back byte for byte; and when
//! a broken library stops every dynamic program, the static torify-rescue takes it out.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use torify_tests::artifacts;
use torify_tests::tornet::{self, DEST_NAME, PAGE, TorNet};

use super::in_net;
use super::root::Root;

/// Where the test installs torify in the root (as `make install` would, PREFIX=/usr/local).
const LIBRARY: &str = "/usr/local/lib/torify/libtorify.so";
/// A uid the settings file exempts (no such user exists: ids work too).
const EXEMPT_UID: &str = "4242";
/// A uid `--exempt-user` exempts.
const FLAG_UID: &str = "4343";

/// bash's /dev/udp: a UDP socket and a send, which the library refuses when it is armed.
const SEND_UDP: &str = "echo x > /dev/udp/127.0.0.1/9 && echo sent";

/// A tor daemon started in the root, stopped with this.
struct RootTor(Child);

impl Drop for RootTor {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

/// Puts the launcher, the library, the service and the rescue program where `make install`
/// would, and a settings file that names the root's own tor and exempts [`EXEMPT_UID`].
fn install(root: &Root, socks_port: u16) {
    for (from, to) in [
        (artifacts::torify(), "/usr/local/bin/torify"),
        (artifacts::library(), LIBRARY),
        (
            artifacts::torify().with_file_name("torify-serve"),
            "/usr/local/lib/torify/torify-serve",
        ),
        (artifacts::rescue(), "/usr/local/sbin/torify-rescue"),
    ] {
        let to = root.path(to);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&from, &to).unwrap();
    }
    std::fs::create_dir_all(root.path("/etc/torify")).unwrap();
    std::fs::write(
        root.path("/etc/torify/torify.toml"),
        format!(
            "[tor]\naddress = \"127.0.0.1\"\nport = {socks_port}\n\
             [system]\nexempt_users = [\"{EXEMPT_UID}\"]\n"
        ),
    )
    .unwrap();
}

/// Starts a tor client of the private network in the root, from the root's /usr/bin/tor:
/// every program there loads the library now, so it only works if tor is left alone (its
/// relays are on loopback, which a torified program may not reach).
fn start_tor(root: &Root, net: &TorNet, socks_port: u16) -> RootTor {
    let data = Path::new("/tmp/tor");
    std::fs::create_dir_all(root.path("/tmp/tor")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        root.path("/tmp/tor"),
        std::fs::Permissions::from_mode(0o700),
    )
    .unwrap();
    std::fs::write(
        root.path("/tmp/tor/torrc"),
        net.client_torrc("rootclient", data, socks_port),
    )
    .unwrap();
    let child = root
        .command(&["tor", "-f", "/tmp/tor/torrc"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let tor = RootTor(child);
    let socks = SocketAddr::from(([127, 0, 0, 1], socks_port));
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(reply) = tornet::http_get_via_socks(socks, DEST_NAME, 80)
            && reply.contains(PAGE)
        {
            return tor;
        }
        assert!(
            Instant::now() < deadline,
            "the root's tor, exempt, did not carry a stream within 120 s; its log:\n{}",
            std::fs::read_to_string(root.path("/tmp/tor/notice.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Compiles the C `source` with `flags` to `out`, a path in the root.
fn compile(root: &Root, source: &str, flags: &[&str], out: &str) {
    let file = root.path(&format!("{out}.c"));
    std::fs::write(&file, source).unwrap();
    let cc = torify_tests::probe::run(
        std::process::Command::new("cc")
            .args(flags)
            .arg("-o")
            .arg(root.path(out))
            .arg(&file),
    );
    assert_eq!(cc.code, 0, "{cc:?}");
}

/// `bash -c SEND_UDP` in the root, run by `prefix` (e.g. setpriv): its output and status.
fn udp(root: &Root, prefix: &[&str]) -> (i32, String) {
    let args: Vec<&str> = prefix
        .iter()
        .copied()
        .chain(["bash", "-c", SEND_UDP])
        .collect();
    let run = root.run(&args);
    (run.code, format!("{}{}", run.stdout, run.stderr))
}

#[test]
fn the_system_wide_mode_torifies_every_program_but_tor_and_comes_off_exactly() {
    in_net(|net| {
        let root = Root::new();
        let socks_port = free_port();
        install(&root, socks_port);
        // An /etc/ld.so.preload of the machine's own, without a final newline.
        // (libc: a library every program loads anyway, so listing it changes nothing.)
        let other = artifacts::libc();
        let original = other.as_bytes();
        std::fs::write(root.path("/etc/ld.so.preload"), original).unwrap();
        let preload = || std::fs::read(root.path("/etc/ld.so.preload")).unwrap();

        let off = root.run(&["torify", "system", "status"]);
        assert_eq!(off.code, 3, "{off:?}");
        assert!(off.stdout.starts_with("off: "), "{off:?}");
        let nobody = [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
        ];
        let refused = root.run(&[&nobody[..], &["torify", "system", "enable"]].concat());
        assert_eq!(refused.code, 125, "{refused:?}");
        assert!(refused.stderr.contains("needs root"), "{refused:?}");
        assert_eq!(preload(), original);

        let enable = root.run(&["torify", "system", "enable", "--exempt-user", FLAG_UID]);
        assert_eq!(enable.code, 0, "{enable:?}");
        // First, so that its hooks come before every other library's symbols.
        assert_eq!(
            preload(),
            [format!("{LIBRARY}\n").as_bytes(), original].concat()
        );
        let status = root.run(&["torify", "system", "status"]);
        assert_eq!(status.code, 0, "{status:?}");
        for exempt in [
            "PID 1",
            "program /usr/bin/tor",
            "program /usr/local/bin/torify",
            "user 4242 (4242)",
            "user 4343 (4343)",
        ] {
            assert!(status.stdout.contains(exempt), "{exempt}: {status:?}");
        }

        let _tor = start_tor(&root, net, socks_port);
        // No launcher: curl is torified by /etc/ld.so.preload, and the name resolves at the
        // exit (nothing here knows it).
        let curl = root.run(&["curl", "-s", "-m", "90", &format!("http://{DEST_NAME}/")]);
        assert_eq!((curl.code, curl.stdout.as_str()), (0, PAGE), "{curl:?}");
        let (code, said) = udp(&root, &[]);
        assert_ne!(code, 0, "{said}");
        assert!(said.contains("refused a UDP"), "{said}");
        // An exempt user, and PID 1 (a new PID namespace's first process), are left alone.
        let exempt = [
            "setpriv",
            "--reuid",
            EXEMPT_UID,
            "--regid",
            EXEMPT_UID,
            "--clear-groups",
        ];
        assert_eq!(udp(&root, &exempt), (0, "sent\n".to_owned()));
        let init = ["unshare", "--pid", "--fork", "--mount-proc"];
        assert_eq!(udp(&root, &init), (0, "sent\n".to_owned()));
        // Asked for by name, torify wins over the exemption.
        let launched = root.run(&[&exempt[..], &["torify", "bash", "-c", SEND_UDP]].concat());
        assert_ne!(launched.code, 0, "{launched:?}");
        assert!(launched.stderr.contains("refused a UDP"), "{launched:?}");
        // A setuid program gets the library from /etc/ld.so.preload, so it is not refused as
        // it is under LD_PRELOAD alone (mount is setuid root; the caller is not root).
        let setuid = root.run(&[&nobody[..], &["bash", "-c", "mount --version"]].concat());
        assert_eq!(setuid.code, 0, "{setuid:?}");
        // A static program no preload enters is refused when a torified program starts it;
        // an exempt one (Debian's static ldconfig, which dpkg's triggers run) starts.
        compile(
            &root,
            "int main(void) { return 0; }\n",
            &["-static"],
            "/tmp/static-true",
        );
        let static_run = root.run(&["bash", "-c", "/tmp/static-true"]);
        assert_ne!(static_run.code, 0, "{static_run:?}");
        assert!(static_run.stderr.contains("refused"), "{static_run:?}");
        let ldconfig = root.run(&["bash", "-c", "ldconfig -p > /dev/null"]);
        assert_eq!(ldconfig.code, 0, "{ldconfig:?}");

        let disable = root.run(&["torify", "system", "disable"]);
        assert_eq!(disable.code, 0, "{disable:?}");
        assert_eq!(
            preload(),
            original,
            "disable gives the file back byte for byte"
        );
        assert!(!root.path("/etc/torify/system.conf").exists());
        let off = root.run(&["torify", "system", "status"]);
        assert_eq!(off.code, 3, "{off:?}");
        assert_eq!(udp(&root, &[]), (0, "sent\n".to_owned()));
    });
}

#[test]
fn enable_refuses_a_library_that_would_break_programs_and_rescue_takes_a_broken_one_out() {
    let root = Root::new();
    install(&root, 9050);
    let preload = root.path("/etc/ld.so.preload");
    // A library that does not load (not an ELF file), beside a launcher of its own.
    std::fs::create_dir_all(root.path("/opt/bad")).unwrap();
    std::fs::copy(artifacts::torify(), root.path("/opt/bad/torify")).unwrap();
    std::fs::write(root.path("/opt/bad/libtorify.so"), b"not a library").unwrap();
    let bad = root.run(&["/opt/bad/torify", "system", "enable"]);
    assert_eq!(bad.code, 125, "{bad:?}");
    assert!(
        bad.stderr.contains("does not load into a test process")
            && bad.stderr.contains("/etc/ld.so.preload is unchanged"),
        "{bad:?}"
    );
    // One on another filesystem than / (the root's /tmp is a tmpfs).
    std::fs::create_dir_all(root.path("/tmp/elsewhere")).unwrap();
    std::fs::copy(artifacts::torify(), root.path("/tmp/elsewhere/torify")).unwrap();
    std::fs::copy(
        artifacts::library(),
        root.path("/tmp/elsewhere/libtorify.so"),
    )
    .unwrap();
    let elsewhere = root.run(&["/tmp/elsewhere/torify", "system", "enable"]);
    assert_eq!(elsewhere.code, 125, "{elsewhere:?}");
    assert!(
        elsewhere.stderr.contains("not on the root filesystem"),
        "{elsewhere:?}"
    );
    assert!(!preload.exists(), "nothing was listed");

    // Enabled, then the installed library breaks: every dynamic program exits at load.
    let enable = root.run(&["torify", "system", "enable", "-q"]);
    assert_eq!(enable.code, 0, "{enable:?}");
    compile(
        &root,
        "#include <unistd.h>\n__attribute__((constructor)) static void broken(void) { _exit(99); }\n",
        &["-shared", "-fPIC"],
        LIBRARY,
    );
    let broken = root.run_bare(&["/bin/true"]);
    assert_eq!(
        broken.code, 99,
        "the broken library stops every program: {broken:?}"
    );
    let rescue = root.run_bare(&["/usr/local/sbin/torify-rescue"]);
    assert_eq!(rescue.code, 0, "{rescue:?}");
    assert!(
        rescue.stderr.contains("removed /etc/ld.so.preload"),
        "enable had created it: {rescue:?}"
    );
    assert!(!preload.exists());
    let back = root.run_bare(&["/bin/true"]);
    assert_eq!(back.code, 0, "{back:?}");
}
