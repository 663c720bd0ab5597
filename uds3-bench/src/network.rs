//! The network between library and servers: for an added round trip, a
//! relay per server on loopback (xtask's [`Relay`]) that delays each
//! direction by half of it, and the endpoints rewritten to go through it.

use std::time::Duration;

use test_support::relay::Relay;
use test_support::test_servers::{Endpoints, Service};

/// Endpoints as given (`rtt_ms` 0), or through relays that add `rtt_ms`
/// per round trip. The relays run while the returned value lives.
pub fn with_round_trip(
    endpoints: &Endpoints,
    rtt_ms: u32,
) -> Result<(Endpoints, Vec<Relay>), String> {
    let mut routed = endpoints.clone();
    let mut relays = Vec::new();
    if rtt_ms == 0 {
        return Ok((routed, relays));
    }
    let one_way = Duration::from_micros(u64::from(rtt_ms) * 500);
    for service in [
        Service::Postgres,
        Service::Chroma,
        Service::Neo4j,
        Service::Couch,
    ] {
        let (host, port) = endpoints.host_port(service)?;
        let target = format!("{host}:{port}");
        let relay = Relay::start(&target, one_way)
            .map_err(|e| format!("cannot start a relay to {service} at {target}: {e}"))?;
        let through = format!("127.0.0.1:{}", relay.port());
        let url = endpoints.url(service).replacen(&target, &through, 1);
        if url == endpoints.url(service) {
            return Err(format!(
                "{}={:?}: cannot route it through the relay (no {target} in it)",
                service.env_var(),
                endpoints.url(service)
            ));
        }
        match service {
            Service::Postgres => routed.postgres_url = url,
            Service::Chroma => routed.chroma_url = url,
            Service::Neo4j => routed.neo4j_uri = url,
            Service::Couch => routed.couchdb_url = url,
        }
        relays.push(relay);
    }
    Ok((routed, relays))
}
