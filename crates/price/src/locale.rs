//! Page locales as parsing hints: a language, a region and a currency read from tags such as
//! `es-CL`, `pt_BR` or `de`, or from a country-code domain; the decimal separator convention
//! they imply (CLDR's, simplified to `.` or `,`), the currency they imply, and which currencies
//! are written without minor units in practice.

use std::fmt;

use haul_core::Currency;

use crate::currency;

/// A language or region subtag: two or three ASCII letters or digits, normalised (language in
/// lower case, region in upper case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Subtag {
    bytes: [u8; 3],
    len: u8,
}

impl Subtag {
    fn new(s: &str, upper: bool) -> Option<Self> {
        let b = s.as_bytes();
        let letters = b.iter().all(u8::is_ascii_alphabetic);
        let digits = b.iter().all(u8::is_ascii_digit);
        if !(2..=3).contains(&b.len()) || !(letters || digits) {
            return None;
        }
        let mut bytes = [0u8; 3];
        for (dst, src) in bytes.iter_mut().zip(b) {
            *dst = if upper {
                src.to_ascii_uppercase()
            } else {
                src.to_ascii_lowercase()
            };
        }
        Some(Self {
            bytes,
            len: b.len() as u8,
        })
    }

    fn as_str(&self) -> &str {
        // ASCII by construction.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }
}

/// A page's locale, as far as the page tells it: any of a language (`es`), a region (`CL`) and
/// the currency the page declares for its prices.
///
/// ```
/// use haul_price::Locale;
/// let l = Locale::parse("es-CL").unwrap();
/// assert_eq!(l.decimal_separator(), Some(','));
/// assert_eq!(l.currency().unwrap().as_str(), "CLP");
/// assert_eq!(Locale::parse("en_US").unwrap().decimal_separator(), Some('.'));
/// assert_eq!(Locale::from_domain("tienda.example.com.ar").unwrap().region(), Some("AR"));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Locale {
    language: Option<Subtag>,
    region: Option<Subtag>,
    currency: Option<Currency>,
}

impl Locale {
    /// Reads a BCP-47-like tag: `es-CL`, `pt_BR`, `de`, `zh-Hant-TW`, `es-419`, `en-us`.
    /// A script subtag and anything after the region are skipped. `None` when the tag does not
    /// start with a two- or three-letter language.
    pub fn parse(tag: &str) -> Option<Self> {
        let mut parts = tag.trim().split(['-', '_']);
        let first = parts.next()?;
        if !first.bytes().all(|b| b.is_ascii_alphabetic()) {
            return None;
        }
        let language = Subtag::new(first, false)?;
        let region = parts
            .take(2)
            .filter(|p| p.len() != 4) // a script such as `Hant`
            .find_map(|p| Subtag::new(p, true));
        Some(Self {
            language: Some(language),
            region,
            currency: None,
        })
    }

    /// A locale with only a region (`"CL"`, `"gb"`, `"419"`).
    pub fn from_region(region: &str) -> Option<Self> {
        Some(Self {
            region: Some(Subtag::new(region.trim(), true)?),
            ..Self::default()
        })
    }

    /// The region of a domain or URL's country-code top-level domain (`shop.example.cl`,
    /// `example.com.ar`, `example.co.uk` gives `GB`). `None` for generic domains and for
    /// country codes used as vanity domains (`.co`, `.io`, `.tv`, `.me`...).
    pub fn from_domain(domain: &str) -> Option<Self> {
        let host = currency::host_of(domain);
        let tld = host.rsplit('.').next()?;
        if VANITY_TLDS.contains(&tld) && !host.ends_with(".com.co") {
            return None;
        }
        currency::tld_currency(&host)?;
        let region = if tld == "uk" { "gb" } else { tld };
        Self::from_region(region)
    }

    /// The same locale with its language set (kept when `language` is not a language subtag).
    pub fn with_language(mut self, language: &str) -> Self {
        if let Some(l) = Self::parse(language) {
            self.language = l.language;
        }
        self
    }

    /// The same locale with its region set (kept when `region` is not a region subtag).
    pub fn with_region(mut self, region: &str) -> Self {
        if let Some(r) = Subtag::new(region.trim(), true) {
            self.region = Some(r);
        }
        self
    }

    /// The same locale with the currency the page declares for its prices.
    pub fn with_currency(mut self, currency: Option<Currency>) -> Self {
        self.currency = currency;
        self
    }

