//! What the library knows about its setting, loaded on the first hooked call that needs it.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use std::ffi::{CStr, CString};

use torify_conf::{Isolation, SYSTEM_FILES, Settings, Sources};
use torify_core::refusal::{Reason, Refusal};

use crate::isolation::Token;
use crate::{log, sys};

/// The variable through which the launcher hands the session's isolation token to every
/// process it starts.
pub(crate) const SESSION_VARIABLE: &str = "TORIFY_SESSION";

/// Settings and session state of this process.
pub(crate) struct Runtime {
    pub(crate) settings: Settings,
    /// The session's isolation token (isolation modes session/destination): the launcher's,
    /// or one made here when the library was preloaded without the launcher.
    pub(crate) session: Option<Token>,
    /// `TORIFY_SESSION=<token>` when the token was made here, so that children share it.
    local_session: Option<CString>,
}

static RUNTIME: OnceLock<Option<Runtime>> = OnceLock::new();
static AT_FORK: AtomicBool = AtomicBool::new(false);

/// Before any fork: finish loading (or wait for the thread that is loading), so that no child
/// starts with the load half done and waits for it forever.
extern "C" fn before_fork() {
    let _ = RUNTIME.get_or_init(load);
}

extern "C" fn nothing() {}

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
                tracing::info!("{note}");
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
            tracing::error!("{e}");
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
    // An atomic, not a Once: a Once caught mid-call by fork would hang the child the same way.
    if !AT_FORK.swap(true, Ordering::AcqRel) {
        sys::at_fork(before_fork, nothing, nothing);
    }
    RUNTIME.get_or_init(load).as_ref().ok_or(Refusal {
        errno: libc::EPERM,
        reason: Reason::BadSettings,
    })
}
