//! The department systems the gateway may call (`exchange_source_hosts`). A steward attaches an
//! HTTP source by address, and the gateway then fetches it from inside the city's network, so an
//! address must not reach what the steward could not: the database, the metrics listener, another
//! internal service or a cloud metadata endpoint. Only hosts the operator listed are attached or
//! called; with none listed, no HTTP source is.

/// One allowed host: a name or IP address, a domain with every host under it (`.zhuhai.gov.cn`),
/// optionally one port (`10.20.1.5:8443`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Allowed {
    host: String,
    suffix: bool,
    port: Option<u16>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceHosts(Vec<Allowed>);

impl SourceHosts {
    /// Reads the configured entries; an entry that is not a host, `.domain` or `host:port` is an
    /// error naming it.
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        entries
            .iter()
            .map(|entry| parse_entry(entry).ok_or_else(|| entry.clone()))
            .collect::<Result<_, _>>()
            .map(SourceHosts)
            .map_err(|entry| {
                format!("exchange_source_hosts: {entry:?} is not a host name, IP address, .domain or host:port")
            })
    }

    /// Whether the gateway may call `url`.
    pub fn allows(&self, url: &str) -> bool {
        let Ok(url) = reqwest::Url::parse(url) else { return false };
        let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else { return false };
        let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        self.0.iter().any(|allowed| {
            let host_matches = if allowed.suffix { host.ends_with(&allowed.host) } else { host == allowed.host };
            host_matches && allowed.port.is_none_or(|p| p == port)
        })
    }
}

fn parse_entry(entry: &str) -> Option<Allowed> {
    let entry = entry.trim().to_ascii_lowercase();
    if entry.is_empty() || !entry.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
    {
        return None;
    }
    if let Ok(ip) = entry.parse::<std::net::IpAddr>() {
        return Some(Allowed { host: ip.to_string(), suffix: false, port: None });
    }
    // `host:port`, `[v6]:port` or `.domain`; the URL parser checks the host the same way it will
    // read it in a source's address.
    let url = reqwest::Url::parse(&format!("http://{}/", entry.trim_start_matches('.'))).ok()?;
    let host = url.host_str()?.trim_start_matches('[').trim_end_matches(']').to_owned();
    let written_port = entry.rsplit_once(':').is_some_and(|(_, p)| p.chars().all(|c| c.is_ascii_digit()));
    let port = if written_port { Some(url.port().unwrap_or(80)) } else { None };
    let suffix = entry.starts_with('.');
    if suffix && host.parse::<std::net::IpAddr>().is_ok() {
        return None;
    }
    Some(Allowed { host: if suffix { format!(".{host}") } else { host }, suffix, port })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(entries: &[&str]) -> SourceHosts {
        SourceHosts::parse(&entries.iter().map(|e| e.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn only_listed_hosts_and_ports_are_allowed() {
        let allowed = hosts(&["permits.scj.zhuhai.gov.cn", ".gjj.zhuhai.gov.cn", "10.20.1.5:8443", "127.0.0.1"]);
        assert!(allowed.allows("https://permits.scj.zhuhai.gov.cn/api/permits"));
        assert!(allowed.allows("http://PERMITS.scj.zhuhai.gov.cn:8080/x"), "any port when none is listed");
        assert!(allowed.allows("https://api.gjj.zhuhai.gov.cn/accounts"));
        assert!(!allowed.allows("https://gjj.zhuhai.gov.cn/accounts"), "a .domain covers the hosts under it");
        assert!(!allowed.allows("https://evilgjj.zhuhai.gov.cn/"));
        assert!(allowed.allows("https://10.20.1.5:8443/records"));
        assert!(!allowed.allows("https://10.20.1.5/records"), "another port");
        assert!(allowed.allows("http://127.0.0.1:41234/permits"));
        assert!(!allowed.allows("http://169.254.169.254/latest/meta-data"));
        assert!(!allowed.allows("http://permits.scj.zhuhai.gov.cn.evil.example/"));
        assert!(!allowed.allows("http://127.0.0.1@evil.example/"), "the host, not the user name");
        assert!(!allowed.allows("not a url"));
        assert!(!SourceHosts::default().allows("https://permits.scj.zhuhai.gov.cn/"), "none listed: none allowed");
    }

    #[test]
    fn entries_that_are_not_hosts_are_refused() {
        for bad in ["", "http://x.gov.cn", "x.gov.cn/path", ".10.0.0.1", "a b", "host:port"] {
            assert!(SourceHosts::parse(&[bad.to_owned()]).is_err(), "{bad:?}");
        }
        assert!(hosts(&["[::1]:8080"]).allows("http://[::1]:8080/x"));
    }
}
