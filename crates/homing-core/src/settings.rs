//! Queue settings kept in `Q:meta`, which the scripts read so every producer and worker agrees.
//! The first worker (or `homing queue init`) writes them; later ones use what is stored.

use crate::error::{malformed, Error};
use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

/// The wire and key-layout version this build speaks. Scripts refuse a queue stamped with
/// another version, so a mixed deployment fails loudly instead of corrupting state.
pub const PROTOCOL_VERSION: u32 = 1;

/// Whether pins steer jobs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum AffinityMode {
    /// Jobs go to their session's owner when it is alive and has room.
    #[default]
    On,
    /// Every job goes to the overflow: the baseline every benchmark compares with.
    Off,
    /// Every job goes to the overflow, but receipts and metrics report would-be hits, so the
    /// gain can be measured before turning affinity on.
    Shadow,
}

impl AffinityMode {
    /// The word stored in `Q:meta`.
    pub fn as_str(&self) -> &'static str {
        match self {
            AffinityMode::On => "on",
            AffinityMode::Off => "off",
            AffinityMode::Shadow => "shadow",
        }
    }
}

impl fmt::Display for AffinityMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for AffinityMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "on" => Ok(AffinityMode::On),
            "off" => Ok(AffinityMode::Off),
            "shadow" => Ok(AffinityMode::Shadow),
            other => Err(Error::InvalidArgument(format!("affinity must be on, off or shadow, got {other:?}"))),
        }
    }
}

/// The settings every script of a queue reads from `Q:meta`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueSettings {
    /// Whether pins steer jobs. Default `on`.
    pub affinity: AffinityMode,
    /// Jobs that may queue behind a busy owner before the next one may spill (it spills only
    /// if no more wait in the overflow either). Default 32: about where waiting behind warm
    /// runs costs what one cold run elsewhere does (32 × 1 ms against 45 ms in the measured
    /// case), and `max_wait` bounds the wait in time anyway; at 1 a conversation's turns spill
    /// whenever its owner serves a new session (hit ratio 0.61–0.83 against 0.875 on
    /// `homing bench --multi-turn`). Lower it when warm runs are slow (seconds); raise it when
    /// `homing_jobs_pushed_total{reason="busy"}` is high and warm runs are much cheaper than cold.
    pub max_waiting: u32,
    /// How long a pin lives without a job refreshing it. Default 30 min: the life of a typical
    /// warm cache (conversation context, logged-in session); match it to your cache's idle TTL.
    pub pin_ttl: Duration,
    /// Attempts before a failing job is dead-lettered. Default 5: transient faults (a flaky
    /// dependency, a deploy) get four retries over about 15 s of backoff; a job that fails five
    /// times is likely broken and belongs in `Q:dead` for a human.
    pub max_attempts: u32,
    /// The largest payload accepted, in bytes. Default 1 MiB: Redis keeps every queued byte in
    /// memory; larger data belongs in object storage with a reference in the payload.
    pub max_payload: usize,
    /// The first retry's backoff. Default 1 s: long enough for a restarted dependency to come
    /// back, short enough that a user-facing turn is retried while the user still waits.
    pub backoff_base: Duration,
    /// The cap on the exponential backoff. Default 5 min.
    pub backoff_max: Duration,
    /// The longest a job waits undelivered in its owner's inbox before it moves to the
    /// overflow (route `spill:wait`). Default 2 s: a healthy owner starts a queued job within
    /// about one run (the inbox holds at most `capacity + max_waiting`), so this only fires for
    /// a slow or stuck owner, and past 2 s a cold run elsewhere (45 ms to about a second for a
    /// conversation cache) is cheaper than waiting on. Lower it when
    /// `homing_job_wait_seconds` for inbox jobs has a long tail.
    pub max_wait: Duration,
    /// How long a delivered job may go without its worker renewing its lease before it is
    /// reclaimed and its session unpinned. Default 30 s: workers renew every third of it, so
    /// only a worker stopped for 30 s (a frozen process, a partition) loses its jobs, never one
    /// in a GC pause; a reclaimed job runs again, so keep it well above such pauses.
    pub visibility_timeout: Duration,
    /// How many partitions the queue has, each its own set of keys under its own Redis Cluster
    /// hash tag (so partitions spread over a cluster's masters), a session's jobs always in
    /// the partition [`crate::partition_of`] gives. Default 1: one partition is one Redis
    /// core's worth (about 18,000 jobs/s here); raise it only on a Redis Cluster whose queue
    /// master runs hot. Fixed when the queue is created (`init` refuses a change): a session's
    /// partition is its hash modulo this, so a change would strand queued jobs and pins.
    pub partitions: u32,
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self {
            affinity: AffinityMode::On,
            max_waiting: 32,
            pin_ttl: Duration::from_secs(30 * 60),
            max_attempts: 5,
            max_payload: 1024 * 1024,
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(5 * 60),
            max_wait: Duration::from_secs(2),
            visibility_timeout: Duration::from_secs(30),
            partitions: 1,
        }
    }
}

