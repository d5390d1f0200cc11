//! A small `tracing` subscriber: one line per event, `torify[PID]: message`, to stderr or a file.
//!
//! It formats into a stack buffer and writes with one write(2), so a line never interleaves with
//! another thread's and logging never allocates. Spans are not used by this library.

use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use torify_conf::{LogLevel, LogSettings};
use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

use crate::sys;

/// Where lines go: stderr, or the log file until the program closes it.
static LOG_FD: AtomicI32 = AtomicI32::new(libc::STDERR_FILENO);

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

struct MessageVisitor<'a>(&'a mut LineBuf);

impl Visit for MessageVisitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            let _ = self.0.write_str(value);
        } else {
            let _ = write!(self.0, " {}={value}", field.name());
        }
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

struct LineSubscriber {
    max: Level,
    time: bool,
}

impl Subscriber for LineSubscriber {
    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        *meta.level() <= self.max
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::from_level(self.max))
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut line = LineBuf {
            buf: [0; LINE_MAX],
            len: 0,
        };
        if self.time {
            write_time(&mut line);
        }
        let level = *event.metadata().level();
        let _ = write!(line, "torify[{}]: ", sys::pid());
        match level {
            Level::ERROR => {}
            Level::WARN => {
                let _ = line.write_str("warning: ");
            }
            Level::INFO => {
                let _ = line.write_str("notice: ");
            }
            _ => {
                let _ = line.write_str("debug: ");
            }
        }
        event.record(&mut MessageVisitor(&mut line));
        line.buf[line.len] = b'\n';
        sys::write_log(LOG_FD.load(Ordering::Relaxed), &line.buf[..=line.len]);
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// Installs the subscriber for these settings (once per process; later calls do nothing).
pub(crate) fn init(settings: &LogSettings) {
    let max = match settings.level {
        LogLevel::None => return,
        LogLevel::Error => Level::ERROR,
        LogLevel::Warn => Level::WARN,
        LogLevel::Notice => Level::INFO,
        _ => Level::TRACE,
    };
    if let Some(fd) = settings.file.as_deref().and_then(sys::open_log) {
        LOG_FD.store(fd, Ordering::Relaxed);
    }
    let _ = tracing::subscriber::set_global_default(LineSubscriber {
        max,
        time: settings.time,
    });
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
static REPORTED: [AtomicU32; 32] = [const { AtomicU32::new(0) }; 32];
const LOUD_REPORTS: u32 = 5;

/// Reports a refusal at error level, or at debug level once this kind was reported often.
pub(crate) fn refusal(kind: usize, what: &dyn fmt::Display) {
    let loud = REPORTED
        .get(kind)
        .is_none_or(|n| n.fetch_add(1, Ordering::Relaxed) < LOUD_REPORTS);
    if loud {
        tracing::error!("{what}");
    } else {
        tracing::debug!("{what}");
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
