//! LPUSH ingress: envelopes from producers that have only a Redis client.

use crate::{config, recording, setup, wait_runs};
use homing_tests::{conn, wait_dead_letters, Recorder, TestWorker};
use redis::AsyncCommands;
use serde::Serialize;
use std::collections::HashMap;
use std::time::{Duration, Instant};

#[derive(Serialize)]
struct Envelope<'a> {
    session: &'a str,
    payload: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<&'a str>,
}

#[tokio::test]
async fn msgpack_and_json_envelopes_are_routed_and_bad_ones_dead_lettered() {
    let (url, queue, producer) = setup("ingress").await;
    let keys = producer.keys().clone();
    let rec = Recorder::default();
    let w = TestWorker::start(config(&url, &queue, "a"), recording("a", &rec));
    let mut c = conn(&url).await;
    let packed =
        rmp_serde::to_vec_named(&Envelope { session: "s1", payload: "packed", id: Some("mp-1"), key: None }).unwrap();
    let json = r#"{"session":"s2","payload":{"turn":1},"id":"js-1","key":"k-1"}"#;
    let again = r#"{"session":"s2","payload":"again","key":"k-1"}"#;
    let envelopes: Vec<Vec<u8>> =
        vec![packed, json.into(), again.into(), b"not an envelope".to_vec(), br#"{"payload":"no session"}"#.to_vec()];
    for e in &envelopes {
        let _: i64 = c.lpush(keys.ingress(), e).await.unwrap();
    }
    let runs = wait_runs(&rec, 2).await;
    let by_id: HashMap<&str, &str> = runs.iter().map(|r| (r.job.as_str(), r.session.as_str())).collect();
    assert_eq!(by_id, HashMap::from([("mp-1", "s1"), ("js-1", "s2")]));
    let dead = wait_dead_letters(&url, &keys, 2).await;
    let errors: Vec<(&str, &str)> = dead.iter().map(|d| (d["reason"].as_str(), d["error"].as_str())).collect();
    assert_eq!(
        errors,
        [
            ("malformed", "envelope is neither a MessagePack nor a JSON map"),
            ("malformed", "envelope field session must be a string of 1-256 bytes"),
        ]
    );
    assert_eq!(dead[0]["envelope"], "not an envelope", "the raw envelope is kept");
    let left: u64 = c.llen(keys.ingress()).await.unwrap();
    assert_eq!(left, 0);
    assert_eq!(rec.runs().len(), 2, "the duplicate key enqueued nothing");
    w.stop();
}

#[tokio::test]
async fn every_envelope_starts_within_a_second_of_its_lpush() {
    let (url, queue, producer) = setup("ingresslat").await;
    let keys = producer.keys().clone();
    let rec = Recorder::default();
    let w = TestWorker::start(config(&url, &queue, "a"), recording("a", &rec));
    let mut c = conn(&url).await;
    let mut sent = HashMap::new();
    for i in 0..200 {
        let id = format!("lat-{i}");
        let e = rmp_serde::to_vec_named(&Envelope { session: "s", payload: "x", id: Some(&id), key: None }).unwrap();
        sent.insert(id, Instant::now());
        let _: i64 = c.lpush(keys.ingress(), e).await.unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let runs = wait_runs(&rec, 200).await;
    let mut lat: Vec<Duration> = runs.iter().map(|r| r.at - sent[&r.job]).collect();
    lat.sort();
    assert_eq!(lat.len(), 200);
    // Routed within milliseconds (the lease holder pops every 5 ms); bounded generously here.
    assert!(lat[199] <= Duration::from_secs(1), "an envelope waited {:?} from LPUSH to its start", lat[199]);
    w.stop();
}

/// Hand-made MessagePack, so each test picks the exact format byte (what an encoder in
/// another language would choose for that size or value).
pub(crate) mod mp {
    /// A str in its smallest form (fixstr, str 8, 16, 32).
    pub fn str(s: &[u8]) -> Vec<u8> {
        match s.len() {
            n if n < 32 => [vec![0xa0 | n as u8], s.to_vec()].concat(),
            n if n <= 0xff => str_as(0xd9, s),
            n if n <= 0xffff => str_as(0xda, s),
            _ => str_as(0xdb, s),
        }
    }
    /// A str in the form of `code` (0xd9, 0xda, 0xdb), whatever its length.
    pub fn str_as(code: u8, s: &[u8]) -> Vec<u8> {
        sized(code, s.len(), s)
    }
    /// A bin in the form of `code` (0xc4, 0xc5, 0xc6).
    pub fn bin_as(code: u8, b: &[u8]) -> Vec<u8> {
        sized(code, b.len(), b)
    }
    fn sized(code: u8, len: usize, body: &[u8]) -> Vec<u8> {
        let mut out = vec![code];
        match code {
            0xd9 | 0xc4 => out.push(len as u8),
            0xda | 0xc5 | 0xdc | 0xde => out.extend((len as u16).to_be_bytes()),
            _ => out.extend((len as u32).to_be_bytes()),
        }
        out.extend_from_slice(body);
        out
    }
    /// A map of `pairs` in the form of `code` (0x80 fixmap, 0xde, 0xdf), keys as str.
    pub fn map_as(code: u8, pairs: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let body: Vec<u8> = pairs.iter().flat_map(|(k, v)| [str(k.as_bytes()), v.clone()].concat()).collect();
        if code == 0x80 {
            return [vec![0x80 | pairs.len() as u8], body].concat();
        }
        sized(code, pairs.len(), &body)
    }
    /// An array of `items` in the form of `code` (0x90 fixarray, 0xdc, 0xdd).
    pub fn array_as(code: u8, items: &[Vec<u8>]) -> Vec<u8> {
        let body = items.concat();
        if code == 0x90 {
            return [vec![0x90 | items.len() as u8], body].concat();
        }
        sized(code, items.len(), &body)
    }
    /// A type byte followed by raw bytes: a number of an exact width.
    pub fn raw(code: u8, tail: &[u8]) -> Vec<u8> {
        [&[code][..], tail].concat()
    }
}

/// A decoded MessagePack value, as the Lua harness prints it.
enum V {
    Nil,
    Bool(bool),
    Num(f64),
    Bytes(Vec<u8>),
    Arr(Vec<V>),
    Map(Vec<(V, V)>),
}

/// The harness's text for a value: numbers by their IEEE bits, strings in hex, tables as
/// sorted `key=value` pairs (a nil value leaves no pair, as in a Lua table).
fn show(v: &V) -> String {
    fn table<'a>(pairs: impl Iterator<Item = (String, &'a V)>) -> String {
        let mut parts: Vec<String> =
            pairs.filter(|(_, v)| !matches!(v, V::Nil)).map(|(k, v)| format!("{k}={}", show(v))).collect();
        parts.sort();
        format!("{{{}}}", parts.join(","))
    }
    match v {
        V::Nil => "nil".into(),
        V::Bool(b) => b.to_string(),
        V::Num(n) => format!("n:{:016x}", n.to_bits()),
        V::Bytes(b) => format!("s:{}", b.iter().map(|x| format!("{x:02x}")).collect::<String>()),
        V::Arr(items) => table(items.iter().enumerate().map(|(i, x)| (show(&V::Num((i + 1) as f64)), x))),
        V::Map(pairs) => table(pairs.iter().map(|(k, x)| (show(k), x))),
    }
}

