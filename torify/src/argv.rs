//! The launcher's own command line in memory, so that a password given with `-p` does not stay
//! readable in /proc/PID/cmdline for as long as the launcher lives (`torify forward` and the
//! embedded client run for hours). torify-sys keeps the arguments glibc hands the executable
//! (`argv`); the value of the launcher's `-p`/`--pass` is zeroed there once the command line
//! has been parsed.

/// Options of the launcher that take a value (the value may follow, or be joined); the short
/// ones are `cli::SHORT_VALUES`.
const WITH_VALUE_LONG: &[&str] = &[
    "--address",
    "--port",
    "--user",
    "--pass",
    "--backend",
    "--config",
    "--pass-file",
    "--listen",
    "--name",
    "--linger",
    "--ready-fd",
    "--exempt-user",
    "--exempt-program",
];

/// Where the password is among `args` (argv without argv[0]): (argument index, byte offset of
/// the value in it). Only the launcher's own options count: scanning stops at `--` and at the
/// command to run, whose own `-p` is its business.
pub(crate) fn password_at(args: &[&[u8]]) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    let mut i = 0;
    let mut in_subcommand = false;
    while i < args.len() {
        let a = args[i];
        if a == b"--" {
            break;
        }
        if let Some(long) = a.strip_prefix(b"--") {
            let (name, joined) = match long.iter().position(|b| *b == b'=') {
                Some(eq) => (&long[..eq], Some(eq + 3)),
                None => (long, None),
            };
            let is_pass = name == b"pass";
            let takes = WITH_VALUE_LONG
                .iter()
                .any(|o| o.as_bytes().get(2..) == Some(name));
            match joined {
                Some(at) if is_pass => found.push((i, at)),
                None if takes => {
                    if is_pass && i + 1 < args.len() {
                        found.push((i + 1, 0));
                    }
                    i += 1;
                }
                _ => {}
            }
        } else if a.len() > 1 && a[0] == b'-' {
            // A cluster of short options: the first that takes a value takes the rest of the
            // cluster, or the next argument.
            for (k, c) in a.iter().enumerate().skip(1) {
                if crate::cli::SHORT_VALUES
                    .iter()
                    .any(|(s, _)| *s == char::from(*c))
                {
                    let rest = k + 1 < a.len();
                    if *c == b'p' {
                        found.push(if rest { (i, k + 1) } else { (i + 1, 0) });
                    }
                    if !rest {
                        i += 1;
                    }
                    break;
                }
            }
        } else if !in_subcommand && crate::cli::SUBCOMMANDS.iter().any(|s| s.as_bytes() == a) {
            in_subcommand = true;
        } else if !in_subcommand {
            // The command to run: the rest is its own.
            break;
        }
        i += 1;
    }
    found.retain(|(index, _)| *index < args.len());
    found
}

/// Zeroes the launcher's password in its command line as the kernel shows it. Called first
/// in `main`, before any thread starts.
pub(crate) fn scrub_password() {
    torify_sys::argv::zero_argument_tails(password_at);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: &str) -> Vec<(usize, usize)> {
        let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        password_at(&args)
    }

    #[test]
    fn the_launcher_s_password_is_found_and_nothing_of_the_command_s() {
        let rows: &[(&str, &[(usize, usize)])] = &[
            ("-p secret curl x", &[(1, 0)]),
            ("-u me --pass secret ssh -p 22 host", &[(3, 0)]),
            ("--pass=secret forward h:22", &[(0, 7)]),
            ("-psecret curl", &[(0, 2)]),
            ("-ip secret curl", &[(1, 0)]),
            ("-ipsecret curl", &[(0, 3)]),
            ("forward --listen 2222 -p secret host:22", &[(4, 0)]),
            ("forward host:22 -p secret", &[(3, 0)]),
            ("serve --foreground -p secret", &[(3, 0)]),
            ("serve --linger 60 -psecret", &[(3, 2)]),
            ("-u me system status --pass secret", &[(5, 0)]),
            ("ssh -p 22 host", &[]),
            ("-P 9150 ssh -p 22 host", &[]),
            ("-c /x -- -p 1", &[]),
            ("-p", &[]),
        ];
        for (line, want) in rows {
            assert_eq!(at(line), *want, "{line}");
        }
    }
}
