//! Telling a user early that the embedded client cannot reach Tor, instead of after the whole
//! bootstrap timeout: no route off the machine at all (read from the kernel's routing tables,
//! no packet sent), or arti's own verdict that it is offline or filtered (arti decides that
//! after its first minute of failed connections, tor-chanmgr's `event.rs`).

use std::time::Duration;

use arti_client::TorClient;
use arti_client::status::BlockageKind;
use tor_rtcompat::PreferredRuntime;

/// True when the routing tables (/proc/net/route, /proc/net/ipv6_route) have a default route
/// that is up.
pub(crate) fn has_default_route(v4: &str, v6: &str) -> bool {
    const RTF_UP: u32 = 0x1;
    let v4_default = v4.lines().skip(1).any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.len() > 7
            && f[1] == "00000000"
            && f[7] == "00000000"
            && u32::from_str_radix(f[3], 16).is_ok_and(|flags| flags & RTF_UP != 0)
    });
    let v6_default = v6.lines().any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.len() > 9
            && f[0].bytes().all(|b| b == b'0')
            && f[1] == "00"
            && f[9] != "lo"
            && u32::from_str_radix(f[8], 16).is_ok_and(|flags| flags & RTF_UP != 0)
    });
    v4_default || v6_default
}

/// Resolves when arti reports that it cannot reach Tor (offline, filtered, unreachable),
/// with the line to print; never otherwise.
pub(crate) async fn blocked(client: &TorClient<PreferredRuntime>) -> String {
    loop {
        if let Some(b) = client.bootstrap_status().blocked() {
            match b.kind() {
                BlockageKind::Offline | BlockageKind::Filtering | BlockageKind::CantReachTor => {
                    return format!(
                        "the embedded Tor client cannot reach Tor: {b}; nothing was run. Check the network (a bridge or a proxy may be needed), or point torify at a tor daemon (--backend tor, -P PORT)"
                    );
                }
                // The clock and the directory can still come right; the timeout decides.
                _ => {}
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V4_HEADER: &str =
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n";

    #[test]
    fn default_routes_are_found_in_the_kernel_tables() {
        let v4 = format!("{V4_HEADER}eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n");
        let lan_only =
            format!("{V4_HEADER}eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n");
        let v6 = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000002 00000000 00000003     eth0\n";
        let v6_unreachable_lo = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n";
        assert!(has_default_route(&v4, ""));
        assert!(!has_default_route(&lan_only, ""));
        assert!(has_default_route(V4_HEADER, v6));
        assert!(!has_default_route(V4_HEADER, v6_unreachable_lo));
        assert!(!has_default_route("", ""));
    }
}
