//! The `[schedule]` section: when `skolsync watch` runs a pipeline on its
//! own — at the times of cron expressions, and when the source says that
//! something changed (SS 12000 subscriptions) — and [`Schedule`], the
//! section parsed and checked, which tells the next time to run.
//!
//! Cron expressions have the usual five fields (minute, hour, day of month,
//! month, day of week), or six with seconds first; day of month and day of
//! week match when either does, as in Vixie cron. They are read in an IANA
//! time zone, `Europe/Stockholm` by default: Swedish schools keep Swedish
//! time, and a server (or container) often runs in UTC, where `0 2 * * *`
//! would quietly fire at 03:00 or 04:00 Swedish time. Across a daylight
//! saving change a time that does not exist runs at the first time after
//! the gap, and a time that exists twice runs once.
//!
//! Parsing is `croner`'s; this module adds the messages that name the
//! expression and the key, and reports every problem at once (the loader
//! adds them to the file's other problems).

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The default time zone of cron expressions.
pub const DEFAULT_TIMEZONE: &str = "Europe/Stockholm";
/// The default quiet time after a change notification, in seconds.
pub const DEFAULT_DEBOUNCE_SECS: u64 = 30;
/// The longest quiet time allowed: longer would break the promise that a
/// change is handled within minutes.
pub const MAX_DEBOUNCE_SECS: u64 = 3600;

/// The `[schedule]` section: when `skolsync watch` runs the pipeline. Every
/// key has a default, so the section may be left out (then the pipeline
/// runs at start and on change notifications only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// Cron expressions; the pipeline runs at every time any of them
    /// names, e.g. `["0 2 * * *", "*/15 6-18 * * 1-5"]` (02:00 every night,
    /// and every quarter hour 06–18 on weekdays). Five fields (minute hour
    /// day-of-month month day-of-week), or six with seconds first. Default
    /// none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cron: Vec<String>,

    /// The IANA time zone the expressions are read in (default
    /// `Europe/Stockholm`), e.g. `UTC`.
    #[serde(default = "default_timezone")]
    pub timezone: String,

    /// Run when the source notifies a change, for sources that offer SS
    /// 12000 subscriptions: `skolsync watch` registers one at the source,
    /// renews it and removes it on exit (default true). Sources without
    /// subscriptions (CSV files) run on the cron expressions only.
    #[serde(default = "yes")]
    pub on_change: bool,

    /// Seconds to wait after the first change notification before the run
    /// starts, so a burst of changes becomes one run (default 30, at most
    /// 3600). Cron times are never delayed.
    #[serde(default = "default_debounce_secs")]
    pub debounce_secs: u64,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        ScheduleConfig {
            cron: Vec::new(),
            timezone: default_timezone(),
            on_change: true,
            debounce_secs: DEFAULT_DEBOUNCE_SECS,
        }
    }
}

fn default_timezone() -> String {
    DEFAULT_TIMEZONE.to_string()
}

fn default_debounce_secs() -> u64 {
    DEFAULT_DEBOUNCE_SECS
}

fn yes() -> bool {
    true
}

/// One thing wrong with a `[schedule]` section.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct ScheduleProblem {
    /// The dotted key, e.g. `schedule.cron[1]`.
    pub key: String,
    /// What is wrong, naming the value.
    pub message: String,
}

/// A `[schedule]` parsed and checked: the next time to run.
#[derive(Debug, Clone)]
pub struct Schedule {
    entries: Vec<(String, Cron)>,
    timezone: Tz,
    on_change: bool,
    debounce: Duration,
}

impl Schedule {
    /// Parses `config`, reporting every problem at once.
    pub fn new(config: &ScheduleConfig) -> Result<Schedule, Vec<ScheduleProblem>> {
        let mut problems = Vec::new();
        let parser = CronParser::builder()
            .seconds(Seconds::Optional)
            .year(Year::Disallowed)
            .build();
        let mut entries = Vec::new();
        for (i, expression) in config.cron.iter().enumerate() {
            match parser.parse(expression) {
                Ok(cron) => entries.push((expression.trim().to_string(), cron)),
                Err(e) => problems.push(ScheduleProblem {
                    key: format!("schedule.cron[{i}]"),
                    message: format!(
                        "`{expression}` is not a cron expression: {e} (write five fields, \
                         minute hour day-of-month month day-of-week, e.g. `0 2 * * *`, or six \
                         with seconds first)"
                    ),
                }),
            }
        }
        let timezone = match Tz::from_str(config.timezone.trim()) {
            Ok(tz) => Some(tz),
            Err(_) => {
                problems.push(ScheduleProblem {
                    key: "schedule.timezone".into(),
                    message: format!(
                        "`{}` is not an IANA time zone; write e.g. `Europe/Stockholm` or `UTC`",
                        config.timezone
                    ),
                });
                None
            }
        };
        if config.debounce_secs > MAX_DEBOUNCE_SECS {
            problems.push(ScheduleProblem {
                key: "schedule.debounce_secs".into(),
                message: format!(
                    "{} seconds is more than the most allowed, {MAX_DEBOUNCE_SECS}: a change \
                     would wait that long before it is sent",
                    config.debounce_secs
                ),
            });
        }
        match timezone {
            Some(timezone) if problems.is_empty() => Ok(Schedule {
                entries,
                timezone,
                on_change: config.on_change,
                debounce: Duration::from_secs(config.debounce_secs),
            }),
            _ => Err(problems),
        }
    }

    /// The next time after `now` that an expression names, with that
    /// expression; `None` without expressions (or if none ever fires
    /// again, e.g. `0 0 30 2 *`).
    pub fn next_after(&self, now: DateTime<Utc>) -> Option<(DateTime<Utc>, &str)> {
        let local = now.with_timezone(&self.timezone);
        self.entries
            .iter()
            .filter_map(|(text, cron)| {
                let next = cron.find_next_occurrence(&local, false).ok()?;
                Some((next.with_timezone(&Utc), text.as_str()))
            })
            .min_by_key(|(at, _)| *at)
    }

