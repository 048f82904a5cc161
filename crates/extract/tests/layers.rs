//! The extraction layers and their merge on small hand-written pages: JSON-LD shapes,
//! microdata, OpenGraph, plain-HTML heuristics and currencies.

use haul_core::{Availability, Method, Record, Url};
use haul_extract::{Page, extract_product, json_ld, microdata, open_graph, parse_json_ld};

fn url(u: &str) -> Url {
    Url::parse(u).expect("valid test URL")
}

fn page_with_ld(ld: &str) -> String {
    format!(
        r#"<html lang="en"><head><title>Shop</title><script type="application/ld+json">{ld}</script></head><body></body></html>"#
    )
}

fn one(html: &str, u: &str) -> Record {
    let ex = extract_product(html, &url(u), "generic");
    assert_eq!(ex.records.len(), 1, "records: {:?}", ex.records);
    ex.records.into_iter().next().expect("one record")
}

fn s(d: Option<haul_core::Decimal>) -> Option<String> {
    d.map(|d| d.to_string())
}

/// (case, JSON-LD, title, price, list price, currency)
type LdCase = (
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
    Option<&'static str>,
);

const JSON_LD_CASES: &[LdCase] = &[
    (
        "plain Product with a string price",
        r#"{"@context":"https://schema.org","@type":"Product","name":"Tent","offers":{"@type":"Offer","price":"129.90","priceCurrency":"EUR"}}"#,
        "Tent",
        Some("129.90"),
        None,
        Some("EUR"),
    ),
    (
        "numeric price, @type as an array",
        r#"{"@type":["Product","Thing"],"name":"Stove","offers":{"@type":"Offer","price":49.5,"priceCurrency":"USD"}}"#,
        "Stove",
        Some("49.5"),
        None,
        Some("USD"),
    ),
    (
        "@graph with a WebPage and a Product",
        r#"{"@context":"https://schema.org","@graph":[{"@type":"WebPage","name":"Page"},{"@type":"Product","name":"Lamp","offers":[{"@type":"Offer","price":"19.99","priceCurrency":"GBP"}]}]}"#,
        "Lamp",
        Some("19.99"),
        None,
        Some("GBP"),
    ),
    (
        "top-level array and nested mainEntity",
        r#"[{"@type":"BreadcrumbList"},{"@type":"ItemPage","mainEntity":{"@type":"Product","name":"Mug","offers":{"@type":"Offer","price":"8.00","priceCurrency":"CAD"}}}]"#,
        "Mug",
        Some("8.00"),
        None,
        Some("CAD"),
    ),
    (
        "AggregateOffer: lowPrice",
        r#"{"@type":"Product","name":"Shirt","offers":{"@type":"AggregateOffer","lowPrice":"15.00","highPrice":"25.00","priceCurrency":"USD","offerCount":3}}"#,
        "Shirt",
        Some("15.00"),
        None,
        Some("USD"),
    ),
    (
        "priceSpecification with a strikethrough list price",
        r#"{"@type":"Product","name":"Boots","offers":{"@type":"Offer","priceCurrency":"EUR","priceSpecification":[{"@type":"UnitPriceSpecification","price":"89.00","priceCurrency":"EUR"},{"@type":"UnitPriceSpecification","priceType":"https://schema.org/StrikethroughPrice","price":"120.00","priceCurrency":"EUR"}]}}"#,
        "Boots",
        Some("89.00"),
        Some("120.00"),
        Some("EUR"),
    ),
    (
        "ListPrice priceType next to a direct price",
        r#"{"@type":"Product","name":"Drill","offers":{"@type":"Offer","price":"99","priceCurrency":"USD","priceSpecification":{"@type":"UnitPriceSpecification","priceType":"ListPrice","price":"149"}}}"#,
        "Drill",
        Some("99"),
        Some("149"),
        Some("USD"),
    ),
    (
        "price as shown, German format",
        r#"{"@type":"Product","name":"Sofa","offers":{"@type":"Offer","price":"1.299,00 €","priceCurrency":"EUR"}}"#,
        "Sofa",
        Some("1299.00"),
        None,
        Some("EUR"),
    ),
    (
        "ProductGroup with variants: the lowest variant price",
        r#"{"@type":"ProductGroup","name":"Hoodie","hasVariant":[{"@type":"Product","name":"Hoodie S","offers":{"@type":"Offer","price":"45.00","priceCurrency":"USD"}},{"@type":"Product","name":"Hoodie XL","offers":{"@type":"Offer","price":"39.00","priceCurrency":"USD"}}]}"#,
        "Hoodie",
        Some("39.00"),
        None,
        Some("USD"),
    ),
    (
        "variants referenced by @id",
        r##"{"@graph":[{"@type":"ProductGroup","@id":"#g","name":"Cap","hasVariant":[{"@id":"#v1"}]},{"@type":"Product","@id":"#v1","name":"Cap red","isVariantOf":{"@id":"#g"},"offers":{"@type":"Offer","price":"12.00","priceCurrency":"USD"}}]}"##,
        "Cap",
        Some("12.00"),
        None,
        Some("USD"),
    ),
    (
        "broken JSON: trailing commas and an entity",
        r#"{"@type":"Product","name":"Tom &amp; Jerry Mug","offers":{"@type":"Offer","price":"5.00","priceCurrency":"USD",},}"#,
        "Tom & Jerry Mug",
        Some("5.00"),
        None,
        Some("USD"),
    ),
    (
        "price 0 means unknown",
        r#"{"@type":"Product","name":"Mystery","offers":{"@type":"Offer","price":"0","priceCurrency":"USD"}}"#,
        "Mystery",
        None,
        None,
        None,
    ),
];