    /// The language subtag in lower case (`"es"`).
    pub fn language(&self) -> Option<&str> {
        self.language.as_ref().map(Subtag::as_str)
    }

    /// The region subtag in upper case (`"CL"`, `"419"`).
    pub fn region(&self) -> Option<&str> {
        self.region.as_ref().map(Subtag::as_str)
    }

    /// The currency declared with [`with_currency`](Self::with_currency), else the region's
    /// (`CL` gives CLP), else the language's when it is spoken in one currency area only (`ja`
    /// gives JPY, `pl` PLN; `es`, `en`, `de` give none).
    pub fn currency(&self) -> Option<Currency> {
        self.currency.or_else(|| self.implied_currency())
    }

    /// The currency of the region, else of the language, ignoring a declared one.
    pub fn implied_currency(&self) -> Option<Currency> {
        let by_region = self.region().and_then(region_currency);
        let by_language = || {
            let lang = self.language()?;
            LANGUAGE_CURRENCY
                .iter()
                .find(|(l, _)| *l == lang)
                .and_then(|(_, c)| Currency::new(c).ok())
        };
        by_region.or_else(by_language)
    }

    /// The decimal separator the locale writes prices with: `','` for comma-decimal locales
    /// (`de`, `fr`, `es-ES`, `es-CL`, `pt-BR`, `pl`...), `'.'` for dot-decimal ones (`en-US`,
    /// `es-MX`, `ja`, `de-CH`...), `None` when unknown or mixed (a region alone such as `CA`,
    /// `en-ZA`).
    pub fn decimal_separator(&self) -> Option<char> {
        let region = self.region();
        let by_region = region.and_then(region_separator);
        let Some(lang) = self.language() else {
            return by_region;
        };
        if region.is_some_and(|r| matches!(r, "CH" | "LI")) {
            return Some('.'); // Swiss prices: `CHF 1'299.90` in every language
        }
        match lang {
            "en" => match region {
                Some("ZA") => None,
                Some(_) if by_region == Some(',') => Some(','),
                _ => Some('.'),
            },
            "es" if region.is_some_and(|r| SPANISH_DOT_REGIONS.contains(&r)) => Some('.'),
            _ if COMMA_LANGUAGES.contains(&lang) => Some(','),
            _ if DOT_LANGUAGES.contains(&lang) => Some('.'),
            _ => by_region,
        }
    }

    /// Whether nothing is known.
    pub fn is_empty(&self) -> bool {
        self.language.is_none() && self.region.is_none() && self.currency.is_none()
    }
}

impl fmt::Display for Locale {
    /// `es-CL`, `es`, `CL`, with the declared currency after it: `en (CLP)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.language(), self.region()) {
            (Some(l), Some(r)) => write!(f, "{l}-{r}")?,
            (Some(l), None) => f.write_str(l)?,
            (None, Some(r)) => f.write_str(r)?,
            (None, None) => f.write_str("unknown locale")?,
        }
        if let Some(c) = self.currency {
            write!(f, " ({c})")?;
        }
        Ok(())
    }
}

/// Whether prices in `currency` are written with minor units in practice. `false` for currencies
/// whose prices are whole numbers (CLP, JPY, KRW, VND, ISK, HUF, COP, IDR, PYG, UGX, IQD...):
/// there a lone `.` or `,` followed by three digits is digit grouping in every locale.
pub fn has_minor_units(currency: Currency) -> bool {
    !WHOLE_UNIT_CURRENCIES.contains(&currency.as_str())
}

/// Currencies priced in whole units in practice (ISO-4217 minor unit 0, or minor units that no
/// shop shows: HUF, COP, IDR, IQD, IRR, LAK, UZS).
#[rustfmt::skip]
const WHOLE_UNIT_CURRENCIES: &[&str] = &[
    "CLP", "JPY", "KRW", "KPW", "VND", "ISK", "HUF", "COP", "IDR", "PYG", "UGX", "IQD", "IRR",
    "LAK", "UZS", "BIF", "DJF", "GNF", "KMF", "RWF", "VUV", "XAF", "XOF", "XPF", "MGA",
];

/// Country-code TLDs that are mostly vanity domains, which say nothing about a shop's country.
const VANITY_TLDS: &[&str] = &[
    "co", "io", "ai", "tv", "me", "cc", "fm", "am", "to", "ws", "ly", "la", "sh", "gg", "nu", "tk",
    "vc", "so", "st", "ac",
];

