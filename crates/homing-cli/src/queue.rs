//! `homing queue init|show`: write or read a queue's settings in `Q:meta`. Both name a stored
//! setting that breaks its rule, and `init --update` with that setting's flag repairs it.

use crate::args::{Global, SettingsArgs};
use clap::Subcommand;
use homing_core::scripts::{self, InitMode};
use homing_core::{Error, QueueSettings};

/// Queue administration.
#[derive(Subcommand, Debug)]
pub enum QueueCmd {
    /// Write the queue's settings if it has none (first writer wins), or with --update
    /// overwrite the given ones. Prints the settings in force.
    Init {
        /// Overwrite stored settings; unset flags keep their stored value.
        #[arg(long)]
        update: bool,
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Print the queue's stored settings; a bad one is marked and fails the command.
    Show,
}

pub async fn run(global: &Global, cmd: QueueCmd) -> anyhow::Result<()> {
    let keys = global.keys()?;
    let mut conn = crate::connect::connect(global).await?;
    match cmd {
        QueueCmd::Show => {
            let fields = scripts::read_meta(&mut conn, &keys).await?;
            if fields.is_empty() {
                anyhow::bail!("queue {:?} has no settings yet: run `homing queue init` or start a worker", global.queue)
            }
            let (settings, bad) = QueueSettings::from_fields_lenient(&fields)?;
            println!("queue {}", global.queue);
            for (name, _) in settings.to_fields() {
                let value = fields.get(name).map_or("(missing)", String::as_str);
                match bad.iter().find_map(|e| problem_of(e, name)) {
                    Some(rule) => println!("  {name} = {value}  (bad: {rule})"),
                    None => println!("  {name} = {value}"),
                }
            }
            if let Some(first) = bad.into_iter().next() {
                return Err(first.into());
            }
        }
        QueueCmd::Init { update, settings } => {
            let stored = scripts::load_settings_lenient(&mut conn, &keys).await?;
            let (mode, base) = match (update, stored) {
                (true, Some((s, bad))) => {
                    // A bad stored value is replaced by its own flag, never silently by a default.
                    if let Some(e) = bad.into_iter().find(|e| !replaced(&settings, e)) {
                        return Err(e.into());
                    }
                    (InitMode::Update, s)
                }
                (true, None) => (InitMode::Create, QueueSettings::default()),
                (false, _) => (InitMode::Create, QueueSettings::default()),
            };
            let done = scripts::init_partitions(&mut conn, &keys, mode, &settings.apply(base)).await?;
            if !done.written {
                eprintln!("queue {:?} already has settings; kept them (use --update to change them)", global.queue);
            }
            print_settings(&global.queue, &done.settings);
        }
    }
    Ok(())
}

/// The rule a bad setting of field `name` breaks (`must be ...`), if `e` is one.
fn problem_of(e: &Error, name: &str) -> Option<String> {
    let Error::BadSetting { field, message } = e else { return None };
    let rule = message.split_once(": ").map_or(message.as_str(), |(_, rule)| rule);
    (field == name).then(|| rule.split("; fix it with").next().unwrap_or(rule).to_string())
}

/// Whether the flags given replace the bad setting `e`.
fn replaced(flags: &SettingsArgs, e: &Error) -> bool {
    let Error::BadSetting { field, .. } = e else { return false };
    match field.as_str() {
        "affinity" => flags.affinity.is_some(),
        "max_waiting" => flags.max_waiting.is_some(),
        "pin_ttl_ms" => flags.pin_ttl.is_some(),
        "max_attempts" => flags.max_attempts.is_some(),
        "max_payload" => flags.max_payload.is_some(),
        "backoff_base_ms" => flags.backoff_base.is_some(),
        // Also the field named when the cap is below the base, which either flag can cure.
        "backoff_max_ms" => flags.backoff_max.is_some() || flags.backoff_base.is_some(),
        "max_wait_ms" => flags.max_wait.is_some(),
        "visibility_timeout_ms" => flags.visibility_timeout.is_some(),
        "partitions" => flags.partitions.is_some(),
        _ => false,
    }
}

fn print_settings(queue: &str, s: &QueueSettings) {
    println!("queue {queue}");
    for (name, value) in s.to_fields() {
        println!("  {name} = {value}");
    }
}
