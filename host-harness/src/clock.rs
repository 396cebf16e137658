//! Where the host gets the time: one [`Clock`] for the store's timestamps,
//! the sync's day and the daemon's slots.
//!
//! The real clock is [`SystemClock`]. `SEATSYNC_NOW` (an RFC 3339 time)
//! starts it at another instant and lets it run on from there, so a test or
//! a support engineer reproducing a customer's day gets the same dates on
//! any day of the year: what a sync creates (`effectiveDate`), which
//! additions count as cancelled, the time history shows. The clock keeps
//! running, rather than standing still, so locks still age and heartbeats
//! still advance.

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};

/// The environment variable that starts the clock at another instant.
pub const NOW_VAR: &str = "SEATSYNC_NOW";

/// Where the time comes from and how to wait for it.
pub trait Clock {
    /// Now.
    fn now(&self) -> DateTime<Utc>;
    /// Returns at `when` (at once if it has passed).
    fn sleep_until(&self, when: DateTime<Utc>) -> impl Future<Output = ()> + Send;
}

/// The system clock, optionally shifted by a fixed offset.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock {
    offset: TimeDelta,
}

impl SystemClock {
    /// The system clock as it is.
    pub fn real() -> SystemClock {
        SystemClock::default()
    }

    /// The system clock shifted so that it shows `start` now.
    pub fn starting_at(start: DateTime<Utc>) -> SystemClock {
        SystemClock {
            offset: start - Utc::now(),
        }
    }

    /// The real clock, or the one `SEATSYNC_NOW` starts, if it is set.
    pub fn from_env() -> Result<SystemClock, ClockError> {
        SystemClock::from_setting(std::env::var(NOW_VAR).ok().as_deref())
    }

    /// The real clock for `None` or an empty setting; otherwise the clock
    /// that starts at the RFC 3339 time `setting` names.
    pub fn from_setting(setting: Option<&str>) -> Result<SystemClock, ClockError> {
        match setting.map(str::trim) {
            Some(text) if !text.is_empty() => {
                let start = DateTime::parse_from_rfc3339(text).map_err(|_| ClockError::BadNow {
                    value: text.to_string(),
                })?;
                Ok(SystemClock::starting_at(start.with_timezone(&Utc)))
            }
            _ => Ok(SystemClock::real()),
        }
    }

    /// This clock as the store's clock function.
    pub fn as_fn(self) -> Arc<dyn Fn() -> DateTime<Utc> + Send + Sync> {
        Arc::new(move || self.now())
    }
}

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.offset
    }

    fn sleep_until(&self, when: DateTime<Utc>) -> impl Future<Output = ()> + Send {
        let wait = (when - self.now()).to_std().unwrap_or_default();
        tokio::time::sleep(wait)
    }
}

/// A clock that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ClockError {
    /// `SEATSYNC_NOW` is not an RFC 3339 time.
    #[error(
        "{NOW_VAR}={value:?} is not a time: give an RFC 3339 time such as 2026-11-27T06:00:00Z, or unset it"
    )]
    BadNow {
        /// What the variable held.
        value: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clock_started_at_an_instant_shows_it_and_runs_on() {
        let start: DateTime<Utc> = "2031-02-03T04:05:06Z".parse().unwrap();
        let clock = SystemClock::starting_at(start);
        let first = clock.now();
        assert!(
            first >= start && first - start < TimeDelta::seconds(5),
            "{first}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(clock.now() > first, "the clock keeps running");
    }

    #[test]
    fn the_setting_is_an_rfc_3339_time_or_nothing() {
        let clock = SystemClock::from_setting(Some(" 2031-02-03T04:05:06+01:00 ")).unwrap();
        assert_eq!(clock.now().date_naive().to_string(), "2031-02-03");
        let real = SystemClock::from_setting(Some("")).unwrap();
        assert_eq!(real.offset, TimeDelta::zero());
        assert_eq!(
            SystemClock::from_setting(None).unwrap().offset,
            TimeDelta::zero()
        );
        let error = SystemClock::from_setting(Some("tomorrow")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "SEATSYNC_NOW=\"tomorrow\" is not a time: give an RFC 3339 time such as \
             2026-11-27T06:00:00Z, or unset it"
        );
    }
}