/// One numeric setting's rule: the CLI flag that sets it and its range. The same table is
/// `HOMING_RULES` in `lua/include/settings.lua` (a unit test compares the two), so `queue init`,
/// every script, ingress's per-envelope `max_attempts` and the client check one rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SettingRule {
    /// The `Q:meta` field.
    pub field: &'static str,
    /// The `homing queue init` flag that sets it (durations for `_ms` fields).
    pub flag: &'static str,
    /// The smallest value allowed.
    pub min: u64,
    /// The largest value allowed.
    pub max: u64,
    /// Whether only whole numbers (decimal digits) are allowed; every setting today is whole.
    pub whole: bool,
}

/// Every numeric setting's rule, in `Q:meta` field order. Ranges: `max_attempts` up to 1000 and
/// `max_waiting` up to 10000 are far past any sane queue yet keep arithmetic exact; `pin_ttl`
/// up to 30 days; `max_payload` up to 512 MiB (Redis's string limit); backoff, `max_wait` and
/// `visibility_timeout` up to a day, `visibility_timeout` from 300 ms (leases are renewed every
/// third of it).
pub const SETTING_RULES: [SettingRule; 8] = [
    SettingRule { field: "max_waiting", flag: "--max-waiting", min: 0, max: 10_000, whole: true },
    SettingRule { field: "pin_ttl_ms", flag: "--pin-ttl", min: 1, max: 2_592_000_000, whole: true },
    SettingRule { field: "max_attempts", flag: "--max-attempts", min: 1, max: 1000, whole: true },
    SettingRule { field: "max_payload", flag: "--max-payload", min: 1, max: 536_870_912, whole: true },
    SettingRule { field: "backoff_base_ms", flag: "--backoff-base", min: 1, max: 86_400_000, whole: true },
    SettingRule { field: "backoff_max_ms", flag: "--backoff-max", min: 1, max: 86_400_000, whole: true },
    SettingRule { field: "max_wait_ms", flag: "--max-wait", min: 1, max: 86_400_000, whole: true },
    SettingRule {
        field: "visibility_timeout_ms",
        flag: "--visibility-timeout",
        min: 300,
        max: 86_400_000,
        whole: true,
    },
];

/// The words `affinity` may hold (`HOMING_AFFINITY_MODES` in `lua/include/settings.lua`).
pub const AFFINITY_MODES: [&str; 3] = ["on", "off", "shadow"];

