use super::*;

const LIB: &str = "/usr/lib/x86_64-linux-gnu/torify/libtorify.so";

fn listed(text: &str) -> Vec<&str> {
    entries(text.as_bytes())
        .map(|e| std::str::from_utf8(e).unwrap())
        .collect()
}

#[test]
fn entries_are_read_as_the_loader_reads_them() {
    assert_eq!(
        listed("/a.so:/b.so /c.so\t/d.so\n# /e.so\n/f.so # /g.so\n/h.so"),
        ["/a.so", "/b.so", "/c.so", "/d.so", "/f.so", "/h.so"]
    );
    assert!(listed("").is_empty());
    assert!(listed("\n  \n#only\n").is_empty());
}

#[test]
fn add_puts_the_library_first_and_keeps_every_other_byte() {
    assert_eq!(
        add(None, LIB),
        Some((format!("{LIB}\n").into_bytes(), Before::Absent))
    );
    assert_eq!(
        add(Some(b"/other.so\n"), LIB),
        Some((format!("{LIB}\n/other.so\n").into_bytes(), Before::Present))
    );
    assert_eq!(
        add(Some(b"/other.so"), LIB),
        Some((format!("{LIB}\n/other.so").into_bytes(), Before::Present))
    );
    assert_eq!(
        add(Some(b""), LIB),
        Some((format!("{LIB}\n").into_bytes(), Before::Present))
    );
    assert_eq!(add(Some(format!("{LIB} /x.so\n").as_bytes()), LIB), None);
    // Listed after another library, whose symbols would win: moved up.
    assert_eq!(
        add(Some(format!("/x.so\n{LIB}\n").as_bytes()), LIB),
        Some((format!("{LIB}\n/x.so\n").into_bytes(), Before::Present))
    );
}

#[test]
fn remove_undoes_add_exactly() {
    let ours = |e: &[u8]| e == LIB.as_bytes();
    for before in [
        None,
        Some(&b""[..]),
        Some(b"/other.so\n"),
        Some(b"/other.so"),
        Some(b"# a comment\n/a.so:/b.so\n\n"),
    ] {
        let (added, how) = add(before, LIB).unwrap();
        let back = remove(&added, ours, Some(how));
        match before {
            None => assert_eq!(back, Removed::Delete),
            Some(text) => assert_eq!(back, Removed::Write(text.to_vec()), "{before:?}"),
        }
    }
}

#[test]
fn remove_keeps_what_others_added_since() {
    let ours = |e: &[u8]| e == LIB.as_bytes();
    let (mut added, how) = add(None, LIB).unwrap();
    added.extend_from_slice(b"/later.so\n");
    assert_eq!(how, Before::Absent);
    assert_eq!(
        remove(&added, ours, Some(how)),
        Removed::Write(b"/later.so\n".to_vec())
    );
    // An entry put by hand on a line with others goes alone.
    let text = format!("/a.so {LIB}:/b.so # note\n/c.so\n");
    assert_eq!(
        remove(text.as_bytes(), ours, None),
        Removed::Write(b"/a.so /b.so # note\n/c.so\n".to_vec())
    );
    assert_eq!(remove(b"/a.so\n", ours, None), Removed::NotListed);
    // A commented-out entry is no entry.
    assert_eq!(
        remove(format!("# {LIB}\n").as_bytes(), ours, None),
        Removed::NotListed
    );
}

#[test]
fn the_rescue_matches_the_library_by_file_name() {
    assert!(names_the_library(LIB.as_bytes()));
    assert!(names_the_library(b"/opt/t/libtorify.so"));
    assert!(names_the_library(b"libtorify.so"));
    assert!(!names_the_library(b"/usr/lib/libtorify.so.1"));
    assert!(!names_the_library(b"/usr/lib/libtorsocks.so"));
    let text = format!("/keep.so\n{LIB}\n/opt/libtorify.so\n");
    assert_eq!(
        remove(text.as_bytes(), names_the_library, None),
        Removed::Write(b"/keep.so\n".to_vec())
    );
}

fn state() -> State {
    State {
        library: LIB.to_owned(),
        before: Before::Present,
        users: vec![ExemptUser {
            uid: 107,
            name: "debian-tor".to_owned(),
        }],
        programs: vec!["/usr/bin/tor".to_owned()],
    }
}

#[test]
fn the_state_file_reads_back_what_was_written() {
    let text = state().render();
    assert_eq!(State::parse(&text), Ok(state()));
    assert!(text.contains("exempt-user 107 debian-tor\n"), "{text}");
    assert_eq!(
        State::parse("library /x\nbefore maybe\n"),
        Err("line 2: \"before maybe\"".to_owned())
    );
    assert_eq!(
        State::parse("before absent\n"),
        Err("no library line".to_owned())
    );
    assert!(State::parse("library relative/path\nbefore absent\n").is_err());
}

