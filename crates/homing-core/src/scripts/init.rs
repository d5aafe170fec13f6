//! `init`: write a queue's settings if absent (first writer wins) and check the protocol.

use super::{items, script_spec, Lua, ScriptSpec};
use crate::error::Error;
use crate::keys::Keys;
use crate::settings::QueueSettings;
use crate::stream::text;
use redis::aio::ConnectionLike;
use std::collections::HashMap;

pub(super) static SPEC: ScriptSpec = script_spec!("init",
    includes: ["settings"],
    keys: ["meta"],
    argv: ["mode", "settings"]);
static LUA: Lua = Lua::new(&SPEC);

/// Whether `init` may overwrite stored settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitMode {
    /// Write only if the queue has no settings yet.
    Create,
    /// Overwrite the stored settings.
    Update,
}

/// The outcome of `init`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Initialised {
    /// True when this call wrote the settings.
    pub written: bool,
    /// The settings now stored, which every script uses.
    pub settings: QueueSettings,
}

/// Writes `settings` per `mode` and returns what is stored.
pub async fn init<C: ConnectionLike>(
    conn: &mut C,
    keys: &Keys,
    mode: InitMode,
    settings: &QueueSettings,
) -> Result<Initialised, Error> {
    settings.validate()?;
    let flat: Vec<String> = settings.to_fields().into_iter().flat_map(|(k, v)| [k.to_string(), v]).collect();
    let json = format!("[{}]", flat.iter().map(|s| format!("\"{s}\"")).collect::<Vec<_>>().join(","));
    let mode = match mode {
        InitMode::Create => "create",
        InitMode::Update => "update",
    };
    let v = LUA.run(conn, &[&keys.meta()], &[mode.as_bytes(), json.as_bytes()]).await?;
    let mut it = items("init", v, 1)?.into_iter();
    let written = super::int(&it.next().unwrap_or_default())? == 1;
    let mut fields = HashMap::new();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        fields.insert(text(k)?, text(v)?);
    }
    Ok(Initialised { written, settings: QueueSettings::from_fields(&fields)? })
}

/// `init` of a whole queue, every partition: partition 0 first (its settings are the queue's,
/// `partitions` among them), then each other partition with partition 0's settings as stored.
/// A partition whose stored settings differ from partition 0's (an update cut short) is brought
/// in line, so every worker start converges the copies. Returns partition 0's outcome.
pub async fn init_partitions<C: ConnectionLike>(
    conn: &mut C,
    keys: &Keys,
    mode: InitMode,
    settings: &QueueSettings,
) -> Result<Initialised, Error> {
    let first = init(conn, &keys.partition(0), mode, settings).await?;
    for other in keys.partitions(first.settings.partitions).iter().skip(1) {
        let copy = init(conn, other, InitMode::Create, &first.settings).await?;
        if copy.settings != first.settings {
            init(conn, other, InitMode::Update, &first.settings).await?;
        }
    }
    Ok(first)
}

/// How many partitions the queue has, from partition 0's `Q:meta`: 1 when it has no settings
/// yet (pushing then fails as on any queue without settings) or was created before partitions.
pub async fn partition_count<C: ConnectionLike>(conn: &mut C, keys: &Keys) -> Result<u32, Error> {
    match load_settings(conn, &keys.partition(0)).await? {
        Some(settings) => Ok(settings.partitions),
        None => Ok(1),
    }
}

/// Reads the stored settings; `None` when the queue has none yet. A stored protocol version
/// other than this build's is [`Error::ProtocolMismatch`]; a field that breaks its rule is
/// [`Error::BadSetting`], as every script reports it.
pub async fn load_settings<C: ConnectionLike>(conn: &mut C, keys: &Keys) -> Result<Option<QueueSettings>, Error> {
    let fields = read_meta(conn, keys).await?;
    if fields.is_empty() {
        return Ok(None);
    }
    QueueSettings::from_fields(&fields).map(Some)
}

/// Reads the stored settings for tools that show or repair a damaged queue: each field that
/// breaks its rule takes its default and is reported ([`Error::BadSetting`], in field order).
/// `None` when the queue has no settings yet.
pub async fn load_settings_lenient<C: ConnectionLike>(
    conn: &mut C,
    keys: &Keys,
) -> Result<Option<(QueueSettings, Vec<Error>)>, Error> {
    let fields = read_meta(conn, keys).await?;
    if fields.is_empty() {
        return Ok(None);
    }
    QueueSettings::from_fields_lenient(&fields).map(Some)
}

/// Every field of `Q:meta` as stored (bytes that are not UTF-8 shown lossily, so a damaged
/// value can still be named).
pub async fn read_meta<C: ConnectionLike>(conn: &mut C, keys: &Keys) -> Result<HashMap<String, String>, Error> {
    let raw: HashMap<String, Vec<u8>> = redis::cmd("HGETALL").arg(keys.meta()).query_async(conn).await?;
    Ok(raw.into_iter().map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned())).collect())
}
