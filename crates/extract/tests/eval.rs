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
    let all = report.all();
    assert_eq!(all.pages, 3);
    assert_eq!(all.with_record, 3);
    assert_eq!(all.price_right, 2, "{report}");
    assert_eq!(all.currency_right, 2, "{report}");
    assert_eq!(all.title_right, 2, "{report}");
    let misses: Vec<&str> = report.misses.iter().map(|m| m.key.as_str()).collect();
    assert_eq!(misses, ["test/missing", "training/wrong"]);

    let text = report.to_string();
    assert!(
        text.contains("price     P 0.667  R 0.667  F1 0.667   right 2/3 priced"),
        "{text}"
    );
    assert!(
        text.contains("price right on 2/4 =  50.0% of all labelled pages"),
        "{text}"
    );
    assert!(
        text.contains("test/missing (held-out): no source.html"),
        "{text}"
    );
    assert!(
        text.contains("training/wrong (tuning) [heuristic 0.65]: price 5.00, expected 7.00"),
        "{text}"
    );
    assert!(text.contains("currency GBP, expected USD"), "{text}");
}

#[test]
fn pages_without_a_price_are_right_only_when_the_extractor_abstains() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    page(
        dir,
        "test/on_request",
        r#"<html lang="en-GB"><head><title>Grand Piano | Pianos</title></head><body><h1>Grand Piano</h1>
           <p class="price">Price on request</p><a href="/contact">Contact us</a></body></html>"#,
    );
    page(
        dir,
        "test/guessed",
        r#"<html lang="en-US"><head><title>Old Lamp | Shop</title></head><body><h1>Old Lamp</h1>
           <span class="price">$12.00</span><button>Add to cart</button></body></html>"#,
    );
    let truth = serde_json::json!({
        "test/on_request": {"title_page": "Grand Piano | Pianos", "price": null},
        "test/guessed": {"title_page": "Old Lamp | Shop", "price": ""},
    });
    fs::write(dir.join("ground-truth.json"), truth.to_string()).expect("write truth");
    let report = evaluate_pages(dir).expect("a report");
    let all = report.all();
    assert_eq!((all.pages, all.priced), (2, 0), "{report}");
    assert_eq!(all.abstained_right, 1, "{report}");
    assert_eq!(
        all.predicted, 1,
        "a price on a page without one is a false positive"
    );
    assert_eq!(all.precision(), 0.0);
    let text = report.to_string();
    assert!(text.contains("test/guessed"), "{text}");
    assert!(text.contains("price 12.00, expected none"), "{text}");
}

#[test]
fn halves_are_fixed_by_shop_and_extra_corpora_are_tuning() {
    use haul_extract::eval::{Half, evaluate_corpora, half_of};
    // The same shop is in the same half whatever its folder.
    assert_eq!(half_of("test/qvc"), half_of("training/qvc"));
    let halves: Vec<Half> = ["amazon", "ebay", "etsy", "walmart", "target", "nike"]
        .iter()
        .map(|s| half_of(s))
        .collect();
    assert!(halves.contains(&Half::Tuning) && halves.contains(&Half::HeldOut));

    let own = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/eval");
    let tmp = tempfile::tempdir().expect("temp dir");
    fs::write(tmp.path().join("ground-truth.json"), "{}").expect("write truth");
    let report = evaluate_corpora(tmp.path(), &[&own]).expect("a report");
    assert_eq!(report.held_out.pages, 0);
    assert!(report.tuning.pages >= 9, "{report}");
}

/// The pages written for this project (other countries and currencies, sales, listings,
/// products no longer sold, prices on request): every one must be right.
#[test]
fn the_projects_own_pages_are_all_right() {
    let own = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/eval");
    let report = evaluate_pages(&own).expect("a report");
    let all = report.all();
    assert_eq!(all.price_right + all.abstained_right, all.pages, "{report}");
    assert_eq!(all.currency_right, all.priced, "{report}");
    assert!(all.unpriced() >= 3, "{report}");
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
