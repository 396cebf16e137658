//! The daily timer: when the next sync is due, and whether one was missed.
//!
//! Everything here is pure (no clock, no I/O) so that day, month, year and
//! leap-day boundaries can be tested exactly. All times are UTC: the sync
//! slot is a wall-clock time of day in UTC, so there is no daylight-saving
//! gap or repeat to worry about.
//!
//! Catch-up policy ([`missed_slot`]): when the daemon starts, it syncs at
//! once if the most recent slot passed with no run at or after it, and then
//! waits for [`next_fire`]. It catches up once, never once per missed day:
//! a sync sets quantities to the current counts, so replaying old days would
//! only repeat the same writes. A database that has never had a run does not
//! catch up on its own: the daemon passes the time it was *first* started
//! (see `Store::note_daemon_started`) as `last_run` instead, so that only a
//! slot that passed while the daemon was installed but down triggers a
//! catch-up, and installing seatsync at 09:00 does not sync at 09:00.

// Everything public here is API for the CLI and daemon: document it all.
#![warn(missing_docs)]

use chrono::{DateTime, Days, NaiveTime, Utc};
use thiserror::Error;

/// The default time of the daily sync: 06:00 UTC.
pub const DEFAULT_AT: NaiveTime = match NaiveTime::from_hms_opt(6, 0, 0) {
    Some(t) => t,
    // 06:00:00 is always a valid time; this arm cannot be reached, and a
    // `const` cannot `unwrap`.
    None => NaiveTime::MIN,
};

/// Why an `--at` value was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ScheduleError {
    /// The value is not a UTC time of day written `HH:MM`.
    #[error(
        "invalid sync time {input:?}: {problem}; write a UTC time of day as HH:MM (24-hour), e.g. --at 06:00"
    )]
    InvalidAt {
        /// The value as given.
        input: String,
        /// What is wrong with it.
        problem: String,
    },
}

/// Parses a `--at` value: a UTC time of day written `HH:MM` (24-hour clock;
/// a one-digit hour such as `6:00` is accepted too, minutes need two digits).
/// Surrounding whitespace is ignored. Seconds are not accepted: the slot is
/// a minute of the day.
pub fn parse_at(input: &str) -> Result<NaiveTime, ScheduleError> {
    let fail = |problem: &str| ScheduleError::InvalidAt {
        input: input.to_owned(),
        problem: problem.to_owned(),
    };
    let s = input.trim();
    if s.is_empty() {
        return Err(fail("it is empty"));
    }
    let Some((hh, mm)) = s.split_once(':') else {
        return Err(fail("there is no ':' between hours and minutes"));
    };
    if mm.contains(':') {
        return Err(fail("seconds are not accepted"));
    }
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if !digits(hh) || hh.len() > 2 {
        return Err(fail("the hour must be one or two digits"));
    }
    if !digits(mm) || mm.len() != 2 {
        return Err(fail("the minutes must be two digits"));
    }
    // Both parts are one or two ASCII digits, so parsing cannot fail; map the
    // impossible error anyway rather than unwrap user input.
    let hour: u32 = hh.parse().map_err(|_| fail("the hour is not a number"))?;
    let minute: u32 = mm
        .parse()
        .map_err(|_| fail("the minutes are not a number"))?;
    if hour > 23 {
        return Err(fail("the hour must be 00 to 23 (midnight is 00:00)"));
    }
    if minute > 59 {
        return Err(fail("the minutes must be 00 to 59"));
    }
    NaiveTime::from_hms_opt(hour, minute, 0).ok_or_else(|| fail("not a time of day"))
}

/// The slot (`at` on the day of `t`) for the UTC day that contains `t`.
fn slot_on_day_of(t: DateTime<Utc>, at: NaiveTime) -> DateTime<Utc> {
    t.date_naive().and_time(at).and_utc()
}

/// The first slot strictly after `after`: today's `at` if it is still ahead,
/// otherwise tomorrow's. "Strictly" so that a daemon waking exactly at the
/// slot and asking again gets the next day, never the slot it just ran.
///
/// # Panics
///
/// Only if `after` is within a day of the end of chrono's date range (year
/// 262143), which no clock reaches.
pub fn next_fire(after: DateTime<Utc>, at: NaiveTime) -> DateTime<Utc> {
    let today = slot_on_day_of(after, at);
    if today > after {
        today
    } else {
        today
            .checked_add_days(Days::new(1))
            .expect("a date within chrono's range")
    }
}

/// The most recent slot at or before `now`, or `None` at the very start of
/// chrono's range.
pub fn latest_slot(now: DateTime<Utc>, at: NaiveTime) -> Option<DateTime<Utc>> {
    let today = slot_on_day_of(now, at);
    if today <= now {
        Some(today)
    } else {
        today.checked_sub_days(Days::new(1))
    }
}

