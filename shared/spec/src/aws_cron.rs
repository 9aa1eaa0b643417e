//! EventBridge cron expressions: parsing with the exact rules AWS applies, and DST-correct fire
//! times for the embedded scheduler.
//!
//! The syntax is EventBridge's 6 fields `minutes hours day-of-month month day-of-week year`
//! (e.g. `0 10 * * ? *`), without the `cron(...)` wrapper, as `@schedule(cron=...)` takes it.
//! Day-of-week counts 1 = SUN ... 7 = SAT (Quartz). Exactly one of day-of-month and day-of-week
//! must be `?`. See <https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html>.
//!
//! Evaluation uses the `croner` crate behind a thin wrapper that fixes what croner accepts but
//! AWS refuses (both day fields set, characters outside a field's set, years outside
//! 1970-2199) and what croner refuses but AWS accepts (`0/15` is rewritten to `0-59/15`).
//!
//! Time zones follow EventBridge Scheduler: a fire time that does not exist locally (the
//! spring-forward gap) is skipped; one that exists twice (fall back) fires once, at the first.

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds, Year};

/// The first and last years EventBridge accepts in the year field.
pub const YEAR_RANGE: (u32, u32) = (1970, 2199);

/// Why a cron expression or time zone is refused. `Display` is the message a user sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CronError {
    /// The expression is wrapped in `cron(...)`.
    #[error(
        "the cron expression {expr:?} is wrapped in cron(...); write only the 6 fields, e.g. \"0 10 * * ? *\""
    )]
    Wrapped { expr: String },
    /// Not exactly 6 fields.
    #[error(
        "the cron expression {expr:?} has {count} field(s); EventBridge needs exactly 6: minutes hours day-of-month month day-of-week year, e.g. \"0 10 * * ? *\""
    )]
    FieldCount { expr: String, count: usize },
    /// A character a field does not allow.
    #[error(
        "the {field} field {value:?} of the cron expression {expr:?} contains {ch:?}, which EventBridge does not allow there"
    )]
    BadCharacter {
        expr: String,
        field: &'static str,
        value: String,
        ch: char,
    },
    /// Day-of-month and day-of-week are both set, or both `?`.
    #[error(
        "the cron expression {expr:?} must have exactly one of day-of-month (3rd field) and day-of-week (5th field) set to \"?\", e.g. \"0 10 * * ? *\" or \"0 10 ? * MON *\""
    )]
    DayFields { expr: String },
    /// A year outside EventBridge's range.
    #[error(
        "the year field of the cron expression {expr:?} names year {year}; EventBridge accepts 1970 to 2199"
    )]
    YearRange { expr: String, year: u64 },
    /// A number outside its field's range.
    #[error(
        "the {field} field {value:?} of the cron expression {expr:?} has {number}; it must be between {min} and {max}"
    )]
    OutOfRange {
        expr: String,
        field: &'static str,
        value: String,
        number: u64,
        min: u32,
        max: u32,
    },
    /// croner refused the expression (a value out of range, a malformed range or step...).
    #[error("the cron expression {expr:?} is not valid: {reason}")]
    Invalid { expr: String, reason: String },
    /// An unknown IANA time zone.
    #[error(
        "unknown time zone {tz:?}: use an IANA name such as \"Europe/Paris\" or \"America/New_York\""
    )]
    UnknownTimezone { tz: String },
}

const FIELD_NAMES: [&str; 6] = [
    "minutes",
    "hours",
    "day-of-month",
    "month",
    "day-of-week",
    "year",
];
const FIELD_MIN: [u32; 6] = [0, 0, 1, 1, 1, YEAR_RANGE.0];
const FIELD_MAX: [u32; 6] = [59, 23, 31, 12, 7, YEAR_RANGE.1];

fn allowed(field: usize, ch: char) -> bool {
    let base = ch.is_ascii_digit() || matches!(ch, ',' | '-' | '*' | '/');
    match field {
        2 => base || matches!(ch, '?' | 'L' | 'W'),
        3 => base || ch.is_ascii_alphabetic(),
        4 => base || matches!(ch, '?' | 'L' | '#') || ch.is_ascii_alphabetic(),
        _ => base,
    }
}

