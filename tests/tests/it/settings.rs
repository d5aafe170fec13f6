//! A corrupted queue setting: every script refuses it by name before writing anything, every
//! command names it with the fix, and one rule per field holds in `queue init`, the scripts,
//! ingress and the client.

use crate::cli::{homing, run, text};
use homing_core::scripts::{self, Finished, InitMode, PushArgs};
use homing_core::settings::SETTING_RULES;
use homing_core::{Error, JobId, Keys, QueueName, QueueSettings};
use homing_tests::{conn, create_groups, fresh_queue, redis_url};
use redis::aio::MultiplexedConnection;
use redis::AsyncCommands;
use std::collections::BTreeMap;
use std::time::Duration;

/// A fresh queue with default settings.
async fn queue(label: &str) -> (String, String, Keys, MultiplexedConnection) {
    let url = redis_url();
    let name = fresh_queue(label);
    let keys = Keys::with_default_prefix(&QueueName::new(name.as_str()).unwrap());
    let mut c = conn(&url).await;
    scripts::init(&mut c, &keys, InitMode::Create, &QueueSettings::default()).await.unwrap();
    (url, name, keys, c)
}

/// Every key of the queue with its `DUMP`: equal snapshots mean nothing was written.
async fn snapshot(c: &mut MultiplexedConnection, keys: &Keys) -> BTreeMap<String, Vec<u8>> {
    let names: Vec<String> = c.keys(keys.pattern()).await.unwrap();
    let mut out = BTreeMap::new();
    for name in names {
        let dump: Vec<u8> = redis::cmd("DUMP").arg(&name).query_async(c).await.unwrap();
        out.insert(name, dump);
    }
    out
}

/// The message every script and the Rust parser give for `field` holding `raw`.
fn expected(field: &str, raw: &str) -> String {
    if field == "affinity" {
        return format!(
            "queue setting affinity is \"{raw}\": must be one of on, off, shadow; fix it with \
             `homing queue init --update --affinity <on|off|shadow>`"
        );
    }
    let rule = homing_core::settings::SettingRule::of(field).unwrap();
    format!("queue setting {field} is \"{raw}\": must be {}; fix it with `{}`", rule.words(), rule.fix())
}

