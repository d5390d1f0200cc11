//! Which Tor to use: the tor daemon's SocksPort, or the embedded Tor client's service
//! (`torify-serve`, started when none runs).

use torify_conf::{Backend, Key, Loaded, Origin, Settings};

use crate::{socks_client, ui};

/// The backend that will carry the command's traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Chosen {
    /// A tor daemon's SocksPort.
    Daemon,
    /// The embedded client (arti).
    Embedded,
}

/// True when the user named Tor's SOCKS address or port: then they mean a tor daemon there,
/// and nothing else may stand in for it. A flag or a variable names it whatever its value; a
/// file names it when it says something else than the default (Debian's stock
/// /etc/tor/torsocks.conf restates 127.0.0.1:9050, which changes nothing).
pub(crate) fn endpoint_named(loaded: &Loaded) -> bool {
    let default = Settings::default();
    let differs = |k: Key| match k {
        Key::TorAddress => loaded.settings.tor_address != default.tor_address,
        _ => loaded.settings.tor_port != default.tor_port,
    };
    [Key::TorAddress, Key::TorPort]
        .into_iter()
        .any(|k| match loaded.origin(k) {
            Origin::Default => false,
            Origin::File { .. } => differs(k),
            Origin::Env(_) | Origin::Flag(_) => true,
        })
}

/// Picks the backend: `auto` is the daemon when a SocksPort was named, the default one answers
/// or no service program is installed, else the embedded client, which it says (a user behind
/// bridges would otherwise reach public relays without knowing).
pub(crate) fn choose(loaded: &Loaded, quiet: bool) -> Chosen {
    let settings = &loaded.settings;
    match settings.backend {
        Backend::Tor => Chosen::Daemon,
        Backend::Arti => Chosen::Embedded,
        Backend::Auto => {
            if endpoint_named(loaded)
                || socks_client::answers(settings.socks_endpoint())
                || crate::library::service().is_err()
            {
                Chosen::Daemon
            } else {
                if !quiet {
                    ui::error(format!(
                        "nothing answers at {} (the default SocksPort), so the Tor client embedded in torify starts and connects to Tor relays itself; --backend tor (or naming a port with -P) insists on a tor daemon",
                        settings.socks_endpoint()
                    ));
                }
                Chosen::Embedded
            }
        }
    }
}