impl SettingRule {
    /// The rule of a `Q:meta` field; `None` for `affinity` and unknown fields.
    pub fn of(field: &str) -> Option<&'static SettingRule> {
        SETTING_RULES.iter().find(|r| r.field == field)
    }

    /// The `max_attempts` rule, which a per-job override keeps too.
    pub fn max_attempts() -> &'static SettingRule {
        Self::of("max_attempts").expect("max_attempts has a rule")
    }

    /// What a value must be, in words: `a whole number from 0 to 10000`.
    pub fn words(&self) -> String {
        let kind = if self.whole { "a whole number" } else { "a number" };
        format!("{kind} from {} to {}", self.min, self.max)
    }

    /// The value of `raw` (`None`: absent), or what is wrong with it, worded as the scripts
    /// word it: `max_waiting is "abc": must be a whole number from 0 to 10000`. A whole number
    /// is decimal digits only.
    pub fn parse(&self, raw: Option<&str>) -> Result<u64, String> {
        let must = format!("must be {}", self.words());
        let Some(raw) = raw else { return Err(format!("{} is missing: {must}", self.field)) };
        let digits = !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit());
        let n = if self.whole && !digits { None } else { raw.parse::<f64>().ok() };
        match n {
            Some(n) if n >= self.min as f64 && n <= self.max as f64 => Ok(n as u64),
            _ => Err(format!("{} is \"{raw}\": {must}", self.field)),
        }
    }

    /// The command that replaces a bad stored value.
    pub fn fix(&self) -> String {
        let value = if self.field.ends_with("_ms") { "<duration>" } else { "<n>" };
        format!("homing queue init --update {} {value}", self.flag)
    }
}

/// A per-job `max_attempts` (push options), checked against the queue setting's rule.
pub fn check_max_attempts(n: u32) -> Result<u32, Error> {
    SettingRule::max_attempts().parse(Some(&n.to_string())).map(|_| n).map_err(Error::InvalidArgument)
}

fn bad_setting(field: &str, problem: String, fix: String) -> Error {
    Error::BadSetting { field: field.to_string(), message: format!("{problem}; fix it with `{fix}`") }
}

impl QueueSettings {
    /// Checks every value against its rule before anything is written; the error names the
    /// setting, the value and the rule, worded as the `init` script words it.
    pub fn validate(&self) -> Result<(), Error> {
        let fields = self.to_fields();
        for (field, value) in &fields {
            if let Some(rule) = SettingRule::of(field) {
                rule.parse(Some(value)).map_err(Error::InvalidArgument)?;
            }
        }
        parse_partitions(&self.partitions.to_string()).map_err(Error::InvalidArgument)?;
        match backoff_problem(&|f| fields.iter().find(|(k, _)| *k == f).map(|(_, v)| v.clone())) {
            Some(problem) => Err(Error::InvalidArgument(problem)),
            None => Ok(()),
        }
    }

    /// The settings as `Q:meta` fields (without `version`).
    pub fn to_fields(&self) -> Vec<(&'static str, String)> {
        vec![
            ("affinity", self.affinity.as_str().to_string()),
            ("max_waiting", self.max_waiting.to_string()),
            ("pin_ttl_ms", self.pin_ttl.as_millis().to_string()),
            ("max_attempts", self.max_attempts.to_string()),
            ("max_payload", self.max_payload.to_string()),
            ("backoff_base_ms", self.backoff_base.as_millis().to_string()),
            ("backoff_max_ms", self.backoff_max.as_millis().to_string()),
            ("max_wait_ms", self.max_wait.as_millis().to_string()),
            ("visibility_timeout_ms", self.visibility_timeout.as_millis().to_string()),
            ("partitions", self.partitions.to_string()),
        ]
    }

    /// Parses the fields of `Q:meta`, checking the protocol version first and then every field
    /// against its rule, in field order, as the scripts do: the first bad one is
    /// [`Error::BadSetting`] with the same text a script's `HOMING_BAD_SETTING` carries.
    pub fn from_fields(fields: &HashMap<String, String>) -> Result<Self, Error> {
        let (settings, mut bad) = Self::from_fields_lenient(fields)?;
        if bad.is_empty() {
            return Ok(settings);
        }
        Err(bad.swap_remove(0))
    }