#[test]
fn json_ld_shapes() {
    for (case, ld, title, price, list, currency) in JSON_LD_CASES {
        let r = one(&page_with_ld(ld), "https://shop.example/p/1");
        assert_eq!(r.title, *title, "{case}");
        assert_eq!(s(r.price).as_deref(), *price, "{case}: price");
        assert_eq!(s(r.list_price).as_deref(), *list, "{case}: list price");
        assert_eq!(
            r.currency.map(|c| c.to_string()).as_deref(),
            *currency,
            "{case}: currency"
        );
        assert_eq!(r.method, Method::JsonLd, "{case}");
        assert_eq!(r.url, "https://shop.example/p/1", "{case}");
        assert_eq!(r.site, "generic");
    }
}

#[test]
fn json_ld_detail_fields() {
    let ld = r#"{"@type":"Product","name":"Camera","sku":"CAM-1","gtin13":"4006381333931","mpn":"X1",
        "brand":{"@type":"Brand","name":"Optix"},
        "image":[{"@type":"ImageObject","url":"/img/cam.jpg"},"https://cdn.example/cam2.jpg"],
        "aggregateRating":{"@type":"AggregateRating","ratingValue":"4.6","reviewCount":"1,234"},
        "offers":{"@type":"Offer","price":"499.00","priceCurrency":"USD","availability":"https://schema.org/OutOfStock",
                  "seller":{"@type":"Organization","name":"Optix Store"}}}"#;
    let r = one(&page_with_ld(ld), "https://shop.example/p/cam");
    assert_eq!(r.sku.as_deref(), Some("CAM-1"));
    assert_eq!(r.gtin.as_deref(), Some("4006381333931"));
    assert_eq!(r.brand.as_deref(), Some("Optix"));
    assert_eq!(r.image.as_deref(), Some("https://shop.example/img/cam.jpg"));
    assert_eq!(s(r.rating).as_deref(), Some("4.6"));
    assert_eq!(r.rating_count, Some(1234));
    assert_eq!(r.availability, Some(Availability::OutOfStock));
    assert_eq!(r.merchant.as_deref(), Some("Optix Store"));

    // Brand as a string, image as a string, mpn standing in for a missing sku.
    let ld = r#"{"@type":"Product","name":"Pen","mpn":"P-9","brand":"Inky","image":"pen.png",
        "offers":{"@type":"Offer","price":2,"priceCurrency":"USD","availability":"InStock"}}"#;
    let r = one(&page_with_ld(ld), "https://shop.example/p/pen");
    assert_eq!(r.brand.as_deref(), Some("Inky"));
    assert_eq!(r.image.as_deref(), Some("https://shop.example/p/pen.png"));
    assert_eq!(r.sku.as_deref(), Some("P-9"));
    assert_eq!(r.availability, Some(Availability::InStock));
}

