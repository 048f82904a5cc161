//! The `shopify` site: any Shopify store, read through its public storefront JSON endpoints.
//!
//! Shopify stores live on any domain, so this site claims URLs by their path rather than by
//! host (see [`Shopify`]'s `handles`), and a crawl starts from `--start-url`:
//!
//! * `/products.json?limit=250&page=N` and `/collections/<handle>/products.json?...`: a page of
//!   products; every variant becomes a record and, while the page is not empty, the next page
//!   is returned as a link (one page per crawl level, so `--max-level` bounds the pages read);
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

pub use extractor::{CONTRACT, SHOPIFY, Shopify, page_kind};
pub use haul_core::{Contract, PageContract};

haul_core::register_site!(SHOPIFY);
