//! Reading a SQLite store's products with their price history (for `haul report`): the
//! latest record of each product and every row of `price_history` for it, oldest first.

use std::path::Path;

use rusqlite::{Connection, OpenFlags, params};

use crate::{OutputError, db_err};

/// One price-history row: what a product cost from `seen_at` on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricePoint {
    /// When the crawl saw this price (RFC 3339, as the record's `seen_at`).
    pub seen_at: String,
    /// The price as exact decimal text, when the page gave one.
    pub price: Option<String>,
    /// The ISO currency code.
    pub currency: Option<String>,
    /// The availability (`in_stock`, `out_of_stock`...).
    pub availability: Option<String>,
    /// The crawl (run) that saw it.
    pub crawl_id: i64,
}

/// A product of the store: its latest record's fields and its price history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductHistory {
    /// The registered site name.
    pub site: String,
    /// The product's URL.
    pub url: String,
    /// Its title (shop-given text: escape it before showing it).
    pub title: String,
    /// The current price, as exact decimal text.
    pub price: Option<String>,
    /// The current currency.
    pub currency: Option<String>,
    /// The current availability.
    pub availability: Option<String>,
    /// The last crawl that saw it.
    pub crawl_id: i64,
    /// Every price change, oldest first (the last one is the current price).
    pub history: Vec<PricePoint>,
}

impl ProductHistory {
    /// The price before the last run's change, when the last run that saw this product
    /// changed its price: `(before, now)`. `None` when that run saw the same price as the one
    /// before it (or it is the product's first run).
    pub fn last_change(&self) -> Option<(&PricePoint, &PricePoint)> {
        match self.history.as_slice() {
            [.., before, now] if now.crawl_id == self.crawl_id => Some((before, now)),
            _ => None,
        }
    }
}

/// Reads every product of the SQLite store `path` (of `site` only, when given) with its price
/// history, in the order the products were first seen. Opens the store read-only. Blocking.
pub fn read_price_history(
    path: &Path,
    site: Option<&str>,
) -> Result<Vec<ProductHistory>, OutputError> {
    let db = db_err(path);
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(&db)?;
    let mut products: Vec<ProductHistory> = {
        let mut stmt = conn
            .prepare(
                "SELECT site, url, title, price, currency, availability, crawl_id FROM records \
                 WHERE ?1 IS NULL OR site = ?1 ORDER BY rowid",
            )
            .map_err(&db)?;
        stmt.query_map([site], |r| {
            Ok(ProductHistory {
                site: r.get(0)?,
                url: r.get(1)?,
                title: r.get(2)?,
                price: r.get(3)?,
                currency: r.get(4)?,
                availability: r.get(5)?,
                crawl_id: r.get(6)?,
                history: Vec::new(),
            })
        })
        .map_err(&db)?
        .collect::<rusqlite::Result<_>>()
        .map_err(&db)?
    };
    let mut stmt = conn
        .prepare(
            "SELECT seen_at, price, currency, availability, crawl_id FROM price_history \
             WHERE site = ?1 AND url = ?2 ORDER BY id",
        )
        .map_err(&db)?;
    for p in &mut products {
        p.history = stmt
            .query_map(params![p.site, p.url], |r| {
                Ok(PricePoint {
                    seen_at: r.get(0)?,
                    price: r.get(1)?,
                    currency: r.get(2)?,
                    availability: r.get(3)?,
                    crawl_id: r.get(4)?,
                })
            })
            .map_err(&db)?
            .collect::<rusqlite::Result<_>>()
            .map_err(&db)?;
    }
    Ok(products)
}