fn process(euid: u32, program: &str) -> Process<'_> {
    Process {
        launched: false,
        listed: true,
        pid: 4242,
        euid: Some(euid),
        program: Some(program),
    }
}

#[test]
fn exemptions_apply_in_the_system_wide_mode_only() {
    let text = state().render();
    let state = Some(text.as_str());
    assert_eq!(
        decide(&process(1000, "/usr/bin/curl"), state),
        Verdict::Armed
    );
    assert_eq!(
        decide(&process(107, "/usr/bin/curl"), state),
        Verdict::Exempt(Exemption::User(107))
    );
    assert_eq!(
        decide(&process(0, "/usr/bin/tor"), state),
        Verdict::Exempt(Exemption::Program)
    );
    assert_eq!(
        decide(
            &Process {
                pid: 1,
                ..process(0, "/usr/lib/systemd/systemd")
            },
            state
        ),
        Verdict::Exempt(Exemption::Init)
    );
    // Under the launcher, or preloaded by LD_PRELOAD only: nothing is exempt, not even PID 1
    // (a container's first process can be a torified command).
    for p in [
        Process {
            launched: true,
            ..process(107, "/usr/bin/tor")
        },
        Process {
            listed: false,
            pid: 1,
            ..process(107, "/usr/bin/tor")
        },
    ] {
        assert_eq!(decide(&p, state), Verdict::Armed, "{p:?}");
    }
    // No trusted state file: only PID 1 is left alone.
    assert_eq!(decide(&process(107, "/usr/bin/tor"), None), Verdict::Armed);
    // Unknown facts exempt nothing.
    let unknown = Process {
        euid: None,
        program: None,
        ..process(0, "")
    };
    assert_eq!(decide(&unknown, state), Verdict::Armed);
}

#[test]
fn a_bad_line_exempts_nothing_but_spoils_no_other() {
    let text = "exempt-user x debian-tor\nexempt-program relative\nexempt-user 107\n";
    assert_eq!(
        decide(&process(107, "/bin/sh"), Some(text)),
        Verdict::Exempt(Exemption::User(107))
    );
    assert_eq!(decide(&process(0, "relative"), Some(text)), Verdict::Armed);
}

#[test]
fn listing_compares_files_not_spellings() {
    let dir = tempfile::tempdir().unwrap();
    let lib = dir.path().join("libtorify.so");
    std::fs::write(&lib, b"x").unwrap();
    let link = dir.path().join("link.so");
    std::os::unix::fs::symlink(&lib, &link).unwrap();
    let other = dir.path().join("other.so");
    std::fs::write(&other, b"y").unwrap();
    assert!(super::listed(
        format!("{}\n", link.display()).as_bytes(),
        &lib
    ));
    assert!(!super::listed(
        format!("{}\n", other.display()).as_bytes(),
        &lib
    ));
    assert!(!super::listed(b"", &lib));
}

#[test]
fn only_a_state_file_only_root_can_write_is_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("system.conf");
    std::fs::write(&path, state().render()).unwrap();
    let root = std::fs::metadata(&path).map(|m| m.uid() == 0).unwrap();
    assert_eq!(trusted_state(&path).is_some(), root);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    assert_eq!(trusted_state(&path), None);
    assert_eq!(trusted_state(&dir.path().join("absent")), None);
}

#[test]
fn this_process_knows_its_own_user() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let uid = std::fs::metadata("/proc/self").unwrap().uid();
    assert!(status.contains("Uid:"));
    assert_eq!(effective_uid(), Some(uid));
}

#[test]
fn the_file_is_replaced_whole_and_taken_out_of_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ld.so.preload");
    let ours = |e: &[u8]| e == LIB.as_bytes();
    assert_eq!(take_out(&path, ours, None).unwrap(), Removed::NotListed);
    std::fs::write(&path, b"/other.so").unwrap();
    let (text, before) = add(Some(&std::fs::read(&path).unwrap()), LIB).unwrap();
    write_atomically(&path, &text, 0o644).unwrap();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        format!("{LIB}\n/other.so").as_bytes()
    );
    assert_eq!(
        std::fs::metadata(&path).unwrap().mode() & 0o777,
        0o644,
        "the mode asked for"
    );
    take_out(&path, ours, Some(before)).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"/other.so");
    // Nothing is left beside it.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    std::fs::write(&path, format!("{LIB}\n")).unwrap();
    assert_eq!(
        take_out(&path, ours, Some(Before::Absent)).unwrap(),
        Removed::Delete
    );
    assert!(!path.exists());
}
