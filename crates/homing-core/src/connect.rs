//! Where Redis is and how to reach it: the URL (or a cluster's seed URLs), the TLS files and the
//! ACL user. The one place a `redis::Client` or `redis::cluster::ClusterClient` is built, so the
//! worker, the producer and every CLI command connect alike, and the one place a failed
//! connection set-up is turned into a line that names the fix. Pools, timeouts and reconnection
//! stay with the callers; `connection.rs` holds the one type over both kinds of connection.

use crate::error::Error;
use crate::redact_url;
use redis::cluster::ClusterClient;
use redis::{ClientTlsConfig, ConnectionAddr, ConnectionInfo, IntoConnectionInfo, TlsCertificates};
use std::path::{Path, PathBuf};

/// How to reach one Redis: a `redis://` or `rediss://` URL, for `rediss://` an optional CA file
/// and client certificate and key (PEM), and an optional ACL user and password that override
/// the URL's. Its `Debug` output hides the password.
///
/// ```
/// use homing_core::RedisTarget;
///
/// let target = RedisTarget::new("rediss://redis.internal:6380").ca_file("/etc/homing/redis-ca/ca.crt");
/// assert_eq!(target.ca_file.as_deref(), Some(std::path::Path::new("/etc/homing/redis-ca/ca.crt")));
/// ```
#[derive(Clone, Default)]
pub struct RedisTarget {
    /// `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS. With
    /// [`RedisTarget::cluster`], one node of the cluster or a comma-separated list of them
    /// (seeds: the client learns the other nodes from the first that answers).
    pub url: String,
    /// Connect to a Redis Cluster (`--redis-cluster`): follow `MOVED`/`ASK`, load scripts on the
    /// node that owns the queue's slot, ride out a failover. Default false: one Redis (or a
    /// proxy that looks like one), which is what most deployments run.
    pub cluster: bool,
    /// PEM file of the CA that signed the server's certificate (`--redis-ca-file`). Default
    /// none: the system's trusted roots, which is right for a managed Redis with a public CA.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate (`--redis-client-cert`), for a server started with
    /// `tls-auth-clients yes`. Default none. Needs `client_key`.
    pub client_cert: Option<PathBuf>,
    /// PEM private key of `client_cert` (`--redis-client-key`). Default none.
    pub client_key: Option<PathBuf>,
    /// ACL user (`--redis-username`); overrides the URL's. Default none: the URL's, else `default`.
    pub username: Option<String>,
    /// Password (`--redis-password`); overrides the URL's. Default none: the URL's.
    pub password: Option<String>,
}

impl std::fmt::Debug for RedisTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTarget")
            .field("url", &self.shown_url())
            .field("cluster", &self.cluster)
            .field("ca_file", &self.ca_file)
            .field("client_cert", &self.client_cert)
            .field("client_key", &self.client_key)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