#[tokio::test]
async fn a_corrupted_setting_fails_every_script_before_any_write() {
    let (_url, _name, keys, mut c) = queue("badscripts").await;
    let worker = "w-00000001";
    scripts::heartbeat(&mut c, &keys, worker, Duration::from_secs(600), 2).await.unwrap();
    create_groups(&mut c, &[keys.overflow(), keys.inbox(worker)]).await;
    // Something for every script to write: routed jobs delivered to the worker (complete,
    // fail; one made idle for reclaim), an old undelivered inbox entry (steal), a due delayed
    // job (promote), an envelope (ingress), a dead letter (replay).
    let ids: Vec<JobId> = (0..3).map(|_| JobId::new()).collect();
    for (i, id) in ids.iter().enumerate() {
        let delay = if i == 2 { Duration::from_millis(1) } else { Duration::ZERO };
        let args = PushArgs {
            id,
            session: "s",
            payload: b"x",
            delay,
            key: None,
            key_ttl: Duration::from_secs(1),
            reply_to: None,
            max_attempts: None,
        };
        scripts::push(&mut c, &keys, &args).await.unwrap();
    }
    let fetched = scripts::fetch(&mut c, &keys, worker, 2).await.unwrap();
    let entries: Vec<String> = fetched.overflow.iter().map(|e| e.id.clone()).collect();
    assert_eq!(entries.len(), 2);
    let _: redis::Value = redis::cmd("XCLAIM")
        .arg(keys.overflow())
        .arg("homing")
        .arg(worker)
        .arg(0)
        .arg(&entries[1])
        .arg("IDLE")
        .arg(3_600_000)
        .query_async(&mut c)
        .await
        .unwrap();
    let job = [("id", "old"), ("s", "s"), ("p", "x"), ("a", "0"), ("t", "1")];
    let _: String = c.xadd(keys.inbox(worker), "1-1", &job).await.unwrap();
    let dead: String = c.xadd(keys.dead(), "*", &job).await.unwrap();
    let _: i64 = c.lpush(keys.ingress(), r#"{"session":"s","payload":"x"}"#).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;

    let mut bad_values: Vec<(&str, &str)> = vec![("affinity", "sideways")];
    bad_values.extend(SETTING_RULES.iter().map(|r| (r.field, "abc")));
    // Digits only but out of range, on both sides, and forms Rust does not parse as whole numbers.
    bad_values.extend([
        ("max_attempts", "1e300"),
        ("max_attempts", "1e2"),
        ("max_attempts", "1001"),
        ("max_waiting", "-1"),
        ("visibility_timeout_ms", "299"),
    ]);
    for (field, raw) in bad_values {
        let good: String = c.hget(keys.meta(), field).await.unwrap();
        let _: () = c.hset(keys.meta(), field, raw).await.unwrap();
        let before = snapshot(&mut c, &keys).await;
        let stream = keys.overflow();
        let finished = |entry: usize| Finished {
            stream: &stream,
            entry_id: &entries[entry],
            job_id: ids[entry].as_str(),
            session: "s",
            reply_to: None,
        };
        let push_args = PushArgs {
            id: &ids[0],
            session: "s",
            payload: b"x",
            delay: Duration::ZERO,
            key: None,
            key_ttl: Duration::from_secs(1),
            reply_to: None,
            max_attempts: None,
        };
        let outcomes: Vec<(&str, Error)> = vec![
            ("push", scripts::push(&mut c, &keys, &push_args).await.unwrap_err()),
            ("ingress", scripts::ingress(&mut c, &keys, 10).await.unwrap_err()),
            ("promote", scripts::promote(&mut c, &keys, 10).await.unwrap_err()),
            ("complete", scripts::complete(&mut c, &keys, &finished(0), worker, b"out").await.unwrap_err()),
            ("fail", scripts::fail(&mut c, &keys, &stream, &entries[0], worker, 0.5, None, "e").await.unwrap_err()),
            ("reclaim", scripts::reclaim(&mut c, &keys, std::slice::from_ref(&stream), 10).await.unwrap_err()),
            ("steal", scripts::steal(&mut c, &keys, 10).await.unwrap_err()),
            ("replay", scripts::replay(&mut c, &keys, &dead).await.unwrap_err()),
            ("reap", scripts::reap(&mut c, &keys, worker, 10).await.unwrap_err()),
            ("forget", scripts::forget(&mut c, &keys, worker, true, 10).await.unwrap_err()),
            ("init", scripts::init(&mut c, &keys, InitMode::Create, &QueueSettings::default()).await.unwrap_err()),
            ("load_settings", scripts::load_settings(&mut c, &keys).await.unwrap_err()),
        ];
        for (script, err) in outcomes {
            assert!(err.is_bad_setting(), "{script} with {field} = {raw:?}: {err:?}");
            assert!(!err.is_retryable() && !err.is_connection_error(), "{script}: {err:?}");
            assert_eq!(err.to_string(), expected(field, raw), "{script}");
            assert!(matches!(&err, Error::BadSetting { field: f, .. } if f == field), "{script}: {err:?}");
        }
        let after = snapshot(&mut c, &keys).await;
        let changed: Vec<&String> =
            before.keys().chain(after.keys()).filter(|k| before.get(*k) != after.get(*k)).collect();
        assert!(changed.is_empty(), "{field} = {raw:?}: a script wrote {changed:?} before failing");
        let _: () = c.hset(keys.meta(), field, good).await.unwrap();
    }
    let _: () = c.hset(keys.meta(), "max_waiting", "abc").await.unwrap();
    let err = scripts::push(
        &mut c,
        &keys,
        &PushArgs {
            id: &JobId::new(),
            session: "s",
            payload: b"x",
            delay: Duration::ZERO,
            key: None,
            key_ttl: Duration::from_secs(1),
            reply_to: None,
            max_attempts: None,
        },
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "queue setting max_waiting is \"abc\": must be a whole number from 0 to 10000; \
         fix it with `homing queue init --update --max-waiting <n>`"
    );

    // The rule between two fields is kept the same way.
    let _: () = c.hset(keys.meta(), "max_waiting", "1").await.unwrap();
    let _: () = c.hset(keys.meta(), "backoff_max_ms", "10").await.unwrap();
    let err = scripts::promote(&mut c, &keys, 10).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "queue setting backoff_max_ms is \"10\": must be at least backoff_base_ms (1000); \
         fix it with `homing queue init --update --backoff-max <duration>`"
    );
    assert_eq!(scripts::load_settings(&mut c, &keys).await.unwrap_err().to_string(), err.to_string());
}