    /// Whether any cron expression is set.
    pub fn has_times(&self) -> bool {
        !self.entries.is_empty()
    }

    /// The expressions as written (trimmed).
    pub fn expressions(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(text, _)| text.as_str())
    }

    /// The time zone the expressions are read in.
    pub fn timezone(&self) -> Tz {
        self.timezone
    }

    /// Whether to run on the source's change notifications.
    pub fn on_change(&self) -> bool {
        self.on_change
    }

    /// How long to wait after the first change notification of a burst.
    pub fn debounce(&self) -> Duration {
        self.debounce
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(text: &str) -> Result<Schedule, Vec<ScheduleProblem>> {
        let config: ScheduleConfig = toml::from_str(text).unwrap();
        Schedule::new(&config)
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn defaults_are_stockholm_time_on_change_and_thirty_seconds() {
        let config: ScheduleConfig = toml::from_str("").unwrap();
        assert_eq!(config, ScheduleConfig::default());
        let s = Schedule::new(&config).unwrap();
        assert_eq!(s.timezone(), chrono_tz::Europe::Stockholm);
        assert!(s.on_change());
        assert_eq!(s.debounce(), Duration::from_secs(30));
        assert!(!s.has_times());
        assert_eq!(s.next_after(Utc::now()), None);
        assert!(toml::from_str::<ScheduleConfig>("crons = []").is_err());
    }

    #[test]
    fn the_next_time_is_the_earliest_of_all_expressions_in_swedish_time() {
        let s = schedule(r#"cron = ["0 2 * * *", "*/15 6-18 * * 1-5"]"#).unwrap();
        // Wednesday 2026-12-02 17:50 in Stockholm (UTC+1): the quarter hour wins.
        let (at, which) = s.next_after(utc("2026-12-02T16:50:00Z")).unwrap();
        assert_eq!(at, utc("2026-12-02T17:00:00Z"));
        assert_eq!(which, "*/15 6-18 * * 1-5");
        // After 18:45 the next is 02:00 at night, 01:00 UTC in winter.
        let (at, which) = s.next_after(utc("2026-12-02T17:45:00Z")).unwrap();
        assert_eq!(at, utc("2026-12-03T01:00:00Z"));
        assert_eq!(which, "0 2 * * *");
        // Saturday: no quarter hours; in summer 02:00 is 00:00 UTC.
        let (at, _) = s.next_after(utc("2026-06-06T08:00:00Z")).unwrap();
        assert_eq!(at, utc("2026-06-07T00:00:00Z"));
        // Strictly after: at 02:00 itself the next time is 06:00, not now.
        let (at, which) = s.next_after(utc("2026-12-03T01:00:00Z")).unwrap();
        assert_eq!(
            (at, which),
            (utc("2026-12-03T05:00:00Z"), "*/15 6-18 * * 1-5")
        );
    }

    #[test]
    fn seconds_and_other_time_zones() {
        let s = schedule("cron = [\"*/5 * * * * *\"]\ntimezone = \"UTC\"").unwrap();
        let (at, _) = s.next_after(utc("2026-12-02T10:00:03Z")).unwrap();
        assert_eq!(at, utc("2026-12-02T10:00:05Z"));
        let s = schedule("cron = [\"30 7 * * *\"]\ntimezone = \"America/New_York\"").unwrap();
        let (at, _) = s.next_after(utc("2026-12-02T00:00:00Z")).unwrap();
        assert_eq!(at, utc("2026-12-02T12:30:00Z"));
    }

    #[test]
    fn a_daylight_saving_gap_runs_once_after_it_and_a_repeated_hour_once() {
        let s = schedule(r#"cron = ["30 2 * * *"]"#).unwrap();
        // 2026-03-29: Stockholm jumps from 02:00 to 03:00; 02:30 does not exist.
        let (at, _) = s.next_after(utc("2026-03-28T23:00:00Z")).unwrap();
        assert_eq!(
            at,
            utc("2026-03-29T01:00:00Z"),
            "03:00 local, after the gap"
        );
        let (next, _) = s.next_after(at).unwrap();
        assert_eq!(next, utc("2026-03-30T00:30:00Z"));
        // 2026-10-25: 02:30 happens twice (summer, then winter time): once.
        let (at, _) = s.next_after(utc("2026-10-24T23:00:00Z")).unwrap();
        let (next, _) = s.next_after(at).unwrap();
        assert!(
            next >= utc("2026-10-26T00:00:00Z"),
            "{at} then {next}: the repeated hour ran twice"
        );
    }

    #[test]
    fn every_problem_is_reported_naming_the_expression() {
        let problems = schedule(
            "cron = [\"0 2 * * *\", \"61 * * * *\", \"every day\"]\n\
             timezone = \"Europe/Stokholm\"\ndebounce_secs = 7200",
        )
        .unwrap_err();
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "schedule.cron[1]",
                "schedule.cron[2]",
                "schedule.timezone",
                "schedule.debounce_secs"
            ]
        );
        assert!(problems[0].message.contains("`61 * * * *`"), "{problems:?}");
        assert!(problems[1].message.contains("`every day`"), "{problems:?}");
        assert!(
            problems[2].message.contains("Europe/Stokholm"),
            "{problems:?}"
        );
    }

    #[test]
    fn an_expression_with_a_year_is_refused() {
        // Seven fields would be read as seconds … year: refused, so a
        // copied Quartz expression is not silently misread.
        assert!(schedule(r#"cron = ["0 0 2 * * * 2027"]"#).is_err());
    }
}
