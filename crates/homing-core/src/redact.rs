//! Secrets out of everything printed: the one function that turns a URL into the text a log
//! line, an error, `homing status` or a `Debug` impl may show. Connecting still uses the URL
//! as given; only its printed form passes through here.

/// What a hidden secret is shown as.
const HIDDEN: &str = "***";

/// Query parameters whose value is a secret: redis-rs reads `pass` (unix sockets), and the
/// rest are what HTTP apps commonly put tokens in. Compared case-insensitively, by substring.
const SECRET_PARAMS: [&str; 7] = ["pass", "pwd", "token", "secret", "auth", "key", "cred"];

/// `url` with its userinfo (`user:password@`) and the values of secret-looking query
/// parameters replaced by `***`, so it can be printed: `redis://app:s3cret@redis:6379/0`
/// becomes `redis://***@redis:6379/0`, `http://127.0.0.1:8080/jobs?token=t` becomes
/// `http://127.0.0.1:8080/jobs?token=***`.
///
/// It works on text, not on a parsed URL, so a URL too broken to parse is hidden as well;
/// when unsure (an `@` in a path) it hides more rather than less.
///
/// ```
/// use homing_core::redact_url;
///
/// assert_eq!(redact_url("redis://:hunter2@redis:6379/0"), "redis://***@redis:6379/0");
/// assert_eq!(redact_url("redis+unix:///run/redis.sock?db=1&pass=hunter2"), "redis+unix:///run/redis.sock?db=1&pass=***");
/// assert_eq!(redact_url("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
/// ```
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(i) => url.split_at(i + 3),
        None => ("", url),
    };
    let (before_fragment, fragment) = match rest.find('#') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let (location, query) = match before_fragment.find('?') {
        Some(i) => (&before_fragment[..i], Some(&before_fragment[i + 1..])),
        None => (before_fragment, None),
    };
    let mut out = String::with_capacity(url.len());
    out.push_str(scheme);
    // The userinfo ends at the last `@` before the query: a password may hold `/` or `@`.
    match location.rfind('@') {
        Some(at) => {
            out.push_str(HIDDEN);
            out.push_str(&location[at..]);
        }
        None => out.push_str(location),
    }
    if let Some(query) = query {
        out.push('?');
        for (i, pair) in query.split('&').enumerate() {
            if i > 0 {
                out.push('&');
            }
            match pair.split_once('=') {
                Some((name, _)) if is_secret(name) => {
                    out.push_str(name);
                    out.push('=');
                    out.push_str(HIDDEN);
                }
                _ => out.push_str(pair),
            }
        }
    }
    out.push_str(fragment);
    out
}

fn is_secret(param: &str) -> bool {
    let param = param.to_ascii_lowercase();
    SECRET_PARAMS.iter().any(|s| param.contains(s))
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn userinfo_and_secret_parameters_are_hidden_and_the_rest_kept() {
        let cases = [
            ("redis://user:pw@host:6379/0", "redis://***@host:6379/0"),
            ("rediss://:pw@host", "rediss://***@host"),
            ("redis://user@host", "redis://***@host"),
            ("redis://us:p/w@d@host:1/2?protocol=resp3", "redis://***@host:1/2?protocol=resp3"),
            ("redis://host:6379", "redis://host:6379"),
            ("redis+unix:///s.sock?db=2&pass=pw", "redis+unix:///s.sock?db=2&pass=***"),
            (
                "http://127.0.0.1:80/jobs?a=1&Token=pw&apiKey=pw#f",
                "http://127.0.0.1:80/jobs?a=1&Token=***&apiKey=***#f",
            ),
            ("user:pw@host:6379", "***@host:6379"),
            ("redis://user:pw@[::1", "redis://***@[::1"),
            ("", ""),
        ];
        for (url, shown) in cases {
            assert_eq!(redact_url(url), shown, "{url}");
            assert!(!redact_url(url).contains("pw"), "{url}");
        }
    }
}