#[test]
fn broken_json_ld_never_panics() {
    let inputs = [
        "",
        "{",
        "[[[[",
        "{\"@type\": \"Product\", \"name\": }",
        "<!-- -->",
        "{\"@graph\": [1, 2, {\"@type\": [\"Product\"]}]}",
        "{\"@type\":\"Product\",\"name\":[\"A\",\"B\"],\"offers\":[null, 3, \"x\", {\"price\": {}}]}",
        "{\"@type\":\"Product\",\"name\":\"A\",\"hasVariant\":{\"@id\":\"#nowhere\"}}",
        "\u{0}\u{1}{}}}",
    ];
    for text in inputs {
        let _ = parse_json_ld(text);
        let html = page_with_ld(text);
        let _ = extract_product(&html, &url("https://shop.example/"), "generic");
    }
    // Two JSON-LD blocks, one broken: the good one still counts.
    let html = r#"<script type="application/ld+json">{"@type": "Product", "name": </script>
        <script type="application/ld+json">{"@type":"Product","name":"Good","offers":{"price":"3.50","priceCurrency":"USD"}}</script>"#;
    let r = one(html, "https://shop.example/p/good");
    assert_eq!(r.title, "Good");
}

#[test]
fn microdata_product_with_nested_offer() {
    let html = r#"<html><body>
      <div itemscope itemtype="https://schema.org/Product">
        <h1 itemprop="name">Trail Shoe</h1>
        <a itemprop="brand" href="/brands/fleet">Fleet</a>
        <img itemprop="image" src="/img/shoe.jpg">
        <meta itemprop="sku" content="TS-42">
        <div itemprop="aggregateRating" itemscope itemtype="https://schema.org/AggregateRating">
          <span itemprop="ratingValue">4.2</span> (<span itemprop="reviewCount">87</span>)
        </div>
        <div itemprop="offers" itemscope itemtype="https://schema.org/Offer">
          <span itemprop="price" content="89.95">$89.95</span>
          <meta itemprop="priceCurrency" content="USD">
          <link itemprop="availability" href="https://schema.org/InStock">
        </div>
      </div>
      <div itemscope itemtype="https://schema.org/Product"><span itemprop="name">Sock</span>
        <span itemprop="offers" itemscope itemtype="https://schema.org/Offer"><span itemprop="price">$5.00</span></span></div>
    </body></html>"#;
    let page = Page::parse(html, &url("https://shop.example/p/shoe"));
    let all = microdata(&page, "generic");
    assert_eq!(all.len(), 2);
    let r = one(html, "https://shop.example/p/shoe");
    assert_eq!(r.method, Method::Microdata);
    assert_eq!(r.title, "Trail Shoe");
    assert_eq!(s(r.price).as_deref(), Some("89.95"));
    assert_eq!(r.currency.map(|c| c.to_string()).as_deref(), Some("USD"));
    assert_eq!(r.brand.as_deref(), Some("Fleet"));
    assert_eq!(r.sku.as_deref(), Some("TS-42"));
    assert_eq!(
        r.image.as_deref(),
        Some("https://shop.example/img/shoe.jpg")
    );
    assert_eq!(s(r.rating).as_deref(), Some("4.2"));
    assert_eq!(r.rating_count, Some(87));
    assert_eq!(r.availability, Some(Availability::InStock));
}

