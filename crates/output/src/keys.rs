//! The set of (site, url) keys already present in an output, for resuming and de-duplication.

use std::collections::{HashMap, HashSet};

/// A set of record keys, `(site, url)`: the records already present in a resumed output, or
/// seen so far in one run. Looking a key up allocates nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExistingKeys {
    by_site: HashMap<String, HashSet<String>>,
    len: usize,
}

impl ExistingKeys {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the record `(site, url)` is in the set.
    pub fn contains(&self, site: &str, url: &str) -> bool {
        self.by_site
            .get(site)
            .is_some_and(|urls| urls.contains(url))
    }

    /// Adds `(site, url)`; returns `true` when it was not there yet.
    pub fn insert(&mut self, site: &str, url: &str) -> bool {
        let urls = match self.by_site.get_mut(site) {
            Some(urls) => urls,
            None => self.by_site.entry(site.to_owned()).or_default(),
        };
        if urls.contains(url) {
            return false;
        }
        urls.insert(url.to_owned());
        self.len += 1;
        true
    }

    /// How many keys the set holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The URLs present for `site` (in no particular order).
    pub fn urls<'a>(&'a self, site: &str) -> impl Iterator<Item = &'a str> + 'a {
        self.by_site
            .get(site)
            .into_iter()
            .flat_map(|urls| urls.iter().map(String::as_str))
    }

    /// Every key as `(site, url)` (in no particular order).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.by_site
            .iter()
            .flat_map(|(site, urls)| urls.iter().map(move |url| (site.as_str(), url.as_str())))
    }
}

impl<S: AsRef<str>, U: AsRef<str>> FromIterator<(S, U)> for ExistingKeys {
    fn from_iter<I: IntoIterator<Item = (S, U)>>(iter: I) -> Self {
        let mut keys = Self::new();
        for (site, url) in iter {
            keys.insert(site.as_ref(), url.as_ref());
        }
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_contains_and_counts() {
        let mut k = ExistingKeys::new();
        assert!(k.insert("a", "http://x/1"));
        assert!(!k.insert("a", "http://x/1"));
        assert!(k.insert("b", "http://x/1"));
        assert!(k.contains("a", "http://x/1"));
        assert!(!k.contains("a", "http://x/2"));
        assert!(!k.contains("c", "http://x/1"));
        assert_eq!(k.len(), 2);
        let mut all: Vec<_> = k.iter().collect();
        all.sort();
        assert_eq!(all, [("a", "http://x/1"), ("b", "http://x/1")]);
        assert_eq!(k.urls("a").collect::<Vec<_>>(), ["http://x/1"]);
        let k2: ExistingKeys = all.into_iter().collect();
        assert_eq!(k2, k);
    }
}
