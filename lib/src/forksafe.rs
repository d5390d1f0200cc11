//! State that fork cannot catch half made.
//!
//! fork(2) copies only the calling thread: a lock, or a one-time initialisation, that another
//! thread holds at that instant stays held in the child forever, and the child's first call
//! that needs it hangs. So every lazy initialisation of this library goes through [`once`],
//! under one gate, and a pthread_atfork handler holds the gate (and the library's mutexes)
//! across every fork.
//!
//! The handlers are registered when the library is loaded, before the program can start a
//! thread. Registered on first use instead (as they were), a fork in one thread could read
//! the handler list just before another thread registered them and began an initialisation:
//! the leak suite's fork probe caught a child waiting forever on the settings' OnceLock.

use std::cell::{Cell, RefCell};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use crate::{names, pending, runtime, sys};

static GATE: Mutex<()> = Mutex::new(());

thread_local! {
    /// The gate, held by the forking thread from before fork to after it.
    static HELD: RefCell<Option<MutexGuard<'static, ()>>> = const { RefCell::new(None) };
    /// This thread is inside an initialisation (which may start another: no second lock).
    static INSIDE: Cell<bool> = const { Cell::new(false) };
}

/// Clears INSIDE however the initialisation ends (a panic included).
struct Inside;

impl Drop for Inside {
    fn drop(&mut self) {
        let _ = INSIDE.try_with(|i| i.set(false));
    }
}

/// `cell`'s value, made by `init` under the gate the first time: no fork happens while it is
/// being made. Once made, this is one atomic load.
pub(crate) fn once<T>(cell: &'static OnceLock<T>, init: impl FnOnce() -> T) -> &'static T {
    if let Some(value) = cell.get() {
        return value;
    }
    if INSIDE.try_with(Cell::get).unwrap_or(false) {
        return cell.get_or_init(init);
    }
    let _gate = GATE.lock().unwrap_or_else(PoisonError::into_inner);
    let _ = INSIDE.try_with(|i| i.set(true));
    let _inside = Inside;
    cell.get_or_init(init)
}

extern "C" fn before_fork() {
    let _ = std::panic::catch_unwind(|| {
        runtime::before_fork();
        pending::before_fork();
        names::before_fork();
        // Last: an initialisation never takes the mutexes above, so it can finish while they
        // are held, and none starts after this.
        let gate = GATE.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = HELD.try_with(|h| *h.borrow_mut() = Some(gate));
    });
}

extern "C" fn after_fork() {
    let _ = std::panic::catch_unwind(|| {
        let _ = HELD.try_with(|h| drop(h.borrow_mut().take()));
        names::after_fork();
        pending::after_fork();
    });
}

extern "C" fn register() {
    sys::at_fork(before_fork, after_fork, after_fork);
}

/// Runs `register` when the library is loaded (preloaded or linked), before `main`.
#[used]
#[unsafe(link_section = ".init_array")]
static REGISTER: extern "C" fn() = register;