#[test]
fn open_graph_product_tags() {
    let html = r#"<html><head>
      <meta property="og:type" content="product">
      <meta property="og:title" content="Rain Jacket">
      <meta property="og:image" content="//cdn.example/jacket.jpg">
      <meta property="product:price:amount" content="79.00">
      <meta property="product:price:currency" content="GBP">
      <meta property="product:brand" content="Drizzle">
      <meta property="product:availability" content="in stock">
    </head><body><p>Nothing else</p></body></html>"#;
    let page = Page::parse(html, &url("https://shop.example/p/jacket"));
    let og = open_graph(&page, "generic").expect("an OpenGraph record");
    assert_eq!(og.title, "Rain Jacket");
    let r = one(html, "https://shop.example/p/jacket");
    assert_eq!(r.method, Method::OpenGraph);
    assert_eq!(s(r.price).as_deref(), Some("79.00"));
    assert_eq!(r.currency.map(|c| c.to_string()).as_deref(), Some("GBP"));
    assert_eq!(r.image.as_deref(), Some("https://cdn.example/jacket.jpg"));
    assert_eq!(r.brand.as_deref(), Some("Drizzle"));
    assert_eq!(r.availability, Some(Availability::InStock));
}

#[test]
fn merge_fills_missing_fields_from_other_layers() {
    // JSON-LD without image and without currency; OpenGraph has the image, the page states
    // its currency in a meta tag.
    let html = r#"<html lang="en"><head><title>Kettle | Shop</title>
      <meta property="og:image" content="https://cdn.example/kettle.jpg">
      <meta property="og:price:currency" content="AUD">
      <script type="application/ld+json">{"@type":"Product","name":"Kettle","offers":{"@type":"Offer","price":"59.00"}}</script>
    </head><body><h1>Kettle</h1><span class="price">$59.00</span></body></html>"#;
    let r = one(html, "https://shop.example/p/kettle");
    assert_eq!(r.method, Method::JsonLd);
    assert_eq!(r.image.as_deref(), Some("https://cdn.example/kettle.jpg"));
    assert_eq!(r.currency.map(|c| c.to_string()).as_deref(), Some("AUD"));
}

#[test]
fn structured_price_the_page_does_not_show_gives_way_to_the_visible_one() {
    let html = r#"<html lang="en"><head><title>Vase | Shop</title>
      <script type="application/ld+json">{"@type":"Product","name":"Vase","offers":{"@type":"Offer","price":"15.00","priceCurrency":"USD"}}</script>
    </head><body><main><h1>Vase</h1><div class="product-price"><span class="price">$32.00</span></div>
      <button>Add to cart</button></main></body></html>"#;
    let r = one(html, "https://shop.example/p/vase");
    assert_eq!(s(r.price).as_deref(), Some("32.00"));
    assert_eq!(r.method, Method::Heuristic);
    assert_eq!(r.title, "Vase");
}

/// Plain HTML pages: (case, html, url, price, list price, currency).
type HeuristicCase = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
);

