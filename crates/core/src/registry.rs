//! Site registration through `inventory`, and the registry that looks sites up.
//!
//! A site crate registers its extractor with [`register_site!`](crate::register_site). The
//! registration exists only if the final binary links the site crate, which is why every
//! binary and test links the `haul-sites` aggregator.

use std::collections::BTreeMap;

use url::Url;

use crate::Extractor;

/// One site registration, collected by `inventory`.
#[derive(Debug)]
pub struct SiteRegistration {
    /// The extractor.
    pub extractor: &'static dyn Extractor,
    /// The package that registered it (for duplicate errors).
    pub package: &'static str,
}

impl std::fmt::Debug for dyn Extractor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Extractor({})", self.name())
    }
}

impl SiteRegistration {
    /// A registration; used by [`register_site!`](crate::register_site).
    pub const fn new(extractor: &'static dyn Extractor, package: &'static str) -> Self {
        Self { extractor, package }
    }
}

inventory::collect!(SiteRegistration);

/// Registers a site extractor (a `static` or a constant expression of a type implementing
/// [`Extractor`]).
///
/// ```ignore
/// pub struct Acme;
/// impl haul_core::Extractor for Acme { /* ... */ }
/// haul_core::register_site!(Acme);
/// ```
#[macro_export]
macro_rules! register_site {
    ($extractor:expr) => {
        $crate::inventory::submit! {
            $crate::SiteRegistration::new(&$extractor, env!("CARGO_PKG_NAME"))
        }
    };
}

/// A registry problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// Two registrations share a name.
    #[error("site name {name:?} is registered twice: by {first} and by {second}")]
    Duplicate {
        /// The name.
        name: String,
        /// Package of the first registration.
        first: String,
        /// Package of the second registration.
        second: String,
    },
    /// A registered name is not of the form `[a-z0-9-]+`.
    #[error("site name {name:?} (from {package}) must be lower-case letters, digits and '-'")]
    BadName {
        /// The name.
        name: String,
        /// Its package.
        package: String,
    },
    /// No site has this name.
    #[error("unknown site {name:?}; known sites: {}", known.join(", "))]
    Unknown {
        /// The name asked for.
        name: String,
        /// Registered names.
        known: Vec<String>,
    },
}

/// The validated set of registered sites.
#[derive(Debug, Clone)]
pub struct Registry {
    sites: BTreeMap<&'static str, &'static SiteRegistration>,
}

/// Name of the site used for URLs no other site claims.
pub const FALLBACK_SITE: &str = "generic";

impl Registry {
    /// Collects every linked registration; duplicates and malformed names are errors.
    pub fn load() -> Result<Self, RegistryError> {
        Self::from_registrations(inventory::iter::<SiteRegistration>)
    }

    /// Builds a registry from explicit registrations (for tests).
    pub fn from_registrations(
        regs: impl IntoIterator<Item = &'static SiteRegistration>,
    ) -> Result<Self, RegistryError> {
        let mut sites = BTreeMap::new();
        for reg in regs {
            let name = reg.extractor.name();
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            {
                return Err(RegistryError::BadName {
                    name: name.into(),
                    package: reg.package.into(),
                });
            }
            if let Some(first) = sites.insert(name, reg) {
                // Report in a stable order whatever the link order was.
                let (a, b) = if first.package <= reg.package {
                    (first.package, reg.package)
                } else {
                    (reg.package, first.package)
                };
                return Err(RegistryError::Duplicate {
                    name: name.into(),
                    first: a.into(),
                    second: b.into(),
                });
            }
        }
        Ok(Self { sites })
    }

    /// Registered names, sorted.
    pub fn names(&self) -> Vec<&'static str> {
        self.sites.keys().copied().collect()
    }

    /// Every registration, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = &'static SiteRegistration> + '_ {
        self.sites.values().copied()
    }

    /// The extractor registered as `name`.
    pub fn get(&self, name: &str) -> Result<&'static dyn Extractor, RegistryError> {
        self.sites
            .get(name)
            .map(|r| r.extractor)
            .ok_or_else(|| RegistryError::Unknown {
                name: name.into(),
                known: self.names().iter().map(|s| s.to_string()).collect(),
            })
    }

    /// The extractor that claims `url` (by [`Extractor::handles`], first by name), else the
    /// `generic` site when it is registered.
    pub fn for_url(&self, url: &Url) -> Option<&'static dyn Extractor> {
        self.sites
            .values()
            .map(|r| r.extractor)
            .find(|e| e.handles(url))
            .or_else(|| self.sites.get(FALLBACK_SITE).map(|r| r.extractor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Document, ExtractError, Extraction};

    struct Named(&'static str, &'static [&'static str]);
    impl Extractor for Named {
        fn name(&self) -> &'static str {
            self.0
        }
        fn domains(&self) -> &'static [&'static str] {
            self.1
        }
        fn parse(&self, _: &Document) -> Result<Extraction, ExtractError> {
            Ok(Extraction::default())
        }
    }

    static A: Named = Named("shop-a", &["a.example"]);
    static A2: Named = Named("shop-a", &[]);
    static G: Named = Named("generic", &[]);
    static RA: SiteRegistration = SiteRegistration::new(&A, "haul-site-a");
    static RA2: SiteRegistration = SiteRegistration::new(&A2, "haul-site-a2");
    static RG: SiteRegistration = SiteRegistration::new(&G, "haul-site-generic");

    #[test]
    fn duplicates_are_an_error_naming_both() {
        let err = Registry::from_registrations([&RA, &RA2]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "site name \"shop-a\" is registered twice: by haul-site-a and by haul-site-a2"
        );
    }

    #[test]
    fn lookup_by_name_and_url() {
        let reg = Registry::from_registrations([&RA, &RG]).unwrap();
        assert_eq!(reg.get("shop-a").unwrap().name(), "shop-a");
        let err = reg.get("nope").unwrap_err().to_string();
        assert!(err.contains("known sites: generic, shop-a"), "{err}");
        let u = Url::parse("https://www.a.example/p/1").unwrap();
        assert_eq!(reg.for_url(&u).unwrap().name(), "shop-a");
        let other = Url::parse("https://b.example/").unwrap();
        assert_eq!(reg.for_url(&other).unwrap().name(), "generic");
    }
}
