//! Client-side pacing: at most N requests a minute per site, shared by every
//! call of a [`Runtime`](super::Runtime), so that a large tenant is slowed
//! down by the host instead of being answered 429 by ConnectWise; and one
//! back-off per site when it is answered 429 all the same.
//!
//! The limiter is a token bucket in its "generic cell rate" form: one
//! theoretical arrival time per site, advanced by `60 s / rate` for every
//! request. A request may go once the arrival time is no more than the
//! burst allowance ahead of now; otherwise it waits the difference. The
//! arithmetic ([`Bucket`]) takes the current time as an argument, so it is
//! tested with a made-up clock.
//!
//! Over any window of one minute a site sees at most `N + burst` requests;
//! the burst is a tenth of N ([`burst_for`]), so the default of 900 a minute
//! stays under ConnectWise's ~1,000.
//!
//! Some sites throttle lower than that (on-premise servers, shared cloud
//! tenants). When any request to a site is answered 429, the site's bucket
//! pauses every request to it for the `Retry-After` time and lowers its
//! rate (multiplicative decrease); while no 429 comes, each answered request
//! raises the rate again (additive increase), quickly back to just under
//! the rate that was throttled, then slowly past it, probing for the
//! site's real limit: AIMD, as TCP and the AWS SDKs' adaptive retry mode
//! do. The configured rate stays the ceiling.

use std::collections::{HashMap, VecDeque};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
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

/// The pause after a 429 without a usable `Retry-After`.
pub const DEFAULT_THROTTLE_PAUSE: Duration = Duration::from_secs(2);

/// The longest pause a `Retry-After` can impose on a site (a server asking
/// for more is still obeyed by the connector, whose own retries give up).
const MAX_THROTTLE_PAUSE: Duration = Duration::from_secs(120);

/// The lowest rate a site is lowered to, in requests a minute.
const MIN_RATE: f64 = 6.0;

/// The rate kept after a 429 while the site's limit is still unknown (the
/// first 429, or one that came before the lowered rate held for
/// [`SUSTAINED_SECONDS`]): the ceiling was only a guess, so it is halved.
const FIRST_DECREASE: f64 = 0.5;

/// The rate kept after a 429 once the site held the lowered rate: close to
/// the limit, so the average stays near it.
const DECREASE: f64 = 0.85;

/// How many seconds' worth of answered requests at the lowered rate show
/// that the site can hold it.
const SUSTAINED_SECONDS: f64 = 3.0;

/// How far back answered requests count for what the site just accepted: a
/// lowered rate is never above it (one second: the window of the
/// throttles seen on ConnectWise's on-premise servers).
const ACCEPTED_WINDOW: Duration = Duration::from_secs(1);

/// Below this share of the rate last throttled, the rate climbs fast.
const RECOVER_TO: f64 = 0.9;

/// The fast climb: each answered request adds this share of the rate.
const FAST_INCREASE: f64 = 0.02;

/// The slow probe above [`RECOVER_TO`]: the rate last throttled gains this
/// share of itself per second of answered requests (about 30 seconds from
/// 90% back to 100%), so a 429 comes about twice a minute at most.
const SLOW_INCREASE_PER_SECOND: f64 = 0.0033;

// These were tuned against a simulated server with a fixed one-second
// window (`a_throttled_site_is_used_near_its_limit` below): over ten
// minutes the sustained rate is 91-92% of the limit with 1.4% of requests
// answered 429 at 3 a second (0.3% at 14 a second).