/// The scripts' fast path: init marks the settings it checked with `checked`, their values
/// joined by spaces; a change made any other way breaks the match and the full check runs (the
/// test above), and a queue without the marker (written before it existed) is checked in full
/// until init runs again. A marker matching another protocol version is not trusted.
#[tokio::test]
async fn init_marks_the_settings_it_checked_and_a_script_trusts_only_a_matching_mark() {
    let (_url, _name, keys, mut c) = queue("checked").await;
    let (first, second) = (JobId::new(), JobId::new());
    let marker = "1 on 32 1800000 5 1048576 1000 300000 2000 30000";
    let stored: String = c.hget(keys.meta(), "checked").await.unwrap();
    assert_eq!(stored, marker);
    let push_args = |id| PushArgs::now(id, "s", b"x");

    // An update re-marks; a create on a queue that exists writes nothing when the mark holds.
    let settings = QueueSettings { max_waiting: 7, ..QueueSettings::default() };
    scripts::init(&mut c, &keys, InitMode::Update, &settings).await.unwrap();
    let stored: String = c.hget(keys.meta(), "checked").await.unwrap();
    assert_eq!(stored, marker.replacen(" 32 ", " 7 ", 1));
    let before = snapshot(&mut c, &keys).await;
    scripts::init(&mut c, &keys, InitMode::Create, &QueueSettings::default()).await.unwrap();
    assert_eq!(snapshot(&mut c, &keys).await, before, "create on a marked queue wrote");

    // Without the mark every script still works (checked in full), and init marks again.
    let _: () = c.hdel(keys.meta(), "checked").await.unwrap();
    scripts::push(&mut c, &keys, &push_args(&first)).await.unwrap();
    scripts::init(&mut c, &keys, InitMode::Create, &QueueSettings::default()).await.unwrap();
    let stored: String = c.hget(keys.meta(), "checked").await.unwrap();
    assert_eq!(stored, marker.replacen(" 32 ", " 7 ", 1));

    // A later protocol's init would mark its own version: that mark is never trusted here.
    let _: () = c.hset(keys.meta(), "version", "2").await.unwrap();
    let _: () =
        c.hset(keys.meta(), "checked", marker.replacen("1 ", "2 ", 1).replacen(" 32 ", " 7 ", 1)).await.unwrap();
    let err = scripts::push(&mut c, &keys, &push_args(&second)).await.unwrap_err();
    assert!(matches!(err, Error::ProtocolMismatch(_)), "{err:?}");
}

/// Runs `homing <args>` and asserts it fails with exactly `message`.
async fn refused(url: &str, name: &str, args: &[&str], message: &str) -> std::process::Output {
    let mut cmd = homing(url, name);
    cmd.args(args);
    let out = run(cmd, None).await;
    assert!(!out.status.success(), "{args:?} succeeded");
    assert_eq!(text(&out.stderr), format!("error: {message}\n"), "{args:?}");
    out
}

#[tokio::test]
async fn every_command_names_a_bad_setting_and_its_fix() {
    let (url, name, keys, mut c) = queue("badcli").await;
    let dead: String =
        c.xadd(keys.dead(), "*", &[("id", "j1"), ("s", "s"), ("p", "x"), ("a", "0"), ("t", "1")]).await.unwrap();
    let _: () = c.hset(keys.meta(), "max_waiting", "abc").await.unwrap();
    let message = "queue setting max_waiting is \"abc\": must be a whole number from 0 to 10000; \
                   fix it with `homing queue init --update --max-waiting <n>`";
    let refused = |args: &'static [&'static str]| refused(&url, &name, args, message);
    refused(&["push", "s", "hello"]).await;
    refused(&["push", "--key", "k", "--delay", "1s", "s", "hello"]).await;
    let mut replay = homing(&url, &name);
    replay.args(["dead", "replay", &dead]);
    assert_eq!(text(&run(replay, None).await.stderr), format!("error: {message}\n"));
    refused(&["forget", "--force", "w-00000001"]).await;
    refused(&["queue", "init"]).await;
    // --update replaces a bad value only with its own flag, never silently with a default.
    refused(&["queue", "init", "--update", "--max-attempts", "3"]).await;

    let show = refused(&["queue", "show"]).await;
    let shown = text(&show.stdout);
    assert!(shown.contains("  max_waiting = abc  (bad: must be a whole number from 0 to 10000)\n"), "{shown}");
    assert!(shown.contains("  max_attempts = 5\n"), "the good settings are shown too: {shown}");

    let mut status = homing(&url, &name);
    status.arg("status");
    let out = run(status, None).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(shown.starts_with(&format!("queue {name}  affinity on\n  {message}\n")), "{shown}");
    let mut status = homing(&url, &name);
    status.args(["status", "--json"]);
    let out = run(status, None).await;
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["bad_settings"], serde_json::json!([message]));
    assert_eq!(json["dead"], 1, "the rest of the status is still shown");

    let mut fix = homing(&url, &name);
    fix.args(["queue", "init", "--update", "--max-waiting", "2"]);
    let out = run(fix, None).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("  max_waiting = 2\n"));
    assert!(text(&out.stdout).contains("  max_attempts = 5\n"), "the other settings are kept");
    let mut push = homing(&url, &name);
    push.args(["push", "s", "hello"]);
    let out = run(push, None).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).ends_with(" new\n"), "{}", text(&out.stdout));
}

