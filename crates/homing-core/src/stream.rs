//! Stream entries as Redis returns them (`XREADGROUP`, `XRANGE`, the fetch script), parsed
//! without trusting their shape: a foreign writer may have put anything in a stream.

use crate::error::{malformed, Error};
use redis::Value;

/// One stream entry: its id and its field/value pairs in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamEntry {
    /// The entry id (`<ms>-<seq>`).
    pub id: String,
    /// Field names with their raw values.
    pub fields: Vec<(String, Vec<u8>)>,
}

fn bytes(v: Value) -> Result<Vec<u8>, Error> {
    match v {
        Value::BulkString(b) => Ok(b),
        Value::SimpleString(s) => Ok(s.into_bytes()),
        Value::Int(i) => Ok(i.to_string().into_bytes()),
        other => Err(malformed(format!("expected a string, got {other:?}"))),
    }
}

pub(crate) fn text(v: Value) -> Result<String, Error> {
    String::from_utf8(bytes(v)?).map_err(|_| malformed("expected UTF-8 text"))
}

pub(crate) fn array(v: Value) -> Result<Vec<Value>, Error> {
    match v {
        Value::Array(items) => Ok(items),
        Value::Nil => Ok(Vec::new()),
        other => Err(malformed(format!("expected an array, got {other:?}"))),
    }
}

/// Parses one `[id, [field, value, ...]]` entry. A deleted entry (nil fields) parses with no
/// fields, which decoding then reports as malformed.
pub fn parse_entry(v: Value) -> Result<StreamEntry, Error> {
    let mut parts = array(v)?.into_iter();
    let id = text(parts.next().ok_or_else(|| malformed("entry without id"))?)?;
    let flat = array(parts.next().unwrap_or(Value::Nil))?;
    let mut fields = Vec::with_capacity(flat.len() / 2);
    let mut it = flat.into_iter();
    while let (Some(f), Some(v)) = (it.next(), it.next()) {
        fields.push((text(f)?, bytes(v)?));
    }
    Ok(StreamEntry { id, fields })
}

/// Parses a list of entries.
pub fn parse_entries(v: Value) -> Result<Vec<StreamEntry>, Error> {
    array(v)?.into_iter().map(parse_entry).collect()
}

/// Parses an `XREADGROUP`/`XREAD` reply into `(stream key, entries)` pairs; nil (a timed-out
/// blocking read) is an empty list.
pub fn parse_read_reply(v: Value) -> Result<Vec<(String, Vec<StreamEntry>)>, Error> {
    let pairs: Vec<(Value, Value)> = match v {
        Value::Map(pairs) => pairs,
        other => array(other)?
            .into_iter()
            .map(|s| {
                let mut it = array(s)?.into_iter();
                Ok((it.next().unwrap_or(Value::Nil), it.next().unwrap_or(Value::Nil)))
            })
            .collect::<Result<_, Error>>()?,
    };
    pairs.into_iter().map(|(k, e)| Ok((text(k)?, parse_entries(e)?))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bs(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn parses_read_replies() {
        let entry = Value::Array(vec![bs("1-0"), Value::Array(vec![bs("id"), bs("j"), bs("s"), bs("x")])]);
        let reply = Value::Array(vec![Value::Array(vec![bs("q:overflow"), Value::Array(vec![entry])])]);
        let parsed = parse_read_reply(reply).unwrap();
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].0, "q:overflow");
        assert_eq!(parsed[0].1[0].id, "1-0");
        assert_eq!(parsed[0].1[0].fields[1], ("s".to_string(), b"x".to_vec()));
        assert!(parse_read_reply(Value::Nil).unwrap().is_empty());
        assert!(parse_entry(Value::Int(3)).is_err());
    }
}
