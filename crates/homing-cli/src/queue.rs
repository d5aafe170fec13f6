//! `homing queue init|show`: write or read a queue's settings in `Q:meta`.

use crate::args::{Global, SettingsArgs};
use clap::Subcommand;
use homing_core::scripts::{self, InitMode};
use homing_core::QueueSettings;

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
    /// Print the queue's stored settings.
    Show,
}

pub async fn run(global: &Global, cmd: QueueCmd) -> anyhow::Result<()> {
    let keys = global.keys()?;
    let mut conn = crate::connect::connect(global).await?;
    let stored = scripts::load_settings(&mut conn, &keys).await?;
    match cmd {
        QueueCmd::Show => match stored {
            Some(s) => print_settings(&global.queue, &s),
            None => {
                anyhow::bail!("queue {:?} has no settings yet: run `homing queue init` or start a worker", global.queue)
            }
        },
        QueueCmd::Init { update, settings } => {
            let (mode, base) = match (update, stored) {
                (true, Some(s)) => (InitMode::Update, s),
                (true, None) => (InitMode::Create, QueueSettings::default()),
                (false, _) => (InitMode::Create, QueueSettings::default()),
            };
            let done = scripts::init(&mut conn, &keys, mode, &settings.apply(base)).await?;
            if !done.written {
                eprintln!("queue {:?} already has settings; kept them (use --update to change them)", global.queue);
            }
            print_settings(&global.queue, &done.settings);
        }
    }
    Ok(())
}

fn print_settings(queue: &str, s: &QueueSettings) {
    println!("queue {queue}");
    for (name, value) in s.to_fields() {
        println!("  {name} = {value}");
    }
}