/// Decodes each input with `include/msgpack.lua` inside a real Redis and prints the result.
const HARNESS: &str = r#"
local function hex(s) return (string.gsub(s, '.', function(c) return string.format('%02x', string.byte(c)) end)) end
local function show(v)
  local t = type(v)
  if t == 'nil' then return 'nil' end
  if t == 'boolean' then return tostring(v) end
  if t == 'number' then return 'n:' .. hex(struct.pack('>d', v)) end
  if t == 'string' then return 's:' .. hex(v) end
  local parts = {}
  for k, x in pairs(v) do table.insert(parts, show(k) .. '=' .. show(x)) end
  table.sort(parts)
  return '{' .. table.concat(parts, ',') .. '}'
end
local out = {}
for i, raw in ipairs(ARGV) do
  local v, why = homing_msgpack_decode(raw)
  if why then out[i] = 'error: ' .. why else out[i] = show(v) end
end
return out
"#;

#[tokio::test]
async fn the_msgpack_decoder_reads_every_format_and_refuses_bad_input() {
    use mp::{array_as, bin_as, map_as, raw, str, str_as};
    let b = |s: &[u8]| V::Bytes(s.to_vec());
    let long: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    let nested = map_as(0x80, &[("a", array_as(0x90, &[raw(0x01, &[]), map_as(0x80, &[("b", raw(0xc0, &[]))])]))]);
    let ok: Vec<(Vec<u8>, V)> = vec![
        (raw(0x00, &[]), V::Num(0.0)),
        (raw(0x7f, &[]), V::Num(127.0)),
        (raw(0xe0, &[]), V::Num(-32.0)),
        (raw(0xff, &[]), V::Num(-1.0)),
        (raw(0xc0, &[]), V::Nil),
        (raw(0xc2, &[]), V::Bool(false)),
        (raw(0xc3, &[]), V::Bool(true)),
        (raw(0xcc, &[0xff]), V::Num(255.0)),
        (raw(0xcd, &[0xff, 0xfe]), V::Num(65534.0)),
        (raw(0xce, &[0xff, 0xff, 0xff, 0xfe]), V::Num(4_294_967_294.0)),
        (raw(0xcf, &[0, 0, 0, 1, 0, 0, 0, 2]), V::Num(4_294_967_298.0)),
        (raw(0xcf, &[0xff; 8]), V::Num(u64::MAX as f64)),
        (raw(0xd0, &[0x80]), V::Num(-128.0)),
        (raw(0xd1, &[0x80, 0x00]), V::Num(-32768.0)),
        (raw(0xd2, &[0x80, 0, 0, 0]), V::Num(-2_147_483_648.0)),
        (raw(0xd3, &[0x80, 0, 0, 0, 0, 0, 0, 0]), V::Num(i64::MIN as f64)),
        (raw(0xd3, &(-3i64).to_be_bytes()), V::Num(-3.0)),
        (raw(0xca, &0.1f32.to_be_bytes()), V::Num(0.1f32 as f64)),
        (raw(0xcb, &(-1.5f64).to_be_bytes()), V::Num(-1.5)),
        (str(b""), b(b"")),
        (str(b"abc"), b(b"abc")),
        (str_as(0xd9, b"\xff\x00\xfe"), b(b"\xff\x00\xfe")),
        (str_as(0xda, b"caf\xc3\xa9"), b("café".as_bytes())),
        (str_as(0xdb, &long), b(&long)),
        (bin_as(0xc4, b"\x00\xff\xfe"), b(b"\x00\xff\xfe")),
        (bin_as(0xc4, b""), b(b"")),
        (bin_as(0xc5, &long[..300]), b(&long[..300])),
        (bin_as(0xc6, &long), b(&long)),
        (array_as(0x90, &[]), V::Arr(vec![])),
        (array_as(0x90, &[raw(0x01, &[]), str(b"a")]), V::Arr(vec![V::Num(1.0), b(b"a")])),
        (array_as(0xdc, &[raw(0xc3, &[])]), V::Arr(vec![V::Bool(true)])),
        (array_as(0xdd, &[raw(0xc2, &[]), raw(0x02, &[])]), V::Arr(vec![V::Bool(false), V::Num(2.0)])),
        (map_as(0x80, &[]), V::Map(vec![])),
        (
            map_as(0x80, &[("payload", bin_as(0xc4, b"\x01")), ("session", str(b"s"))]),
            V::Map(vec![(b(b"payload"), b(b"\x01")), (b(b"session"), b(b"s"))]),
        ),
        (map_as(0xde, &[("k", raw(0xcc, &[9]))]), V::Map(vec![(b(b"k"), V::Num(9.0))])),
        (map_as(0xdf, &[("k", raw(0xd0, &[0xfe]))]), V::Map(vec![(b(b"k"), V::Num(-2.0))])),
        ([&[0x81, 0x01][..], &str(b"int key")].concat(), V::Map(vec![(V::Num(1.0), b(b"int key"))])),
        (nested, V::Map(vec![(b(b"a"), V::Arr(vec![V::Num(1.0), V::Map(vec![(b(b"b"), V::Nil)])]))])),
    ];
    let bad: Vec<(Vec<u8>, &str)> = vec![
        (vec![], "ends early at byte 1 (1 needed)"),
        (raw(0xc1, &[]), "type byte 0xc1 at byte 1 is not supported"),
        (raw(0xc7, &[1, 1, 0]), "type byte 0xc7 at byte 1 is not supported"),
        (raw(0xc8, &[0, 1, 1, 0]), "type byte 0xc8 at byte 1 is not supported"),
        (raw(0xc9, &[0, 0, 0, 1, 1, 0]), "type byte 0xc9 at byte 1 is not supported"),
        (raw(0xd4, &[1, 0]), "type byte 0xd4 at byte 1 is not supported"),
        (raw(0xd5, &[1, 0, 0]), "type byte 0xd5 at byte 1 is not supported"),
        (raw(0xd6, &[1, 0, 0, 0, 0]), "type byte 0xd6 at byte 1 is not supported"),
        (raw(0xd7, &[1; 9]), "type byte 0xd7 at byte 1 is not supported"),
        (raw(0xd8, &[1; 17]), "type byte 0xd8 at byte 1 is not supported"),
        (map_as(0x80, &[("ext", raw(0xd4, &[1, 0]))]), "type byte 0xd4 at byte 6 is not supported"),
        (raw(0xa5, b"ab"), "ends early at byte 2 (5 needed)"),
        (raw(0xcd, &[1]), "ends early at byte 2 (2 needed)"),
        (raw(0xcf, &[0; 7]), "ends early at byte 2 (8 needed)"),
        (raw(0xcb, &[0; 4]), "ends early at byte 2 (8 needed)"),
        (raw(0xc6, &[0, 0, 1, 0, 1]), "ends early at byte 6 (256 needed)"),
        (raw(0xdd, &[0xff, 0xff, 0xff, 0xff]), "ends early at byte 6 (4294967295 needed)"),
        (raw(0xdf, &[0xff, 0xff, 0xff, 0xff]), "ends early at byte 6 (8589934590 needed)"),
        (raw(0x82, &[0x01, 0x02, 0x03]), "ends early at byte 2 (4 needed)"),
        (raw(0x82, &[0x01, 0x02, 0x03, 0xcd]), "ends early at byte 6 (2 needed)"),
        (raw(0x81, &[0xc0, 0x01]), "a map key is nil or NaN"),
        (raw(0x81, &[0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 1, 0x01]), "a map key is nil or NaN"),
        (raw(0x01, &[0x02]), "bytes follow the value at byte 2"),
        (br#"{"session":"s"}"#.to_vec(), "bytes follow the value at byte 2"),
        ([vec![0x91; 40], vec![0x01]].concat(), "nests deeper than 32 levels"),
    ];
    let mut c = conn(&homing_tests::redis_url()).await;
    let source = format!("{}\n{HARNESS}", include_str!("../../../lua/include/msgpack.lua"));
    let script = redis::Script::new(&source);
    let mut call = script.prepare_invoke();
    for (input, _) in &ok {
        call.arg(input);
    }
    for (input, _) in &bad {
        call.arg(input);
    }
    let out: Vec<String> = call.invoke_async(&mut c).await.unwrap();
    let expected: Vec<String> =
        ok.iter().map(|(_, v)| show(v)).chain(bad.iter().map(|(_, why)| format!("error: {why}"))).collect();
    for (i, (got, want)) in out.iter().zip(&expected).enumerate() {
        let input = if i < ok.len() { &ok[i].0 } else { &bad[i - ok.len()].0 };
        assert_eq!(got, want, "input {:02x?}", &input[..input.len().min(16)]);
    }
    assert_eq!(out.len(), expected.len());
}

/// An envelope and the job it must deliver: (job id, session, payload, max_attempts, envelope).
type Expected<'a> = (&'a str, &'a [u8], Vec<u8>, Option<u32>, Vec<u8>);

#[tokio::test]
async fn envelopes_in_every_messagepack_form_deliver_the_exact_payload() {
    use mp::{array_as, bin_as, map_as, raw, str, str_as};
    let (url, queue, producer) = setup("ingressforms").await;
    let keys = producer.keys().clone();
    let jobs = homing_tests::Deliveries::default();
    let w = TestWorker::start(config(&url, &queue, "a"), jobs.handler());
    let mut c = conn(&url).await;
    let s = |x: &str| str(x.as_bytes());
    let b300: Vec<u8> = (0..300u32).map(|i| (i % 256) as u8).collect();
    let b70k: Vec<u8> = (0..70_000u32).map(|i| (i * 7 % 256) as u8).collect();
    // Keys in every order, str and bin of every width, max_attempts in every int width and as
    // a float.
    let cases: Vec<Expected> = vec![
        (
            "bin8",
            b"s1",
            b"\x00\xff\xfe".to_vec(),
            Some(7),
            map_as(
                0x80,
                &[
                    ("max_attempts", raw(0xcc, &[7])),
                    ("payload", bin_as(0xc4, b"\x00\xff\xfe")),
                    ("id", str_as(0xd9, b"bin8")),
                    ("session", s("s1")),
                ],
            ),
        ),
        (
            "bin16",
            b"s2",
            b300.clone(),
            Some(9),
            map_as(
                0xde,
                &[
                    ("session", str_as(0xda, b"s2")),
                    ("id", s("bin16")),
                    ("payload", bin_as(0xc5, &b300)),
                    ("max_attempts", raw(0xcd, &9u16.to_be_bytes())),
                ],
            ),
        ),
        (
            "bin32",
            b"s3",
            b70k.clone(),
            Some(11),
            map_as(
                0xdf,
                &[
                    ("payload", bin_as(0xc6, &b70k)),
                    ("session", str_as(0xdb, b"s3")),
                    ("max_attempts", raw(0xce, &11u32.to_be_bytes())),
                    ("id", s("bin32")),
                ],
            ),
        ),
        (
            "str8",
            b"s4",
            b"\xff\xfe caf\xc3\xa9".to_vec(),
            None,
            map_as(
                0x80,
                &[("id", s("str8")), ("session", s("s4")), ("payload", str_as(0xd9, b"\xff\xfe caf\xc3\xa9"))],
            ),
        ),
        (
            "str16",
            b"s5",
            b300.clone(),
            None,
            map_as(0x80, &[("payload", str_as(0xda, &b300)), ("session", s("s5")), ("id", s("str16"))]),
        ),
        (
            "str32",
            b"s6",
            b70k.clone(),
            None,
            map_as(0x80, &[("session", s("s6")), ("payload", str_as(0xdb, &b70k)), ("id", s("str32"))]),
        ),
        (
            "empty",
            b"s7",
            vec![],
            None,
            map_as(0x80, &[("payload", bin_as(0xc4, b"")), ("session", s("s7")), ("id", s("empty"))]),
        ),
        (
            "binsession",
            b"\x00bin",
            b"p".to_vec(),
            None,
            map_as(0x80, &[("session", bin_as(0xc4, b"\x00bin")), ("payload", s("p")), ("id", s("binsession"))]),
        ),
        (
            "extra",
            b"s8",
            b"p".to_vec(),
            None,
            map_as(
                0x80,
                &[
                    (
                        "meta",
                        array_as(
                            0x90,
                            &[map_as(0x80, &[("k", raw(0xc0, &[]))]), raw(0xc3, &[]), raw(0xcb, &1.5f64.to_be_bytes())],
                        ),
                    ),
                    ("session", s("s8")),
                    ("payload", s("p")),
                    ("id", s("extra")),
                ],
            ),
        ),
    ];
    let widths: Vec<(&str, Vec<u8>)> = vec![
        ("fixint", raw(0x03, &[])),
        ("uint64", raw(0xcf, &3u64.to_be_bytes())),
        ("int8", raw(0xd0, &[3])),
        ("int16", raw(0xd1, &3i16.to_be_bytes())),
        ("int32", raw(0xd2, &3i32.to_be_bytes())),
        ("int64", raw(0xd3, &3i64.to_be_bytes())),
        ("float32", raw(0xca, &3.0f32.to_be_bytes())),
        ("float64", raw(0xcb, &3.0f64.to_be_bytes())),
    ];
    let mut sent = cases;
    for (id, m) in &widths {
        sent.push((
            id,
            b"sw",
            b"w".to_vec(),
            Some(3),
            map_as(0x80, &[("max_attempts", m.clone()), ("id", s(id)), ("session", s("sw")), ("payload", s("w"))]),
        ));
    }
    let refused: Vec<(Vec<u8>, &str)> = vec![
        (
            map_as(0x80, &[("session", s("x")), ("payload", s("p")), ("max_attempts", raw(0xff, &[]))]),
            "envelope field max_attempts must be a whole number from 1 to 1000",
        ),
        (
            map_as(
                0x80,
                &[("session", s("x")), ("payload", s("p")), ("max_attempts", raw(0xcb, &2.5f64.to_be_bytes()))],
            ),
            "envelope field max_attempts must be a whole number from 1 to 1000",
        ),
        (
            map_as(0x80, &[("session", s("x")), ("payload", raw(0xd4, &[1, 0]))]),
            "envelope is a MessagePack map that cannot be read: type byte 0xd4 at byte 20 is not supported",
        ),
        (
            raw(0x83, &s("session")),
            "envelope is a MessagePack map that cannot be read: ends early at byte 10 (1 needed)",
        ),
        (
            map_as(0x80, &[("session", s("x")), ("payload", raw(0xc3, &[]))]),
            "envelope field payload must be bytes, a string, or a JSON object or array",
        ),
    ];
    for (.., envelope) in &sent {
        let _: i64 = c.lpush(keys.ingress(), envelope).await.unwrap();
    }
    for (envelope, _) in &refused {
        let _: i64 = c.lpush(keys.ingress(), envelope).await.unwrap();
    }
    let got = jobs.wait(sent.len()).await;
    for (id, session, payload, m, _) in &sent {
        let job = &got[*id];
        assert_eq!(job.session.as_bytes(), *session, "{id}");
        assert!(
            job.payload == *payload,
            "{id}: payload differs ({} bytes, expected {})",
            job.payload.len(),
            payload.len()
        );
        assert_eq!(job.max_attempts, *m, "{id}");
    }
    assert_eq!(got.len(), sent.len());
    let dead = wait_dead_letters(&url, &keys, refused.len()).await;
    let errors: Vec<&str> = dead.iter().map(|d| d["error"].as_str()).collect();
    assert_eq!(errors, refused.iter().map(|(_, e)| *e).collect::<Vec<_>>());
    w.stop();
}

/// Envelopes `e0..e{n}` as JSON, for tests that follow them through the list.
fn numbered(n: usize) -> Vec<String> {
    (0..n).map(|i| format!(r#"{{"session":"s{}","payload":"p","id":"e{i}"}}"#, i % 3)).collect()
}

/// The job ids in the overflow, oldest first.
async fn overflow_ids(c: &mut redis::aio::MultiplexedConnection, keys: &homing_core::Keys) -> Vec<String> {
    let r: redis::streams::StreamRangeReply = c.xrange_all(keys.overflow()).await.unwrap();
    r.ids.iter().map(|e| e.get::<String>("id").unwrap()).collect()
}

/// The list as LPUSH left it: newest first.
async fn ingress_list(c: &mut redis::aio::MultiplexedConnection, keys: &homing_core::Keys) -> Vec<String> {
    c.lrange(keys.ingress(), 0, -1).await.unwrap()
}

#[tokio::test]
async fn a_bad_setting_leaves_every_envelope_in_the_list_until_it_is_fixed() {
    use homing_core::scripts::{self, InitMode};
    let (url, queue, _producer) = setup("ingressbad").await;
    let keys = homing_core::Keys::with_default_prefix(&homing_core::QueueName::new(queue.as_str()).unwrap());
    let mut c = conn(&url).await;
    scripts::init(&mut c, &keys, InitMode::Create, &homing_core::QueueSettings::default()).await.unwrap();
    let _: () = c.hset(keys.meta(), "max_waiting", "abc").await.unwrap();
    let mut sent = numbered(20);
    sent.insert(7, "not an envelope".into());
    for e in &sent {
        let _: i64 = c.lpush(keys.ingress(), e).await.unwrap();
    }
    let newest_first: Vec<String> = sent.iter().rev().cloned().collect();
    let err = scripts::ingress(&mut c, &keys, 5).await.unwrap_err();
    assert!(err.is_bad_setting(), "{err:?}");
    assert_eq!(
        err.to_string(),
        "queue setting max_waiting is \"abc\": must be a whole number from 0 to 10000; \
         fix it with `homing queue init --update --max-waiting <n>`"
    );
    assert_eq!(ingress_list(&mut c, &keys).await, newest_first, "every envelope is still in the list");
    let written: Vec<String> = c.keys(keys.pattern()).await.unwrap();
    let mut written: Vec<&str> = written.iter().map(|k| &k[keys.base().len() + 1..]).collect();
    written.sort();
    assert_eq!(written, ["ingress", "meta"], "nothing was written");

    scripts::init(&mut c, &keys, InitMode::Update, &homing_core::QueueSettings::default()).await.unwrap();
    let mut taken = 0;
    while taken < sent.len() as u64 {
        let done = scripts::ingress(&mut c, &keys, 5).await.unwrap();
        assert_eq!(done.taken(), 5.min(sent.len() as u64 - taken), "each pass takes the oldest, up to its limit");
        taken += done.taken();
    }
    let expected: Vec<String> = (0..20).map(|i| format!("e{i}")).collect();
    assert_eq!(overflow_ids(&mut c, &keys).await, expected, "every envelope routed once, oldest first");
    assert_eq!(homing_tests::dead_letters(&url, &keys).await.len(), 1, "the malformed one dead-lettered");
    assert!(ingress_list(&mut c, &keys).await.is_empty());
}

#[tokio::test]
async fn an_envelope_that_meets_a_redis_error_stays_first_in_line_and_nothing_runs_twice() {
    use homing_core::scripts::{self, InitMode};
    let (url, queue, _producer) = setup("ingresserr").await;
    let keys = homing_core::Keys::with_default_prefix(&homing_core::QueueName::new(queue.as_str()).unwrap());
    let mut c = conn(&url).await;
    scripts::init(&mut c, &keys, InitMode::Create, &homing_core::QueueSettings::default()).await.unwrap();
    let mut sent = numbered(6);
    // With an idempotency key, which must not be left behind by the failed attempt (else the
    // retry would be taken for a duplicate and enqueue nothing).
    sent[1] = r#"{"session":"s1","payload":"p","id":"e1","key":"k1"}"#.to_string();
    for e in &sent {
        let _: i64 = c.lpush(keys.ingress(), e).await.unwrap();
    }
    // A pin of the wrong type (written by something other than Homing) makes the route's GET
    // fail for session s1, the second envelope's.
    let _: () = c.hset(keys.pin("s1"), "not", "a pin").await.unwrap();
    for _ in 0..3 {
        let err = scripts::ingress(&mut c, &keys, 10).await.unwrap_err();
        assert!(err.to_string().contains("WRONGTYPE"), "{err:?}");
        assert_eq!(overflow_ids(&mut c, &keys).await, ["e0"], "the one before it is routed once, never again");
        let left: Vec<String> = sent[1..].iter().rev().cloned().collect();
        assert_eq!(ingress_list(&mut c, &keys).await, left, "the failing envelope and all after it stay");
    }
    let _: () = c.del(keys.pin("s1")).await.unwrap();
    let done = scripts::ingress(&mut c, &keys, 10).await.unwrap();
    assert_eq!((done.routed, done.duplicates), (5, 0));
    assert_eq!(overflow_ids(&mut c, &keys).await, ["e0", "e1", "e2", "e3", "e4", "e5"]);
    assert!(ingress_list(&mut c, &keys).await.is_empty());
}

#[tokio::test]
async fn an_ingress_pass_out_of_memory_takes_nothing_and_loses_nothing() {
    use homing_core::scripts::{self, InitMode};
    let server = homing_tests::RedisServer::start(&["--maxmemory-policy", "noeviction"]);
    let url = server.url();
    let keys = homing_core::Keys::with_default_prefix(&homing_core::QueueName::new("oom").unwrap());
    let mut c = conn(&url).await;
    scripts::init(&mut c, &keys, InitMode::Create, &homing_core::QueueSettings::default()).await.unwrap();
    let sent = numbered(50);
    for e in &sent {
        let _: i64 = c.lpush(keys.ingress(), e).await.unwrap();
    }
    // Over the limit before the pass starts: Redis then refuses a script's first write (and
    // only that one), so the pass fails before writing anything.
    let _: () = c.set("filler", vec![b'x'; 4 << 20]).await.unwrap();
    let info: String = redis::cmd("INFO").arg("memory").query_async(&mut c).await.unwrap();
    let used: u64 = info.lines().find_map(|l| l.strip_prefix("used_memory:")).unwrap().trim().parse().unwrap();
    let _: () = redis::cmd("CONFIG").arg("SET").arg("maxmemory").arg(used / 2).query_async(&mut c).await.unwrap();
    let err = scripts::ingress(&mut c, &keys, 100).await.unwrap_err();
    assert!(err.to_string().contains("OOM"), "{err:?}");
    let newest_first: Vec<String> = sent.iter().rev().cloned().collect();
    assert_eq!(ingress_list(&mut c, &keys).await, newest_first, "every envelope is still in the list");
    let written: Vec<String> = c.keys(keys.pattern()).await.unwrap();
    assert_eq!(written.len(), 2, "nothing but meta and ingress: {written:?}");

    let _: () = redis::cmd("CONFIG").arg("SET").arg("maxmemory").arg(0).query_async(&mut c).await.unwrap();
    let done = scripts::ingress(&mut c, &keys, 100).await.unwrap();
    assert_eq!(done.routed, 50);
    let expected: Vec<String> = (0..50).map(|i| format!("e{i}")).collect();
    assert_eq!(overflow_ids(&mut c, &keys).await, expected);
    assert!(ingress_list(&mut c, &keys).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lpushed_envelopes_survive_kill_9_of_the_mover_and_a_redis_restart() {
    use crate::faults::{keys_of, wait_settled, wait_workers, FAST};
    use homing_tests::{record_file, WorkerProcess};
    // Most of the 1.5 s of pushes must land: a container's restart is too slow for that.
    let mut server = homing_tests::RedisServer::start_process(
        &["--appendonly", "yes", "--appendfsync", "always"],
        "500 of 600 pushes over 1.5 s must survive a Redis restart",
    );
    let url = server.url();
    let queue = homing_tests::fresh_queue("ingresskill");
    let keys = keys_of(&queue);
    let record = record_file("ingresskill");
    let mut workers: Vec<WorkerProcess> =
        (0..2).map(|i| WorkerProcess::start(&url, &queue, &format!("i{i}"), &record, FAST)).collect();
    wait_workers(&url, &keys, 2).await;

    // 600 envelopes, one LPUSH each; those refused while Redis is down are not counted.
    let pusher = {
        let (url, key) = (url.clone(), keys.ingress());
        tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut c: Option<redis::aio::MultiplexedConnection> = None;
            for i in 0..600 {
                if c.is_none() {
                    c = redis::Client::open(url.as_str()).unwrap().get_multiplexed_async_connection().await.ok();
                }
                let envelope = format!(r#"{{"session":"s{}","payload":"x","id":"e{i}"}}"#, i % 20);
                let pushed: Option<i64> = match c.as_mut() {
                    Some(c) => c.lpush(&key, envelope).await.ok(),
                    None => None,
                };
                match pushed {
                    Some(_) => acked.push(format!("e{i}")),
                    None => c = None,
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            acked
        })
    };
    // kill -9 whichever worker holds the maintenance lease (the one moving envelopes), twice,
    // with a Redis restart between.
    for round in 0..3 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        if round == 1 {
            server.restart();
            continue;
        }
        let holder: Option<String> =
            match redis::Client::open(url.as_str()).unwrap().get_multiplexed_async_connection().await {
                Ok(mut c) => c.get(keys.lease("maintenance")).await.unwrap_or(None),
                Err(_) => None,
            };
        let at = holder.and_then(|h| workers.iter().position(|w| h.starts_with(&format!("{}-", w.name)))).unwrap_or(0);
        workers.remove(at).kill();
        workers.push(WorkerProcess::start(&url, &queue, &format!("i{}", round + 2), &record, FAST));
    }
    let acked = pusher.await.unwrap();
    assert!(acked.len() >= 500, "most pushes were acknowledged: {}", acked.len());
    let completed = wait_settled(&url, &keys, &record, &acked, Duration::from_secs(90)).await;
    homing_tests::invariants::assert_settled(&url, &keys, &acked, &completed).await;
    let mut c = conn(&url).await;
    assert!(ingress_list(&mut c, &keys).await.is_empty(), "nothing is left in Q:ingress");
    let dead = homing_tests::dead_letters(&url, &keys).await;
    assert!(dead.iter().all(|d| d["reason"] == "stalled"), "only a job killed too often may be dead: {dead:?}");
    eprintln!("{} envelopes acknowledged of 600, all completed or dead-lettered", acked.len());
}
