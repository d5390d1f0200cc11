//! `torify check`: the setup diagnosed in plain sentences, ending in a verdict.

use std::fmt::Write as _;
use std::path::Path;

use torify_conf::{Loaded, SocksEndpoint};

use crate::launch::{self, EnvChanges};
use crate::socks_client;

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Finding {
    /// Something worth knowing that is neither good nor bad.
    Info(String),
    /// A check that passed.
    Ok(String),
    /// A check that failed: what, and what to do.
    Fail(String),
}

/// All findings, in the order they were made.
#[derive(Debug, Default)]
pub(crate) struct Report {
    findings: Vec<Finding>,
}

impl Report {
    pub(crate) fn info(&mut self, text: impl Into<String>) {
        self.findings.push(Finding::Info(text.into()));
    }

    pub(crate) fn ok(&mut self, text: impl Into<String>) {
        self.findings.push(Finding::Ok(text.into()));
    }

    pub(crate) fn fail(&mut self, text: impl Into<String>) {
        self.findings.push(Finding::Fail(text.into()));
    }

    /// Appends another report's findings.
    pub(crate) fn extend(&mut self, other: Report) {
        self.findings.extend(other.findings);
    }

    /// True when no check failed.
    pub(crate) fn passed(&self) -> bool {
        !self.findings.iter().any(|f| matches!(f, Finding::Fail(_)))
    }

    /// The report as the user reads it: a line per finding, then the verdict.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        for f in &self.findings {
            let _ = match f {
                Finding::Info(t) => writeln!(out, "   {t}"),
                Finding::Ok(t) => writeln!(out, "ok {t}"),
                Finding::Fail(t) => writeln!(out, "NO {t}"),
            };
        }
        let failed = self
            .findings
            .iter()
            .filter(|f| matches!(f, Finding::Fail(_)))
            .count();
        if failed == 0 {
            out.push_str("verdict: ready. Programs run with torify reach Tor, and nothing else.\n");
        } else {
            let _ = writeln!(
                out,
                "verdict: NOT ready: {failed} check{} failed (the lines marked NO).",
                if failed == 1 { "" } else { "s" }
            );
        }
        out
    }
}

/// Where the settings came from, in a sentence.
pub(crate) fn settings_sentence(loaded: &Loaded) -> String {
    match &loaded.file {
        Some(file) => format!(
            "Settings are read from {} (and the environment and flags, which win).",
            file.display()
        ),
        None => "No settings file was found: built-in defaults, the environment and flags apply."
            .to_owned(),
    }
}

/// The checks against a SOCKS endpoint: is it there, is it Tor (skipped for the embedded
/// client, which is Tor by construction), can it resolve `name`.
pub(crate) fn socks_checks(
    report: &mut Report,
    loaded: &Loaded,
    endpoint: SocksEndpoint<'_>,
    embedded: bool,
    name: &str,
) {
    if !socks_client::answers(endpoint) {
        report.fail(format!(
            "Nothing answers SOCKS5 at {endpoint}. Start tor (its SocksPort), point torify at it with -a/-P or tor.address/tor.port, or use --backend arti."
        ));
        return;
    }
    report.ok(format!("A SOCKS5 server answers at {endpoint}."));
    if embedded {
        report.ok("It is Tor: the client embedded in torify.");
    } else {
        match socks_client::is_tor(endpoint) {
            Ok(true) => report.ok("It is Tor: it answered an HTTP request with Tor's own refusal."),
            Ok(false) => report.fail(format!(
                "The server at {endpoint} is not Tor (no Tor answer to an HTTP probe): traffic would go through some other proxy. Point torify at Tor's SocksPort."
            )),
            Err(e) => report.fail(format!("Could not ask {endpoint} whether it is Tor: {e}.")),
        }
    }
    match socks_client::resolve(&loaded.settings, endpoint, name) {
        Ok(ip) => report.ok(format!(
            "Tor resolves names: {name} is {ip} (asked with RESOLVE, answered by an exit)."
        )),
        Err(e) => report.fail(resolve_failure(name, &e.to_string())),
    }
    if !embedded {
        report.info(optimistic_sentence(
            socks_client::optimistic_data(endpoint, name),
            name,
        ));
    }
}

/// What `check` says when Tor could not resolve `name`: with the default name, that a
/// private Tor network's exits resolve only what their own resolver knows.
fn resolve_failure(name: &str, why: &str) -> String {
    let hint = if name == crate::cli::CHECK_NAME {
        format!(
            "{name} is the default --name, a public name: on a private Tor network (TestingTorNetwork, or [arti.network]) the exits resolve only what their resolver knows, so name one of those with --name"
        )
    } else {
        "check Tor's log, or try `torify check --name` with another name".to_owned()
    };
    format!("Tor could not resolve {name}: {why}. Programs would get lookup errors; {hint}.")
}

