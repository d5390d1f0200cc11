//! What torify's integration tests share: where the built artifacts are, a network namespace
//! per test with a route to a "remote" namespace and packet capture, a mock Tor SOCKS server,
//! and the C probes.
//!
//! Every test runs in a network namespace of its own, created by the test (root, or
//! CAP_SYS_ADMIN, is required; without it the tests fail and say so, they never skip).

pub mod artifacts;
pub mod builds;
pub mod capture;
pub mod control;
pub mod delay;
pub mod mock;
pub mod netns;
pub mod probe;
pub mod tornet;