/// A parsed EventBridge cron expression.
#[derive(Debug, Clone)]
pub struct AwsCron {
    expr: String,
    cron: croner::Cron,
}

impl AwsCron {
    /// Parse an EventBridge 6-field cron expression (see the module docs for the rules).
    pub fn parse(expr: &str) -> Result<AwsCron, CronError> {
        let e = || expr.to_string();
        let trimmed = expr.trim();
        if trimmed.to_ascii_lowercase().starts_with("cron(") {
            return Err(CronError::Wrapped { expr: e() });
        }
        let fields: Vec<&str> = trimmed.split_ascii_whitespace().collect();
        if fields.len() != 6 {
            return Err(CronError::FieldCount {
                expr: e(),
                count: fields.len(),
            });
        }
        for (i, f) in fields.iter().enumerate() {
            if let Some(ch) = f.chars().find(|&c| !allowed(i, c.to_ascii_uppercase())) {
                return Err(CronError::BadCharacter {
                    expr: e(),
                    field: FIELD_NAMES[i],
                    value: f.to_string(),
                    ch,
                });
            }
            if i != 2 && i != 4 && f.contains('?') {
                return Err(CronError::BadCharacter {
                    expr: e(),
                    field: FIELD_NAMES[i],
                    value: f.to_string(),
                    ch: '?',
                });
            }
        }
        if (fields[2] == "?") == (fields[4] == "?") {
            return Err(CronError::DayFields { expr: e() });
        }
        for part in fields[5].split(|c: char| !c.is_ascii_digit()) {
            if part.is_empty() {
                continue;
            }
            let year: u64 = part.parse().unwrap_or(u64::MAX);
            // A step (`*/2`) is a small number, not a year.
            let is_step = fields[5]
                .split(',')
                .any(|p| p.split_once('/').is_some_and(|(_, s)| s == part));
            if !is_step && !(u64::from(YEAR_RANGE.0)..=u64::from(YEAR_RANGE.1)).contains(&year) {
                return Err(CronError::YearRange { expr: e(), year });
            }
        }
        for (i, f) in fields.iter().enumerate().take(5) {
            if let Some(number) = out_of_range(f, FIELD_MIN[i], FIELD_MAX[i]) {
                return Err(CronError::OutOfRange {
                    expr: e(),
                    field: FIELD_NAMES[i],
                    value: f.to_string(),
                    number,
                    min: FIELD_MIN[i],
                    max: FIELD_MAX[i],
                });
            }
        }
        let rewritten: Vec<String> = fields
            .iter()
            .enumerate()
            .map(|(i, f)| rewrite_steps(f, FIELD_MAX[i]))
            .collect();
        let pattern = format!("0 {}", rewritten.join(" "));
        let parser = CronParser::builder()
            .seconds(Seconds::Required)
            .year(Year::Required)
            .alternative_weekdays(true)
            .build();
        let cron = parser.parse(&pattern).map_err(|err| CronError::Invalid {
            expr: e(),
            reason: err.to_string().trim_end_matches('.').to_string(),
        })?;
        Ok(AwsCron {
            expr: trimmed.to_string(),
            cron,
        })
    }

    /// The expression as given (trimmed).
    pub fn expression(&self) -> &str {
        &self.expr
    }

    /// Up to `n` fire times strictly after `after`, evaluated in time zone `tz`, in UTC.
    /// Fewer than `n` when the expression has no more fire times (e.g. a past year).
    pub fn next_after(&self, tz: Tz, after: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        fire_times_after(&self.cron, tz, after, n)
    }
}

