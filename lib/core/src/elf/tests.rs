//! Program files, one row per kind: synthetic ELF images built here, and the real files
//! every Debian machine has.

use super::*;

const X86: Native = Native {
    machine: 62,
    loader: b"ld-linux-x86-64.so.2",
};

/// A 64-bit little-endian ELF image: `interp` as PT_INTERP, `notes` as one PT_NOTE, and
/// section names (a section header table with its string table) when `sections` is not empty.
fn image(
    machine: u16,
    e_type: u16,
    interp: Option<&[u8]>,
    notes: &[u8],
    sections: &[&str],
) -> Vec<u8> {
    let mut phdrs: Vec<(u32, Vec<u8>)> = Vec::new();
    if let Some(i) = interp {
        let mut p = i.to_vec();
        p.push(0);
        phdrs.push((PT_INTERP, p));
    }
    if !notes.is_empty() {
        phdrs.push((PT_NOTE, notes.to_vec()));
    }
    let mut b = vec![0u8; 64 + 56 * phdrs.len()];
    b[..4].copy_from_slice(b"\x7fELF");
    b[4] = 2;
    b[5] = 1;
    b[0x10..0x12].copy_from_slice(&e_type.to_le_bytes());
    b[0x12..0x14].copy_from_slice(&machine.to_le_bytes());
    b[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
    b[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
    b[0x38..0x3A].copy_from_slice(&(phdrs.len() as u16).to_le_bytes());
    for (i, (ty, data)) in phdrs.iter().enumerate() {
        let at = 64 + 56 * i;
        let offset = b.len() as u64;
        b.extend_from_slice(data);
        b[at..at + 4].copy_from_slice(&ty.to_le_bytes());
        b[at + 8..at + 16].copy_from_slice(&offset.to_le_bytes());
        b[at + 32..at + 40].copy_from_slice(&(data.len() as u64).to_le_bytes());
    }
    if !sections.is_empty() {
        let mut strtab = vec![0u8];
        let mut names = Vec::new();
        for s in sections.iter().chain(&[".shstrtab"]) {
            names.push(strtab.len() as u32);
            strtab.extend_from_slice(s.as_bytes());
            strtab.push(0);
        }
        let strtab_at = b.len() as u64;
        b.extend_from_slice(&strtab);
        let shoff = b.len() as u64;
        for (i, name) in names.iter().enumerate() {
            let mut sh = [0u8; 64];
            sh[..4].copy_from_slice(&name.to_le_bytes());
            if i == names.len() - 1 {
                sh[24..32].copy_from_slice(&strtab_at.to_le_bytes());
            }
            b.extend_from_slice(&sh);
        }
        b[0x28..0x30].copy_from_slice(&shoff.to_le_bytes());
        b[0x3A..0x3C].copy_from_slice(&64u16.to_le_bytes());
        b[0x3C..0x3E].copy_from_slice(&(names.len() as u16).to_le_bytes());
        b[0x3E..0x40].copy_from_slice(&((names.len() - 1) as u16).to_le_bytes());
    }
    b
}

fn note(name: &[u8], ty: u32, desc: &[u8]) -> Vec<u8> {
    let mut n = Vec::new();
    n.extend_from_slice(&(name.len() as u32).to_le_bytes());
    n.extend_from_slice(&(desc.len() as u32).to_le_bytes());
    n.extend_from_slice(&ty.to_le_bytes());
    n.extend_from_slice(name);
    n.resize(n.len().div_ceil(4) * 4, 0);
    n.extend_from_slice(desc);
    n.resize(n.len().div_ceil(4) * 4, 0);
    n
}

fn entry_of(bytes: &[u8], name: &[u8]) -> Entry {
    let mut read_at = |offset: u64, buf: &mut [u8]| {
        let start = (offset as usize).min(bytes.len());
        let n = buf.len().min(bytes.len() - start);
        buf[..n].copy_from_slice(&bytes[start..start + n]);
        n
    };
    entry(&mut read_at, name, &X86)
}

const GLIBC: &[u8] = b"/lib64/ld-linux-x86-64.so.2";

#[test]
fn program_table() {
    let gnu_note = note(b"GNU\0", 3, &[1, 2, 3, 4]);
    let go_note = [
        gnu_note.clone(),
        note(b"Go\0\0", NOTE_GO_BUILDID, b"abcdefgh"),
    ]
    .concat();
    let rows: Vec<(&str, Vec<u8>, &[u8], Entry)> = vec![
        (
            "glibc dynamic",
            image(62, 3, Some(GLIBC), &gnu_note, &[".text"]),
            b"prog",
            Entry::Enters,
        ),
        (
            "another prefix, same loader",
            image(
                62,
                3,
                Some(b"/opt/glibc/lib/ld-linux-x86-64.so.2"),
                &[],
                &[],
            ),
            b"prog",
            Entry::Enters,
        ),
        (
            "static",
            image(62, 2, None, &gnu_note, &[".text"]),
            b"prog",
            Entry::Cannot(Unenterable::Static),
        ),
        (
            "static-pie",
            image(62, 3, None, &[], &[]),
            b"ldconfig",
            Entry::Cannot(Unenterable::Static),
        ),
        (
            "the loader run as a program",
            image(62, 3, None, &[], &[]),
            b"ld-linux-x86-64.so.2",
            Entry::Enters,
        ),
        (
            "musl",
            image(62, 3, Some(b"/lib/ld-musl-x86_64.so.1"), &[], &[]),
            b"prog",
            Entry::Cannot(Unenterable::ForeignLoader),
        ),
        (
            "Go, static, by its note",
            image(62, 2, None, &go_note, &[]),
            b"prog",
            Entry::Cannot(Unenterable::Go),
        ),
        (
            "Go, dynamic (cgo), by its note",
            image(62, 2, Some(GLIBC), &go_note, &[]),
            b"prog",
            Entry::Cannot(Unenterable::Go),
        ),
        (
            "Go, by its sections only",
            image(62, 3, Some(GLIBC), &[], &[".text", ".gopclntab"]),
            b"prog",
            Entry::Cannot(Unenterable::Go),
        ),
        (
            "Go buildinfo section",
            image(62, 2, None, &[], &[".go.buildinfo"]),
            b"prog",
            Entry::Cannot(Unenterable::Go),
        ),
        (
            "aarch64",
            image(183, 3, Some(b"/lib/ld-linux-aarch64.so.1"), &[], &[]),
            b"prog",
            Entry::Cannot(Unenterable::ForeignMachine {
                class: 2,
                machine: 183,
            }),
        ),
        (
            "script",
            b"#!/bin/sh -e\necho\n".to_vec(),
            b"s",
            Entry::Script { start: 2, end: 9 },
        ),
        (
            "script with a space",
            b"#! /usr/bin/env python3\n".to_vec(),
            b"s",
            Entry::Script { start: 3, end: 15 },
        ),
        ("empty shebang", b"#!\n".to_vec(), b"s", Entry::Other),
        ("text", b"echo hello\n".to_vec(), b"s", Entry::Other),
        (
            "truncated ELF",
            b"\x7fELF\x02\x01".to_vec(),
            b"p",
            Entry::Other,
        ),
    ];
    for (what, bytes, name, want) in rows {
        assert_eq!(entry_of(&bytes, name), want, "{what}");
    }
    let mut i386 = image(3, 2, Some(b"/lib/ld-linux.so.2"), &[], &[]);
    i386[4] = 1;
    assert_eq!(
        entry_of(&i386, b"p"),
        Entry::Cannot(Unenterable::ForeignMachine {
            class: 1,
            machine: 3
        })
    );
}

#[test]
fn hostile_headers_are_bounded_and_never_panic() {
    let mut b = image(62, 3, Some(GLIBC), &[], &[".text"]);
    // Program header count and offsets far outside the file.
    b[0x38..0x3A].copy_from_slice(&0xffffu16.to_le_bytes());
    b[0x20..0x28].copy_from_slice(&u64::MAX.to_le_bytes());
    assert_eq!(entry_of(&b, b"p"), Entry::Other);
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    for _ in 0..2000 {
        let mut img = image(
            62,
            3,
            Some(GLIBC),
            &note(b"GNU\0", 3, &[0; 8]),
            &[".a", ".b"],
        );
        for _ in 0..8 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let at = (state as usize) % img.len();
            img[at] = (state >> 32) as u8;
        }
        let _ = entry_of(&img, b"p");
    }
}

#[test]
fn real_files_of_this_machine() {
    let real = |path: &str| {
        let bytes = std::fs::read(path).unwrap();
        let name = path.rsplit('/').next().unwrap().as_bytes().to_vec();
        entry_of(&bytes, &name)
    };
    if cfg!(target_arch = "x86_64") {
        assert_eq!(real("/bin/dash"), Entry::Enters);
        assert_eq!(real("/sbin/ldconfig"), Entry::Cannot(Unenterable::Static));
        assert_eq!(
            real("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"),
            Entry::Enters
        );
    }
}

#[test]
fn refusal_lines_name_the_program_the_reason_and_the_way_out() {
    let line = Refused {
        program: "/usr/bin/prog",
        why: Unenterable::Go,
    }
    .to_string();
    for part in [
        "/usr/bin/prog",
        "Go program",
        "--strict",
        "allow.unproxied_exec",
        "forward",
    ] {
        assert!(line.contains(part), "{line}");
    }
}
