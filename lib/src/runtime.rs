//! What the library knows about its setting, loaded on the first hooked call that needs it.

use std::sync::atomic::{AtomicBool, Ordering};

use std::ffi::{CStr, CString};

use torify_conf::{Isolation, SESSION_VARIABLE, SYSTEM_FILES, Settings, Sources};
use torify_core::refusal::{Reason, Refusal};

use crate::forksafe::Once;
use crate::isolation::Token;
use crate::{log, sys};

/// Settings and session state of this process.
pub(crate) struct Runtime {
    pub(crate) settings: Settings,
    /// The session's isolation token (isolation modes session/destination): the launcher's,
    /// or one made here when the library was preloaded without the launcher.
    pub(crate) session: Option<Token>,
    /// `TORIFY_SESSION=<token>` when the token was made here, so that children share it.
    local_session: Option<CString>,
}

static RUNTIME: Once<Option<Runtime>> = Once::new();
/// Set by the first call that needs the settings.
static STARTED: AtomicBool = AtomicBool::new(false);

/// Before a fork, in a process that has used the network: finish loading, so that a child
/// shares its parent's session token rather than making its own. A process that never did
/// pays nothing here.
pub(crate) fn before_fork() {
    if STARTED.load(Ordering::Acquire) {
        let _ = get();
    }
}

fn load() -> Option<Runtime> {
    crate::environ::prepare();
    let secure = sys::secure_exec();
    // The initial environment: a program that scrubs its own cannot change torify's settings.
    let env = |name: &str| {
        if secure {
            None
        } else {
            crate::environ::initial_var(name)
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
                log::notice!("{note}");
            }
            let mut session = env(SESSION_VARIABLE).and_then(|t| Token::from_hex(&t));
            let mut local_session = None;
            let needs_session = matches!(
                loaded.settings.isolation,
                Isolation::Session | Isolation::Destination
            ) && loaded.settings.credentials.is_none();
            if session.is_none() && needs_session {
                session = Token::random();
                local_session = session
                    .as_ref()
                    .and_then(|t| CString::new(format!("{SESSION_VARIABLE}={}", t.hex())).ok());
            }
            Some(Runtime {
                settings: loaded.settings,
                session,
                local_session,
            })
        }
        Err(e) => {
            // Whatever the settings say about logging cannot be trusted now; errors go to
            // stderr, and nothing leaves the process.
            log::init(&Settings::default().log);
            log::error!("{e}");
            None
        }
    }
}

/// `TORIFY_SESSION=<token>` for children, when this process made the session token itself.
pub(crate) fn local_session_entry() -> Option<&'static CStr> {
    RUNTIME.get()?.as_ref()?.local_session.as_deref()
}

/// The runtime, or the refusal every network call gets when the settings are invalid.
pub(crate) fn get() -> Result<&'static Runtime, Refusal> {
    STARTED.store(true, Ordering::Release);
    RUNTIME.get_or_init(load).as_ref().ok_or(Refusal {
        errno: libc::EPERM,
        reason: Reason::BadSettings,
    })
}