    /// Like [`QueueSettings::from_fields`], but each field that breaks its rule takes its
    /// default and is reported ([`Error::BadSetting`], in field order), for tools that show or
    /// repair a damaged queue. A protocol mismatch is still an error.
    pub fn from_fields_lenient(fields: &HashMap<String, String>) -> Result<(Self, Vec<Error>), Error> {
        let version = fields.get("version").ok_or_else(|| malformed("Q:meta has no version"))?;
        if version != &PROTOCOL_VERSION.to_string() {
            return Err(Error::ProtocolMismatch(format!(
                "queue speaks protocol {version}, this build speaks {PROTOCOL_VERSION}: upgrade the older side"
            )));
        }
        let mut s = Self::default();
        let mut bad = Vec::new();
        match fields.get("affinity").map(|a| a.parse::<AffinityMode>()) {
            Some(Ok(mode)) => s.affinity = mode,
            other => {
                let what = match other {
                    Some(_) => format!("affinity is \"{}\"", fields["affinity"]),
                    None => "affinity is missing".to_string(),
                };
                let problem = format!("{what}: must be one of {}", AFFINITY_MODES.join(", "));
                bad.push(bad_setting(
                    "affinity",
                    problem,
                    "homing queue init --update --affinity <on|off|shadow>".into(),
                ));
            }
        }
        for rule in &SETTING_RULES {
            match rule.parse(fields.get(rule.field).map(String::as_str)) {
                Ok(n) => s.set(rule.field, n),
                Err(problem) => bad.push(bad_setting(rule.field, problem, rule.fix())),
            }
        }
        // A queue created before partitions existed has one.
        match fields.get("partitions").map(|raw| parse_partitions(raw)) {
            None => {}
            Some(Ok(n)) => s.partitions = n,
            Some(Err(problem)) => bad.push(bad_setting(
                "partitions",
                problem,
                "homing queue init --update --partitions <n> (the number the queue was created with)".into(),
            )),
        }
        if bad.is_empty() {
            if let Some(problem) = backoff_problem(&|f| fields.get(f).cloned()) {
                let rule = SettingRule::of("backoff_max_ms").expect("backoff_max_ms has a rule");
                bad.push(bad_setting(rule.field, problem, rule.fix()));
            }
        }
        Ok((s, bad))
    }

    /// Sets a numeric field from its `Q:meta` value, already checked against its rule.
    fn set(&mut self, field: &str, n: u64) {
        let ms = Duration::from_millis(n);
        match field {
            "max_waiting" => self.max_waiting = n as u32,
            "pin_ttl_ms" => self.pin_ttl = ms,
            "max_attempts" => self.max_attempts = n as u32,
            "max_payload" => self.max_payload = n as usize,
            "backoff_base_ms" => self.backoff_base = ms,
            "backoff_max_ms" => self.backoff_max = ms,
            "max_wait_ms" => self.max_wait = ms,
            "visibility_timeout_ms" => self.visibility_timeout = ms,
            other => unreachable!("no setting {other}"),
        }
    }
}

/// The `partitions` rule, as `init` words it: a whole number from 1 to [`crate::MAX_PARTITIONS`].
fn parse_partitions(raw: &str) -> Result<u32, String> {
    let max = crate::keys::MAX_PARTITIONS;
    match raw.parse::<u32>() {
        Ok(n) if (1..=max).contains(&n) && raw.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(format!("partitions is \"{raw}\": must be a whole number from 1 to {max}")),
    }
}

