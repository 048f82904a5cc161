//! The generic extractor on recorded pages: every fixture's records as an insta snapshot
//! (`seen_at` redacted), checked against the expected values too, and the links of a listing.

mod common;

use common::{FIXTURES, read};
use haul_core::{Document, Extractor, Url};
use haul_site_generic::Generic;

#[test]
fn every_fixture_gives_its_record() {
    for f in FIXTURES {
        let url = Url::parse(f.url).expect("valid fixture URL");
        let ex = Generic
            .parse(&Document::new(url.clone(), read(f.file)))
            .expect("parses");
        let name = f.file.trim_end_matches(".html");
        insta::assert_json_snapshot!(name, ex.records, { "[].seen_at" => "[seen_at]" });
        match f.expect {
            None => assert!(ex.records.is_empty(), "{}: {:?}", f.file, ex.records),
            Some((title, price, list, currency, method)) => {
                assert_eq!(ex.records.len(), 1, "{}", f.file);
                let r = &ex.records[0];
                assert_eq!(r.site, "generic");
                assert_eq!(r.title, title, "{}", f.file);
                assert_eq!(
                    r.price.map(|d| d.to_string()).as_deref(),
                    Some(price),
                    "{}",
                    f.file
                );
                assert_eq!(
                    r.list_price.map(|d| d.to_string()).as_deref(),
                    list,
                    "{}",
                    f.file
                );
                assert_eq!(
                    r.currency.map(|c| c.to_string()).as_deref(),
                    Some(currency),
                    "{}",
                    f.file
                );
                assert_eq!(r.method.to_string(), method, "{}", f.file);
                assert!(r.problems().is_empty(), "{}", f.file);
            }
        }
    }
}

#[test]
fn links_are_same_site_pages_without_account_cart_or_fragments() {
    let url = Url::parse("https://hearth.example.com/c/cookware").expect("valid URL");
    let ex = Generic
        .parse(&Document::new(url, read("listing.html")))
        .expect("parses");
    let links: Vec<String> = ex.links.iter().map(Url::to_string).collect();
    assert_eq!(
        links,
        [
            "https://hearth.example.com/",
            "https://hearth.example.com/p/skillet-12",
            "https://hearth.example.com/p/skillet-10",
            "https://hearth.example.com/p/dutch-oven",
            "https://hearth.example.com/p/skillet-lid",
            "https://hearth.example.com/c/cookware?page=2",
        ]
    );
}

#[test]
fn the_generic_site_claims_no_domain_and_renders_on_demand() {
    assert_eq!(Generic.name(), "generic");
    assert!(Generic.domains().is_empty());
    assert!(Generic.start_urls().is_empty());
    let u = Url::parse("https://any.example/").expect("valid URL");
    assert!(!Generic.handles(&u));
    assert_eq!(Generic.classify(&u).render(), haul_core::RenderNeed::Auto);
    // Not HTML: nothing, and no error.
    let mut doc = Document::new(u, "{\"items\": []}");
    doc.content_type = Some("application/json".into());
    let ex = Generic.parse(&doc).expect("parses");
    assert!(ex.records.is_empty() && ex.links.is_empty());
}

#[test]
fn parse_never_panics_on_cut_pages() {
    // Every fixture cut at many places still parses (possibly to nothing).
    let url = Url::parse("https://shop.example.com/p/x").expect("valid URL");
    for f in FIXTURES {
        let text = read(f.file);
        let mut cut = 0;
        while cut < text.len() {
            let end = (0..4)
                .map(|d| cut + d)
                .find(|e| text.is_char_boundary(*e))
                .unwrap_or(text.len());
            let _ = Generic
                .parse(&Document::new(url.clone(), &text[..end]))
                .expect("parses");
            cut += 97;
        }
    }
}
