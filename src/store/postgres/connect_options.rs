//! How the store connects to PostgreSQL: the URL as given, except that a server on this host
//! (a loopback address, `localhost` or a Unix socket) is reached without TLS unless the URL or
//! the environment asks for TLS.
//!
//! sqlx's default `sslmode` is `prefer`, like libpq's: with a server that has `ssl = on` every
//! connection negotiates TLS, even over loopback, where the bytes never leave the host. There
//! it bought nothing and cost every statement an encryption on each side (and, with sqlx setting
//! no `TCP_NODELAY`, a 40 ms stall on every message longer than one 16 KiB TLS record: see
//! `pg_decisions`). A URL that names any TLS setting (`sslmode`, a certificate or key), or the
//! same `PG…` variables in the environment, is left exactly as sqlx reads it.

use std::net::IpAddr;

use sqlx::postgres::{PgConnectOptions, PgSslMode};

use crate::store::StoreError;

/// URL parameters (sqlx's spellings) that say how to use TLS.
const TLS_PARAMETERS: &[&str] = &[
    "sslmode",
    "ssl-mode",
    "sslrootcert",
    "ssl-root-cert",
    "sslcert",
    "ssl-cert",
    "sslkey",
    "ssl-key",
];

/// Environment variables sqlx reads for the same settings.
const TLS_VARIABLES: &[&str] = &["PGSSLMODE", "PGSSLROOTCERT", "PGSSLCERT", "PGSSLKEY"];

/// The options for `url`, TLS off for a server on this host when nothing asks for it.
pub(crate) fn connect_options(url: &str) -> Result<PgConnectOptions, StoreError> {
    let options: PgConnectOptions = url.parse()?;
    let environment_asks = TLS_VARIABLES.iter().any(|v| std::env::var_os(v).is_some());
    if on_this_host(&options) && !url_asks_for_tls(url) && !environment_asks {
        return Ok(options.ssl_mode(PgSslMode::Disable));
    }
    Ok(options)
}

/// Whether the URL's query names any TLS setting.
fn url_asks_for_tls(url: &str) -> bool {
    let Some((_, query)) = url.split_once('?') else {
        return false;
    };
    let query = query.split('#').next().unwrap_or_default();
    query.split('&').any(|pair| {
        let key = pair.split('=').next().unwrap_or_default();
        TLS_PARAMETERS.iter().any(|p| key.eq_ignore_ascii_case(p))
    })
}

/// A Unix socket, `localhost`, or a loopback address (`127.0.0.0/8`, `::1`).
fn on_this_host(options: &PgConnectOptions) -> bool {
    if options.get_socket().is_some() {
        return true;
    }
    let host = options.get_host();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(url: &str) -> PgConnectOptions {
        url.parse().unwrap_or_else(|e| panic!("{url}: {e}"))
    }

    #[test]
    fn loopback_hosts_and_sockets_are_on_this_host() {
        for url in [
            "postgres://u@127.0.0.1:5432/db",
            "postgres://u@127.8.9.10/db",
            "postgres://u@localhost/db",
            "postgres://u@LOCALHOST:5433/db",
            "postgres://u@[::1]:5432/db",
            "postgres://u@%2Fvar%2Frun%2Fpostgresql/db",
        ] {
            assert!(on_this_host(&options(url)), "{url}");
        }
    }

    #[test]
    fn other_hosts_are_not_on_this_host() {
        for url in [
            "postgres://u@10.0.0.5/db",
            "postgres://u@db.example.com/db",
            "postgres://u@localhost.example.com/db",
            "postgres://u@128.0.0.1/db",
            "postgres://u@[::2]/db",
        ] {
            assert!(!on_this_host(&options(url)), "{url}");
        }
    }

    #[test]
    fn any_tls_parameter_in_the_query_counts() {
        for url in [
            "postgres://u@127.0.0.1/db?sslmode=prefer",
            "postgres://u@127.0.0.1/db?application_name=g&SSLMODE=require",
            "postgres://u@127.0.0.1/db?ssl-mode=verify-full",
            "postgres://u@127.0.0.1/db?sslrootcert=/ca.pem",
            "postgres://u@127.0.0.1/db?sslcert=/c.pem&sslkey=/k.pem",
        ] {
            assert!(url_asks_for_tls(url), "{url}");
        }
        for url in [
            "postgres://u@127.0.0.1/db",
            "postgres://u@127.0.0.1/db?",
            "postgres://u@127.0.0.1/db?application_name=sslmode",
            "postgres://u@127.0.0.1/db?options=-c%20x%3D1#sslmode",
            "postgres://u:ssl%3Fsslmode=x@127.0.0.1/db",
        ] {
            assert!(!url_asks_for_tls(url), "{url}");
        }
    }

    #[test]
    fn a_url_that_does_not_parse_is_an_error() {
        assert!(connect_options("postgres://u@127.0.0.1:notaport/db").is_err());
    }
}
