#![doc = include_str!("../README.md")]

mod answer;
mod elfsym;
mod environ;
mod fdpass;
mod fdstate;
mod forksafe;
mod guard;
mod hooks;
mod inherited;
mod isolation;
mod libc_sym;
mod log;
mod names;
mod names_table;
mod netdb;
mod pending;
mod proxy;
mod registry;
mod resolve;
mod runtime;
mod sockaddr;
mod spawn;
mod sys;
mod system;

// What this library does when it is loaded and around every fork: here, at the root, so that
// `forksafe` (the primitives) knows none of the tables that use it.

use std::cell::RefCell;

use forksafe::LockGuard;

/// The tables fork takes across, held by the forking thread.
struct Held {
    _pending: LockGuard<pending::Table>,
    _names: LockGuard<names::Pools>,
}

thread_local! {
    static HELD: RefCell<Option<Held>> = const { RefCell::new(None) };
}

extern "C" fn before_fork() {
    let _ = std::panic::catch_unwind(|| {
        runtime::before_fork();
        let held = Held {
            _pending: pending::lock_for_fork(),
            _names: names::lock_for_fork(),
        };
        let _ = HELD.try_with(|h| *h.borrow_mut() = Some(held));
    });
}

extern "C" fn after_fork() {
    let _ = std::panic::catch_unwind(|| {
        let _ = HELD.try_with(|h| drop(h.borrow_mut().take()));
    });
}

extern "C" fn register() {
    crate::sys::at_fork(before_fork, after_fork, after_fork);
    crate::inherited::note_at_load();
}

/// Runs `register` when the library is loaded (preloaded or linked), before `main`.
#[used]
#[unsafe(link_section = ".init_array")]
static REGISTER: extern "C" fn() = register;