impl RedisTarget {
    /// A target with only a URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: url.into(), ..Self::default() }
    }

    /// Sets [`RedisTarget::cluster`].
    pub fn cluster(mut self, cluster: bool) -> Self {
        self.cluster = cluster;
        self
    }

    /// Sets [`RedisTarget::ca_file`].
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// Sets [`RedisTarget::client_cert`] and [`RedisTarget::client_key`].
    pub fn client_cert(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.client_cert = Some(cert.into());
        self.client_key = Some(key.into());
        self
    }

    /// Sets [`RedisTarget::username`].
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// Sets [`RedisTarget::password`].
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// The URL as it may be printed: userinfo and secret parameters hidden (of every seed).
    pub fn shown_url(&self) -> String {
        self.url.split(',').map(redact_url).collect::<Vec<_>>().join(",")
    }

    /// Builds the client of one Redis: reads and checks the TLS files, applies the user and
    /// password. Every refusal is [`Error::Connect`] naming the setting to fix; nothing connects
    /// yet. With [`RedisTarget::cluster`] set, use [`RedisTarget::cluster_client`].
    pub fn client(&self) -> Result<redis::Client, Error> {
        if self.cluster {
            return Err(Error::Connect(format!(
                "{} is a Redis Cluster (--redis-cluster is set), which this command cannot use; unset --redis-cluster (HOMING_REDIS_CLUSTER) to reach one node",
                self.shown_url()
            )));
        }
        if self.url.contains(",redis://") || self.url.contains(",rediss://") {
            return Err(Error::Connect(format!(
                "the Redis URL {} lists several nodes: set --redis-cluster (HOMING_REDIS_CLUSTER) for a Redis Cluster, or give one URL",
                self.shown_url()
            )));
        }
        let info = self.connection_info(&self.url)?;
        match self.certificates(&info)? {
            None => Ok(redis::Client::open(info)?),
            Some(certs) => redis::Client::build_with_tls(info, certs)
                .map_err(|e| Error::Connect(format!("cannot use the TLS files for {}: {e}", self.shown_url()))),
        }
    }

    /// Builds the client of a Redis Cluster from the seed URLs, with the same TLS files, user and
    /// password as [`RedisTarget::client`]; nothing connects yet. The seeds must agree on the
    /// scheme and the user (the cluster client applies the first seed's to every node it finds).
    pub fn cluster_client(&self) -> Result<ClusterClient, Error> {
        let seeds = self
            .url
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(|u| self.connection_info(u))
            .collect::<Result<Vec<_>, _>>()?;
        let Some(first) = seeds.first() else {
            return Err(Error::Connect("the Redis URL is empty: give one or more cluster nodes' URLs".to_string()));
        };
        let certs = self.certificates(first)?;
        let mut builder = ClusterClient::builder(seeds);
        if let Some(certs) = certs {
            builder = builder.certs(certs);
        }
        builder.build().map_err(|e| Error::Connect(format!("bad Redis Cluster seed URLs {:?}: {e}", self.shown_url())))
    }

    /// One URL parsed, with [`RedisTarget::username`] and [`RedisTarget::password`] applied.
    fn connection_info(&self, url: &str) -> Result<ConnectionInfo, Error> {
        let bad = Error::Connect;
        let info = url.into_connection_info().map_err(|e| bad(format!("bad Redis URL {:?}: {e}", redact_url(url))))?;
        // No `CLIENT SETINFO` at connect: Redis 7.0 lacks it and a least-privilege user cannot
        // be granted it there, so 7.2 and later would log a denial for every connection.
        let mut settings = info.redis_settings().clone().set_skip_set_lib_name();
        // Empty means unset: the chart passes an empty password when the Secret has none.
        if let Some(user) = self.username.as_deref().filter(|u| !u.is_empty()) {
            settings = settings.set_username(user);
        }
        if let Some(password) = self.password.as_deref().filter(|p| !p.is_empty()) {
            settings = settings.set_password(password);
        }
        Ok(info.set_redis_settings(settings))
    }

    /// The TLS files read and checked for a `rediss://` URL; none for `redis://`, where setting
    /// one is refused.
    fn certificates(&self, info: &ConnectionInfo) -> Result<Option<TlsCertificates>, Error> {
        let bad = Error::Connect;
        let tls = matches!(info.addr(), ConnectionAddr::TcpTls { .. });
        if !tls {
            if let Some((flag, _)) = self.tls_files().into_iter().find(|(_, p)| p.is_some()) {
                return Err(bad(format!(
                    "{flag} is set but the Redis URL {} is not rediss://: use a rediss:// URL to connect with TLS",
                    self.shown_url()
                )));
            }
            return Ok(None);
        }
        let client_tls = match (&self.client_cert, &self.client_key) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some(ClientTlsConfig {
                client_cert: read_pem(cert, "--redis-client-cert (HOMING_REDIS_CLIENT_CERT)", "CERTIFICATE")?,
                client_key: read_pem(key, "--redis-client-key (HOMING_REDIS_CLIENT_KEY)", "PRIVATE KEY")?,
            }),
            _ => {
                return Err(bad(
                    "--redis-client-cert and --redis-client-key go together: set both or neither".to_string()
                ))
            }
        };
        let root_cert = self
            .ca_file
            .as_deref()
            .map(|p| read_pem(p, "--redis-ca-file (HOMING_REDIS_CA_FILE)", "CERTIFICATE"))
            .transpose()?;
        install_crypto_provider();
        Ok(Some(TlsCertificates { client_tls, root_cert }))
    }

    /// An error from connecting or from the first command as the user should read it: a TLS
    /// handshake, a refused password or a port that speaks the other protocol becomes
    /// [`Error::Connect`] with one line naming the fix; anything else is returned as it was.
    /// (The first command counts: with no password to send, a connection is only tried then.)
    pub fn explain(&self, e: impl Into<Error>) -> Error {
        let e = match e.into() {
            Error::Redis(e) => e,
            other => return other,
        };
        let shown = self.shown_url();
        let text = e.to_string();
        let tls = self.url.starts_with("rediss://");
        let dropped = !e.is_connection_refusal() && (e.is_io_error() || e.is_connection_dropped() || e.is_timeout());
        let line = if text.contains("UnknownIssuer") || text.contains("BadSignature") {
            format!("TLS handshake with {shown} failed: certificate not trusted; check --redis-ca-file (HOMING_REDIS_CA_FILE)")
        } else if text.contains("NotValidForName") {
            format!("TLS handshake with {shown} failed: the server's certificate does not name the host of the URL; connect by a name the certificate holds")
        } else if tls && (text.contains("InvalidContentType") || text.contains("CorruptMessage")) {
            format!("TLS handshake with {shown} failed: the server does not speak TLS on that port; use a redis:// URL or the TLS port")
        } else if e.kind() == redis::ErrorKind::AuthenticationFailed || text.contains("WRONGPASS") {
            format!("Redis at {shown} refused the user or password (WRONGPASS); check --redis-username and --redis-password or the URL's user:password")
        } else if tls
            && self.client_cert.is_none()
            && (dropped || text.contains("CertificateRequired") || text.contains("HandshakeFailure"))
        {
            // With TLS 1.3 the server checks the client's certificate after the client has
            // finished its side of the handshake, so a missing one shows as the server's alert
            // or, when the connection closes first, as a closed connection.
            format!("TLS connection to {shown} was closed by the server during set-up ({text}); if it requires client certificates (tls-auth-clients yes), set --redis-client-cert and --redis-client-key")
        } else if !tls && dropped {
            format!("Redis at {shown} closed the connection or did not answer during set-up ({text}); if it serves TLS only, use a rediss:// URL")
        } else {
            return Error::Redis(e);
        };
        Error::Connect(line)
    }

    fn tls_files(&self) -> [(&'static str, Option<&PathBuf>); 3] {
        [
            ("--redis-ca-file (HOMING_REDIS_CA_FILE)", self.ca_file.as_ref()),
            ("--redis-client-cert (HOMING_REDIS_CLIENT_CERT)", self.client_cert.as_ref()),
            ("--redis-client-key (HOMING_REDIS_CLIENT_KEY)", self.client_key.as_ref()),
        ]
    }
}

