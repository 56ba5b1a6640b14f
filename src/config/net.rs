//! Network names in the config: hosts and authorities in the form they are
//! signed in, and the CIDR blocks of `trusted_proxies`.

use http::uri::Authority;

/// Lowercase host, default port dropped: the form `@authority` is signed in.
pub fn normalize_authority(authority: &Authority, https: bool) -> Option<Authority> {
    normalize_host(authority.as_str(), https)?.parse().ok()
}

/// Checks and normalises a `Host` value or URI authority: lowercase host,
/// default port dropped. `None` for anything that is not `host[:port]`
/// (user info, paths, spaces, bare IPv6, bad ports).
pub fn normalize_host(raw: &str, https: bool) -> Option<String> {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=:[]".contains(&b);
    if raw.is_empty() || !raw.bytes().all(allowed) {
        return None;
    }
    let (host, port) = if raw.starts_with('[') {
        let end = raw.find(']')?;
        (
            &raw[..=end],
            raw[end + 1..].strip_prefix(':').map_or(if raw.len() == end + 1 { Some("") } else { None }, Some)?,
        )
    } else {
        match raw.split_once(':') {
            Some((h, p)) => (h, p),
            None => (raw, ""),
        }
    };
    if host.is_empty() || (!host.starts_with('[') && host.contains([':', '[', ']'])) {
        return None;
    }
    let default = if https { 443 } else { 80 };
    let mut out = host.to_ascii_lowercase();
    if !port.is_empty() {
        let number: u16 = port.parse().ok()?;
        // Port 0 cannot be connected to, nor addressed by a client.
        if number == 0 || !port.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if number != default {
            out.push(':');
            out.push_str(port);
        }
    }
    Some(out)
}

/// An IP network such as `10.0.0.0/8` or `::1/128`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: std::net::IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `addr/prefix`, or a bare address as a single host.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("`{text}` is not an IP network (e.g. 10.0.0.0/8 or ::1/128)");
        let (addr, prefix) = text.split_once('/').map_or((text, None), |(a, p)| (a, Some(p)));
        let network: std::net::IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(bad)?,
        };
        Ok(Self { network, prefix })
    }

    /// Whether `ip` is in the network; an IPv4-mapped IPv6 address counts as IPv4.
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr;
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        let (net, ip, bits) = match (self.network, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => (u128::from(u32::from(n)), u128::from(u32::from(i)), 32),
            (IpAddr::V6(n), IpAddr::V6(i)) => (u128::from(n), u128::from(i), 128),
            _ => return false,
        };
        let shift = bits - u32::from(self.prefix);
        shift >= bits || (net >> shift) == (ip >> shift)
    }
}

#[cfg(test)]
mod tests {
    use super::normalize_host;

    #[test]
    fn hosts_normalise_to_the_signed_form() {
        let ok = [
            ("Example.COM", false, "example.com"),
            ("example.com:80", false, "example.com"),
            ("example.com:443", true, "example.com"),
            ("example.com:443", false, "example.com:443"),
            ("example.com:", false, "example.com"),
            ("127.0.0.1:8080", false, "127.0.0.1:8080"),
            ("[::1]:8080", false, "[::1]:8080"),
            ("[::1]", true, "[::1]"),
        ];
        for (raw, https, want) in ok {
            assert_eq!(normalize_host(raw, https).as_deref(), Some(want), "{raw}");
        }
        for bad in
            ["", "a b", "user@host", "host/path", "::1", "host:99999", "host:+80", "[::1]x", "host:80:80", "[::1"]
        {
            assert_eq!(normalize_host(bad, false), None, "{bad}");
        }
    }
}

#[cfg(test)]
mod cidr_tests {
    use super::Cidr;

    #[test]
    fn cidrs_match_their_networks() {
        let net = Cidr::parse("10.1.0.0/16").expect("valid");
        assert!(net.contains("10.1.2.3".parse().expect("ip")));
        assert!(!net.contains("10.2.0.1".parse().expect("ip")));
        assert!(Cidr::parse("127.0.0.1").expect("valid").contains("127.0.0.1".parse().expect("ip")));
        assert!(Cidr::parse("0.0.0.0/0").expect("valid").contains("8.8.8.8".parse().expect("ip")));
        assert!(Cidr::parse("::1/128").expect("valid").contains("::1".parse().expect("ip")));
        assert!(net.contains("::ffff:10.1.0.9".parse().expect("ip")), "v4-mapped v6 peers match v4 networks");
        for bad in ["10.0.0.0/33", "nope", "10.0.0.0/x", "::1/129"] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }
}
