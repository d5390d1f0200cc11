//! `torify completions bash|zsh`: clap's completion of torify's own options and subcommands,
//! wrapped so that after them the command to run is completed (a command name, then that
//! command's own arguments through the shell's completion for it), as for sudo or env. Both
//! scripts also complete the `torsocks` name.

use clap::Command;

/// What the wrapper must know of the command line: the options that take a value (their next
/// word is no command) and the subcommands (whose words clap completes).
struct Words {
    valued: Vec<String>,
    subcommands: Vec<String>,
}

fn words(cmd: &Command) -> Words {
    let mut valued = Vec::new();
    for arg in cmd.get_arguments() {
        if !arg.get_action().takes_values() || arg.is_positional() {
            continue;
        }
        if let Some(s) = arg.get_short() {
            valued.push(format!("-{s}"));
        }
        if let Some(l) = arg.get_long() {
            valued.push(format!("--{l}"));
        }
    }
    let mut subcommands = Vec::new();
    for sub in cmd.get_subcommands() {
        subcommands.push(sub.get_name().to_owned());
        subcommands.extend(sub.get_all_aliases().map(str::to_owned));
    }
    Words {
        valued,
        subcommands,
    }
}

/// The bash script: clap's `_torify`, and `_torify_command` registered for both names.
pub(crate) fn bash(cmd: &mut Command) -> Vec<u8> {
    let w = words(cmd);
    let mut out = Vec::new();
    clap_complete::generate(clap_complete::Shell::Bash, cmd, "torify", &mut out);
    let mut text = String::from_utf8_lossy(&out).replace("-F _torify ", "-F _torify_command ");
    text.push_str(&format!(
        r#"
# After torify's options: the command to run, then its own arguments (bash-completion's
# _command_offset when it is there, file names otherwise).
_torify_command() {{
    local i=1
    while [ "$i" -lt "$COMP_CWORD" ]; do
        case ${{COMP_WORDS[i]}} in
            --) i=$((i + 1)); break ;;
            {valued})
                if [ $((i + 1)) -eq "$COMP_CWORD" ]; then _torify "$@"; return; fi
                i=$((i + 2)) ;;
            -*) i=$((i + 1)) ;;
            {subcommands}) _torify "$@"; return ;;
            *) break ;;
        esac
    done
    local cur=${{COMP_WORDS[COMP_CWORD]}}
    if [ "$i" -lt "$COMP_CWORD" ]; then
        if declare -F _command_offset >/dev/null; then _command_offset "$i"; else compopt -o default; COMPREPLY=(); fi
    elif [ "$i" -eq "$COMP_CWORD" ] && [[ $cur != -* ]]; then
        COMPREPLY=($(compgen -W "{subcommand_list}" -- "$cur") $(compgen -c -- "$cur"))
    else
        _torify "$@"
    fi
}}
complete -o bashdefault -o default -o nosort -F _torify_command torsocks
"#,
        valued = w.valued.join("|"),
        subcommands = w.subcommands.join("|"),
        subcommand_list = w.subcommands.join(" "),
    ));
    text.into_bytes()
}

/// The zsh script: clap's function renamed `_torify_clap`, and `_torify` the wrapper.
pub(crate) fn zsh(cmd: &mut Command) -> Vec<u8> {
    let w = words(cmd);
    let mut out = Vec::new();
    clap_complete::generate(clap_complete::Shell::Zsh, cmd, "torify", &mut out);
    let text = String::from_utf8_lossy(&out)
        .replacen("#compdef torify", "#compdef torify torsocks", 1)
        .replacen("\n_torify() {", "\n_torify_clap() {", 1);
    let wrapper = format!(
        r#"
# After torify's options: the command to run, then its own arguments (_normal).
_torify() {{
    local i=2
    while (( i < CURRENT )); do
        case ${{words[i]}} in
            (--) (( i++ )); break ;;
            ({valued})
                if (( i + 1 == CURRENT )); then _torify_clap "$@"; return; fi
                (( i += 2 )) ;;
            (-*) (( i++ )) ;;
            ({subcommands}) _torify_clap "$@"; return ;;
            (*) break ;;
        esac
    done
    if (( i < CURRENT )); then
        words=("${{(@)words[i,-1]}}")
        (( CURRENT -= i - 1 ))
        _normal
    elif (( i == CURRENT )) && [[ ${{words[CURRENT]}} != -* ]]; then
        _alternative 'subcommands:subcommand:({subcommand_list})' 'commands:command:_command_names -e'
    else
        _torify_clap "$@"
    fi
}}
"#,
        valued = w.valued.join("|"),
        subcommands = w.subcommands.join("|"),
        subcommand_list = w.subcommands.join(" "),
    );
    // Before the block that runs or registers `_torify`, so that it is the wrapper.
    let tail = "\nif [ \"$funcstack[1]\" = \"_torify\" ]; then";
    let text = match text.rfind(tail) {
        Some(at) => format!("{}{wrapper}{}", &text[..at], &text[at..]),
        None => format!("{text}{wrapper}compdef _torify torify torsocks\n"),
    };
    text.into_bytes()
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;
    use crate::cli::Cli;

    #[test]
    fn the_wrapper_knows_every_valued_option_and_subcommand() {
        let w = words(&Cli::command());
        for o in [
            "-a",
            "--address",
            "-P",
            "--port",
            "-c",
            "--config",
            "--backend",
            "--dns",
        ] {
            assert!(w.valued.contains(&o.to_owned()), "{o}: {:?}", w.valued);
        }
        for o in ["-i", "--isolate", "-6", "--shell", "-q"] {
            assert!(!w.valued.contains(&o.to_owned()), "{o}");
        }
        for s in ["show", "check", "serve", "completions"] {
            assert!(w.subcommands.contains(&s.to_owned()), "{s}");
        }
    }

    #[test]
    fn both_scripts_register_the_wrapper_for_both_names() {
        let bash = String::from_utf8(bash(&mut Cli::command())).unwrap();
        assert!(!bash.contains("-F _torify "), "{bash}");
        assert!(bash.contains("-F _torify_command torsocks"));
        let zsh = String::from_utf8(zsh(&mut Cli::command())).unwrap();
        assert!(zsh.starts_with("#compdef torify torsocks\n"));
        assert!(zsh.contains("\n_torify_clap() {") && zsh.contains("\n_torify() {"));
        assert!(zsh.find("\n_torify() {") < zsh.rfind("compdef _torify torify"));
    }
}