/// Reads a PEM file, checking it holds a `BEGIN <...what>` block, so an empty or wrong file is
/// named now rather than failing every handshake later as an untrusted certificate.
fn read_pem(path: &Path, setting: &str, what: &str) -> Result<Vec<u8>, Error> {
    let bytes =
        std::fs::read(path).map_err(|e| Error::Connect(format!("cannot read {setting} {}: {e}", path.display())))?;
    let text = String::from_utf8_lossy(&bytes);
    if !text.lines().any(|l| l.starts_with("-----BEGIN ") && l.contains(what)) {
        return Err(Error::Connect(format!("{setting} {} holds no PEM {what}", path.display())));
    }
    Ok(bytes)
}

/// rustls needs a process-wide crypto provider and the redis crate installs none. With `ring`
/// the only provider compiled in, rustls would pick it by itself; an application that also
/// links aws-lc-rs (through another crate) would make rustls refuse to guess and panic at the
/// first handshake, so ring is installed here, once. A provider installed before (by the
/// application) is kept.
fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // An error means another thread installed one first, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(target: RedisTarget) -> String {
        match target.client() {
            Err(Error::Connect(m)) => m,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn tls_files_need_a_rediss_url() {
        let m = refusal(RedisTarget::new("redis://:pw@localhost:6379").ca_file("/nonexistent"));
        assert_eq!(
            m,
            "--redis-ca-file (HOMING_REDIS_CA_FILE) is set but the Redis URL redis://***@localhost:6379 is not rediss://: use a rediss:// URL to connect with TLS"
        );
    }

    #[test]
    fn a_missing_ca_file_is_named_with_its_flag() {
        let m = refusal(RedisTarget::new("rediss://localhost:6380").ca_file("/nonexistent/ca.crt"));
        assert!(m.starts_with("cannot read --redis-ca-file (HOMING_REDIS_CA_FILE) /nonexistent/ca.crt: "), "{m}");
    }

    #[test]
    fn a_file_without_a_certificate_is_refused() {
        let path = std::env::temp_dir().join(format!("homing-not-pem-{}", std::process::id()));
        std::fs::write(&path, "not a certificate\n").unwrap();
        let m = refusal(RedisTarget::new("rediss://localhost:6380").ca_file(&path));
        std::fs::remove_file(&path).unwrap();
        assert_eq!(m, format!("--redis-ca-file (HOMING_REDIS_CA_FILE) {} holds no PEM CERTIFICATE", path.display()));
    }

    #[test]
    fn a_client_cert_needs_its_key() {
        let target = RedisTarget { client_cert: Some("/c.pem".into()), ..RedisTarget::new("rediss://localhost:6380") };
        assert_eq!(refusal(target), "--redis-client-cert and --redis-client-key go together: set both or neither");
    }

    #[test]
    fn username_and_password_override_the_urls() {
        let client =
            RedisTarget::new("redis://u:p@localhost:6379").username("worker").password("s3cret").client().unwrap();
        let settings = client.get_connection_info().redis_settings();
        assert_eq!((settings.username(), settings.password()), (Some("worker"), Some("s3cret")));
        let client = RedisTarget::new("redis://u:p@localhost:6379").username("").password("").client().unwrap();
        let settings = client.get_connection_info().redis_settings();
        assert_eq!((settings.username(), settings.password()), (Some("u"), Some("p")), "empty is unset");
    }

    #[test]
    fn several_urls_need_cluster_mode() {
        let m = refusal(RedisTarget::new("redis://:pw@a:7000,redis://:pw@b:7001"));
        assert_eq!(
            m,
            "the Redis URL redis://***@a:7000,redis://***@b:7001 lists several nodes: set --redis-cluster (HOMING_REDIS_CLUSTER) for a Redis Cluster, or give one URL"
        );
    }

    #[test]
    fn a_cluster_takes_every_seed_and_the_user() {
        let target = RedisTarget::new("redis://a:7000, redis://b:7001").cluster(true).username("worker");
        assert!(target.client().is_err(), "a cluster target has no single-node client");
        assert!(target.cluster_client().is_ok());
        let m = match RedisTarget::new("redis://a:7000,nonsense").cluster(true).cluster_client() {
            Err(Error::Connect(m)) => m,
            other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
        };
        assert!(m.starts_with("bad Redis URL \"nonsense\""), "{m}");
    }

    #[test]
    fn debug_hides_the_password() {
        let shown = format!("{:?}", RedisTarget::new("redis://u:hunter2@r:6379").password("hunter3"));
        assert!(!shown.contains("hunter2") && !shown.contains("hunter3"), "{shown}");
    }
}
