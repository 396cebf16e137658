//! Client-side pacing: at most N requests a minute per site, shared by every
//! call of a [`Runtime`](super::Runtime), so that a large tenant is slowed
//! down by the host instead of being answered 429 by ConnectWise.
//!
//! The limiter is a token bucket in its "generic cell rate" form: one
//! theoretical arrival time per site, advanced by `60 s / N` for every
//! request. A request may go once the arrival time is no more than the
//! burst allowance ahead of now; otherwise it waits the difference. The
//! arithmetic ([`Bucket::reserve`]) takes the current time as an argument,
//! so it is tested with a made-up clock.
//!
//! Over any window of one minute a site sees at most `N + burst` requests;
//! the burst is a tenth of N ([`burst_for`]), so the default of 900 a minute
//! stays under ConnectWise's ~1,000.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The default limit per site: under ConnectWise's ~1,000 requests a minute
/// per tenant, with room for the burst.
pub const DEFAULT_REQUESTS_PER_MINUTE: u32 = 900;

/// The requests a site may get at once, after a quiet period: a tenth of the
/// rate (at least one).
pub fn burst_for(per_minute: NonZeroU32) -> u32 {
    (per_minute.get() / 10).max(1)
}

/// A token bucket over a caller-supplied clock (time since an origin).
#[derive(Debug, Clone)]
pub(crate) struct Bucket {
    /// Time between requests at the steady rate.
    interval: Duration,
    /// How far the arrival time may run ahead of now without waiting:
    /// `(burst - 1) * interval`.
    tolerance: Duration,
    /// When the next request would be due at the steady rate.
    tat: Duration,
}

impl Bucket {
    /// A bucket for `per_minute` requests a minute with `burst` at once.
    pub(crate) fn new(per_minute: NonZeroU32, burst: u32) -> Bucket {
        let interval = Duration::from_secs(60) / per_minute.get();
        Bucket {
            interval,
            tolerance: interval * burst.max(1).saturating_sub(1),
            tat: Duration::ZERO,
        }
    }

    /// Takes a slot for a request made at `now` and returns how long the
    /// request must wait before it goes (zero when a token is free). The slot
    /// is taken at once, so concurrent callers queue up in order.
    pub(crate) fn reserve(&mut self, now: Duration) -> Duration {
        let tat = self.tat.max(now);
        let allowed_at = tat.saturating_sub(self.tolerance);
        self.tat = tat + self.interval;
        allowed_at.saturating_sub(now)
    }
}

/// The buckets of every site a runtime talks to.
#[derive(Debug)]
pub(crate) struct Pacer {
    per_minute: Option<NonZeroU32>,
    origin: Instant,
    sites: Mutex<HashMap<String, Arc<Mutex<Bucket>>>>,
}

impl Pacer {
    /// `None` means unlimited (no waiting at all).
    pub(crate) fn new(per_minute: Option<NonZeroU32>) -> Pacer {
        Pacer {
            per_minute,
            origin: Instant::now(),
            sites: Mutex::new(HashMap::new()),
        }
    }

    /// Waits until `site` (a normalized `scheme://authority`) may get one
    /// more request. Returns how long it waited.
    pub(crate) async fn wait_turn(&self, site: &str) -> Duration {
        let Some(per_minute) = self.per_minute else {
            return Duration::ZERO;
        };
        let bucket = {
            let mut sites = self.sites.lock().unwrap_or_else(|p| p.into_inner());
            sites
                .entry(site.to_string())
                .or_insert_with(|| {
                    Arc::new(Mutex::new(Bucket::new(per_minute, burst_for(per_minute))))
                })
                .clone()
        };
        let wait = bucket
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .reserve(self.origin.elapsed());
        if !wait.is_zero() {
            tracing::debug!(target: "seatsync::http", %site, wait_ms = wait.as_millis() as u64, "pacing");
            tokio::time::sleep(wait).await;
        }
        wait
    }
}

