//! What the library knows about its setting, loaded on the first hooked call that needs it.

use std::sync::OnceLock;

use torify_conf::{SYSTEM_FILES, Settings, Sources};
use torify_core::refusal::{Reason, Refusal};

use crate::isolation::Token;
use crate::{log, sys};

/// The variable through which the launcher hands the session's isolation token to every
/// process it starts.
pub(crate) const SESSION_VARIABLE: &str = "TORIFY_SESSION";

/// Settings and session state of this process.
pub(crate) struct Runtime {
    pub(crate) settings: Settings,
    /// The launcher's session token, if it gave one (isolation modes session/destination).
    pub(crate) session: Option<Token>,
}

static RUNTIME: OnceLock<Option<Runtime>> = OnceLock::new();

fn load() -> Option<Runtime> {
    let secure = sys::secure_exec();
    let env = |name: &str| {
        if secure {
            None
        } else {
            std::env::var(name).ok()
        }
    };
    let sources = Sources {
        env: &env,
        secure,
        config_flag: None,
        flags: &[],
        system_files: &SYSTEM_FILES,
    };
    match torify_conf::load(&sources) {
        Ok(loaded) => {
            log::init(&loaded.settings.log);
            for note in &loaded.notes {
                tracing::info!("{note}");
            }
            let session = env(SESSION_VARIABLE).and_then(|t| Token::from_hex(&t));
            Some(Runtime {
                settings: loaded.settings,
                session,
            })
        }
        Err(e) => {
            // Whatever the settings say about logging cannot be trusted now; errors go to
            // stderr, and nothing leaves the process.
            log::init(&Settings::default().log);
            tracing::error!("{e}");
            None
        }
    }
}

/// The runtime, or the refusal every network call gets when the settings are invalid.
pub(crate) fn get() -> Result<&'static Runtime, Refusal> {
    RUNTIME.get_or_init(load).as_ref().ok_or(Refusal {
        errno: libc::EPERM,
        reason: Reason::BadSettings,
    })
}