const HEURISTIC_CASES: &[HeuristicCase] = &[
    (
        "was/now with related products, header cart and footer",
        r#"<html lang="en"><head><title>Alpine Tent - Outdoor Shop</title></head><body>
          <header><a href="/cart">Cart (1) $249.00</a><div class="promo">Free shipping over $50</div></header>
          <main><div class="product"><h1>Alpine Tent</h1>
            <div class="price-box"><span class="price-old"><s>$199.00</s></span> <span class="price-now">$149.00</span></div>
            <button>Add to cart</button></div>
            <section class="related-products"><h2>You may also like</h2>
              <div class="card"><a href="/p/a">Tarp</a><span class="price">$39.00</span></div>
              <div class="card"><a href="/p/b">Stakes</a><span class="price">$9.00</span></div></section>
          </main><footer>Gift cards from $10.00</footer></body></html>"#,
        "https://outdoor.example.com/p/alpine-tent",
        "149.00",
        Some("199.00"),
        Some("USD"),
    ),
    (
        "German page with a .de domain",
        r#"<html lang="de"><head><title>Ecksofa Lund | Möbelhaus</title></head><body>
          <h1>Ecksofa Lund</h1><p class="preis">Jetzt nur <span class="price">1.299,00 €</span></p>
          <p>statt <del>1.599,00 €</del></p><button>In den Warenkorb</button></body></html>"#,
        "https://moebel.example.de/p/lund",
        "1299.00",
        Some("1599.00"),
        Some("EUR"),
    ),
    (
        "split price with superscript cents, UK pound",
        r#"<html lang="en-GB"><head><title>Desk Lamp</title></head><body>
          <h1>Desk Lamp</h1><div class="product-price"><span>£</span><span>24</span><sup>99</sup></div>
          <button>Add to basket</button></body></html>"#,
        "https://lamps.example.co.uk/p/desk",
        "24.99",
        None,
        Some("GBP"),
    ),
    (
        "was and now in one element",
        r#"<html lang="en-US"><head><title>Blender</title></head><body>
          <h1>Blender</h1><p class="price">Was $89.99 Now $59.99</p><button>Add to cart</button></body></html>"#,
        "https://kitchen.example.com/p/blender",
        "59.99",
        Some("89.99"),
        Some("USD"),
    ),
];

#[test]
fn heuristics_on_plain_html() {
    for (case, html, u, price, list, currency) in HEURISTIC_CASES {
        let r = one(html, u);
        assert_eq!(r.method, Method::Heuristic, "{case}");
        assert_eq!(s(r.price).as_deref(), Some(*price), "{case}: price");
        assert_eq!(s(r.list_price).as_deref(), *list, "{case}: list price");
        assert_eq!(
            r.currency.map(|c| c.to_string()).as_deref(),
            *currency,
            "{case}: currency"
        );
    }
}

#[test]
fn pages_that_are_not_product_pages_give_no_record() {
    let article = r#"<html><head><title>Our story</title></head><body><h1>Our story</h1>
        <p>Founded in 1999 with 25 employees.</p></body></html>"#;
    assert!(
        extract_product(article, &url("https://shop.example/about"), "generic")
            .records
            .is_empty()
    );

    // A listing whose JSON-LD names several products, none of them the page: one record per
    // product with its own URL, the listing as source.
    let listing = r#"<html><head><title>Tents | Shop</title><script type="application/ld+json">
        {"@type":"ItemList","itemListElement":[
          {"@type":"ListItem","item":{"@type":"Product","name":"Tent A","url":"/p/a","offers":{"price":"10.00","priceCurrency":"USD"}}},
          {"@type":"ListItem","item":{"@type":"Product","name":"Tent B","url":"/p/b","offers":{"price":"20.00","priceCurrency":"USD"}}},
          {"@type":"ListItem","item":{"@type":"Product","name":"Tent C","url":"/p/c","offers":{"price":"30.00","priceCurrency":"USD"}}}]}
        </script></head><body><h1>Tents</h1></body></html>"#;
    let ex = extract_product(listing, &url("https://shop.example/c/tents"), "generic");
    let urls: Vec<&str> = ex.records.iter().map(|r| r.url.as_str()).collect();
    assert_eq!(
        urls,
        [
            "https://shop.example/p/a",
            "https://shop.example/p/b",
            "https://shop.example/p/c"
        ]
    );
    assert!(
        ex.records
            .iter()
            .all(|r| r.source.as_deref() == Some("https://shop.example/c/tents"))
    );
}