/// A token bucket over a caller-supplied clock (time since an origin), with
/// an adaptive rate.
#[derive(Debug, Clone)]
pub(crate) struct Bucket {
    /// The configured rate, in requests a minute: never exceeded.
    ceiling: f64,
    /// The current rate, in requests a minute.
    rate: f64,
    /// The burst at the ceiling; after a 429 there is no burst until the
    /// rate is back at the ceiling.
    burst: u32,
    /// Time between requests at the current rate.
    interval: Duration,
    /// How far the arrival time may run ahead of now without waiting:
    /// `(burst - 1) * interval`.
    tolerance: Duration,
    /// When the next request would be due at the current rate.
    tat: Duration,
    /// No request goes before this (a 429's `Retry-After`).
    paused_until: Duration,
    /// When the rate was last lowered: a 429 to a request sent before then
    /// belongs to the same episode and does not lower it again.
    lowered_at: Option<Duration>,
    /// The rate that was last answered 429 (no more than the site had just
    /// accepted): the rate climbs fast back to near it, then slowly.
    throttled_rate: Option<f64>,
    /// Requests answered (not 429) since the rate was last lowered.
    answered_since_lowered: u32,
    /// When the requests answered within [`ACCEPTED_WINDOW`] were answered.
    recently_answered: VecDeque<Duration>,
    /// The last decrease, for the answers that complete its estimate.
    episode: Option<Episode>,
}

/// A decrease of the rate, and how it was estimated. Requests in flight
/// together are answered in separate tasks, so the 429 is often recorded a
/// fraction of a millisecond before the answers to requests sent ahead of
/// it: the site saw those first and accepted them. Each such late answer
/// raises the estimate to what it would have been had it come in order.
#[derive(Debug, Clone, Copy)]
struct Episode {
    /// When the request answered 429 went out.
    throttled_sent_at: Duration,
    /// When the 429 was recorded.
    at: Duration,
    /// The rate before the decrease.
    rate_before: f64,
    /// The share of it kept ([`FIRST_DECREASE`] or [`DECREASE`]).
    factor: f64,
    /// The answers the estimate counts so far.
    accepted: usize,
}

impl Bucket {
    /// A bucket for `per_minute` requests a minute with `burst` at once.
    pub(crate) fn new(per_minute: NonZeroU32, burst: u32) -> Bucket {
        let ceiling = f64::from(per_minute.get());
        let mut bucket = Bucket {
            ceiling,
            rate: ceiling,
            burst: burst.max(1),
            interval: Duration::ZERO,
            tolerance: Duration::ZERO,
            tat: Duration::ZERO,
            paused_until: Duration::ZERO,
            lowered_at: None,
            throttled_rate: None,
            answered_since_lowered: 0,
            recently_answered: VecDeque::new(),
            episode: None,
        };
        bucket.set_rate(ceiling);
        bucket
    }

    /// The current rate, in requests a minute.
    pub(crate) fn rate(&self) -> f64 {
        self.rate
    }

    fn set_rate(&mut self, rate: f64) {
        self.rate = rate.clamp(MIN_RATE.min(self.ceiling), self.ceiling);
        self.interval = Duration::from_secs_f64(60.0 / self.rate);
        let burst = if self.rate >= self.ceiling && self.throttled_rate.is_none() {
            self.burst
        } else {
            1
        };
        self.tolerance = self.interval * (burst - 1);
    }

    /// Takes a slot for a request made at `now` and returns how long the
    /// request must wait before it goes (zero when a token is free). The slot
    /// is taken at once, so concurrent callers queue up in order.
    pub(crate) fn reserve(&mut self, now: Duration) -> Duration {
        let tat = self.tat.max(now).max(self.paused_until);
        let allowed_at = tat.saturating_sub(self.tolerance).max(self.paused_until);
        self.tat = tat + self.interval;
        allowed_at.saturating_sub(now)
    }

