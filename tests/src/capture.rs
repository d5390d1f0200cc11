//! Packet capture with tcpdump on every interface of the test's namespace.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// A running capture.
pub struct Capture {
    child: Option<Child>,
    file: PathBuf,
}

/// The filter for "anything but our conversation with the SOCKS port": ARP and IPv6 neighbour
/// discovery are housekeeping, not traffic a program sent.
pub fn leak_filter(socks_port: u16) -> String {
    format!(
        "not arp and not (ip6 and (ip6 multicast or icmp6)) and not (host 127.0.0.1 and tcp port {socks_port})"
    )
}

impl Capture {
    /// Starts tcpdump on all interfaces with `filter` and waits until it listens.
    pub fn start(filter: &str) -> Capture {
        let file = std::env::temp_dir().join(format!(
            "torify-capture-{}-{:?}.pcap",
            std::process::id(),
            std::thread::current().id()
        ));
        let mut child = Command::new("tcpdump")
            // Immediate mode: otherwise libpcap keeps packets in a ring block that is handed
            // over only after a timeout, and stopping before it would lose them (a leak unseen).
            .args([
                "-i",
                "any",
                "-nn",
                "-U",
                "--immediate-mode",
                "-Z",
                "root",
                "-w",
            ])
            .arg(&file)
            .arg(filter)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tcpdump is needed for the leak tests (apt-get install tcpdump)");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        loop {
            match lines.next() {
                Some(Ok(line)) if line.contains("listening on") => break,
                Some(Ok(_)) => {}
                _ => panic!("tcpdump did not start"),
            }
        }
        // Keep draining stderr so tcpdump never blocks on it.
        std::thread::spawn(move || for _ in lines {});
        Capture {
            child: Some(child),
            file,
        }
    }

    /// Stops the capture and returns one line per packet seen.
    pub fn stop(mut self) -> Vec<String> {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill(2) on our own child.
            unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
            let _ = child.wait();
        }
        let out = Command::new("tcpdump")
            .args(["-nn", "-r"])
            .arg(&self.file)
            .output()
            .expect("tcpdump -r");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_file(&self.file);
    }
}
