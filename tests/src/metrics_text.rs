//! Metrics read exactly: a worker process's Prometheus text parsed into one value per series
//! (`name{labels}`), and an in-process recorder for what a producer emits. A check compares
//! one series' value, so `..._total 2` never matches a line that says 20.

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// An expected value: a metric name, its exact labels, its value.
pub type Expected<'a> = (&'a str, &'a [(&'a str, &'a str)], f64);

/// A series: the metric name and its labels, sorted by label name.
pub type Series = (String, BTreeMap<String, String>);

/// One scrape: every sample line's value by series.
#[derive(Clone, Debug, Default)]
pub struct Samples(HashMap<Series, f64>);

fn series(name: &str, labels: &[(&str, &str)]) -> Series {
    (name.to_string(), labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
}

impl Samples {
    /// Parses Prometheus text exposition (comments skipped). Panics on a line it cannot read.
    pub fn parse(text: &str) -> Self {
        let mut out = HashMap::new();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
            let (series, value) = parse_line(line).unwrap_or_else(|| panic!("not a sample line: {line:?}"));
            assert!(out.insert(series, value).is_none(), "series listed twice: {line:?}");
        }
        Self(out)
    }

    /// The value of the series `name` with exactly these labels, if it is exported.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.0.get(&series(name, labels)).copied()
    }

    /// The value of the series `name` with exactly these labels; panics, listing the series
    /// of that name, when it is not exported.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels).unwrap_or_else(|| panic!("no series {name}{labels:?}; exported: {:?}", self.named(name)))
    }

    /// Every series of metric `name` with its value.
    pub fn named(&self, name: &str) -> Vec<(BTreeMap<String, String>, f64)> {
        let mut v: Vec<_> = self.0.iter().filter(|((n, _), _)| n == name).map(|((_, l), v)| (l.clone(), *v)).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}

fn parse_line(line: &str) -> Option<(Series, f64)> {
    let (name_end, labels, rest) = match line.find('{') {
        Some(open) => {
            let (labels, after) = parse_labels(&line[open + 1..])?;
            (open, labels, after)
        }
        None => {
            let space = line.find(' ')?;
            (space, BTreeMap::new(), &line[space..])
        }
    };
    let name = line[..name_end].to_string();
    // A sample may carry a timestamp after its value; the exporter writes none.
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(((name, labels), value))
}

/// `a="x",b="y\"z"} rest` → the labels and `rest`.
fn parse_labels(s: &str) -> Option<(BTreeMap<String, String>, &str)> {
    let mut labels = BTreeMap::new();
    let mut chars = s.char_indices().peekable();
    loop {
        while chars.peek().is_some_and(|(_, c)| *c == ',' || *c == ' ') {
            chars.next();
        }
        let (start, c) = *chars.peek()?;
        if c == '}' {
            return Some((labels, &s[start + 1..]));
        }
        let eq = s[start..].find('=')? + start;
        let key = s[start..eq].trim().to_string();
        while chars.peek().is_some_and(|(i, _)| *i <= eq) {
            chars.next();
        }
        if chars.next()?.1 != '"' {
            return None;
        }
        let mut value = String::new();
        loop {
            match chars.next()?.1 {
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                '"' => break,
                other => value.push(other),
            }
        }
        labels.insert(key, value);
    }
}

/// [`scrape`], or `None` while nothing listens on `addr` yet (a worker process still starting).
pub async fn try_scrape(addr: &str) -> Option<Samples> {
    tokio::net::TcpStream::connect(addr).await.ok()?;
    Some(scrape(addr).await)
}

/// `GET /metrics` from a worker's `--metrics-addr` with a bare HTTP/1.0 request, parsed.
pub async fn scrape(addr: &str) -> Samples {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
    s.write_all(format!("GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes()).await.unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).await.unwrap();
    let (head, body) = reply.split_once("\r\n\r\n").unwrap_or_else(|| panic!("not an HTTP reply: {reply:?}"));
    assert!(head.starts_with("HTTP/1.") && head.contains(" 200 "), "{head}");
    Samples::parse(body)
}

/// An in-process recorder of counters, for metrics a producer emits on the calling thread:
/// install it with [`Captured::install`] on a current-thread runtime's test thread.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<HashMap<Series, Arc<AtomicU64>>>>);

impl Captured {
    /// Routes this thread's metrics here while the guard lives (other threads and other
    /// tests are unaffected).
    pub fn install(&self) -> metrics::LocalRecorderGuard<'_> {
        metrics::set_default_local_recorder(self)
    }

    /// A counter's value (0 when it was never touched).
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.0.lock().unwrap().get(&series(name, labels)).map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Every counter of metric `name` with a non-zero value.
    pub fn named(&self, name: &str) -> Vec<(BTreeMap<String, String>, u64)> {
        let mut v: Vec<_> = self
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|((n, _), c)| n == name && c.load(Ordering::Relaxed) > 0)
            .map(|((_, l), c)| (l.clone(), c.load(Ordering::Relaxed)))
            .collect();
        v.sort();
        v
    }
}

impl Recorder for Captured {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let labels = key.labels().map(|l| (l.key().to_string(), l.value().to_string())).collect();
        let cell = self.0.lock().unwrap().entry((key.name().to_string(), labels)).or_default().clone();
        Counter::from_arc(cell)
    }

    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }

    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

#[cfg(test)]
mod tests {
    use super::Samples;

    #[test]
    fn reads_each_series_exactly() {
        let s = Samples::parse(
            "# HELP x_total help\n# TYPE x_total counter\nx_total 2\nx_total_more 20\n\
             y{a=\"1\",b=\"q\\\"z\"} 3.5\ny{a=\"2\"} 0\nh_bucket{le=\"+Inf\"} 4\n",
        );
        assert_eq!(s.get("x_total", &[]), Some(2.0));
        assert_eq!(s.get("y", &[("b", "q\"z"), ("a", "1")]), Some(3.5));
        assert_eq!(s.get("y", &[("a", "2")]), Some(0.0));
        assert_eq!(s.get("y", &[]), None, "labels must match exactly");
        assert_eq!(s.get("h_bucket", &[("le", "+Inf")]), Some(4.0));
    }
}