/// The one rule between two fields: the backoff cap is not below its base. `get` gives raw
/// values already checked against their own rules.
fn backoff_problem(get: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let (base, max) = (get("backoff_base_ms")?, get("backoff_max_ms")?);
    let n = |v: &str| v.parse::<u64>().unwrap_or(0);
    (n(&max) < n(&base)).then(|| format!("backoff_max_ms is \"{max}\": must be at least backoff_base_ms ({base})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_through_meta_fields() {
        let s = QueueSettings { affinity: AffinityMode::Shadow, max_waiting: 3, ..Default::default() };
        let mut fields: HashMap<String, String> = s.to_fields().into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        fields.insert("version".into(), "1".into());
        assert_eq!(QueueSettings::from_fields(&fields).unwrap(), s);
        fields.insert("partitions".into(), "3".into());
        assert_eq!(QueueSettings::from_fields(&fields).unwrap().partitions, 3);
        fields.remove("partitions");
        assert_eq!(QueueSettings::from_fields(&fields).unwrap().partitions, 1, "a queue older than partitions has one");
        fields.insert("partitions".into(), "+3".into());
        assert_eq!(
            QueueSettings::from_fields(&fields).unwrap_err().to_string(),
            "queue setting partitions is \"+3\": must be a whole number from 1 to 1024; fix it with \
             `homing queue init --update --partitions <n> (the number the queue was created with)`"
        );
        fields.remove("partitions");
        fields.insert("version".into(), "2".into());
        assert!(matches!(QueueSettings::from_fields(&fields), Err(Error::ProtocolMismatch(_))));
    }

    #[test]
    fn bad_settings_name_the_setting_and_the_rule() {
        let s = QueueSettings { max_attempts: 0, ..Default::default() };
        assert_eq!(
            s.validate().unwrap_err().to_string(),
            "invalid argument: max_attempts is \"0\": must be a whole number from 1 to 1000"
        );
        let s = QueueSettings { backoff_max: Duration::from_millis(10), ..Default::default() };
        assert_eq!(
            s.validate().unwrap_err().to_string(),
            "invalid argument: backoff_max_ms is \"10\": must be at least backoff_base_ms (1000)"
        );
        let s = QueueSettings { partitions: 0, ..Default::default() };
        assert_eq!(
            s.validate().unwrap_err().to_string(),
            "invalid argument: partitions is \"0\": must be a whole number from 1 to 1024"
        );
        assert!(QueueSettings { partitions: 1024, ..Default::default() }.validate().is_ok());
        assert!(QueueSettings { partitions: 1025, ..Default::default() }.validate().is_err());
        assert!(QueueSettings::default().validate().is_ok());
        assert!("sideways".parse::<AffinityMode>().is_err());
        assert!(check_max_attempts(1000).is_ok());
        assert_eq!(
            check_max_attempts(1001).unwrap_err().to_string(),
            "invalid argument: max_attempts is \"1001\": must be a whole number from 1 to 1000"
        );
    }

    #[test]
    fn a_bad_stored_field_names_its_rule_and_fix() {
        let mut fields: HashMap<String, String> =
            QueueSettings::default().to_fields().into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        fields.insert("version".into(), "1".into());
        fields.insert("max_waiting".into(), "abc".into());
        fields.insert("pin_ttl_ms".into(), "1e3".into());
        fields.remove("affinity");
        let err = QueueSettings::from_fields(&fields).unwrap_err();
        assert!(err.is_bad_setting() && !err.is_retryable() && !err.is_connection_error());
        assert_eq!(
            err.to_string(),
            "queue setting affinity is missing: must be one of on, off, shadow; fix it with \
             `homing queue init --update --affinity <on|off|shadow>`"
        );
        let (s, bad) = QueueSettings::from_fields_lenient(&fields).unwrap();
        assert_eq!(s, QueueSettings::default(), "bad fields take their defaults");
        let bad: Vec<String> = bad.iter().map(|e| e.to_string()).collect();
        assert_eq!(bad[1], "queue setting max_waiting is \"abc\": must be a whole number from 0 to 10000; fix it with `homing queue init --update --max-waiting <n>`");
        assert_eq!(bad[2], "queue setting pin_ttl_ms is \"1e3\": must be a whole number from 1 to 2592000000; fix it with `homing queue init --update --pin-ttl <duration>`");
        assert_eq!(bad.len(), 3);
    }

    /// `(field, flag, min, max, whole)` of each line of `HOMING_RULES` in the Lua include.
    fn lua_rules(lua: &str) -> Vec<(String, String, u64, u64, bool)> {
        let block = lua.split_once("local HOMING_RULES = {\n").expect("HOMING_RULES in settings.lua").1;
        let block = block.split_once("\n  }").expect("HOMING_RULES closes").0;
        block
            .lines()
            .map(|line| {
                let values: Vec<&str> =
                    line.trim().strip_suffix(',').expect("a line ends with ,").split(", ").collect();
                assert_eq!(values.len(), 5, "{line}: field, flag, min, max, whole");
                let text = |i: usize| values[i].trim_matches('\'').to_string();
                let num = |i: usize| values[i].parse::<u64>().expect("a plain integer");
                (text(0), text(1), num(2), num(3), values[4] == "true")
            })
            .collect()
    }

    /// A default as the README and the chart write it: `30m`, `2s`, `1048576`, `on`.
    fn shown(field: &str, value: &str) -> String {
        if !field.ends_with("_ms") {
            return value.to_string();
        }
        let ms: u64 = value.parse().unwrap();
        match ms {
            ms if ms % 60_000 == 0 => format!("{}m", ms / 60_000),
            ms if ms % 1000 == 0 => format!("{}s", ms / 1000),
            ms => format!("{ms}ms"),
        }
    }

    #[test]
    fn the_readme_and_the_chart_state_the_default_of_every_queue_setting() {
        let readme = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"));
        let values = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../charts/homing/values.yaml"));
        let settings = values.split_once("\nsettings:\n").expect("a settings block in values.yaml").1;
        for (field, value) in QueueSettings::default().to_fields() {
            let name = field.trim_end_matches("_ms");
            let env = format!("`HOMING_{}`", name.to_uppercase());
            let row = readme.lines().find(|l| l.contains(&env)).unwrap_or_else(|| panic!("no README row for {env}"));
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            assert_eq!(cells[4].trim_matches('`'), shown(field, &value), "README default of {field}");
            let mut parts = name.split('_');
            let key: String =
                parts.next().unwrap().to_string() + &parts.map(|p| p[..1].to_uppercase() + &p[1..]).collect::<String>();
            let line = settings
                .lines()
                .find(|l| l.trim_start().starts_with(&format!("{key}:")))
                .unwrap_or_else(|| panic!("no chart value settings.{key}"));
            let chart = line.split_once(':').unwrap().1.trim().trim_matches('"');
            assert_eq!(chart, shown(field, &value), "chart default of settings.{key}");
        }
    }

    #[test]
    fn the_lua_rule_table_equals_the_rust_one() {
        let lua = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../lua/include/settings.lua"));
        let rust: Vec<_> =
            SETTING_RULES.iter().map(|r| (r.field.to_string(), r.flag.to_string(), r.min, r.max, r.whole)).collect();
        assert_eq!(lua_rules(lua), rust);
        let modes = lua.split_once("local HOMING_AFFINITY_MODES = {").expect("modes in settings.lua").1;
        let modes: Vec<&str> = modes.split_once('}').unwrap().0.split(", ").map(|m| m.trim_matches('\'')).collect();
        assert_eq!(modes, AFFINITY_MODES);
        // affinity is a word; partitions is checked by init alone (no script reads it).
        let fields: Vec<&str> = QueueSettings::default()
            .to_fields()
            .into_iter()
            .map(|(f, _)| f)
            .filter(|f| !matches!(*f, "affinity" | "partitions"))
            .collect();
        assert_eq!(fields, SETTING_RULES.map(|r| r.field), "one rule per numeric field, in field order");
    }

    /// `homing_settings`' fast path names the fields twice by hand, for speed: in its `HMGET`
    /// (whose values it joins to compare with init's `checked` marker, which init joins in rule
    /// order) and in the table it returns (value `i` of the `HMGET` under each name). Both must
    /// follow Q:meta field order.
    #[test]
    fn the_lua_fast_path_reads_every_setting_in_field_order() {
        let lua = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../lua/include/settings.lua"));
        let body = lua.split_once("local function homing_settings(meta_key)").expect("homing_settings").1;
        let hmget = body.split_once("redis.call('HMGET', meta_key, ").expect("its HMGET").1;
        let hmget: Vec<String> =
            hmget.split_once(')').unwrap().0.split(',').map(|f| f.trim().trim_matches('\'').to_string()).collect();
        let mut want: Vec<String> = ["version", "affinity"].map(String::from).to_vec();
        want.extend(SETTING_RULES.iter().map(|r| r.field.to_string()));
        want.push("checked".into());
        assert_eq!(hmget, want);
        let table = body.split_once("return {affinity = v[2], ").expect("the fast path's table").1;
        let table = table.split_once('}').unwrap().0;
        let entries: Vec<String> =
            table.split(',').map(|e| e.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
        let want: Vec<String> =
            SETTING_RULES.iter().enumerate().map(|(i, r)| format!("{} = tonumber(v[{}])", r.field, i + 3)).collect();
        assert_eq!(entries, want);
    }
}