/// The slot to catch up at start-up, if any: the most recent slot at or
/// before `now` when `last_run` started before it (no run at or after it).
///
/// `last_run` is when the last run that counts started (see
/// `Store::last_completed_run_start`); for a database that never ran, pass
/// the time the daemon was first started instead. `None` means "nothing to
/// compare with" and never catches up (see the module documentation).
/// A `last_run` in the future (clock moved back) never catches up either.
pub fn missed_slot(
    last_run: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    at: NaiveTime,
) -> Option<DateTime<Utc>> {
    let last_run = last_run?;
    let slot = latest_slot(now, at)?;
    (last_run < slot).then_some(slot)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("test timestamps are RFC 3339")
            .with_timezone(&Utc)
    }

    fn hm(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).expect("valid test time")
    }

    #[test]
    fn default_is_six_utc() {
        assert_eq!(DEFAULT_AT, hm(6, 0));
    }

    #[test]
    fn next_fire_table() {
        let six = DEFAULT_AT;
        let cases: &[(&str, NaiveTime, &str)] = &[
            // Before, exactly at, and after the slot on an ordinary day.
            ("2027-06-15T05:59:59Z", six, "2027-06-15T06:00:00Z"),
            (
                "2027-06-15T05:59:59.999999999Z",
                six,
                "2027-06-15T06:00:00Z",
            ),
            ("2027-06-15T06:00:00Z", six, "2027-06-16T06:00:00Z"),
            (
                "2027-06-15T06:00:00.000000001Z",
                six,
                "2027-06-16T06:00:00Z",
            ),
            ("2027-06-15T00:00:00Z", six, "2027-06-15T06:00:00Z"),
            ("2027-06-15T23:59:59Z", six, "2027-06-16T06:00:00Z"),
            // Leap year: Feb 28 -> Feb 29 -> Mar 1.
            ("2028-02-28T07:00:00Z", six, "2028-02-29T06:00:00Z"),
            ("2028-02-29T06:00:00Z", six, "2028-03-01T06:00:00Z"),
            ("2028-02-29T05:00:00Z", six, "2028-02-29T06:00:00Z"),
            // Common year: Feb 28 -> Mar 1.
            ("2027-02-28T06:00:00Z", six, "2027-03-01T06:00:00Z"),
            // Month ends of 30 and 31 days.
            ("2027-04-30T12:00:00Z", six, "2027-05-01T06:00:00Z"),
            ("2027-01-31T12:00:00Z", six, "2027-02-01T06:00:00Z"),
            // Year end.
            ("2027-12-31T06:00:00Z", six, "2028-01-01T06:00:00Z"),
            (
                "2027-12-31T23:59:59.999999999Z",
                six,
                "2028-01-01T06:00:00Z",
            ),
            // Late and midnight slots.
            ("2027-12-31T23:58:00Z", hm(23, 59), "2027-12-31T23:59:00Z"),
            ("2027-12-31T23:59:00Z", hm(23, 59), "2028-01-01T23:59:00Z"),
            ("2027-12-31T23:59:30Z", hm(23, 59), "2028-01-01T23:59:00Z"),
            ("2027-12-31T23:59:59Z", hm(0, 0), "2028-01-01T00:00:00Z"),
            ("2028-01-01T00:00:00Z", hm(0, 0), "2028-01-02T00:00:00Z"),
            ("2028-02-28T00:00:00Z", hm(0, 0), "2028-02-29T00:00:00Z"),
            ("2028-02-29T00:00:00Z", hm(0, 0), "2028-03-01T00:00:00Z"),
        ];
        for (after, at, want) in cases {
            let got = next_fire(t(after), *at);
            assert_eq!(got, t(want), "next_fire({after}, {at})");
            assert!(got > t(after), "strictly after: {after}");
        }
    }

    #[test]
    fn next_fire_is_never_more_than_a_day_ahead() {
        // Walk a leap year in odd steps; each answer is the slot and within
        // (0, 24h] of the input.
        let mut now = Utc.with_ymd_and_hms(2028, 1, 1, 0, 0, 0).unwrap();
        let end = Utc.with_ymd_and_hms(2029, 1, 2, 0, 0, 0).unwrap();
        while now < end {
            let next = next_fire(now, DEFAULT_AT);
            assert_eq!(next.time(), DEFAULT_AT);
            let gap = next - now;
            assert!(gap > chrono::Duration::zero() && gap <= chrono::Duration::days(1));
            now += chrono::Duration::minutes(367);
        }
    }

    #[test]
    fn parse_at_accepts() {
        for (input, want) in [
            ("06:00", hm(6, 0)),
            ("6:00", hm(6, 0)),
            ("00:00", hm(0, 0)),
            ("23:59", hm(23, 59)),
            (" 12:30 ", hm(12, 30)),
        ] {
            assert_eq!(parse_at(input), Ok(want), "{input:?}");
        }
    }

    #[test]
    fn parse_at_rejects() {
        for (input, problem) in [
            ("", "it is empty"),
            ("   ", "it is empty"),
            ("0600", "there is no ':' between hours and minutes"),
            ("24:00", "the hour must be 00 to 23 (midnight is 00:00)"),
            ("06:60", "the minutes must be 00 to 59"),
            ("06:00:00", "seconds are not accepted"),
            ("6:0", "the minutes must be two digits"),
            ("006:00", "the hour must be one or two digits"),
            ("-1:00", "the hour must be one or two digits"),
            ("+6:00", "the hour must be one or two digits"),
            (":30", "the hour must be one or two digits"),
            ("06:", "the minutes must be two digits"),
            ("6am", "there is no ':' between hours and minutes"),
            ("０６:００", "the hour must be one or two digits"),
        ] {
            match parse_at(input) {
                Err(ScheduleError::InvalidAt {
                    input: i,
                    problem: p,
                }) => {
                    assert_eq!(i, input);
                    assert_eq!(p, problem, "{input:?}");
                }
                Ok(v) => panic!("{input:?} accepted as {v}"),
            }
        }
    }

    #[test]
    fn parse_at_message_says_what_to_do() {
        let err = parse_at("25:00").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid sync time \"25:00\": the hour must be 00 to 23 (midnight is 00:00); \
             write a UTC time of day as HH:MM (24-hour), e.g. --at 06:00"
        );
    }

    #[test]
    fn missed_slot_table() {
        let six = DEFAULT_AT;
        let cases: &[(Option<&str>, &str, NaiveTime, Option<&str>)] = &[
            // Never ran and no first-start time: no catch-up.
            (None, "2027-06-15T12:00:00Z", six, None),
            // Ran at today's slot: nothing missed.
            (
                Some("2027-06-15T06:00:00Z"),
                "2027-06-15T12:00:00Z",
                six,
                None,
            ),
            // Ran after today's slot (a manual run): nothing missed.
            (
                Some("2027-06-15T09:00:00Z"),
                "2027-06-15T12:00:00Z",
                six,
                None,
            ),
            // Ran yesterday, now past today's slot: catch up today's.
            (
                Some("2027-06-14T06:00:00Z"),
                "2027-06-15T12:00:00Z",
                six,
                Some("2027-06-15T06:00:00Z"),
            ),
            // Ran yesterday, today's slot not reached: nothing missed.
            (
                Some("2027-06-14T06:00:00Z"),
                "2027-06-15T05:59:59Z",
                six,
                None,
            ),
            // One nanosecond before the slot ran: the slot itself is missed.
            (
                Some("2027-06-15T05:59:59.999999999Z"),
                "2027-06-15T06:00:00Z",
                six,
                Some("2027-06-15T06:00:00Z"),
            ),
            // Down for a week: catch up once, the latest slot.
            (
                Some("2027-06-01T06:00:00Z"),
                "2027-06-08T07:00:00Z",
                six,
                Some("2027-06-08T06:00:00Z"),
            ),
            // Before today's slot after missing yesterday's: yesterday's.
            (
                Some("2027-06-13T06:00:00Z"),
                "2027-06-15T05:00:00Z",
                six,
                Some("2027-06-14T06:00:00Z"),
            ),
            // Across a leap day and a year end.
            (
                Some("2028-02-28T06:00:00Z"),
                "2028-03-01T01:00:00Z",
                six,
                Some("2028-02-29T06:00:00Z"),
            ),
            (
                Some("2027-12-30T23:59:00Z"),
                "2028-01-01T00:10:00Z",
                hm(23, 59),
                Some("2027-12-31T23:59:00Z"),
            ),
            (
                Some("2027-12-31T00:00:00Z"),
                "2028-01-01T00:00:00Z",
                hm(0, 0),
                Some("2028-01-01T00:00:00Z"),
            ),
            // Clock moved back: the last run is in the future.
            (
                Some("2027-06-20T06:00:00Z"),
                "2027-06-15T12:00:00Z",
                six,
                None,
            ),
        ];
        for (last, now, at, want) in cases {
            let got = missed_slot(last.map(t), t(now), *at);
            assert_eq!(got, want.map(t), "missed_slot({last:?}, {now}, {at})");
        }
    }
}
