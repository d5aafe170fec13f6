//! Ingress envelopes as the client crate writes them: a MessagePack map of `id`, `session` and
//! `payload`, every value a `str` of raw bytes. That is one of the forms `lua/ingress.lua`
//! reads (any language's default encoder is another), and the one Redis's built-in cmsgpack
//! decodes in C, so the ingress mover reads it without the Lua decoder.

use crate::error::{malformed, Error};
use crate::ids::JobId;

/// One job's envelope for `LPUSH Q:ingress`.
pub fn envelope(id: &JobId, session: &str, payload: &[u8]) -> Result<Vec<u8>, Error> {
    let mut buf = Vec::with_capacity(40 + id.as_str().len() + session.len() + payload.len());
    let w = |e: rmp::encode::ValueWriteError| malformed(format!("cannot encode an envelope: {e}"));
    rmp::encode::write_map_len(&mut buf, 3).map_err(w)?;
    for (field, value) in [("id", id.as_str().as_bytes()), ("session", session.as_bytes()), ("payload", payload)] {
        rmp::encode::write_str(&mut buf, field).map_err(w)?;
        let len = u32::try_from(value.len()).map_err(|_| Error::InvalidArgument(format!("{field} is over 4 GiB")))?;
        rmp::encode::write_str_len(&mut buf, len).map_err(w)?;
        buf.extend_from_slice(value);
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelope_is_a_map_of_three_raw_strings() {
        let id = JobId::parse("j1".to_string()).unwrap();
        let bytes = envelope(&id, "s", &[0xff, 0x00]).unwrap();
        // fixmap 3; fixstr "id", fixstr "j1"; fixstr "session", fixstr "s"; fixstr "payload",
        // fixstr of the two raw bytes.
        let mut want = vec![0x83, 0xa2, b'i', b'd', 0xa2, b'j', b'1', 0xa7];
        want.extend_from_slice(b"session");
        want.extend_from_slice(&[0xa1, b's', 0xa7]);
        want.extend_from_slice(b"payload");
        want.extend_from_slice(&[0xa2, 0xff, 0x00]);
        assert_eq!(bytes, want);
    }
}