/// What `check` says about the daemon's optimistic data (the embedded client's is torify's own
/// choice, documented in torify(1)).
fn optimistic_sentence(
    found: Result<socks_client::Optimistic, socks_client::Failure>,
    name: &str,
) -> String {
    use socks_client::Optimistic;
    match found {
        Ok(Optimistic::Sent) => "Tor sends a program's first bytes with the stream request (optimistic data): a request is answered one circuit round trip after the connect.".to_owned(),
        Ok(Optimistic::NotSent) => "Tor holds a program's first bytes until the stream is open (no optimistic data; tor 0.4.8 and later do so on conflux circuits, the default; ConfluxEnabled 0 in torrc changes it): a program's first request costs one circuit round trip more than its connect.".to_owned(),
        Ok(Optimistic::TooFast(rtt)) => format!(
            "Whether Tor sends optimistic data cannot be told here: a circuit round trip takes {} ms.",
            rtt.as_millis()
        ),
        Err(e) => format!(
            "Whether Tor sends optimistic data is unknown: an HTTP request to {name}:80 failed ({e})."
        ),
    }
}

/// Whether the library loads into a child: `cat /proc/self/maps` run the way commands are.
pub(crate) fn library_check(report: &mut Report, lib: &Path, changes: &EnvChanges) {
    let loaded = crate::library::loads_into_a_child(lib, |cmd| {
        launch::apply(cmd, lib, changes);
        cmd.env(torify_conf::LOG_LEVEL_VARIABLE, "1");
    });
    match loaded {
        Ok(()) => report.ok(format!(
            "The library loads into programs: {}.",
            lib.display()
        )),
        Err(why) => report.fail(format!(
            "The library did not load into a child ({}): {why}. Reinstall torify (make install).",
            lib.display(),
        )),
    }
}

/// Whether the kernel cage (--strict) can be built here, from a trial cage built before any
/// other check: a failure when the settings ask for it, a note otherwise.
pub(crate) fn cage_check(report: &mut Report, trial: Result<(), String>, strict: bool) {
    match (trial, strict) {
        (Ok(()), _) => report.ok(
            "The kernel cage (--strict) can be built here: namespaces, TUN device and routes came up and went down.",
        ),
        (Err(why), true) => report.fail(format!(
            "The kernel cage cannot be built here, and the settings ask for it (tor.strict): {why}."
        )),
        (Err(why), false) => report.info(format!(
            "The kernel cage (--strict) cannot be built here: {why}. Programs the library cannot enter (static, Go) are refused rather than caged."
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_default_name_says_what_a_private_network_needs() {
        let default = resolve_failure(crate::cli::CHECK_NAME, "host unreachable");
        assert!(
            default.contains("private Tor network") && default.contains("--name"),
            "{default}"
        );
        let own = resolve_failure("web.test", "host unreachable");
        assert!(
            !own.contains("private") && own.contains("Tor's log"),
            "{own}"
        );
    }

    #[test]
    fn optimistic_data_is_told_in_one_sentence_each_way() {
        use crate::socks_client::{Failure, Optimistic};
        let said = |found| optimistic_sentence(found, "web.test");
        assert!(said(Ok(Optimistic::Sent)).contains("sends a program's first bytes"));
        assert!(said(Ok(Optimistic::NotSent)).contains("ConfluxEnabled 0"));
        assert!(
            said(Ok(Optimistic::TooFast(std::time::Duration::from_millis(4))))
                .contains("takes 4 ms")
        );
        let refused = Failure::Io(std::io::ErrorKind::ConnectionRefused.into());
        assert!(said(Err(refused)).contains("web.test:80 failed"));
        for found in [Ok(Optimistic::Sent), Ok(Optimistic::NotSent)] {
            assert!(!said(found).contains('\n'));
        }
    }

    #[test]
    fn verdict_follows_the_findings() {
        let mut r = Report::default();
        r.info("settings");
        r.ok("answers");
        assert!(r.passed());
        assert!(
            r.render().ends_with(
                "verdict: ready. Programs run with torify reach Tor, and nothing else.\n"
            )
        );
        r.fail("not Tor");
        r.fail("no resolve");
        assert!(!r.passed());
        let text = r.render();
        assert!(text.contains("NO not Tor\n"), "{text}");
        assert!(text.contains("   settings\n"), "{text}");
        assert!(text.ends_with("verdict: NOT ready: 2 checks failed (the lines marked NO).\n"));
    }

    #[test]
    fn an_unavailable_cage_fails_only_when_asked_for() {
        let mut r = Report::default();
        cage_check(&mut r, Err("no TUN".into()), false);
        assert!(r.passed());
        assert!(
            r.render().contains("cannot be built here: no TUN."),
            "{}",
            r.render()
        );
        cage_check(&mut r, Err("no TUN".into()), true);
        assert!(!r.passed());
        let mut r = Report::default();
        cage_check(&mut r, Ok(()), true);
        assert!(r.passed());
    }
}
