//! The client's address behind trusted reverse proxies (`http.trusted_proxies`).
//!
//! A proxy in front of the gateway makes every client arrive from the proxy's address, so a
//! limit per client address (starting a console sign-in) would be one limit shared by every
//! client, which one client could spend for all. When the connection comes from a configured
//! proxy, the client is read from `X-Forwarded-For`: walking it from the right (the entry the
//! nearest proxy appended), past every trusted proxy, to the first address that is not one.
//! Anything a client wrote further left is never read. From any other peer the header is ignored,
//! so a client cannot name itself, and a header that does not parse counts as the peer's address.

use std::net::IpAddr;

use axum::http::HeaderMap;

/// The header proxies append the address they received a request from to.
const FORWARDED_FOR: &str = "x-forwarded-for";

/// One network, as `address/prefix` (an address alone is a network of one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Network {
    address: IpAddr,
    prefix: u8,
}

impl Network {
    fn parse(text: &str) -> Result<Self, String> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address: IpAddr = address
            .trim()
            .parse()
            .map_err(|_| format!("`{text}` is not an IP address or network (address/prefix)"))?;
        let address = address.to_canonical();
        let width = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => width,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= width)
                .ok_or_else(|| format!("`{text}`: the prefix must be a number from 0 to {width}"))?,
        };
        Ok(Self { address, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (self.address, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => same_prefix(&net.octets(), &ip.octets(), self.prefix),
            (IpAddr::V6(net), IpAddr::V6(ip)) => same_prefix(&net.octets(), &ip.octets(), self.prefix),
            _ => false,
        }
    }
}

/// Whether `a` and `b` agree in their first `bits` bits.
fn same_prefix(a: &[u8], b: &[u8], bits: u8) -> bool {
    let whole = usize::from(bits / 8);
    let rest = bits % 8;
    if a[..whole] != b[..whole] {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    (a[whole] & mask) == (b[whole] & mask)
}

/// The proxies whose `X-Forwarded-For` the gateway believes; empty (the default) believes none.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    networks: Vec<Network>,
}