/// Up to `n` times strictly after `after` at which `cron`, read as wall-clock times of `tz`,
/// fires, in UTC: a local time that does not exist (spring forward) is skipped, one that
/// happens twice (fall back) fires once, at the first.
pub(crate) fn fire_times_after(
    cron: &croner::Cron,
    tz: Tz,
    after: DateTime<Utc>,
    n: usize,
) -> Vec<DateTime<Utc>> {
    let mut out = Vec::with_capacity(n);
    // Walk local wall-clock times without DST, then place each in the zone.
    let mut cursor: NaiveDateTime = after.with_timezone(&tz).naive_local();
    // A gap-free walk may need a few extra steps for skipped local times; bound it.
    let mut budget = n.saturating_mul(4).saturating_add(16);
    while out.len() < n && budget > 0 {
        budget -= 1;
        let Ok(next) = cron.find_next_occurrence(&cursor, false) else {
            break;
        };
        cursor = next;
        let at = match tz.from_local_datetime(&next) {
            LocalResult::Single(t) => t,
            // Fall back: the wall-clock time happens twice; fire once, at the first.
            LocalResult::Ambiguous(first, _) => first,
            // Spring forward: the wall-clock time does not exist; skip it.
            LocalResult::None => continue,
        };
        let at = at.with_timezone(&Utc);
        if at > after && out.last().is_none_or(|l| at > *l) {
            out.push(at);
        }
    }
    out
}

/// The first number of a field (not a step after `/`, not an nth after `#`) outside
/// `min..=max`.
fn out_of_range(field: &str, min: u32, max: u32) -> Option<u64> {
    field.split(',').find_map(|part| {
        let range = part.split('/').next().unwrap_or("");
        let range = range.split('#').next().unwrap_or("");
        range.split('-').find_map(|token| {
            let digits = token.trim_end_matches(['L', 'W', 'l', 'w']);
            if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let n: u64 = digits.parse().unwrap_or(u64::MAX);
            (n < u64::from(min) || n > u64::from(max)).then_some(n)
        })
    })
}