#[tokio::test]
async fn one_rule_per_field_holds_in_init_the_scripts_ingress_and_the_client() {
    let (url, name, keys, mut c) = queue("onerule").await;
    let init = scripts::all().into_iter().find(|s| s.name == "init").unwrap();
    let init_conn = c.clone();
    let eval_init = |mode: &'static str, pairs: &[(&str, &str)]| {
        let json = serde_json::to_string(&pairs.iter().flat_map(|(f, v)| [*f, *v]).collect::<Vec<_>>()).unwrap();
        let (meta, mut c) = (keys.meta(), init_conn.clone());
        async move {
            let script = redis::Script::new(init.source);
            let r = script.key(meta).arg(mode).arg(json).invoke_async::<redis::Value>(&mut c).await;
            r.map_err(Error::from)
        }
    };
    // The init script refuses what QueueSettings::validate refuses, in the same words.
    let too_many = QueueSettings { max_attempts: 1001, ..Default::default() };
    let rust = too_many.validate().unwrap_err().to_string();
    assert_eq!(rust, "invalid argument: max_attempts is \"1001\": must be a whole number from 1 to 1000");
    let lua = eval_init("update", &[("max_attempts", "1001")]).await.unwrap_err();
    assert!(matches!(lua, Error::InvalidArgument(_)), "{lua:?}");
    assert_eq!(lua.to_string(), rust);
    for (field, raw) in
        [("max_waiting", "10001"), ("pin_ttl_ms", "0"), ("max_payload", "536870913"), ("max_wait_ms", "1.5")]
    {
        let lua = eval_init("update", &[(field, raw)]).await.unwrap_err();
        assert_eq!(
            lua.to_string(),
            format!(
                "invalid argument: {}",
                &expected(field, raw)["queue setting ".len()..].split("; fix").next().unwrap()
            )
        );
    }
    let err = eval_init("update", &[("affinity", "sideways")]).await.unwrap_err();
    assert_eq!(err.to_string(), "invalid argument: affinity is \"sideways\": must be one of on, off, shadow");
    let err = eval_init("update", &[("max_wiating", "1")]).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid argument: settings field max_wiating is not a queue setting with a string value"
    );
    // A create that would leave a field missing is refused too.
    let fresh = Keys::with_default_prefix(&QueueName::new(fresh_queue("onerule")).unwrap());
    let partial = redis::Script::new(init.source);
    let mut partial = partial.key(fresh.meta());
    let partial = partial.arg("create").arg(r#"["affinity","on"]"#);
    let err = Error::from(partial.invoke_async::<redis::Value>(&mut c).await.unwrap_err());
    assert_eq!(err.to_string(), "invalid argument: max_waiting is missing: must be a whole number from 0 to 10000");
    // An update that leaves a bad stored value in force names it with the fix; one that
    // replaces it repairs the queue.
    let _: () = c.hset(keys.meta(), "pin_ttl_ms", "soon").await.unwrap();
    let err = eval_init("update", &[("max_attempts", "7")]).await.unwrap_err();
    assert_eq!(err.to_string(), expected("pin_ttl_ms", "soon"));
    eval_init("update", &[("pin_ttl_ms", "60000")]).await.unwrap();
    assert_eq!(scripts::load_settings(&mut c, &keys).await.unwrap().unwrap().pin_ttl, Duration::from_secs(60));
    let stored: Option<String> = c.hget(keys.meta(), "max_attempts").await.unwrap();
    assert_eq!(stored.as_deref(), Some("5"), "a refused init writes nothing");

    // The client and the push script keep the max_attempts rule for one job.
    let producer = homing_client::Producer::connect(&url, &name).await.unwrap();
    for n in [0, 1001] {
        let err =
            producer.push_with("s", "x", homing_client::PushOptions::default().max_attempts(n)).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("invalid argument: max_attempts is \"{n}\": must be a whole number from 1 to 1000")
        );
    }
    let id = JobId::new();
    let args = PushArgs {
        id: &id,
        session: "s",
        payload: b"x",
        delay: Duration::ZERO,
        key: None,
        key_ttl: Duration::from_secs(1),
        reply_to: None,
        max_attempts: Some(1001),
    };
    let err = scripts::push(&mut c, &keys, &args).await.unwrap_err();
    assert_eq!(err.to_string(), "invalid argument: max_attempts is \"1001\": must be a whole number from 1 to 1000");
    assert!(producer.push_with("s", "x", homing_client::PushOptions::default().max_attempts(1000)).await.is_ok());

    // Ingress checks an envelope's max_attempts against the same rule, at the door.
    let mut accepted = Vec::new();
    for (i, m) in ["1e300", "0", "2.5", "1001", "-1", "\"3\"", "1000", "1"].iter().enumerate() {
        let envelope = format!(r#"{{"session":"s","payload":"x","id":"m{i}","max_attempts":{m}}}"#);
        let _: i64 = c.lpush(keys.ingress(), envelope).await.unwrap();
        if ["1000", "1"].contains(m) {
            accepted.push(format!("m{i}"));
        }
    }
    let done = scripts::ingress(&mut c, &keys, 100).await.unwrap();
    assert_eq!((done.routed, done.dead), (2, 6));
    let dead = homing_tests::dead_letters(&url, &keys).await;
    assert_eq!(dead.len(), 6);
    for d in &dead {
        assert_eq!(d["error"], "envelope field max_attempts must be a whole number from 1 to 1000", "{d:?}");
    }
    let overflow: redis::streams::StreamRangeReply = c.xrange_all(keys.overflow()).await.unwrap();
    let routed: Vec<(String, String)> = overflow
        .ids
        .iter()
        .filter_map(|e| Some((e.get::<String>("id")?, e.get::<String>("m")?)))
        .filter(|(id, _)| id.starts_with('m'))
        .collect();
    assert_eq!(routed, [("m6".to_string(), "1000".to_string()), ("m7".to_string(), "1".to_string())]);
}