    /// A request sent at `sent_at` was answered 429 at `now`, asking to wait
    /// `retry_after`: every request waits that long, and the rate is
    /// lowered once per episode.
    pub(crate) fn throttled(&mut self, now: Duration, sent_at: Duration, retry_after: Duration) {
        let pause = retry_after.min(MAX_THROTTLE_PAUSE);
        self.paused_until = self.paused_until.max(now + pause);
        if self.lowered_at.is_some_and(|at| sent_at < at) {
            return;
        }
        let held = f64::from(self.answered_since_lowered) >= self.rate / 60.0 * SUSTAINED_SECONDS;
        let factor = if self.throttled_rate.is_some() && held {
            DECREASE
        } else {
            FIRST_DECREASE
        };
        // What the site accepted in the last window is a better guess of
        // its limit than a fraction of a rate that was far too high.
        self.forget_answers_before(now);
        let episode = Episode {
            throttled_sent_at: sent_at,
            at: now,
            rate_before: self.rate,
            factor,
            accepted: self.recently_answered.len(),
        };
        let (lowered, throttled) = episode.estimate();
        self.episode = Some(episode);
        self.throttled_rate = Some(throttled);
        self.lowered_at = Some(now);
        self.answered_since_lowered = 0;
        self.set_rate(lowered);
        self.tat = self.tat.max(self.paused_until);
    }

    /// How long a request about to go at `now` must still wait for a pause
    /// that began after it took its slot (zero when none).
    pub(crate) fn paused_for(&self, now: Duration) -> Duration {
        self.paused_until.saturating_sub(now)
    }

    fn forget_answers_before(&mut self, now: Duration) {
        while self
            .recently_answered
            .front()
            .is_some_and(|at| *at + ACCEPTED_WINDOW <= now)
        {
            self.recently_answered.pop_front();
        }
    }

    /// A request sent at `sent_at` was answered at `now` with anything but
    /// 429: raise the rate.
    pub(crate) fn answered(&mut self, now: Duration, sent_at: Duration) {
        self.forget_answers_before(now);
        self.recently_answered.push_back(now);
        if self.completes_the_estimate(now, sent_at) {
            return;
        }
        self.answered_since_lowered = self.answered_since_lowered.saturating_add(1);
        let Some(throttled) = self.throttled_rate else {
            return;
        };
        if self.rate >= self.ceiling {
            return;
        }
        let step = if self.rate < throttled * RECOVER_TO {
            self.rate * FAST_INCREASE
        } else {
            // Per request, so that per second it is the same at any rate.
            throttled * SLOW_INCREASE_PER_SECOND / (self.rate / 60.0)
        };
        self.set_rate(self.rate + step);
    }
}

impl Bucket {
    /// Whether the answer, recorded at `now`, is a late one of the last
    /// decrease's window (see [`Episode`]); if so the estimate counts it,
    /// and the rate and the rate last throttled become what they would have
    /// been had it been recorded in order (a fraction of a millisecond
    /// later, so nothing else moved them meanwhile).
    fn completes_the_estimate(&mut self, now: Duration, sent_at: Duration) -> bool {
        let Some(episode) = &mut self.episode else {
            return false;
        };
        let late = sent_at < episode.throttled_sent_at
            && sent_at + ACCEPTED_WINDOW > episode.at
            && now < episode.at + ACCEPTED_WINDOW;
        if !late {
            return false;
        }
        episode.accepted += 1;
        let (lowered, throttled) = episode.estimate();
        self.throttled_rate = Some(throttled);
        self.set_rate(lowered);
        true
    }
}

impl Episode {
    /// The lowered rate, and the rate taken as the one throttled: a share
    /// of the rate before, but never above what the site accepted in the
    /// window (60 a minute per answer counted), when anything was.
    fn estimate(&self) -> (f64, f64) {
        let accepted = self.accepted as f64 * 60.0 / ACCEPTED_WINDOW.as_secs_f64();
        if accepted > 0.0 {
            (
                (self.rate_before * self.factor).min(accepted),
                self.rate_before.min(accepted),
            )
        } else {
            (self.rate_before * self.factor, self.rate_before)
        }
    }
}

