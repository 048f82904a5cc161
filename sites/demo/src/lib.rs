//! The demo shop that haul ships and serves itself: its catalogue (the known truth), its pages
//! and its extractor.
//!
//! The shop has a home page, category listings split over two pages each, and one page per
//! product. Product pages use three kinds of markup on purpose: schema.org JSON-LD, microdata
//! and plain HTML. Every page carries noise a naive extractor would pick up: navigation, a
//! "related products" block with other prices, and a footer.

mod catalog;
mod extractor;
mod pages;

pub use catalog::{CATALOG, DemoProduct, Markup};
pub use extractor::{Demo, Kind};
pub use pages::{Response, respond};

haul_core::register_site!(Demo);