/// The last page of a category, with one or two product cards left (each a link and a price,
/// a per-card buy button on one of them), is a listing, not a product called "All products":
/// too few cards for the lookalike count, but each price sits in a card linking elsewhere.
/// A product page whose price box has a link beside it (financing) is still a product.
#[test]
fn a_listings_last_page_with_one_or_two_cards_is_no_product() {
    let last = |cards: &str| {
        format!(
            r#"<html><head><title>All products | Ridge Outfitters</title></head><body>
            <header><a href="/">Ridge</a> <a href="/cart">Cart (0)</a></header>
            <main><h1>All products</h1><p class="count">6 products</p><ul class="grid">{cards}</ul>
            <nav class="pagination"><a href="/shop?page=1">1</a> <span class="current">2</span></nav></main>
            <footer>Free shipping over $50</footer></body></html>"#
        )
    };
    let card = |slug: &str, title: &str, price: &str, buy: bool| {
        let button = if buy {
            r#"<button class="add">Add to cart</button>"#
        } else {
            ""
        };
        format!(
            r#"<li class="product-card"><a href="/p/{slug}"><span class="card-title">{title}</span></a> <span class="price">${price}</span>{button}</li>"#
        )
    };
    let at = url("https://shop.example/shop?page=2");
    let two = last(
        &(card("mat", "Yoga Mat", "30.00", false) + &card("bottle", "Steel Bottle", "15.00", true)),
    );
    let one = last(&card("mat", "Yoga Mat", "30.00", false));
    for (name, html) in [("two cards", two), ("one card", one)] {
        let ex = extract_product(&html, &at, "generic");
        assert!(
            ex.records.iter().all(|r| r.title != "All products"),
            "{name}: {:?}",
            ex.records
        );
    }

    let product = r#"<html><head><title>Rain Jacket | Ridge Outfitters</title></head><body>
        <main><div class="product"><h1 class="product-title">Rain Jacket</h1>
        <div class="price-box"><span class="price">$72.00</span> <a href="/financing">Pay in 4 installments</a></div>
        <button class="add-to-cart">Add to cart</button></div></main></body></html>"#;
    let ex = extract_product(product, &url("https://shop.example/p/jacket"), "generic");
    assert_eq!(ex.records.len(), 1, "{:?}", ex.records);
    assert_eq!(
        ex.records[0].price.map(|p| p.to_string()).as_deref(),
        Some("72.00")
    );
}

#[test]
fn json_ld_layer_lists_every_product() {
    let html = page_with_ld(
        r#"[{"@type":"Product","name":"A"},{"@type":"Product","name":"B","offers":{"price":"1.00","priceCurrency":"USD"}}]"#,
    );
    let page = Page::parse(&html, &url("https://shop.example/"));
    let names: Vec<String> = json_ld(&page, "generic")
        .into_iter()
        .map(|r| r.title)
        .collect();
    assert_eq!(names, ["A", "B"]);
}

#[test]
fn deeply_nested_pages_do_not_overflow_the_stack() {
    // 2,500 levels on a thread with a 512 KiB stack: recursive walks without a depth limit
    // would overflow it (the HTML parser itself is slow on such nesting, hence not deeper).
    let depth = 2_500;
    let html = format!(
        r#"<html><head><title>Deep</title></head><body><div itemscope itemtype="https://schema.org/Product">{}<h1 itemprop="name" class="product-title">Deep <span class="price">$5.00</span></h1>{}</div><button>Add to cart</button></body></html>"#,
        "<div class=\"x\"><span>".repeat(depth),
        "</span></div>".repeat(depth)
    );
    let run = move || {
        let u = url("https://shop.example.com/p/deep");
        let page = Page::parse(&html, &u);
        let ex = haul_extract::extract_page(&page, "generic");
        let md = haul_extract::page_markdown(&page);
        (ex.records.len(), md)
    };
    let (records, md) = std::thread::Builder::new()
        .stack_size(512 * 1024)
        .spawn(run)
        .expect("a thread")
        .join()
        .expect("no overflow");
    assert!(records <= 1);
    assert!(md.contains("Deep"), "{md}");
}
