//! The daemon's log, which no caller can flood. Every refused call is
//! logged, and a caller that makes thousands of them a second would fill
//! the disk: each place in the code that logs (its file and line: one
//! kind of event) may write at most [`PER_SITE`] lines a second for each
//! caller; past that that caller's lines are counted, and the next line
//! it has written there says how many were left out, as the kernel's
//! printk_ratelimit does. One caller's flood does not silence the lines
//! of another: the request being served on a thread names its caller
//! ([`serving`]); lines written outside a request (a parked call answered
//! later, the reactor) count for their place alone.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use log::{Log, Metadata, Record};

/// Lines one place in the code may log in one `WINDOW` for one caller.
pub const PER_SITE: u32 = 50;
const WINDOW: Duration = Duration::from_secs(1);
/// How many (caller, place) pairs are counted apart. Past it (a flood
/// from thousands of uids at once), lines of callers not yet counted
/// share their place's count: the log stays bounded, and so does this
/// table.
const MOST_COUNTED: usize = 4096;

thread_local! {
    /// The uid whose request this thread is serving, if it serves one.
    static SERVING: Cell<Option<u32>> = const { Cell::new(None) };
}

/// While it lives, lines this thread logs are counted for `uid`.
pub struct Serving(Option<u32>);

/// Marks this thread as serving a request of `uid` until the returned
/// guard drops.
pub fn serving(uid: u32) -> Serving {
    Serving(SERVING.replace(Some(uid)))
}

impl Drop for Serving {
    fn drop(&mut self) {
        SERVING.set(self.0);
    }
}

/// One place that logs for one caller, and what it logged in this window.
struct Site {
    since: Instant,
    logged: u32,
    suppressed: u64,
}

/// A place in the code and, when the line was written serving a request,
/// whose request it was.
type SiteKey = (Option<u32>, &'static str, u32);

/// A logger that passes lines to `inner`, at most [`PER_SITE`] a second
/// from each place in the code for each caller.
pub struct RateLimited<L> {
    inner: L,
    sites: Mutex<HashMap<SiteKey, Site>>,
}

impl<L: Log> RateLimited<L> {
    pub fn new(inner: L) -> Self {
        RateLimited {
            inner,
            sites: Mutex::new(HashMap::new()),
        }
    }

    /// Whether this record may be written now, and how many of its place's
    /// lines were left out before it (to be said first).
    fn admit(&self, record: &Record<'_>, now: Instant) -> (bool, u64) {
        let place = (
            record.file_static().unwrap_or(""),
            record.line().unwrap_or(0),
        );
        let mut sites = crate::locks::lock(&self.sites);
        let mut caller = SERVING.get();
        if caller.is_some()
            && sites.len() >= MOST_COUNTED
            && !sites.contains_key(&(caller, place.0, place.1))
        {
            // Forget the quiet ones (a window over, nothing left out);
            // if as many are still busy, this caller shares its place's.
            sites.retain(|_, s| s.suppressed > 0 || now.duration_since(s.since) < WINDOW);
            if sites.len() >= MOST_COUNTED {
                caller = None;
            }
        }
        let key = (caller, place.0, place.1);
        let site = sites.entry(key).or_insert(Site {
            since: now,
            logged: 0,
            suppressed: 0,
        });
        let mut left_out = 0;
        if now.duration_since(site.since) >= WINDOW {
            left_out = std::mem::take(&mut site.suppressed);
            site.since = now;
            site.logged = 0;
        }
        if site.logged >= PER_SITE {
            site.suppressed += 1;
            return (false, 0);
        }
        site.logged += 1;
        (true, left_out)
    }
}

impl<L: Log> Log for RateLimited<L> {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.inner.enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        if !self.inner.enabled(record.metadata()) {
            return;
        }
        let (admitted, left_out) = self.admit(record, Instant::now());
        if !admitted {
            return;
        }
        if left_out > 0 {
            self.inner.log(
                &Record::builder()
                    .args(format_args!(
                        "{left_out} more lines like the next were left out (at most {PER_SITE} \
                         a second for one caller)"
                    ))
                    .level(record.level())
                    .target(record.target())
                    .module_path(record.module_path())
                    .file(record.file())
                    .line(record.line())
                    .build(),
            );
        }
        self.inner.log(record);
    }

    fn flush(&self) {
        self.inner.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Keeps what it is given.
    #[derive(Default, Clone)]
    struct Kept(Arc<Mutex<Vec<String>>>);

    impl Log for Kept {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn log(&self, record: &Record<'_>) {
            self.0.lock().unwrap().push(record.args().to_string());
        }
        fn flush(&self) {}
    }

    fn record(line: u32) -> Record<'static> {
        Record::builder()
            .args(format_args!("refused"))
            .file_static(Some("here.rs"))
            .line(Some(line))
            .build()
    }

    #[test]
    fn a_flood_from_one_place_is_cut_and_counted() {
        let kept = Kept::default();
        let limited = RateLimited::new(kept.clone());
        let start = Instant::now();
        let admitted = (0..1000)
            .filter(|_| limited.admit(&record(2), start).0)
            .count();
        assert_eq!(admitted, PER_SITE as usize);
        let (admitted, left_out) = limited.admit(&record(2), start + WINDOW);
        assert!(admitted);
        assert_eq!(left_out, 1000 - PER_SITE as u64);
        // Another place is not held back by the first.
        assert!(limited.admit(&record(3), start).0);
    }

    #[test]
    fn one_callers_flood_leaves_anothers_lines() {
        let limited = RateLimited::new(Kept::default());
        let start = Instant::now();
        let flooder = serving(1000);
        let admitted = (0..1000)
            .filter(|_| limited.admit(&record(2), start).0)
            .count();
        assert_eq!(admitted, PER_SITE as usize);
        drop(flooder);
        let _other = serving(1001);
        assert!(limited.admit(&record(2), start).0);
    }

    #[test]
    fn thousands_of_callers_share_a_bounded_table() {
        let limited = RateLimited::new(Kept::default());
        let start = Instant::now();
        for uid in 0..3 * MOST_COUNTED as u32 {
            let _caller = serving(uid);
            for _ in 0..=PER_SITE {
                limited.admit(&record(2), start);
            }
        }
        let sites = limited.sites.lock().unwrap();
        assert!(sites.len() <= MOST_COUNTED + 1, "{} counted", sites.len());
        // The callers past the table share one count for the place.
        let shared = &sites[&(None, "here.rs", 2)];
        assert_eq!(shared.logged, PER_SITE);
    }

    #[test]
    fn the_next_line_says_how_many_were_left_out() {
        let kept = Kept::default();
        let limited = RateLimited::new(kept.clone());
        for _ in 0..PER_SITE + 5 {
            limited.log(&record(4));
        }
        assert_eq!(kept.0.lock().unwrap().len(), PER_SITE as usize);
        std::thread::sleep(WINDOW);
        limited.log(&record(4));
        let lines = kept.0.lock().unwrap();
        assert_eq!(
            lines[lines.len() - 2],
            format!(
                "5 more lines like the next were left out (at most {PER_SITE} a second for one \
                 caller)"
            )
        );
        assert_eq!(lines[lines.len() - 1], "refused");
    }
}
