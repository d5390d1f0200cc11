//! The library's log: one line per event, `torify[PID]: message`, to stderr or a file.
//!
//! Not `tracing`: its call-site registry takes a lock the first time each call site fires, and a
//! child made by a raw clone(2) while another thread held it would hang on its first log line.
//! Here a line is formatted into a stack buffer and written with one write(2): no lock, no
//! allocation, no line interleaved with another thread's. The level is one atomic.

use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicI32, AtomicU8, AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use torify_conf::{LogLevel, LogSettings};
use torify_core::refusal::Kind;

use crate::sys;

/// How much a line matters, most important first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Level {
    /// Refusals and failures: shown by default.
    Error = 1,
    /// Something the user chose that weakens torify (allow.* settings).
    Warn = 2,
    /// Worth knowing, not wrong.
    Notice = 3,
    /// Every decision.
    Debug = 4,
}

/// The most detailed level written; 0 writes nothing (the default until settings are read).
static MAX: AtomicU8 = AtomicU8::new(0);
/// Timestamps on each line.
static TIME: AtomicU8 = AtomicU8::new(0);
/// Where lines go: stderr, or the log file until the program closes it.
static LOG_FD: AtomicI32 = AtomicI32::new(libc::STDERR_FILENO);

/// True when lines of `level` are written (so a caller can skip formatting).
pub(crate) fn enabled(level: Level) -> bool {
    level as u8 <= MAX.load(Ordering::Relaxed)
}

/// Logs at error level.
macro_rules! error {
    ($($t:tt)*) => { $crate::log::write($crate::log::Level::Error, format_args!($($t)*)) };
}
/// Logs at warning level.
macro_rules! warning {
    ($($t:tt)*) => { $crate::log::write($crate::log::Level::Warn, format_args!($($t)*)) };
}
/// Logs at notice level.
macro_rules! notice {
    ($($t:tt)*) => { $crate::log::write($crate::log::Level::Notice, format_args!($($t)*)) };
}
/// Logs at debug level.
macro_rules! debug {
    ($($t:tt)*) => { $crate::log::write($crate::log::Level::Debug, format_args!($($t)*)) };
}
pub(crate) use {debug, error, notice, warning};

const LINE_MAX: usize = 1024;

struct LineBuf {
    buf: [u8; LINE_MAX],
    len: usize,
}

impl fmt::Write for LineBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // Keep one byte for the newline; longer lines are cut.
        let room = LINE_MAX - 1 - self.len;
        let n = s.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn write_time(out: &mut LineBuf) {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let (y, m, d) = civil(secs.div_euclid(86_400));
    let t = secs.rem_euclid(86_400);
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z ",
        t / 3600,
        t / 60 % 60,
        t % 60
    );
}

/// Writes one line at `level`, if that level is on.
pub(crate) fn write(level: Level, message: fmt::Arguments<'_>) {
    if !enabled(level) {
        return;
    }
    let mut line = LineBuf {
        buf: [0; LINE_MAX],
        len: 0,
    };
    if TIME.load(Ordering::Relaxed) != 0 {
        write_time(&mut line);
    }
    let _ = write!(line, "torify[{}]: ", sys::pid());
    let _ = line.write_str(match level {
        Level::Error => "",
        Level::Warn => "warning: ",
        Level::Notice => "notice: ",
        Level::Debug => "debug: ",
    });
    let _ = line.write_fmt(message);
    line.buf[line.len] = b'\n';
    sys::write_log(LOG_FD.load(Ordering::Relaxed), &line.buf[..=line.len]);
}

/// Takes these settings (the first call wins: a process has one set of settings).
pub(crate) fn init(settings: &LogSettings) {
    let max = match settings.level {
        LogLevel::None => return,
        LogLevel::Error => Level::Error,
        LogLevel::Warn => Level::Warn,
        LogLevel::Notice => Level::Notice,
        LogLevel::Debug => Level::Debug,
    };
    if MAX.load(Ordering::Acquire) != 0 {
        return;
    }
    if let Some(fd) = settings.file.as_deref().and_then(sys::open_log) {
        // The program's close of this number must reach forget_fd.
        crate::fdstate::recording();
        LOG_FD.store(fd, Ordering::Relaxed);
    }
    TIME.store(u8::from(settings.time), Ordering::Relaxed);
    MAX.store(max as u8, Ordering::Release);
}

/// The program closed `fd`; if it was the log file, log to stderr from now on rather than
/// into whatever file or socket gets that number next.
pub(crate) fn forget_fd(fd: i32) {
    if fd != libc::STDERR_FILENO {
        let _ = LOG_FD.compare_exchange(
            fd,
            libc::STDERR_FILENO,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }
}

/// The program closed descriptors `first` to `last`.
pub(crate) fn forget_range(first: u32, last: u32) {
    let fd = LOG_FD.load(Ordering::Relaxed);
    if fd != libc::STDERR_FILENO && (first..=last).contains(&(fd as u32)) {
        forget_fd(fd);
    }
}

/// Counts reports per kind of refusal so a program that retries in a loop does not flood its
/// stderr: the first few of each kind are errors, the rest debug lines.
static REPORTED: [AtomicU32; Kind::COUNT] = [const { AtomicU32::new(0) }; Kind::COUNT];
const LOUD_REPORTS: u32 = 5;

/// Reports a refusal at error level, or at debug level once this kind was reported often.
pub(crate) fn refusal(kind: Kind, what: &dyn fmt::Display) {
    // The level comes from the settings: read them if no call needed them yet (a program
    // whose first refused call is io_uring_setup, say), so the line is not lost.
    let _ = crate::runtime::get();
    let loud = REPORTED
        .get(kind as usize)
        .is_none_or(|n| n.fetch_add(1, Ordering::Relaxed) < LOUD_REPORTS);
    if loud {
        error!("{what}");
    } else {
        debug!("{what}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(19_723), (2024, 1, 1));
        assert_eq!(civil(20_778), (2026, 11, 21));
        assert_eq!(civil(11_016), (2000, 2, 29));
    }

    #[test]
    fn long_lines_are_cut_not_overflowed() {
        let mut line = LineBuf {
            buf: [0; LINE_MAX],
            len: 0,
        };
        for _ in 0..100 {
            let _ = line.write_str("0123456789abcdefghij");
        }
        assert_eq!(line.len, LINE_MAX - 1);
    }
}
