//! `homing dead list|show|replay|purge`: inspect and act on dead letters in `Q:dead`. On a
//! queue of several partitions every command covers each partition's `Q:dead`, and a dead
//! letter is named `<partition>/<entry id>` (partition 0's are plain entry ids, so a queue of
//! one partition reads as before).

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

/// A dead letter's name as `list` prints it: the entry id, after `<partition>/` outside
/// partition 0.
fn name(partition: u32, entry: &str) -> String {
    match partition {
        0 => entry.to_string(),
        k => format!("{k}/{entry}"),
    }
}

/// The partition and entry id a name stands for, checked against the queue's partitions.
fn parse_name(name: &str, partitions: u32) -> anyhow::Result<(u32, String)> {
    let Some((k, entry)) = name.split_once('/') else { return Ok((0, name.to_string())) };
    match k.parse::<u32>() {
        Ok(k) if k < partitions => Ok((k, entry.to_string())),
        _ => anyhow::bail!(
            "dead letter {name:?} names partition {k:?}, but the queue has partitions 0 to {} (list them with `homing dead list`)",
            partitions - 1
        ),
    }
}

pub async fn run(global: &Global, cmd: DeadCmd) -> anyhow::Result<()> {
    let keys = global.keys()?;
    let mut c = connect(global).await?;
    let partitions = scripts::partition_count(&mut c, &keys).await?;
    let parts = keys.partitions(partitions);
    match cmd {
        DeadCmd::List { limit } => {
            let mut left = limit;
            for part in &parts {
                if left == 0 {
                    break;
                }
                for (id, f) in entries(&mut c, &part.dead(), left).await? {
                    let job = field(&f, "id");
                    let id = name(part.partition_index(), &id);
                    println!("{id}  {job}  {}  {}  {}", field(&f, "s"), field(&f, "reason"), field(&f, "error"));
                    left -= 1;
                }
            }
        }
        DeadCmd::Show { entry } => {
            let (k, id) = parse_name(&entry, partitions)?;
            let v: redis::Value =
                redis::cmd("XRANGE").arg(keys.partition(k).dead()).arg(&id).arg(&id).query_async(&mut c).await?;
            let found = homing_core::stream::parse_entries(v)?;
            let Some(e) = found.first() else {
                anyhow::bail!("no dead letter {entry} in queue {:?} (list them with `homing dead list`)", global.queue)
            };
            println!("entry {}", name(k, &e.id));
            for (name, value) in &e.fields {
                println!("  {name} = {}", String::from_utf8_lossy(value));
            }
        }
        DeadCmd::Replay { entries: names, all } => {
            let mut chosen = Vec::new();
            if all {
                for part in &parts {
                    for (id, _) in entries(&mut c, &part.dead(), usize::MAX >> 1).await? {
                        chosen.push((part.partition_index(), id));
                    }
                }
            } else {
                for n in &names {
                    chosen.push(parse_name(n, partitions)?);
                }
            }
            for (k, entry) in chosen {
                let shown = name(k, &entry);
                match scripts::replay(&mut c, &keys.partition(k), &entry).await {
                    Ok((job, route)) => println!("{shown} -> {job} {}", route.as_str()),
                    Err(e) if all && e.is_bad_input() => eprintln!("skipped {shown}: {e}"),
                    Err(e) => return Err(e.into()),
                }
            }
        }
        DeadCmd::Purge { entries: names, all } => {
            let mut n: u64 = 0;
            if all {
                for part in &parts {
                    n += c.xlen::<_, u64>(part.dead()).await?;
                    let _: i64 = c.del(part.dead()).await?;
                }
            } else {
                for name in &names {
                    let (k, entry) = parse_name(name, partitions)?;
                    n += c.xdel::<_, _, u64>(keys.partition(k).dead(), &[entry]).await?;
                }
            }
            println!("purged {n} dead letters");
        }
    }
    Ok(())
}
