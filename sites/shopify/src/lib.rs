//! The `shopify` site: any Shopify store, read through its public storefront JSON endpoints.
//!
//! Shopify stores live on any domain, so this site claims URLs by their path rather than by
//! host (see [`Shopify`]'s `handles`), and a crawl starts from `--start-url`:
//!
//! * `/products.json?limit=250&page=N` and `/collections/<handle>/products.json?...`: a page of
//!   products; every variant becomes a record. The following pages are read within the same
//!   crawl level ([`PAGING`], through `haul_extract::store`): up to the first page that is
//!   empty or shorter than `limit` (30 when absent, at most 250), at most 100 pages per
//!   listing page. When the walk stops early (the cap, a failed page) it warns and returns
//!   the next page as a link, which a crawl with levels to spare reads at the next level;
//! * `/products/<handle>.json`: one product;
//! * any other page (the store's home page, an HTML product or collection page) gives no
//!   records and a link to the matching JSON endpoint.
//!
//! Records are [`Method::Api`](haul_core::Method::Api) products: one per variant, titled
//! "Product - Variant" (just "Product" for Shopify's placeholder variant "Default Title"), with
//! exact decimal prices, `compare_at_price` as the list price when it is higher, availability
//! from `available`, `vendor` as brand, `barcode` as GTIN (only when it is 8, 12, 13 or 14
//! digits), and the URL `<store>/products/<handle>?variant=<id>`.
//!
//! **Currency.** Shopify's product JSON carries no currency. A record gets one only when it is
//! known: from the variant's own `price_currency` / `presentment_prices` when present, else from
//! the store's `/meta.json` (`"currency"`), fetched once per store by
//! [`extract`](haul_core::Extractor::extract) and cached. Under a market/locale prefix
//! (`/en-ca/products.json`) prices may be in another currency than the store's, so `meta.json`
//! is not used there and the currency stays empty. Without a known currency it stays `None`.

mod extractor;
mod json;

pub use extractor::{PAGING, SHOPIFY, Shopify};

haul_core::register_site!(SHOPIFY);
