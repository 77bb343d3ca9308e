//! The simulated time window: whole calendar months ending with the month of
//! `as_of`, closed at the end of the `as_of` day.
//!
//! All timestamps are `i64` microseconds since 1970-01-01 00:00 without a
//! time zone, exactly what Arrow's `Timestamp(Microsecond, None)` stores.

use chrono::{Datelike, NaiveDate};

use crate::error::{Error, Result};

pub(crate) const MINUTE: i64 = 60_000_000;
pub(crate) const HOUR: i64 = 60 * MINUTE;
pub(crate) const DAY: i64 = 24 * HOUR;

/// Per-day facts the samplers look up in their inner loops.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DayInfo {
    /// Index of the month within the window (0 = oldest).
    pub month: u16,
    /// Calendar month, 0 = January.
    pub cal_month: u8,
    /// 0 = Monday.
    pub weekday: u8,
}

#[derive(Debug)]
pub(crate) struct Calendar {
    /// First instant of the window.
    pub start_us: i64,
    /// First instant after the window (midnight after `as_of`).
    pub end_us: i64,
    start_day: i64,
    /// `YYYY-MM` of each month in the window, oldest first.
    pub labels: Vec<String>,
    days: Vec<DayInfo>,
}

pub(crate) fn days_since_epoch(d: NaiveDate) -> i64 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid epoch");
    d.signed_duration_since(epoch).num_days()
}

/// 1970-01-01 was a Thursday (index 3 with Monday = 0).
pub(crate) fn weekday_of_day(day: i64) -> u8 {
    (day + 3).rem_euclid(7) as u8
}

impl Calendar {
    pub fn new(as_of: NaiveDate, months: u32) -> Result<Self> {
        if months == 0 {
            return Err(Error::Usage("--months must be at least 1".into()));
        }
        let last = as_of.year() as i64 * 12 + as_of.month0() as i64;
        let first = last - (months as i64 - 1);
        let too_far = || {
            Error::Usage(format!(
                "--months {months} reaches before year 1 from --as-of {as_of}"
            ))
        };
        let first_date = month_start(first).ok_or_else(too_far)?;
        if first_date.year() < 1 {
            return Err(too_far());
        }
        let start_day = days_since_epoch(first_date);
        let end_day = days_since_epoch(as_of) + 1;

        let mut labels = Vec::with_capacity(months as usize);
        let mut days = Vec::with_capacity((end_day - start_day) as usize);
        for (i, m) in (first..=last).enumerate() {
            let d0 = month_start(m).ok_or_else(too_far)?;
            labels.push(format!("{:04}-{:02}", d0.year(), d0.month()));
            let next = month_start(m + 1).map(days_since_epoch).unwrap_or(end_day);
            for day in days_since_epoch(d0)..next.min(end_day) {
                days.push(DayInfo {
                    month: i as u16,
                    cal_month: d0.month0() as u8,
                    weekday: weekday_of_day(day),
                });
            }
        }
        Ok(Calendar {
            start_us: start_day * DAY,
            end_us: end_day * DAY,
            start_day,
            labels,
            days,
        })
    }

    /// Facts about the day containing `ts`, which must lie in the window.
    #[inline]
    pub fn day(&self, ts: i64) -> DayInfo {
        self.days[(ts.div_euclid(DAY) - self.start_day) as usize]
    }

    /// Window month index of `ts`, which must lie in the window.
    #[inline]
    pub fn month_of(&self, ts: i64) -> usize {
        self.day(ts).month as usize
    }

    #[cfg(test)]
    pub fn contains(&self, ts: i64) -> bool {
        ts >= self.start_us && ts < self.end_us
    }
}

/// First day of the month numbered `year * 12 + month0`.
fn month_start(m: i64) -> Option<NaiveDate> {
    let y = i32::try_from(m.div_euclid(12)).ok()?;
    NaiveDate::from_ymd_opt(y, m.rem_euclid(12) as u32 + 1, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_is_whole_months_ending_with_as_of() {
        let as_of = NaiveDate::from_ymd_opt(2026, 10, 31).unwrap();
        let c = Calendar::new(as_of, 24).unwrap();
        assert_eq!(c.labels.first().unwrap(), "2024-11");
        assert_eq!(c.labels.last().unwrap(), "2026-10");
        assert_eq!(c.labels.len(), 24);
        let start = NaiveDate::from_ymd_opt(2024, 11, 1).unwrap();
        assert_eq!(c.start_us, days_since_epoch(start) * DAY);
        assert_eq!(c.end_us, (days_since_epoch(as_of) + 1) * DAY);
        assert_eq!(c.month_of(c.end_us - 1), 23);
        assert_eq!(c.month_of(c.start_us), 0);
        // 2024-11-01 was a Friday.
        assert_eq!(c.day(c.start_us).weekday, 4);
        assert_eq!(c.day(c.start_us).cal_month, 10);
        assert!(c.contains(c.start_us) && !c.contains(c.end_us));
    }

    #[test]
    fn mid_month_as_of_and_single_month() {
        let as_of = NaiveDate::from_ymd_opt(2025, 3, 10).unwrap();
        let c = Calendar::new(as_of, 1).unwrap();
        assert_eq!(c.labels, vec!["2025-03".to_string()]);
        assert_eq!((c.end_us - c.start_us) / DAY, 10);
        assert!(Calendar::new(as_of, 0).is_err());
        assert!(Calendar::new(as_of, 40_000).is_err());
    }
}
