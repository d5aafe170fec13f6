//! `homing dead list|show|replay|purge`: inspect and act on dead letters in `Q:dead`.

use crate::args::Global;
use crate::connect::connect;
use clap::Subcommand;
use homing_core::scripts;
use redis::AsyncCommands;

/// Dead-letter commands.
#[derive(Subcommand, Debug)]
pub enum DeadCmd {
    /// One line per dead letter, oldest first: entry id, job id, session, reason, error.
    List {
        /// Show at most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Every field of one dead letter (binary values shown lossily).
    Show {
        /// The dead letter's entry id, as `list` prints it.
        entry: String,
    },
    /// Send dead letters back through the route as fresh jobs (attempt 0).
    Replay {
        /// Entry ids, as `list` prints them.
        #[arg(required_unless_present = "all")]
        entries: Vec<String>,
        /// Replay every dead letter that holds a job.
        #[arg(long, conflicts_with = "entries")]
        all: bool,
    },
    /// Delete dead letters.
    Purge {
        /// Entry ids, as `list` prints them.
        #[arg(required_unless_present = "all")]
        entries: Vec<String>,
        /// Delete every dead letter.
        #[arg(long, conflicts_with = "entries")]
        all: bool,
    },
}

type Entry = (String, Vec<(String, Vec<u8>)>);

async fn entries(c: &mut homing_core::RedisConnection, key: &str, limit: usize) -> anyhow::Result<Vec<Entry>> {
    let v: redis::Value =
        redis::cmd("XRANGE").arg(key).arg("-").arg("+").arg("COUNT").arg(limit).query_async(c).await?;
    Ok(homing_core::stream::parse_entries(v)?.into_iter().map(|e| (e.id, e.fields)).collect())
}

fn field<'a>(fields: &'a [(String, Vec<u8>)], name: &str) -> std::borrow::Cow<'a, str> {
    fields.iter().find(|(f, _)| f == name).map_or("-".into(), |(_, v)| String::from_utf8_lossy(v))
}

pub async fn run(global: &Global, cmd: DeadCmd) -> anyhow::Result<()> {
    let keys = global.keys()?;
    let mut c = connect(global).await?;
    let dead = keys.dead();
    match cmd {
        DeadCmd::List { limit } => {
            for (id, f) in entries(&mut c, &dead, limit).await? {
                let job = field(&f, "id");
                println!("{id}  {job}  {}  {}  {}", field(&f, "s"), field(&f, "reason"), field(&f, "error"));
            }
        }
        DeadCmd::Show { entry } => {
            let v: redis::Value = redis::cmd("XRANGE").arg(&dead).arg(&entry).arg(&entry).query_async(&mut c).await?;
            let found = homing_core::stream::parse_entries(v)?;
            let Some(e) = found.first() else {
                anyhow::bail!("no dead letter {entry} in queue {:?} (list them with `homing dead list`)", global.queue)
            };
            println!("entry {}", e.id);
            for (name, value) in &e.fields {
                println!("  {name} = {}", String::from_utf8_lossy(value));
            }
        }
        DeadCmd::Replay { entries: ids, all } => {
            let ids = if all {
                entries(&mut c, &dead, usize::MAX >> 1).await?.into_iter().map(|(id, _)| id).collect()
            } else {
                ids
            };
            for entry in ids {
                match scripts::replay(&mut c, &keys, &entry).await {
                    Ok((job, route)) => println!("{entry} -> {job} {}", route.as_str()),
                    Err(e) if all && e.is_bad_input() => eprintln!("skipped {entry}: {e}"),
                    Err(e) => return Err(e.into()),
                }
            }
        }
        DeadCmd::Purge { entries: ids, all } => {
            let n: u64 = if all {
                let n: u64 = c.xlen(&dead).await?;
                let _: i64 = c.del(&dead).await?;
                n
            } else {
                c.xdel(&dead, &ids).await?
            };
            println!("purged {n} dead letters");
        }
    }
    Ok(())
}