/// Reads `http://<addr>/metrics` with a bare HTTP/1.0 request.
async fn scrape(addr: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else { return String::new() };
    s.write_all(format!("GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes()).await.unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).await.unwrap();
    body.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default()
}

#[tokio::test]
async fn a_worker_uses_the_stored_settings_and_shows_its_id_and_queue() {
    let url = redis_url();
    let name = fresh_queue("stored");
    let queue = QueueName::new(name.as_str()).unwrap();
    let keys = Keys::with_default_prefix(&queue);
    let stored = QueueSettings { max_attempts: 7, max_wait: Duration::from_secs(9), ..Default::default() };
    scripts::init(&mut conn(&url).await, &keys, InitMode::Create, &stored).await.unwrap();
    // This worker's own settings are the defaults; the first writer's win.
    let worker = homing_worker::Worker::new(crate::config(&url, &name, "a"), |_job| async {
        Ok::<_, homing_worker::HandlerError>(())
    })
    .await
    .unwrap();
    assert_eq!(worker.settings(), &stored);
    assert_eq!(format!("{worker:?}"), format!("Worker {{ id: {:?}, queue: {queue:?}, partitions: [0] }}", worker.id()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_worker_reports_a_bad_setting_once_loses_nothing_and_resumes_when_it_is_fixed() {
    use homing_tests::{read_record, record_file, wait_for, WorkerProcess};
    let url = redis_url();
    let name = fresh_queue("badrun");
    let keys = Keys::with_default_prefix(&QueueName::new(name.as_str()).unwrap());
    let record = record_file("badrun");
    let port = homing_tests::free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut args: Vec<&str> = crate::faults::FAST.to_vec();
    args.extend(["--metrics-addr", addr.as_str()]);
    let worker = WorkerProcess::start(&url, &name, "bw", &record, &args);
    crate::faults::wait_workers(&url, &keys, 1).await;
    let mut c = conn(&url).await;
    let envelope = |i: usize| format!(r#"{{"session":"s{}","payload":"p","id":"job-{i}"}}"#, i % 3);
    for i in 0..5 {
        let _: () = c.lpush(keys.ingress(), envelope(i)).await.unwrap();
    }
    wait_for("the first jobs", Duration::from_secs(10), || async { (read_record(&record).len() == 5).then_some(()) })
        .await;

    let _: () = c.hset(keys.meta(), "max_waiting", "abc").await.unwrap();
    for i in 5..10 {
        let _: () = c.lpush(keys.ingress(), envelope(i)).await.unwrap();
    }
    let alarm = "homing_settings_invalid{field=\"max_waiting\"} 1";
    wait_for("the gauge to show the bad setting", Duration::from_secs(10), || {
        let addr = addr.clone();
        async move { scrape(&addr).await.lines().any(|l| l == alarm).then_some(()) }
    })
    .await;
    // Every task meets the refusal on every tick; the worker says so once.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let log = worker.log_text();
    let said = "queue setting max_waiting is \\\"abc\\\": must be";
    let lines = log.lines().filter(|l| l.contains("queue setting max_waiting is") && l.contains("fix it with")).count();
    assert_eq!(lines, 1, "one log line per change of state ({said}):\n{log}");
    assert!(!log.contains("cannot connect"), "{log}");
    let waiting: u64 = c.llen(keys.ingress()).await.unwrap();
    assert_eq!(waiting, 5, "the envelopes wait in the ingress list");

    let _: () = c.hset(keys.meta(), "max_waiting", "1").await.unwrap();
    wait_for("every job", Duration::from_secs(10), || async { (read_record(&record).len() == 10).then_some(()) }).await;
    let cleared = "homing_settings_invalid{field=\"max_waiting\"} 0";
    wait_for("the gauge to clear", Duration::from_secs(10), || {
        let addr = addr.clone();
        async move { scrape(&addr).await.lines().any(|l| l == cleared).then_some(()) }
    })
    .await;
    let log = worker.log_text();
    assert_eq!(log.lines().filter(|l| l.contains("queue settings valid again")).count(), 1, "{log}");
    // Its reclaim passes ran and found nothing stalled: they say nothing.
    assert!(!log.contains("reclaimed jobs of a stalled worker"), "{log}");
    let done = read_record(&record);
    assert!((0..10).all(|i| done.get(&format!("job-{i}")).map(Vec::len) == Some(1)), "{done:?}");
}

#[tokio::test]
async fn init_keeps_partitions_to_its_rule_and_never_changes_a_stored_number() {
    let (_url, _name, keys, mut c) = queue("partsrule").await;
    let init = scripts::all().into_iter().find(|s| s.name == "init").unwrap();
    let init_conn = c.clone();
    let eval_init = |mode: &'static str, parts: &'static str| {
        let json = serde_json::to_string(&["partitions", parts]).unwrap();
        let (meta, mut c) = (keys.meta(), init_conn.clone());
        async move {
            let script = redis::Script::new(init.source);
            script.key(meta).arg(mode).arg(json).invoke_async::<redis::Value>(&mut c).await.map_err(Error::from)
        }
    };
    // init refuses what QueueSettings::validate refuses, in the same words.
    let rust = QueueSettings { partitions: 0, ..Default::default() }.validate().unwrap_err().to_string();
    assert_eq!(rust, "invalid argument: partitions is \"0\": must be a whole number from 1 to 1024");
    for raw in ["0", "1025", "2.5", "+3", ""] {
        let err = eval_init("update", raw).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("invalid argument: partitions is \"{raw}\": must be a whole number from 1 to 1024")
        );
    }
    let before = snapshot(&mut c, &keys).await;
    let err = eval_init("update", "2").await.unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "invalid argument: partitions is 1 for this queue and cannot change (a session's partition is its \
         hash modulo partitions, so its queued jobs and pin would be stranded): create a new queue with the \
         partitions it needs"
    );
    assert_eq!(snapshot(&mut c, &keys).await, before, "a refused change writes nothing");
    eval_init("update", "1").await.expect("the stored number is no change");
    // A create on a queue that has settings writes nothing (first writer wins), and refuses nothing.
    eval_init("create", "5").await.expect("create keeps the stored settings");
    assert_eq!(scripts::load_settings(&mut c, &keys).await.unwrap().unwrap().partitions, 1);
    // A queue from before partitions (no field) has one, and keeps it.
    let _: () = c.hdel(keys.meta(), "partitions").await.unwrap();
    let err = eval_init("update", "2").await.unwrap_err();
    assert!(err.to_string().contains("partitions is 1 for this queue and cannot change"), "{err}");
    eval_init("update", "1").await.expect("1 is what an older queue has");
    let stored: Option<String> = c.hget(keys.meta(), "partitions").await.unwrap();
    assert_eq!(stored.as_deref(), Some("1"));
}
