//! The `woocommerce` site: any WooCommerce store, read through its public Store API.
//!
//! WooCommerce stores live on any domain, so this site claims URLs by their path (see
//! [`WooCommerce`]'s `handles`) and a crawl starts from `--start-url`:
//!
//! * `/wp-json/wc/store/v1/products?per_page=100&page=N` (also the unversioned
//!   `/wp-json/wc/store/products`, WordPress installs in a sub-folder, and the
//!   `?rest_route=/wc/store/v1/products` form of sites without pretty permalinks): a page of
//!   products. The following pages are read within the same crawl level ([`PAGING`], through
//!   `haul_extract::store`): up to the first page that is empty or shorter than `per_page`
//!   (10 when absent, at most 100), at most 100 pages per listing page. When the walk stops
//!   early (the cap, a failed page) it warns and returns the next page as a link, which a
//!   crawl with levels to spare reads at the next level. Only the body reaches an extractor,
//!   so the `Link` and `X-WP-TotalPages` headers are not used.
//! * `/wp-json/wc/store/v1/products/<id>`: one product;
//! * any other page gives no records and a link to the products endpoint: the one named by
//!   the page's `<link rel="https://api.w.org/">` when it has one (sub-folder installs), else
//!   `/wp-json/wc/store/v1/products?per_page=100&page=1`; an HTML product page
//!   `/product/<slug>/` links to `products?slug=<slug>`.
//!
//! Records are [`Method::Api`](haul_core::Method::Api) products, one per product. Store API
//! prices are integers in minor units (`"price": "1999"` with `currency_minor_unit: 2` is
//! 19.99); they are converted exactly. `regular_price` is the list price when it is higher
//! than `price`. The name is HTML-decoded (`&#8211;` becomes `–`).
//!
//! **Variable products** (`type: "variable"`) give one record for the product, not one per
//! variation (the list endpoint does not carry variation prices): its price is the lowest
//! price of the range (`price_range.min_amount`), and it has no list price, because the
//! product's `regular_price` may belong to another variation than the lowest price. When the
//! range is a single price the product is treated like a simple one.

mod extractor;
mod json;

pub use extractor::{PAGING, WooCommerce};

haul_core::register_site!(WooCommerce);
