//! Site contracts: what a good page of each kind yields (records, links, required fields).
//!
//! A site declares its contract through [`Extractor::contract`](crate::Extractor::contract)
//! and names page kinds with [`Extractor::page_kind`](crate::Extractor::page_kind). Contracts
//! are checked against recorded fixtures in each site's tests and against live pages by the
//! runner, which counts breaches per page kind: a page that breaks its contract means the site
//! changed its markup or API. A breach is a signal, never a reason to drop records.

use crate::{Extraction, Record};

/// What a good page of one kind yields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageContract {
    /// The page kind, as the site's `page_kind` names it (such as `"products"`).
    pub kind: &'static str,
    /// Fewest records a good page of this kind gives.
    pub min_records: usize,
    /// Fewest links to follow a good page of this kind gives.
    pub min_links: usize,
    /// Fields every record of this page kind must have, named as in the JSONL output
    /// (`price`, `currency`, `availability`...). A field counts as present when it is neither
    /// missing, `null` nor an empty string.
    pub required: &'static [&'static str],
}

/// A site's contract: one [`PageContract`] per page kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contract {
    /// Registered name of the site; every record must carry it.
    pub site: &'static str,
    /// The page kinds.
    pub pages: &'static [PageContract],
}

impl Contract {
    /// The contract of page kind `kind`.
    pub fn page(&self, kind: &str) -> Option<&'static PageContract> {
        self.pages.iter().find(|p| p.kind == kind)
    }

    /// How `ex`, extracted from a page of kind `kind`, breaks the contract, as sentences
    /// naming the page kind, the record and the field; empty when the contract is kept.
    pub fn check(&self, kind: &str, ex: &Extraction) -> Vec<String> {
        let Some(page) = self.page(kind) else {
            return vec![format!("{}: no contract for page kind {kind:?}", self.site)];
        };
        let mut out = Vec::new();
        if ex.records.len() < page.min_records {
            out.push(format!(
                "{kind} page gave {} records, the contract wants at least {}",
                ex.records.len(),
                page.min_records
            ));
        }
        if ex.links.len() < page.min_links {
            out.push(format!(
                "{kind} page gave {} links, the contract wants at least {}",
                ex.links.len(),
                page.min_links
            ));
        }
        for record in &ex.records {
            out.extend(self.check_record(page, record));
        }
        out
    }

    fn check_record(&self, page: &PageContract, record: &Record) -> Vec<String> {
        let mut out: Vec<String> = record.problems().iter().map(ToString::to_string).collect();
        if record.site != self.site {
            out.push(format!(
                "record for {} carries site {:?}, not {:?}",
                record.url, record.site, self.site
            ));
        }
        let value = serde_json::to_value(record).unwrap_or_default();
        for field in page.required {
            let present = value
                .get(*field)
                .is_some_and(|v| !v.is_null() && v.as_str() != Some(""));
            if !present {
                out.push(format!(
                    "{} record for {} lacks required field {field}",
                    page.kind, record.url
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Method;

    const C: Contract = Contract {
        site: "x",
        pages: &[PageContract {
            kind: "list",
            min_records: 1,
            min_links: 1,
            required: &["price", "sku"],
        }],
    };

    #[test]
    fn check_names_every_breach() {
        let mut ex = Extraction::default();
        assert_eq!(C.check("list", &ex).len(), 2);
        let mut r = Record::product("y", "http://s/p", "P", Method::Api);
        r.sku = Some(String::new());
        ex.records.push(r);
        ex.links.push(url::Url::parse("http://s/2").unwrap());
        let breaches = C.check("list", &ex);
        assert_eq!(breaches.len(), 3, "{breaches:?}");
        assert!(breaches.iter().any(|b| b.contains("site \"y\"")));
        assert!(breaches.iter().any(|b| b.contains("price")));
        assert!(breaches.iter().any(|b| b.contains("sku")));
        assert_eq!(C.check("nope", &ex).len(), 1);
    }
}