/// The buckets of every site a runtime talks to.
#[derive(Debug)]
pub(crate) struct Pacer {
    per_minute: Option<NonZeroU32>,
    origin: Instant,
    sites: Mutex<HashMap<String, Arc<Mutex<Bucket>>>>,
    /// Answers received, every site together (for `/metrics`).
    answers: AtomicU64,
    /// Of them, 429s.
    throttled: AtomicU64,
}

/// A request's place in its site's pacing, for reporting its answer.
#[derive(Debug, Clone)]
pub(crate) struct Turn {
    bucket: Option<Arc<Mutex<Bucket>>>,
    /// When it went out, on the pacer's clock.
    sent_at: Duration,
}

impl Pacer {
    /// `None` means unlimited (no waiting at all, no back-off).
    pub(crate) fn new(per_minute: Option<NonZeroU32>) -> Pacer {
        Pacer {
            per_minute,
            origin: Instant::now(),
            sites: Mutex::new(HashMap::new()),
            answers: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
        }
    }

    /// Answers received and, of them, 429s, since the pacer was made.
    pub(crate) fn counts(&self) -> (u64, u64) {
        (
            self.answers.load(Ordering::Relaxed),
            self.throttled.load(Ordering::Relaxed),
        )
    }

    /// Waits until `site` (a normalized `scheme://authority`) may get one
    /// more request. Returns how long it waited, and the request's turn to
    /// report its answer with.
    pub(crate) async fn wait_turn(&self, site: &str) -> (Duration, Turn) {
        let Some(per_minute) = self.per_minute else {
            let turn = Turn {
                bucket: None,
                sent_at: self.origin.elapsed(),
            };
            return (Duration::ZERO, turn);
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
        let mut waited = Duration::ZERO;
        loop {
            let wait = lock(&bucket).reserve(self.origin.elapsed());
            if !wait.is_zero() {
                tracing::debug!(target: "seatsync::http", %site, wait_ms = wait.as_millis() as u64, "pacing");
                tokio::time::sleep(wait).await;
                waited += wait;
            }
            // A 429 to another request while this one waited pauses it too:
            // it takes a new slot after the pause.
            let paused = lock(&bucket).paused_for(self.origin.elapsed());
            if paused.is_zero() {
                break;
            }
            tokio::time::sleep(paused).await;
            waited += paused;
        }
        let wait = waited;
        let turn = Turn {
            bucket: Some(bucket),
            sent_at: self.origin.elapsed(),
        };
        (wait, turn)
    }

    /// Reports the answer to a request sent on `turn`: `Some(retry_after)`
    /// for a 429, `None` for any other answer.
    pub(crate) fn answered(&self, site: &str, turn: &Turn, throttled: Option<Duration>) {
        self.answers.fetch_add(1, Ordering::Relaxed);
        if throttled.is_some() {
            self.throttled.fetch_add(1, Ordering::Relaxed);
        }
        let Some(bucket) = &turn.bucket else { return };
        let mut bucket = lock(bucket);
        match throttled {
            None => bucket.answered(self.origin.elapsed(), turn.sent_at),
            Some(retry_after) => {
                let before = bucket.rate();
                bucket.throttled(self.origin.elapsed(), turn.sent_at, retry_after);
                let pause_ms = retry_after.min(MAX_THROTTLE_PAUSE).as_millis() as u64;
                if bucket.rate() < before {
                    tracing::info!(
                        target: "seatsync::http",
                        %site,
                        pause_ms,
                        rate_before = before.round() as u64,
                        rate = bucket.rate().round() as u64,
                        "the site answered 429: pausing every request to it and lowering its rate (requests a minute)"
                    );
                } else {
                    tracing::debug!(target: "seatsync::http", %site, pause_ms, "the site answered 429 again: pausing every request to it");
                }
            }
        }
    }
}

/// A bucket, whatever a panicking holder left (plain numbers).
fn lock(bucket: &Mutex<Bucket>) -> std::sync::MutexGuard<'_, Bucket> {
    bucket.lock().unwrap_or_else(|p| p.into_inner())
}

