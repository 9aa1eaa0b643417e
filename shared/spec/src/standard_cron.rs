//! Standard 5-field cron expressions (`minute hour day-of-month month day-of-week`, or a
//! `@daily`-style nickname), as `@trigger(options={"reset_at": {"cron": ...}})` gives them.
//!
//! Metaflow hands `reset_at` to Argo Events' sensor `conditionsReset.byTime`, whose cron is
//! the standard syntax of robfig/cron (`ParseStandard`): five fields, day-of-week 0-6 from
//! Sunday (names allowed), the nicknames `@yearly`, `@annually`, `@monthly`, `@weekly`,
//! `@daily`, `@midnight` and `@hourly`. This is that syntax, not EventBridge's 6-field one
//! ([`crate::aws_cron`]). When both day fields are restricted, a day matching either fires
//! (vixie cron's rule, as robfig/cron). Time zones behave as in [`crate::aws_cron`].

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds, Year};

use crate::aws_cron::{CronError, fire_times_after, parse_timezone};

/// A parsed standard cron expression and its time zone.
#[derive(Debug, Clone)]
pub struct StandardCron {
    expr: String,
    cron: croner::Cron,
    tz: Tz,
}

impl StandardCron {
    /// Parse `expr` (5 fields or a nickname) in IANA time zone `timezone` (`None`: UTC).
    /// Errors: [`CronError::FieldCount`] for another number of fields, [`CronError::Invalid`]
    /// for what cron refuses, [`CronError::UnknownTimezone`].
    pub fn parse(expr: &str, timezone: Option<&str>) -> Result<StandardCron, CronError> {
        let trimmed = expr.trim();
        let tz = parse_timezone(timezone)?;
        let pattern = match trimmed.to_ascii_lowercase().as_str() {
            "@midnight" => "@daily".to_string(),
            "@annually" => "@yearly".to_string(),
            _ => trimmed.to_string(),
        };
        if !pattern.starts_with('@') {
            let count = pattern.split_ascii_whitespace().count();
            if count != 5 {
                return Err(CronError::Invalid {
                    expr: expr.to_string(),
                    reason: format!(
                        "it has {count} field(s); reset_at takes a standard cron of 5: minute hour day-of-month month day-of-week, e.g. \"0 0 * * *\""
                    ),
                });
            }
        }
        let parser = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build();
        let cron = parser.parse(&pattern).map_err(|err| CronError::Invalid {
            expr: expr.to_string(),
            reason: err.to_string().trim_end_matches('.').to_string(),
        })?;
        Ok(StandardCron {
            expr: trimmed.to_string(),
            cron,
            tz,
        })
    }

    /// The expression as given (trimmed).
    pub fn expression(&self) -> &str {
        &self.expr
    }

    /// The first fire time strictly after `after`, in UTC; `None` if it never fires again.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        fire_times_after(&self.cron, self.tz, after, 1).pop()
    }

    /// Whether it fires at some time in `(after, until]`.
    pub fn fires_between(&self, after: DateTime<Utc>, until: DateTime<Utc>) -> bool {
        self.next_after(after).is_some_and(|t| t <= until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    #[test]
    fn five_fields_and_nicknames() {
        let c = StandardCron::parse("30 2 * * *", None).unwrap();
        assert_eq!(
            c.next_after(at(2026, 1, 1, 3, 0)),
            Some(at(2026, 1, 2, 2, 30))
        );
        for nick in ["@daily", "@midnight", "@DAILY"] {
            let c = StandardCron::parse(nick, None).unwrap();
            assert_eq!(
                c.next_after(at(2026, 1, 1, 3, 0)),
                Some(at(2026, 1, 2, 0, 0))
            );
        }
        let weekly = StandardCron::parse("0 0 * * SUN", None).unwrap();
        // 2026-01-04 is a Sunday.
        assert_eq!(
            weekly.next_after(at(2026, 1, 1, 0, 0)),
            Some(at(2026, 1, 4, 0, 0))
        );
    }

    #[test]
    fn time_zones_shift_the_fire_time() {
        let c = StandardCron::parse("0 0 * * *", Some("Europe/Paris")).unwrap();
        // Midnight in Paris in winter is 23:00 UTC the day before.
        assert_eq!(
            c.next_after(at(2026, 1, 1, 12, 0)),
            Some(at(2026, 1, 1, 23, 0))
        );
        assert!(c.fires_between(at(2026, 1, 1, 12, 0), at(2026, 1, 1, 23, 0)));
        assert!(!c.fires_between(at(2026, 1, 1, 12, 0), at(2026, 1, 1, 22, 59)));
    }

    #[test]
    fn refusals_say_what_is_wrong() {
        let six = StandardCron::parse("0 0 * * ? *", None)
            .unwrap_err()
            .to_string();
        assert!(six.contains("it has 6 field(s)"), "{six}");
        let bad = StandardCron::parse("61 0 * * *", None)
            .unwrap_err()
            .to_string();
        assert!(bad.contains("\"61 0 * * *\" is not valid"), "{bad}");
        let tz = StandardCron::parse("0 0 * * *", Some("Mars/Olympus"))
            .unwrap_err()
            .to_string();
        assert!(tz.contains("unknown time zone \"Mars/Olympus\""), "{tz}");
    }
}
