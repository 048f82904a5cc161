//! Links every site crate into whatever links this crate, so that their `inventory`
//! registrations exist. A site crate that nothing references contributes no registrations:
//! every binary and test that looks sites up must `use haul_sites as _;` (or call
//! [`registry`]).
//!
//! `cargo xtask new-site` adds a line to the list below; `tests/registry.rs` checks the list
//! against the folders under `sites/`.

// sites (one line per crate under sites/)
use haul_site_demo as _;
use haul_site_generic as _;
use haul_site_shopify as _;
use haul_site_slickdeals as _;
use haul_site_woocommerce as _;

/// The registry of every linked site, validated (duplicate names are an error).
pub fn registry() -> Result<haul_core::Registry, haul_core::RegistryError> {
    haul_core::Registry::load()
}
