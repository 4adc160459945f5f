//! `YYYYMMDD-HHMMSS` folder names without a date crate.
//!
//! Archive folders are named in the host's LOCAL time (what the user expects to read), computed
//! with `localtime_r(3)` (which honours `TZ` and /etc/localtime). Should that fail, UTC is used,
//! computed from the Unix day count with the proleptic Gregorian calendar.

use std::time::{SystemTime, UNIX_EPOCH};

/// A broken-down calendar time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

impl Civil {
    /// `YYYYMMDD-HHMMSS`.
    pub fn stamp(&self) -> String {
        format!(
            "{:04}{:02}{:02}-{:02}{:02}{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

/// Seconds since the epoch (negative before 1970).
fn unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// UTC calendar time of `secs` since the epoch.
pub(crate) fn civil_utc(secs: i64) -> Civil {
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400) as u32;
    // Civil-from-days over 400-year eras (146 097 days each), counting from 0000-03-01.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153; // 0 = March
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    Civil {
        year,
        month,
        day,
        hour: of_day / 3600,
        minute: of_day / 60 % 60,
        second: of_day % 60,
    }
}

/// Local calendar time of `secs` and the UTC offset in seconds, via `localtime_r`.
pub(crate) fn civil_local(secs: i64) -> Option<(Civil, i64)> {
    let t = libc::time_t::try_from(secs).ok()?;
    // SAFETY: `tm` is plain data that localtime_r fills in; both pointers are valid for the call.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let result = unsafe { libc::localtime_r(&t, &mut tm) };
    if result.is_null() {
        return None;
    }
    let civil = Civil {
        year: i64::from(tm.tm_year) + 1900,
        month: u32::try_from(tm.tm_mon + 1).ok()?,
        day: u32::try_from(tm.tm_mday).ok()?,
        hour: u32::try_from(tm.tm_hour).ok()?,
        minute: u32::try_from(tm.tm_min).ok()?,
        // A leap second (60) would sort after :59 anyway; keep the name within HHMMSS rules.
        second: u32::try_from(tm.tm_sec.min(59)).ok()?,
    };
    Some((civil, tm.tm_gmtoff))
}

/// `YYYYMMDD-HHMMSS` of `time` in local time (UTC if local time cannot be determined).
pub(crate) fn local_stamp(time: SystemTime) -> String {
    let secs = unix_seconds(time);
    match civil_local(secs) {
        Some((civil, _)) => civil.stamp(),
        None => {
            tracing::warn!("local time unavailable; naming the archive in UTC");
            civil_utc(secs).stamp()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn utc_known_dates() {
        let cases = [
            (0, "19700101-000000"),
            (951_782_400, "20000229-000000"),
            (1_795_297_180, "20261121-213940"),
            (-1, "19691231-235959"),
            (4_102_444_800, "21000101-000000"),
            (1_709_251_199, "20240229-235959"),
        ];
        for (secs, stamp) in cases {
            assert_eq!(civil_utc(secs).stamp(), stamp, "{secs}");
        }
    }

    #[test]
    fn local_time_is_utc_shifted_by_the_offset() {
        for secs in [0, 951_782_400, 1_700_000_000, 1_795_297_180, 1_720_000_000] {
            let (local, offset) = civil_local(secs).unwrap();
            assert!(offset.abs() <= 18 * 3600);
            assert_eq!(local, civil_utc(secs + offset), "{secs}");
        }
    }

    #[test]
    fn stamp_shape() {
        let stamp = local_stamp(UNIX_EPOCH + Duration::from_secs(1_795_297_180));
        assert_eq!(stamp.len(), 15);
        assert!(stamp
            .chars()
            .enumerate()
            .all(|(i, c)| if i == 8 { c == '-' } else { c.is_ascii_digit() }));
        assert_eq!(unix_seconds(UNIX_EPOCH - Duration::from_secs(5)), -5);
    }
}