impl TrustedProxies {
    /// Parses `http.trusted_proxies`: addresses or networks (`10.0.0.0/8`, `fd00::/8`).
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        let networks = entries
            .iter()
            .map(|entry| Network::parse(entry))
            .collect::<Result<_, _>>()?;
        Ok(Self { networks })
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.networks.iter().any(|network| network.contains(ip))
    }

    /// The client of a request that arrived from `peer`: `peer` itself unless it is a trusted
    /// proxy, else the rightmost `X-Forwarded-For` entry that is not a trusted proxy (or the
    /// leftmost, when every entry is one). Every header line counts, in order, as one list.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return peer;
        }
        let mut client = peer;
        let lines = headers.get_all(FORWARDED_FOR).iter().collect::<Vec<_>>();
        for line in lines.iter().rev() {
            let Ok(line) = line.to_str() else {
                return peer;
            };
            for entry in line.rsplit(',') {
                let Some(ip) = parse_entry(entry) else {
                    // A trusted proxy would not write this: count the request as the peer's.
                    return peer;
                };
                client = ip;
                if !self.trusts(ip) {
                    return ip;
                }
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: an address, an IPv6 one possibly in brackets, an IPv4 one
/// possibly with a port.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Some(inner) = entry.strip_prefix('[') {
        let (address, _) = inner.split_once(']')?;
        return address.parse::<IpAddr>().ok().map(|ip| ip.to_canonical());
    }
    entry
        .parse::<std::net::SocketAddr>()
        .ok()
        .map(|socket| socket.ip().to_canonical())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use axum::http::HeaderValue;

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn proxies(entries: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(&entries.iter().map(|e| (*e).to_owned()).collect::<Vec<_>>()).unwrap()
    }

    fn forwarded(lines: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append(FORWARDED_FOR, HeaderValue::from_str(line).unwrap());
        }
        headers
    }

    #[test]
    fn networks_parse_and_contain_what_their_prefix_says() {
        let net = Network::parse("10.1.0.0/16").unwrap();
        assert!(net.contains(ip("10.1.255.3")));
        assert!(!net.contains(ip("10.2.0.1")));
        let odd = Network::parse("192.168.4.0/22").unwrap();
        assert!(odd.contains(ip("192.168.7.9")));
        assert!(!odd.contains(ip("192.168.8.1")));
        let one = Network::parse("127.0.0.1").unwrap();
        assert!(one.contains(ip("127.0.0.1")) && !one.contains(ip("127.0.0.2")));
        // An IPv4 peer seen through an IPv6 socket is the same peer.
        assert!(one.contains(ip("::ffff:127.0.0.1")));
        let v6 = Network::parse("fd00::/8").unwrap();
        assert!(v6.contains(ip("fd12::1")) && !v6.contains(ip("fe80::1")));
        assert!(!v6.contains(ip("10.0.0.1")));
        assert!(Network::parse("0.0.0.0/0").unwrap().contains(ip("203.0.113.9")));
    }

    #[test]
    fn bad_entries_are_refused_with_the_entry_named() {
        for bad in [
            "10.0.0.0/33",
            "fd00::/129",
            "10.0.0/8",
            "proxy.internal",
            "10.0.0.0/x",
            "",
        ] {
            let error = TrustedProxies::parse(&[bad.to_owned()]).unwrap_err();
            assert!(error.contains(&format!("`{bad}`")), "{bad}: {error}");
        }
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let headers = forwarded(&["203.0.113.7"]);
        assert_eq!(trusted.client(ip("198.51.100.2"), &headers), ip("198.51.100.2"));
        // No proxies configured (the default): the header is never read.
        assert_eq!(
            TrustedProxies::default().client(ip("10.0.0.5"), &headers),
            ip("10.0.0.5")
        );
    }

    #[test]
    fn a_trusted_proxy_names_the_client_and_what_the_client_wrote_is_skipped() {
        let trusted = proxies(&["10.0.0.0/8"]);
        // The client forged an entry; the proxy appended the real address after it.
        let headers = forwarded(&["1.2.3.4, 203.0.113.7"]);
        assert_eq!(trusted.client(ip("10.0.0.5"), &headers), ip("203.0.113.7"));
        // Two proxies in a row, the second's entry the first proxy's address.
        let chained = forwarded(&["1.2.3.4, 203.0.113.7, 10.9.9.9"]);
        assert_eq!(trusted.client(ip("10.0.0.5"), &chained), ip("203.0.113.7"));
        // Several header lines are one list, in order.
        let lines = forwarded(&["1.2.3.4", "203.0.113.8", "10.9.9.9"]);
        assert_eq!(trusted.client(ip("10.0.0.5"), &lines), ip("203.0.113.8"));
        // Ports and brackets as some proxies write them.
        assert_eq!(
            trusted.client(ip("10.0.0.5"), &forwarded(&["203.0.113.7:4711"])),
            ip("203.0.113.7")
        );
        assert_eq!(
            trusted.client(ip("10.0.0.5"), &forwarded(&["[2001:db8::1]:443"])),
            ip("2001:db8::1")
        );
    }

    #[test]
    fn a_trusted_proxy_without_a_usable_header_is_the_client() {
        let trusted = proxies(&["10.0.0.0/8"]);
        assert_eq!(trusted.client(ip("10.0.0.5"), &HeaderMap::new()), ip("10.0.0.5"));
        for garbage in ["not-an-address", "203.0.113.7, ", "203.0.113.7,,10.0.0.1"] {
            assert_eq!(
                trusted.client(ip("10.0.0.5"), &forwarded(&[garbage])),
                ip("10.0.0.5"),
                "{garbage}"
            );
        }
        // Only proxies all the way: the leftmost is as far as anything is known.
        assert_eq!(
            trusted.client(ip("10.0.0.5"), &forwarded(&["10.3.3.3, 10.4.4.4"])),
            ip("10.3.3.3")
        );
    }
}
