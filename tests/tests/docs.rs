//! The manual pages render cleanly and say what the code does: every flag of `--help` is in
//! torify(1), every setting in torify.toml(5) and its variables in libtorify(8).

use std::path::{Path, PathBuf};
use std::process::Command;

use torify_tests::artifacts;

fn man_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../man")
}

fn render(page: &str) -> String {
    let out = Command::new("man")
        .args(["--warnings", "-l"])
        .arg(man_dir().join(page))
        .env("MANWIDTH", "100")
        .env("LC_ALL", "C.UTF-8")
        .output()
        .expect("man (apt-get install man-db groff-base)");
    let warnings = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && warnings.trim().is_empty(),
        "{page}: {warnings}"
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The long flags `torify --help` lists.
fn help_flags() -> Vec<String> {
    let out = Command::new(artifacts::torify())
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    help.split_whitespace()
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(|w| w.trim_end_matches(',').to_owned())
        .collect()
}

#[test]
fn torify_1_documents_every_flag_of_help() {
    let page = render("torify.1");
    let flags = help_flags();
    assert!(flags.len() >= 10, "{flags:?}");
    for flag in flags {
        assert!(page.contains(&flag), "torify(1) does not document {flag}");
    }
}

/// The subcommands `torify --help` lists.
fn help_subcommands() -> Vec<String> {
    let out = Command::new(artifacts::torify())
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout).into_owned();
    let block = help
        .split("Subcommands:")
        .nth(1)
        .and_then(|rest| rest.split("\n\n").next())
        .unwrap_or_default()
        .to_owned();
    block
        .lines()
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn torify_1_documents_every_subcommand_and_exit_status() {
    let page = render("torify.1");
    let subcommands = help_subcommands();
    assert!(subcommands.len() >= 6, "{subcommands:?}");
    let commands = page
        .split("COMMANDS")
        .nth(1)
        .and_then(|rest| rest.split("EXIT STATUS").next())
        .expect("a COMMANDS section before EXIT STATUS");
    for sub in subcommands {
        assert!(
            commands.lines().any(|l| l.trim_start().starts_with(&sub)),
            "torify(1) COMMANDS does not describe {sub}"
        );
    }
    // Each entry's synopsis renders whole on its own line, its description below it.
    for synopsis in [
        "check [--name NAME]",
        "resolve [-x] TARGET",
        "forward [--listen [ADDRESS:]PORT] HOST:PORT",
        "system enable [--exempt-user USER] [--exempt-program PATH]",
    ] {
        assert!(
            commands.lines().any(|l| l.trim() == synopsis),
            "torify(1) renders {synopsis:?} broken"
        );
    }
    for needle in [
        "torsocks ssh",
        "torify on",
        "--backend arti",
        "--strict",
        "125",
        "126",
        "127",
    ] {
        assert!(page.contains(needle), "torify(1) lacks {needle}");
    }
}

#[test]
fn settings_pages_document_every_key_and_variable() {
    let toml5 = render("torify.toml.5");
    let lib8 = render("libtorify.8");
    for info in torify_conf::KEYS {
        if let Some(name) = info.toml {
            let leaf = name.rsplit('.').next().unwrap();
            assert!(toml5.contains(leaf), "torify.toml(5) lacks {name}");
        }
        if let Some(name) = info.legacy {
            assert!(toml5.contains(name), "torify.toml(5) lacks {name}");
        }
        if let Some(var) = info.env {
            assert!(lib8.contains(var), "libtorify(8) lacks {var}");
        }
    }
}

#[test]
fn torify_rescue_8_documents_its_option_and_both_ways_to_run_it() {
    let page = render("torify-rescue.8");
    let usage = Command::new(artifacts::rescue())
        .arg("--help")
        .output()
        .unwrap();
    let usage = String::from_utf8_lossy(&usage.stderr).into_owned();
    for needle in ["--all", "init=", "rw", "/etc/ld.so.preload", "libtorify.so"] {
        assert!(page.contains(needle), "torify-rescue(8) lacks {needle}");
        assert!(
            usage.contains(needle),
            "torify-rescue --help lacks {needle}: {usage}"
        );
    }
}
