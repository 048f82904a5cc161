//! What a crawl keeps of one extraction: records with problems are dropped (and counted), the
//! site's contract is checked for the page's kind. Shared by the crawl and `haul parse`, so that
//! what `parse` shows is what a crawl writes.

use haul_core::{Breach, Extraction, Extractor, Record, RecordProblem, Warning};
use url::Url;

/// One extraction as a crawl keeps it.
#[derive(Debug, Default)]
pub struct Checked {
    /// The usable records.
    pub records: Vec<Record>,
    /// The links the extractor returned (absolute, not yet filtered).
    pub links: Vec<Url>,
    /// The extractor's warnings.
    pub warnings: Vec<Warning>,
    /// Why each dropped record was unusable.
    pub dropped: Vec<Vec<RecordProblem>>,
    /// The page kind whose contract the extraction broke, with how.
    pub breach: Option<(&'static str, Vec<Breach>)>,
}

impl Checked {
    /// Checks `ex`, extracted by `ext` from `url`.
    pub fn new(ext: &dyn Extractor, url: &Url, ex: Extraction) -> Self {
        let class = ext.classify(url);
        let breaches = class.check(ext.name(), &ex);
        let breach = (!breaches.is_empty()).then_some((class.kind(), breaches));
        let mut checked = Self {
            links: ex.links,
            warnings: ex.warnings,
            breach,
            ..Self::default()
        };
        for record in ex.records {
            let problems = record.problems();
            if problems.is_empty() {
                checked.records.push(record);
            } else {
                checked.dropped.push(problems);
            }
        }
        checked
    }

    /// Warnings as a crawl counts them: the extractor's plus one per dropped record.
    pub fn warning_count(&self) -> u64 {
        (self.warnings.len() + self.dropped.len()) as u64
    }

    /// The breaches of the page's contract as one sentence (empty when it was kept).
    pub fn breach_message(&self) -> String {
        let breaches = self.breach.iter().flat_map(|(_, b)| b.iter());
        breaches
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Each dropped record's problems, as one sentence per record.
    pub fn dropped_messages(&self) -> impl Iterator<Item = String> + '_ {
        self.dropped.iter().map(|problems| {
            let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
            format!("record dropped: {}", problems.join("; "))
        })
    }
}

#[cfg(test)]
mod tests {
    use haul_core::{Decimal, Method};

    use super::*;
    use crate::fakes::{Tiny, url};

    #[test]
    fn unusable_records_are_dropped_and_counted_as_warnings() {
        let page = url("/p");
        let good = Record::product("tiny", page.as_str(), "Kettle", Method::Css);
        let mut negative = good.clone();
        negative.price = Some(Decimal::new(-300, 2));
        let blank = Record::product("tiny", page.as_str(), "  ", Method::Css);
        let ex = Extraction {
            records: vec![good.clone(), negative, blank],
            links: vec![url("/next")],
            warnings: vec![Warning("price not found".into())],
        };
        let checked = Checked::new(&Tiny, &page, ex);
        assert_eq!(checked.records, [good]);
        assert_eq!(checked.links, [url("/next")]);
        assert_eq!(checked.warning_count(), 3);
        let messages: Vec<String> = checked.dropped_messages().collect();
        assert_eq!(messages.len(), 2);
        assert!(messages[0].contains("negative price"), "{messages:?}");
        assert!(messages[1].contains("empty title"), "{messages:?}");
        assert!(checked.breach.is_none(), "Tiny has no contract");
    }
}
