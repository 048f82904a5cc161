//! The demo shop's catalogue: the truth that tests compare crawled records against.

/// How a product page is marked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Markup {
    /// A `<script type="application/ld+json">` Product.
    JsonLd,
    /// schema.org microdata (`itemprop`).
    Microdata,
    /// Plain HTML with shop-specific classes.
    Plain,
}

/// One product of the demo shop.
#[derive(Debug, Clone, Copy)]
pub struct DemoProduct {
    /// URL slug: the page is `/product/<slug>`.
    pub slug: &'static str,
    /// Category slug.
    pub category: &'static str,
    /// Title.
    pub title: &'static str,
    /// Current price in USD, as a decimal string.
    pub price: &'static str,
    /// Regular price when on sale.
    pub list_price: Option<&'static str>,
    /// Brand.
    pub brand: &'static str,
    /// SKU.
    pub sku: &'static str,
    /// In stock?
    pub in_stock: bool,
    /// Page markup.
    pub markup: Markup,
}

#[allow(clippy::too_many_arguments)]
const fn p(
    slug: &'static str,
    category: &'static str,
    title: &'static str,
    price: &'static str,
    list_price: Option<&'static str>,
    brand: &'static str,
    sku: &'static str,
    in_stock: bool,
    markup: Markup,
) -> DemoProduct {
    DemoProduct {
        slug,
        category,
        title,
        price,
        list_price,
        brand,
        sku,
        in_stock,
        markup,
    }
}

use Markup::{JsonLd as J, Microdata as M, Plain as P};

/// Every product of the demo shop. Categories: `tents`, `packs`, `stoves`.
#[rustfmt::skip]
pub const CATALOG: &[DemoProduct] = &[
    p("alpine-2-tent", "tents", "Alpine 2 Backpacking Tent", "249.00", Some("299.00"), "Ridgeline", "RL-T-002", true, J),
    p("alpine-3-tent", "tents", "Alpine 3 Backpacking Tent", "329.00", None, "Ridgeline", "RL-T-003", true, M),
    p("basecamp-6-tent", "tents", "Basecamp 6 Family Tent", "1,299.00", Some("1,499.00"), "Ridgeline", "RL-T-006", true, P),
    p("ultralight-1-tent", "tents", "Ultralight 1 Solo Tent", "419.95", None, "Featherline", "FL-T-001", false, J),
    p("storm-shelter", "tents", "Storm Shelter Bivy", "89.50", Some("119.00"), "Featherline", "FL-B-010", true, M),
    p("trail-tarp", "tents", "Trail Tarp 3x3 m", "59.99", None, "Featherline", "FL-TA-33", true, P),
    p("family-dome", "tents", "Family Dome 4 Tent", "199.00", None, "Campwell", "CW-D-004", true, J),
    p("canopy-xl", "tents", "Canopy XL Shade", "149.00", Some("179.00"), "Campwell", "CW-C-XL", true, M),
    p("hammock-tent", "tents", "Hammock Tent with Fly", "129.00", None, "Campwell", "CW-H-001", false, P),
    p("summit-pack-45", "packs", "Summit Pack 45 L", "179.00", None, "Ridgeline", "RL-P-045", true, J),
    p("summit-pack-65", "packs", "Summit Pack 65 L", "229.00", Some("259.00"), "Ridgeline", "RL-P-065", true, M),
    p("daypack-20", "packs", "Daypack 20 L", "49.95", None, "Featherline", "FL-P-020", true, P),
    p("daypack-28", "packs", "Daypack 28 L", "64.00", None, "Featherline", "FL-P-028", true, J),
    p("hydration-vest", "packs", "Hydration Vest 8 L", "99.00", Some("129.00"), "Featherline", "FL-V-008", true, M),
    p("travel-duffel", "packs", "Travel Duffel 90 L", "139.00", None, "Campwell", "CW-DU-090", false, P),
    p("kids-pack", "packs", "Kids Explorer Pack", "34.99", None, "Campwell", "CW-K-012", true, J),
    p("camera-pack", "packs", "Camera Trek Pack 30 L", "189.00", None, "Ridgeline", "RL-CP-030", true, M),
    p("sling-bag", "packs", "Sling Bag 6 L", "29.00", Some("39.00"), "Campwell", "CW-S-006", true, P),
    p("dry-bag-set", "packs", "Dry Bag Set (3 pcs)", "24.50", None, "Featherline", "FL-DB-3", true, J),
    p("micro-stove", "stoves", "Micro Canister Stove", "39.95", None, "Blazer", "BZ-S-001", true, M),
    p("jet-stove", "stoves", "Jet Cook System 1 L", "119.00", Some("139.95"), "Blazer", "BZ-J-010", true, P),
    p("wood-stove", "stoves", "Twig Wood Stove", "54.00", None, "Blazer", "BZ-W-002", true, J),
    p("liquid-fuel-stove", "stoves", "Expedition Liquid Fuel Stove", "169.00", None, "Blazer", "BZ-L-005", false, M),
    p("two-burner", "stoves", "Two-Burner Camp Stove", "1,049.00", None, "Campwell", "CW-2B-100", true, P),
    p("titanium-pot", "stoves", "Titanium Pot 750 ml", "44.90", Some("49.90"), "Featherline", "FL-TP-750", true, J),
    p("cook-set", "stoves", "Nesting Cook Set", "74.00", None, "Campwell", "CW-CS-004", true, M),
    p("windscreen", "stoves", "Folding Windscreen", "17.99", None, "Blazer", "BZ-WS-001", true, P),
    p("fuel-canister", "stoves", "Fuel Canister 230 g", "7.49", None, "Blazer", "BZ-F-230", true, J),
    p("pot-gripper", "stoves", "Pot Gripper", "9.00", None, "Blazer", "BZ-PG-001", true, M),
    p("coffee-press", "stoves", "Trail Coffee Press", "32.00", Some("36.00"), "Featherline", "FL-CP-001", true, P),
];

/// Category slugs and display names, in menu order.
pub(crate) const CATEGORIES: &[(&str, &str)] = &[
    ("tents", "Tents & Shelters"),
    ("packs", "Packs & Bags"),
    ("stoves", "Stoves & Cooking"),
];

/// Products per listing page.
pub(crate) const PAGE_SIZE: usize = 5;

impl DemoProduct {
    /// The price without thousands separators, as a decimal string ("1299.00").
    pub fn price_decimal(&self) -> String {
        self.price.replace(',', "")
    }

    /// The list price without thousands separators.
    pub fn list_price_decimal(&self) -> Option<String> {
        self.list_price.map(|p| p.replace(',', ""))
    }
}