/// Reads a requests-per-minute setting: a positive number, or `unlimited`
/// (also `0`, `off`, `none`). `None` when the text is not one of those.
pub fn parse_requests_per_minute(text: &str) -> Option<Option<NonZeroU32>> {
    let text = text.trim();
    if ["unlimited", "off", "none", "0"]
        .iter()
        .any(|w| text.eq_ignore_ascii_case(w))
    {
        return Some(None);
    }
    text.parse::<NonZeroU32>().ok().map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rpm(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).unwrap()
    }

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn a_burst_goes_at_once_then_the_steady_rate() {
        // 60 a minute: one a second, three at once.
        let mut b = Bucket::new(rpm(60), 3);
        let t0 = Duration::from_secs(100);
        assert_eq!(b.reserve(t0), Duration::ZERO);
        assert_eq!(b.reserve(t0), Duration::ZERO);
        assert_eq!(b.reserve(t0), Duration::ZERO);
        assert_eq!(b.reserve(t0), S);
        assert_eq!(b.reserve(t0), 2 * S);
        // Half a second later the next waits 2.5 s (its slot is t0 + 3 s).
        assert_eq!(b.reserve(t0 + S / 2), 2 * S + S / 2);
    }

    #[test]
    fn a_quiet_period_refills_up_to_the_burst_only() {
        let mut b = Bucket::new(rpm(60), 3);
        for _ in 0..3 {
            assert_eq!(b.reserve(Duration::ZERO), Duration::ZERO);
        }
        // An hour of silence still allows only three at once.
        let later = Duration::from_secs(3600);
        for _ in 0..3 {
            assert_eq!(b.reserve(later), Duration::ZERO);
        }
        assert_eq!(b.reserve(later), S);
        // After one second of quiet, exactly one token is back.
        let mut b = Bucket::new(rpm(60), 3);
        for _ in 0..3 {
            b.reserve(Duration::ZERO);
        }
        assert_eq!(b.reserve(S), Duration::ZERO);
        assert_eq!(b.reserve(S), S);
    }

    #[test]
    fn no_minute_sees_more_than_the_rate_plus_the_burst() {
        // Callers that always go as soon as they are allowed.
        let per_minute = rpm(900);
        let burst = burst_for(per_minute);
        assert_eq!(burst, 90);
        let mut b = Bucket::new(per_minute, burst);
        let mut now = Duration::ZERO;
        let mut sent = Vec::new();
        while now < Duration::from_secs(300) {
            let wait = b.reserve(now);
            now += wait;
            sent.push(now);
        }
        let minute = Duration::from_secs(60);
        let worst = sent
            .iter()
            .map(|start| {
                sent.iter()
                    .filter(|t| **t >= *start && **t < *start + minute)
                    .count()
            })
            .max()
            .unwrap();
        assert!(worst <= 900 + 90, "{worst}");
        assert!(worst < 1000, "under ConnectWise's throttle: {worst}");
        // And the steady rate is reached: ~900 a minute after the burst.
        let last_minute = sent
            .iter()
            .filter(|t| **t >= Duration::from_secs(240))
            .count();
        assert!((899..=901).contains(&last_minute), "{last_minute}");
    }

    #[test]
    fn a_burst_of_one_is_strictly_spaced() {
        let mut b = Bucket::new(rpm(120), 1);
        assert_eq!(b.reserve(Duration::ZERO), Duration::ZERO);
        assert_eq!(b.reserve(Duration::ZERO), S / 2);
        assert_eq!(b.reserve(S / 2), S / 2);
    }

    #[test]
    fn settings_parse() {
        assert_eq!(parse_requests_per_minute("900"), Some(Some(rpm(900))));
        assert_eq!(parse_requests_per_minute(" unlimited "), Some(None));
        assert_eq!(parse_requests_per_minute("0"), Some(None));
        assert_eq!(parse_requests_per_minute("OFF"), Some(None));
        assert_eq!(parse_requests_per_minute("-5"), None);
        assert_eq!(parse_requests_per_minute("fast"), None);
        assert_eq!(burst_for(rpm(5)), 1);
    }
}
