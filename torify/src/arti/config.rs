//! The embedded client's configuration, from torify's `[arti]` settings.

use std::path::{Path, PathBuf};

use arti_client::config::{CfgPath, TorClientConfig, dir::FallbackDir};
use tor_llcrypto::pk::ed25519::Ed25519Identity;
use tor_llcrypto::pk::rsa::RsaIdentity;
use torify_conf::ArtiSettings;

/// `$VAR/torify/arti`, or `$HOME/<fallback>/torify/arti`.
fn xdg_dir(var: &str, fallback: &str) -> Result<PathBuf, String> {
    let base = std::env::var_os(var)
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(fallback)))
        .ok_or_else(|| format!("neither {var} nor HOME is set; set arti.state_dir and arti.cache_dir in torify.toml"))?;
    Ok(base.join("torify/arti"))
}

/// Creates `dir` (and its parents) readable by its owner only.
fn private_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| format!("cannot restrict {}: {e}", dir.display()))
}

/// The directories the client uses: (state, cache).
pub(crate) fn directories(a: &ArtiSettings) -> Result<(PathBuf, PathBuf), String> {
    let state = match &a.state_dir {
        Some(d) => d.clone(),
        None => xdg_dir("XDG_STATE_HOME", ".local/state")?,
    };
    let cache = match &a.cache_dir {
        Some(d) => d.clone(),
        None => xdg_dir("XDG_CACHE_HOME", ".cache")?,
    };
    private_dir(&state)?;
    private_dir(&cache)?;
    Ok((state, cache))
}

/// Builds the client configuration; the error is one line for the user.
pub(crate) fn build(a: &ArtiSettings) -> Result<TorClientConfig, String> {
    let (state, cache) = directories(a)?;
    let mut b = TorClientConfig::builder();
    b.storage()
        .state_dir(CfgPath::new_literal(state))
        .cache_dir(CfgPath::new_literal(cache));
    if let Some(n) = &a.network {
        let authorities = b.tor_network().authorities();
        for auth in &n.authorities {
            let id = RsaIdentity::from_hex(&auth.v3ident)
                .ok_or_else(|| format!("bad v3ident {}", auth.v3ident))?;
            authorities.v3idents().push(id);
        }
        let mut fallbacks = Vec::new();
        for f in &n.fallbacks {
            let mut fb = FallbackDir::builder();
            fb.rsa_identity(
                RsaIdentity::from_hex(&f.rsa_identity)
                    .ok_or_else(|| format!("bad rsa_identity {}", f.rsa_identity))?,
            )
            .ed_identity(
                Ed25519Identity::from_base64(&f.ed_identity)
                    .ok_or_else(|| format!("bad ed_identity {}", f.ed_identity))?,
            );
            fb.orports().extend(f.orports.iter().copied());
            fallbacks.push(fb);
        }
        b.tor_network().set_fallback_caches(fallbacks);
        b.path_rules()
            .ipv4_subnet_family_prefix(n.ipv4_subnet_family_prefix)
            .ipv6_subnet_family_prefix(n.ipv6_subnet_family_prefix);
        b.address_filter()
            .allow_local_addrs(n.allow_local_addrs)
            .allow_resolving_local_addrs(n.allow_local_addrs);
        // A handful of relays: guard sampling must not ask for more than there are.
        let params = b.override_net_params();
        params.insert("guard-min-filtered-sample-size".into(), 2);
        params.insert("guard-n-primary-guards-to-use".into(), 2);
        params.insert("guard-n-primary-guards".into(), 2);
        // No circuit-build-timeout learning (as tor does not learn on a TestingTorNetwork):
        // arti measures only the third hop of exit circuits, which on a private network takes
        // milliseconds, keeps the estimate in its state directory, and scales the onion
        // service client's steps down from it (tor-circmgr's timeouts: an extend is 8/12 of a
        // build, a round trip 6/12) below its own 10 ms floor. After ~100 builds, every
        // descriptor fetch then "took too long" and onion services failed within a second,
        // for good, in every later run with that state. Disabled, every step gets the fixed
        // initial timeout; a polluted estimate already on disk is ignored.
        params.insert("cbtdisabled".into(), 1);
    }
    b.build()
        .map_err(|e| format!("invalid arti configuration: {e}"))
}