/// Rewrite AWS's `N/step` (start at N, every step) to croner's `N-max/step`, part by part.
fn rewrite_steps(field: &str, max: u32) -> String {
    field
        .split(',')
        .map(|part| match part.split_once('/') {
            Some((start, step)) if !start.is_empty() && start != "*" && !start.contains('-') => {
                format!("{start}-{max}/{step}")
            }
            _ => part.to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Parse an IANA time zone name (`None`: UTC).
pub fn parse_timezone(tz: Option<&str>) -> Result<Tz, CronError> {
    match tz {
        None => Ok(Tz::UTC),
        Some(name) => name.parse::<Tz>().map_err(|_| CronError::UnknownTimezone {
            tz: name.to_string(),
        }),
    }
}

/// The next `n` fire times of EventBridge cron `expr` in time zone `tz` (IANA name; `None` =
/// UTC) strictly after `after`, in UTC. DST follows EventBridge Scheduler (see module docs).
pub fn next_fire_times(
    expr: &str,
    tz: Option<&str>,
    after: DateTime<Utc>,
    n: usize,
) -> Result<Vec<DateTime<Utc>>, CronError> {
    let zone = parse_timezone(tz)?;
    Ok(AwsCron::parse(expr)?.next_after(zone, after, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn next(expr: &str, tz: Option<&str>, after: &str, n: usize) -> Vec<String> {
        next_fire_times(expr, tz, utc(after), n)
            .unwrap()
            .iter()
            .map(|t| t.to_rfc3339())
            .collect()
    }

    // Expected times worked out by hand from the calendar (2026-11-30 is a Monday).
    #[test]
    fn aws_syntax_fire_times() {
        let from = "2026-11-30T00:00:00Z";
        assert_eq!(
            next("0 10 * * ? *", None, from, 2),
            ["2026-11-30T10:00:00+00:00", "2026-12-01T10:00:00+00:00"]
        );
        assert_eq!(
            next("0 18 ? * MON-FRI *", None, "2026-12-04T19:00:00Z", 1),
            ["2026-12-07T18:00:00+00:00"]
        );
        // Quartz weekdays: 2 = Monday; 2#1 = first Monday.
        assert_eq!(
            next("0 12 ? * 2#1 *", None, from, 1),
            ["2026-12-07T12:00:00+00:00"]
        );
        assert_eq!(
            next("0 10 L * ? *", None, from, 1),
            ["2026-11-30T10:00:00+00:00"]
        );
        assert_eq!(
            next("0 9 ? * 6L *", None, from, 1),
            ["2026-12-25T09:00:00+00:00"]
        );
        // AWS's 0/15 (croner wants a range).
        assert_eq!(
            next("0/15 * * * ? *", None, from, 3),
            [
                "2026-11-30T00:15:00+00:00",
                "2026-11-30T00:30:00+00:00",
                "2026-11-30T00:45:00+00:00"
            ]
        );
        assert_eq!(
            next("0 10 ? * 2 2027", None, from, 1),
            ["2027-01-04T10:00:00+00:00"]
        );
        // A past year has no fire time.
        assert!(next("0 10 * * ? 1999", None, from, 1).is_empty());
    }

    #[test]
    fn time_zones_and_dst() {
        // 09:00 in Paris is 08:00 UTC in winter, 07:00 UTC in summer.
        assert_eq!(
            next(
                "0 9 * * ? *",
                Some("Europe/Paris"),
                "2026-11-30T00:00:00Z",
                1
            ),
            ["2026-11-30T08:00:00+00:00"]
        );
        assert_eq!(
            next(
                "0 9 * * ? *",
                Some("Europe/Paris"),
                "2026-06-01T00:00:00Z",
                1
            ),
            ["2026-06-01T07:00:00+00:00"]
        );
        // New York springs forward on 2026-03-08 at 02:00: 02:30 does not exist that day and
        // is skipped (EventBridge Scheduler), not moved.
        assert_eq!(
            next(
                "30 2 * * ? *",
                Some("America/New_York"),
                "2026-03-07T00:00:00Z",
                2
            ),
            ["2026-03-07T07:30:00+00:00", "2026-03-09T06:30:00+00:00"]
        );
        // Falls back on 2026-11-01 at 02:00: 01:30 happens twice and fires once, the first
        // time (EDT, UTC-4).
        assert_eq!(
            next(
                "30 1 * * ? *",
                Some("America/New_York"),
                "2026-10-31T12:00:00Z",
                2
            ),
            ["2026-11-01T05:30:00+00:00", "2026-11-02T06:30:00+00:00"]
        );
        // Every 30 minutes across the fall-back hour: each wall-clock time once.
        assert_eq!(
            next(
                "0/30 * * * ? *",
                Some("America/New_York"),
                "2026-11-01T05:00:00Z",
                4
            ),
            [
                "2026-11-01T05:30:00+00:00",
                "2026-11-01T07:00:00+00:00",
                "2026-11-01T07:30:00+00:00",
                "2026-11-01T08:00:00+00:00"
            ]
        );
    }

    #[test]
    fn refusals() {
        let err = |e: &str| AwsCron::parse(e).unwrap_err();
        assert!(matches!(
            err("0 10 * * *"),
            CronError::FieldCount { count: 5, .. }
        ));
        assert!(matches!(
            err("cron(0 10 * * ? *)"),
            CronError::Wrapped { .. }
        ));
        assert!(matches!(err("0 10 * * * *"), CronError::DayFields { .. }));
        assert!(matches!(err("0 10 ? * ? *"), CronError::DayFields { .. }));
        assert!(matches!(
            err("0 10 * * ? 2300"),
            CronError::YearRange { .. }
        ));
        assert!(matches!(
            err("0 25 * * ? *"),
            CronError::OutOfRange { number: 25, .. }
        ));
        assert!(matches!(
            err("0 1 ? * 0 *"),
            CronError::OutOfRange { number: 0, .. }
        ));
        assert!(matches!(err("0 1 ? * 2#6 *"), CronError::Invalid { .. }));
        assert!(matches!(err("0 10 W * ? *"), CronError::Invalid { .. }));
        assert!(matches!(
            err("0 1L * * ? *"),
            CronError::BadCharacter { .. }
        ));
        assert!(matches!(
            err("? 10 * * ? *"),
            CronError::BadCharacter { .. }
        ));
        assert!(matches!(
            parse_timezone(Some("Mars/Olympus")),
            Err(CronError::UnknownTimezone { .. })
        ));
        for ok in [
            "0 * * * ? *",
            "0 0 * * ? *",
            "0 0 ? * SUN *",
            "0 8 1 * ? *",
            "0 9 LW * ? *",
            "0 0 1 JAN/3 ? *",
            "0 12 * * ? 2027-2030/2",
        ] {
            AwsCron::parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }
}