/// Languages writing prices with a decimal comma (CLDR), whatever the region, except for the
/// Spanish of [`SPANISH_DOT_REGIONS`] and Swiss regions.
#[rustfmt::skip]
const COMMA_LANGUAGES: &[&str] = &[
    "de", "fr", "es", "pt", "it", "nl", "pl", "ru", "cs", "sk", "da", "nb", "nn", "no", "sv",
    "fi", "tr", "id", "vi", "ro", "hu", "el", "uk", "bg", "hr", "sl", "sr", "bs", "mk", "sq",
    "lt", "lv", "et", "is", "ca", "eu", "gl", "be", "ka", "az", "kk", "hy", "uz", "ky", "af",
    "lb", "fo", "ast",
];

/// Languages writing prices with a decimal point (CLDR).
#[rustfmt::skip]
const DOT_LANGUAGES: &[&str] = &[
    "en", "ja", "zh", "ko", "th", "he", "iw", "ms", "fil", "tl", "hi", "bn", "ta", "te", "mr",
    "gu", "kn", "ml", "pa", "ur", "ar", "fa", "sw", "ga", "mt", "my", "km", "lo", "ne", "si",
    "am", "yo", "ig", "ha", "zu", "xh", "mn",
];

/// Regions where Spanish is written with a decimal point (CLDR `es-MX`, `es-US`, `es-419` and
/// its children that keep the point).
#[rustfmt::skip]
const SPANISH_DOT_REGIONS: &[&str] = &[
    "MX", "US", "419", "PE", "GT", "HN", "NI", "PA", "DO", "SV", "PR", "CU", "PH",
];

/// Regions whose shops write a decimal comma.
#[rustfmt::skip]
const COMMA_REGIONS: &[&str] = &[
    "AR", "CL", "CO", "UY", "PY", "BO", "EC", "VE", "CR", "BR", "DE", "AT", "FR", "ES", "IT",
    "NL", "BE", "PT", "PL", "CZ", "SK", "DK", "NO", "SE", "FI", "IS", "TR", "ID", "VN", "RO",
    "HU", "GR", "UA", "BG", "HR", "SI", "RS", "BA", "MK", "AL", "LT", "LV", "EE", "RU", "BY",
    "KZ", "LU", "GE", "AZ", "AM", "UZ", "KG", "MD", "ME", "FO", "GL",
];

/// Regions whose shops write a decimal point.
#[rustfmt::skip]
const DOT_REGIONS: &[&str] = &[
    "US", "GB", "AU", "NZ", "IE", "IN", "MX", "JP", "CN", "KR", "TW", "HK", "SG", "MY", "TH",
    "IL", "PH", "PE", "GT", "HN", "NI", "PA", "DO", "SV", "PR", "PK", "LK", "BD", "NG", "KE",
    "GH", "EG", "SA", "AE", "QA", "KW", "BH", "OM", "JO", "CH", "LI", "MT", "CY",
];

fn region_separator(region: &str) -> Option<char> {
    if COMMA_REGIONS.contains(&region) {
        Some(',')
    } else if DOT_REGIONS.contains(&region) {
        Some('.')
    } else {
        None
    }
}

/// The currency shops of a region price in (the country-code TLD table, plus Colombia whose
/// `.co` is a vanity domain).
fn region_currency(region: &str) -> Option<Currency> {
    let code = match region {
        "CO" => "COP",
        "GB" => "GBP",
        _ => currency::region_tld_currency(&region.to_ascii_lowercase())?,
    };
    Currency::new(code).ok()
}

/// Languages spoken (for shopping purposes) in one currency area only.
#[rustfmt::skip]
const LANGUAGE_CURRENCY: &[(&str, &str)] = &[
    ("ja", "JPY"), ("ko", "KRW"), ("pl", "PLN"), ("cs", "CZK"), ("hu", "HUF"), ("sv", "SEK"),
    ("da", "DKK"), ("nb", "NOK"), ("nn", "NOK"), ("no", "NOK"), ("uk", "UAH"), ("ro", "RON"),
    ("bg", "BGN"), ("tr", "TRY"), ("he", "ILS"), ("iw", "ILS"), ("th", "THB"), ("is", "ISK"),
    ("fi", "EUR"), ("et", "EUR"), ("lv", "EUR"), ("lt", "EUR"), ("sk", "EUR"), ("sl", "EUR"),
    ("el", "EUR"), ("vi", "VND"), ("id", "IDR"),
];
