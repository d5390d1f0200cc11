//! Which Tor to use: the tor daemon's SocksPort, or the Tor client embedded in the launcher.

use torify_conf::{Backend, Settings};

use crate::socks_client;

/// The backend that will carry the command's traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Chosen {
    /// A tor daemon's SocksPort.
    Daemon,
    /// The embedded client (arti).
    Embedded,
}

/// Picks the backend for `settings`: `auto` is the daemon when its SocksPort answers.
pub(crate) fn choose(settings: &Settings) -> Chosen {
    match settings.backend {
        Backend::Tor => Chosen::Daemon,
        Backend::Arti => Chosen::Embedded,
        _ => {
            if socks_client::answers(settings.socks_endpoint()) || !cfg!(feature = "arti") {
                Chosen::Daemon
            } else {
                Chosen::Embedded
            }
        }
    }
}
