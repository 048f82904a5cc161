//! The page evaluation on a small corpus written here (the real one is read by the
//! `eval_pages` example, never copied).

use std::fs;
use std::path::Path;

use haul_extract::eval::{evaluate_pages, title_matches};

fn page(dir: &Path, key: &str, html: &str) {
    let d = dir.join("pages").join(key);
    fs::create_dir_all(&d).expect("create page dir");
    fs::write(d.join("source.html"), html).expect("write page");
}

#[test]
fn scores_prices_ranges_titles_and_missing_pages() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    page(
        dir,
        "test/right",
        r#"<html lang="en-US"><head><title>Blue Tent - Shop</title></head><body><h1>Blue Tent</h1>
           <span class="price">$19.99</span><button>Add to cart</button></body></html>"#,
    );
    page(
        dir,
        "test/range",
        r#"<html lang="en-US"><head><title>Oven Mitt | Shop</title></head><body><h1>Oven Mitt</h1>
           <span class="price">$19.95 – $24.95</span><button>Add to cart</button></body></html>"#,
    );
    page(
        dir,
        "training/wrong",
        r#"<html lang="en-GB"><head><title>Red Chair</title></head><body><h1>Red Chair</h1>
           <span class="price">£5.00</span><button>Add to basket</button></body></html>"#,
    );
    let truth = serde_json::json!({
        "test/right": {"title_page": "Blue Tent - Shop", "price_text": "$19.99", "price": "19.99",
                       "price_is_range": false, "currency": "USD"},
        "test/range": {"title_page": "Oven Mitt | Shop", "price_text": "$ 19.95 – $ 24.95",
                       "price": "19.95", "price_is_range": true, "currency": "USD"},
        "training/wrong": {"title_page": "Blue Chair", "price_text": "$7.00", "price": "7.00",
                           "price_is_range": false, "currency": "USD"},
        "test/missing": {"title_page": "Gone", "price_text": "$1", "price": "1",
                         "price_is_range": false, "currency": "USD"},
    });
    fs::write(dir.join("ground-truth.json"), truth.to_string()).expect("write truth");

    let report = evaluate_pages(dir).expect("a report");
    assert_eq!(report.labelled, 4);
    assert_eq!(report.with_source, 3);
    assert_eq!(report.with_record, 3);
    assert_eq!(report.price_right, 2, "{report}");
    assert_eq!(report.currency_right, 2, "{report}");
    assert_eq!(report.title_right, 2, "{report}");
    let misses: Vec<&str> = report.misses.iter().map(|m| m.key.as_str()).collect();
    assert_eq!(misses, ["test/missing", "training/wrong"]);

    let text = report.to_string();
    assert!(text.contains("price       2/3 =  66.7%"), "{text}");
    assert!(text.contains("(of all labelled: 2/4 =  50.0%)"), "{text}");
    assert!(text.contains("test/missing: no source.html"), "{text}");
    assert!(
        text.contains("training/wrong [heuristic]: price 5.00, expected 7.00"),
        "{text}"
    );
    assert!(text.contains("currency GBP, expected USD"), "{text}");
}

#[test]
fn a_missing_corpus_is_an_error_naming_the_file() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let err = evaluate_pages(tmp.path()).expect_err("no ground truth");
    assert!(err.to_string().contains("ground-truth.json"), "{err}");
}

#[test]
fn title_matching_is_fuzzy() {
    assert!(title_matches(
        "Evenflo Big Kid Booster",
        "Evenflo Big Kid Booster - Walmart.com"
    ));
    assert!(!title_matches(
        "Something else entirely",
        "Evenflo Big Kid Booster"
    ));
}