/// The pause a 429 asks for: its `Retry-After` in seconds, or
/// [`DEFAULT_THROTTLE_PAUSE`] when absent or not a number of seconds.
pub(crate) fn retry_after(value: Option<&str>) -> Duration {
    value
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(DEFAULT_THROTTLE_PAUSE, Duration::from_secs)
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

    /// A server that answers 429 to each request past `limit` in a window
    /// of one second starting at the window's first request (as the
    /// simulator does), and `workers` callers each sending one request after
    /// another as fast as the bucket lets them, each answered `latency`
    /// after it went. Returns (answered, throttled) over `seconds`.
    fn against_a_throttled_site(limit: u32, seconds: u64, workers: usize) -> (u32, u32) {
        let latency = Duration::from_millis(20);
        let retry_after = S;
        let mut b = Bucket::new(rpm(900), burst_for(rpm(900)));
        let (mut window, mut in_window) = (None::<Duration>, 0);
        let (mut ok, mut throttled) = (0, 0);
        let mut free_at = vec![Duration::ZERO; workers];
        let end = Duration::from_secs(seconds);
        loop {
            // The worker that is free first goes next.
            let (i, &now) = free_at.iter().enumerate().min_by_key(|(_, t)| **t).unwrap();
            if now >= end {
                break;
            }
            let mut sent = now;
            loop {
                sent += b.reserve(sent);
                let paused = b.paused_for(sent);
                if paused.is_zero() {
                    break;
                }
                sent += paused;
            }
            if window.is_none_or(|w| sent >= w + S) {
                window = Some(sent);
                in_window = 0;
            }
            in_window += 1;
            let answered = sent + latency;
            if in_window > limit {
                throttled += 1;
                b.throttled(answered, sent, retry_after);
            } else {
                ok += 1;
                b.answered(answered, sent);
            }
            free_at[i] = answered;
        }
        (ok, throttled)
    }

    #[test]
    fn a_throttled_site_is_used_near_its_limit() {
        for limit in [3, 10] {
            let (ok, throttled) = against_a_throttled_site(limit, 600, 4);
            let share = f64::from(ok) / f64::from(limit * 600);
            let throttled_share = f64::from(throttled) / f64::from(ok + throttled);
            assert!(share >= 0.9, "{limit}/s: {share:.3} of the limit used");
            assert!(
                throttled_share <= 0.02,
                "{limit}/s: {throttled_share:.3} answered 429"
            );
        }
    }

    #[test]
    fn a_short_sync_against_a_slow_site_gets_few_429s() {
        // About a hundred requests, as a 45-organization sync sends.
        let (ok, throttled) = against_a_throttled_site(3, 35, 4);
        assert!(ok >= 80, "most of the time is used: {ok} answered");
        assert!(
            f64::from(throttled) <= 0.1 * f64::from(ok + throttled),
            "{throttled} of {} answered 429",
            ok + throttled
        );
    }

    #[test]
    fn a_429_pauses_the_site_and_lowers_the_rate_once_per_episode() {
        let mut b = Bucket::new(rpm(600), 60);
        let t = Duration::from_secs(10);
        assert_eq!(b.reserve(t), Duration::ZERO);
        // Answered 429 with Retry-After: 3 s.
        b.throttled(t + S / 10, t, 3 * S);
        assert_eq!(b.rate(), 300.0, "halved: the limit is not known yet");
        // Another request of the same episode (sent before the decrease)
        // pauses but does not lower the rate again.
        b.throttled(t + S / 5, t, 3 * S);
        assert_eq!(b.rate(), 300.0);
        // Nothing goes during the pause, and no burst after it.
        assert_eq!(b.paused_for(t + S), Duration::from_millis(2200));
        let wait = b.reserve(t + S);
        assert_eq!(wait, Duration::from_millis(2200));
        let next = b.reserve(t + S);
        assert_eq!(next, Duration::from_millis(2400), "spaced at 300 a minute");
    }

    #[test]
    fn answers_recorded_just_after_the_429_complete_its_estimate() {
        // Six requests go out 10 ms apart; the site accepts five and
        // answers the sixth 429. Only the first answer is recorded before
        // the 429; the next four come a fraction of a millisecond after it.
        let ms = Duration::from_millis;
        let us = Duration::from_micros;
        let sent: Vec<Duration> = (0..6).map(|i| ms(1000 + 10 * i)).collect();
        let mut b = Bucket::new(rpm(900), 90);
        b.answered(ms(1020), sent[0]);
        b.throttled(ms(1070), sent[5], S);
        assert_eq!(b.rate(), 60.0, "one answer in the window so far");
        for (i, at) in sent[1..5].iter().enumerate() {
            b.answered(ms(1070) + us(100 * (i as u64 + 1)), *at);
        }
        assert_eq!(b.rate(), 300.0, "five accepted in the window: 300 a minute");
        assert_eq!(b.throttled_rate, Some(300.0));
        // Requests sent after the one answered 429 were not seen first:
        // their answers only climb, as any answer does.
        let later = ms(2100);
        b.answered(later + ms(20), later);
        assert!(b.rate() > 300.0 && b.rate() < 310.0, "{}", b.rate());
        assert_eq!(b.throttled_rate, Some(300.0));
        // Never above the share of the rate before that the episode keeps
        // (half of 900), though twelve late answers say 720 a minute; with
        // none recorded at the 429, the first late one sets the estimate.
        let mut b = Bucket::new(rpm(900), 90);
        let sent: Vec<Duration> = (0..13).map(|i| ms(1000 + 5 * i)).collect();
        b.throttled(ms(1080), sent[12], S);
        assert_eq!(b.rate(), 450.0, "nothing accepted yet: halved");
        b.answered(ms(1081), sent[0]);
        assert_eq!(b.rate(), 60.0);
        for at in &sent[1..12] {
            b.answered(ms(1081), *at);
        }
        assert_eq!(b.rate(), 450.0);
        assert_eq!(b.throttled_rate, Some(720.0));
    }

    #[test]
    fn the_rate_climbs_back_but_never_past_the_ceiling() {
        let mut b = Bucket::new(rpm(120), 12);
        b.throttled(S, Duration::ZERO, S);
        assert_eq!(b.rate(), 60.0);
        for i in 0..10_000 {
            b.answered(S * i, S * i);
        }
        assert_eq!(
            b.rate(),
            120.0,
            "back to the configured rate, and no further"
        );
        // Once the site held a lowered rate, a 429 lowers it gently.
        let mut b = Bucket::new(rpm(120), 12);
        b.throttled(S, Duration::ZERO, S);
        for i in 0..10 {
            let at = 11 * S + i * S / 10;
            b.answered(at, at);
        }
        let before = b.rate();
        assert!(before > 60.0, "it climbed: {before}");
        b.throttled(12 * S, 11 * S, S);
        assert!((b.rate() - 0.85 * before).abs() < 1e-9, "{}", b.rate());

        // Lowered no further than what the site accepted in the last second.
        let mut b = Bucket::new(rpm(900), 90);
        for i in 0..3 {
            b.answered(S + i * S / 100, S / 2);
        }
        b.throttled(S + S / 10, S, S);
        assert_eq!(
            b.rate(),
            180.0,
            "3 answered in the last second: 180 a minute"
        );
    }

    #[test]
    fn a_missing_or_odd_retry_after_means_the_default_pause() {
        assert_eq!(retry_after(Some(" 7 ")), Duration::from_secs(7));
        assert_eq!(retry_after(None), DEFAULT_THROTTLE_PAUSE);
        assert_eq!(
            retry_after(Some("Wed, 21 Oct 2026 07:28:00 GMT")),
            DEFAULT_THROTTLE_PAUSE
        );
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
