//! Currency knowledge: the table of written forms (symbols, codes, local words), finding them in
//! text, and resolving what was written to an ISO-4217 code with the help of hints.
//!
//! Hand-rolled rather than a `regex` alternation: matching needs leftmost-longest search over a few
//! hundred literals with per-entry boundary rules (a code must not sit inside a word, `руб` may
//! start `рублей`), which a small indexed scan expresses directly and cheaply.

use std::collections::HashMap;
use std::sync::LazyLock;

use haul_core::Currency;

use crate::Hints;

/// How much a written form can be trusted to be a currency when seen in text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Tier {
    /// Counts only right next to the amount, in the price text itself (single letters, words
    /// such as `pound`, ISO codes that are also common words such as `ALL` or `TOP`).
    Weak,
    /// ISO codes and less distinctive abbreviations (`kr`, `Rs`, `TL`).
    Normal,
    /// Distinctive symbols and words (`€`, `US$`, `Kč`, `руб`).
    Safe,
}

// Flags of a table entry.
const SAFE: u8 = 1;
const NORMAL: u8 = 2;
const WEAK: u8 = 4;
/// The first ISO candidate is the usual meaning when nothing else decides (`£` is GBP).
const DOM: u8 = 8;
/// The form may be followed by more letters (`руб` in `рублей`).
const PREFIX: u8 = 16;

/// Currencies written with a bare `$`.
const DOLLARS: &[&str] = &[
    "USD", "CAD", "AUD", "NZD", "SGD", "HKD", "MXN", "ARS", "CLP", "COP", "TWD", "BSD", "BBD",
    "BMD", "BND", "BZD", "FJD", "GYD", "JMD", "KYD", "LRD", "NAD", "SBD", "SRD", "TTD", "XCD",
    "UYU", "DOP", "CUP", "CUC", "WST", "TOP",
];
const POUNDS: &[&str] = &["GBP", "EGP", "GIP", "FKP", "SHP", "SSP", "SYP", "LBP"];
const YEN_YUAN: &[&str] = &["JPY", "CNY"];
const KRONA: &[&str] = &["SEK", "NOK", "DKK", "ISK"];
const RUPEE: &[&str] = &["INR", "PKR", "LKR", "NPR", "MUR", "SCR"];
const RIAL: &[&str] = &["SAR", "QAR", "OMR", "YER", "IRR"];
const DIRHAM: &[&str] = &["AED", "MAD"];
const DINAR: &[&str] = &[
    "KWD", "BHD", "JOD", "IQD", "LYD", "TND", "DZD", "RSD", "MKD",
];
const CFA: &[&str] = &["XOF", "XAF"];

/// Written forms other than bare ISO codes: (text, ISO candidates, flags).
///
/// An empty candidate list means "a currency, but not one with an ISO-4217 code" (a toman, a
/// bitcoin, pence).
#[rustfmt::skip]
const SYMBOLS: &[(&str, &[&str], u8)] = &[
    // Dollars and other `$` currencies with a country prefix.
    ("Bds$", &["BBD"], SAFE), ("CUC$", &["CUC"], SAFE), ("MOP$", &["MOP"], SAFE),
    ("CAN$", &["CAD"], SAFE), ("AR$", &["ARS"], SAFE), ("AU$", &["AUD"], SAFE),
    ("BN$", &["BND"], SAFE), ("BZ$", &["BZD"], SAFE), ("CA$", &["CAD"], SAFE),
    ("CL$", &["CLP"], SAFE), ("CO$", &["COP"], SAFE), ("CV$", &["CVE"], SAFE),
    ("HK$", &["HKD"], SAFE), ("MX$", &["MXN"], SAFE), ("NT$", &["TWD"], SAFE),
    ("NZ$", &["NZD"], SAFE), ("TT$", &["TTD"], SAFE), ("RD$", &["DOP"], SAFE),
    ("WS$", &["WST"], SAFE), ("US$", &["USD"], SAFE), ("GY$", &["GYD"], SAFE),
    ("SG$", &["SGD"], SAFE), ("SI$", &["SBD"], SAFE), ("EC$", &["XCD"], SAFE),
    ("FJ$", &["FJD"], SAFE), ("US $", &["USD"], SAFE), ("AU $", &["AUD"], SAFE),
    ("CA $", &["CAD"], SAFE), ("NZ $", &["NZD"], SAFE), ("HK $", &["HKD"], SAFE),
    ("NT $", &["TWD"], SAFE), ("$U", &["UYU"], SAFE), ("$b", &["BOB"], SAFE),
    ("C$", &["CAD", "NIO"], SAFE | DOM), ("J$", &["JMD"], SAFE), ("N$", &["NAD"], SAFE),
    ("R$", &["BRL"], SAFE), ("S$", &["SGD"], SAFE), ("T$", &["TOP"], SAFE),
    ("Z$", &["ZWL"], SAFE), ("A$", &["AUD"], SAFE), ("G$", &["GYD"], SAFE),
    ("L$", &["LRD"], SAFE), ("$", DOLLARS, SAFE),
    // Pounds, yen and yuan.
    ("SY£", &["SYP"], SAFE), ("LB£", &["LBP"], SAFE), ("E£", &["EGP"], SAFE),
    ("£", POUNDS, SAFE | DOM), ("￡", POUNDS, SAFE | DOM),
    ("CN¥", &["CNY"], SAFE), ("JP¥", &["JPY"], SAFE), ("¥", YEN_YUAN, SAFE), ("￥", YEN_YUAN, SAFE),
    ("円", &["JPY"], SAFE), ("元", &["CNY", "TWD", "HKD"], SAFE | DOM),
    ("圆", &["CNY", "TWD", "HKD"], SAFE), ("圓", &["CNY", "TWD", "HKD"], SAFE),
    ("人民币", &["CNY"], SAFE), ("RMB", &["CNY"], NORMAL),
    ("yuan", &["CNY"], WEAK), ("yen", &["JPY"], WEAK),
    // Unique currency signs.
    ("€", &["EUR"], SAFE), ("₽", &["RUB"], SAFE), ("฿", &["THB"], SAFE), ("₦", &["NGN"], SAFE),
    ("₴", &["UAH"], SAFE), ("₱", &["PHP", "CUP"], SAFE | DOM), ("৳", &["BDT"], SAFE),
    ("₭", &["LAK"], SAFE), ("₪", &["ILS"], SAFE), ("﷼", RIAL, SAFE), ("៛", &["KHR"], SAFE),
    ("₩", &["KRW", "KPW"], SAFE | DOM), ("₫", &["VND"], SAFE), ("₡", &["CRC"], SAFE),
    ("ƒ", &["AWG", "ANG"], SAFE), ("₲", &["PYG"], SAFE), ("؋", &["AFN"], SAFE),
    ("₮", &["MNT"], SAFE), ("₨", RUPEE, SAFE), ("₶", &[], SAFE), ("₾", &["GEL"], SAFE),
    ("֏", &["AMD"], SAFE), ("ރ", &["MVR"], SAFE), ("৲", &["BDT"], SAFE), ("૱", &["INR"], SAFE),
    ("௹", &["INR"], SAFE), ("₠", &[], SAFE), ("₢", &[], SAFE), ("₣", &[], SAFE),
    ("₤", &["GBP", "ITL", "TRL"], SAFE), ("₧", &["ESP"], SAFE), ("₯", &["GRD"], SAFE),
    ("₰", &[], SAFE), ("₳", &[], SAFE), ("₷", &[], SAFE), ("₸", &["KZT"], SAFE),
    ("₹", &["INR"], SAFE), ("₺", &["TRY"], SAFE), ("₼", &["AZN"], SAFE), ("₿", &[], SAFE),
    ("Ƀ", &[], NORMAL), ("ℳ", &[], SAFE), ("₵", &["GHS"], SAFE), ("GH₵", &["GHS"], SAFE),
    ("R₣", &["RWF"], SAFE), ("¢", &[], NORMAL),
    // Distinctive local abbreviations and words.
    ("zł", &["PLN"], SAFE), ("Zł", &["PLN"], SAFE), ("ZŁ", &["PLN"], SAFE), ("zl", &["PLN"], NORMAL),
    ("Kč", &["CZK"], SAFE), ("Kc", &["CZK"], NORMAL),
    ("euro", &["EUR"], SAFE), ("euros", &["EUR"], SAFE), ("Euro", &["EUR"], SAFE),
    ("Euros", &["EUR"], SAFE), ("EURO", &["EUR"], SAFE), ("eur", &["EUR"], SAFE), ("EUR", &["EUR"], SAFE),
    ("CHF", &["CHF"], SAFE), ("DKK", &["DKK"], SAFE), ("Rp", &["IDR"], SAFE), ("Rp.", &["IDR"], SAFE),
    ("lei", &["RON", "MDL"], SAFE | DOM), ("Lei", &["RON", "MDL"], SAFE | DOM),
    ("LEI", &["RON", "MDL"], SAFE | DOM),
    ("руб.", &["RUB", "BYN"], SAFE | DOM), ("руб", &["RUB", "BYN"], SAFE | DOM | PREFIX),
    ("Руб.", &["RUB", "BYN"], SAFE | DOM), ("Руб", &["RUB", "BYN"], SAFE | DOM | PREFIX),
    ("РУБ", &["RUB", "BYN"], SAFE | DOM | PREFIX),
    ("р.", &["RUB", "BYN"], SAFE | DOM), ("Р", &["RUB"], NORMAL), ("р", &["RUB"], NORMAL),
    ("Rbl", &["RUB"], NORMAL), ("Rbl.", &["RUB"], NORMAL),
    ("грн.", &["UAH"], SAFE), ("грн", &["UAH"], SAFE), ("ГРН", &["UAH"], SAFE), ("hrn", &["UAH"], NORMAL),
    ("дин.", &["RSD"], SAFE), ("Dinara", &["RSD"], SAFE), ("dinara", &["RSD"], SAFE),
    ("динар", &["RSD", "MKD"], SAFE | DOM | PREFIX), ("дин", &["RSD"], NORMAL), ("Дин", &["RSD"], NORMAL),
    ("din", &["RSD"], WEAK), ("din.", &["RSD"], NORMAL),
    ("ден", &["MKD"], NORMAL), ("ден.", &["MKD"], NORMAL), ("ДЕН", &["MKD"], NORMAL),
    ("лв.", &["BGN"], SAFE), ("лв", &["BGN"], SAFE),
    ("тңг", &["KZT"], SAFE), ("тңг.", &["KZT"], SAFE), ("тг", &["KZT"], NORMAL),
    ("ман.", &["AZN", "TMT"], SAFE | DOM),
    ("сом", &["KGS"], NORMAL), ("с", &["KGS"], WEAK),
    ("դր.", &["AMD"], SAFE), ("դր", &["AMD"], SAFE),
    ("টকা", &["BDT"], SAFE), ("नेरू", &["NPR"], SAFE), ("र", &["INR", "NPR"], NORMAL),
    ("रु", &["INR", "NPR"], NORMAL), ("रू", &["NPR", "INR"], NORMAL),
    ("ரூ", &["LKR", "INR"], NORMAL), ("රු", &["LKR"], NORMAL),
    ("บาท", &["THB"], SAFE), ("원", &["KRW"], SAFE),
    ("ლ", &["GEL"], NORMAL), ("ლარი", &["GEL"], SAFE), ("lari", &["GEL"], WEAK),
    ("ብር", &["ETB"], NORMAL), ("ናቕፋ", &["ERN"], NORMAL),
    ("ש״ח", &["ILS"], SAFE), ("ש\"ח", &["ILS"], SAFE), ("ש'ח", &["ILS"], SAFE),
    ("NIS", &["ILS"], NORMAL), ("nis", &["ILS"], NORMAL),
    // Arabic-script abbreviations and words.
    ("ر.ق", &["QAR"], SAFE), ("ر.ق.", &["QAR"], SAFE), ("د.ك", &["KWD"], SAFE), ("د.ك.", &["KWD"], SAFE),
    ("د.ع", &["IQD"], SAFE), ("د.ع.", &["IQD"], SAFE), ("ع.د", &["IQD"], SAFE),
    ("ر.ع", &["OMR"], SAFE), ("ر.ع.", &["OMR"], SAFE), ("ر.ي", &["YER"], SAFE), ("ر.ي.", &["YER"], SAFE),
    ("ر.س", &["SAR"], SAFE), ("ر.س.", &["SAR"], SAFE), ("د.ج", &["DZD"], SAFE), ("د.ج.", &["DZD"], SAFE),
    ("دج", &["DZD"], SAFE), ("د.م", &["MAD"], SAFE), ("د.م.", &["MAD"], SAFE),
    ("د.إ", &["AED"], SAFE), ("د.إ.", &["AED"], SAFE), ("د.ت", &["TND"], SAFE), ("د.ت.", &["TND"], SAFE),
    ("د.ل", &["LYD"], SAFE), ("د.ل.", &["LYD"], SAFE), ("ل.د", &["LYD"], SAFE),
    ("ل.س", &["SYP"], SAFE), ("ل.س.", &["SYP"], SAFE), ("د.ب", &["BHD"], SAFE), ("د.ب.", &["BHD"], SAFE),
    (".د.ب", &["BHD"], SAFE), ("د.أ", &["JOD"], SAFE), ("د.أ.", &["JOD"], SAFE), ("د.ا", &["JOD"], SAFE),
    ("ج.م", &["EGP"], SAFE), ("ج.م.", &["EGP"], SAFE), ("ل.ل", &["LBP"], SAFE), ("ل.ل.", &["LBP"], SAFE),
    ("ج.س", &["SDG"], SAFE), ("ج.س.", &["SDG"], SAFE), ("ش.ج", &["ILS"], SAFE), ("ش.ص", &["SOS"], SAFE),
    ("د.", DINAR, NORMAL),
    ("تومان", &[], SAFE), ("ریال", &["IRR"], SAFE), ("ريال", RIAL, SAFE), ("درهم", DIRHAM, SAFE),
    ("دينار", DINAR, SAFE), ("دينار أردني", &["JOD"], SAFE), ("دينار كويتي", &["KWD"], SAFE),
    ("دينار بحريني", &["BHD"], SAFE), ("دينار عراقي", &["IQD"], SAFE),
    ("جنيه", &["EGP", "SDG", "SSP"], SAFE | DOM), ("نافكا", &["ERN"], SAFE),
    // Latin-script abbreviations.
    ("Rs", RUPEE, NORMAL), ("Rs.", RUPEE, NORMAL), ("Re", RUPEE, WEAK), ("TL", &["TRY"], NORMAL),
    ("RM", &["MYR"], NORMAL), ("kr", KRONA, NORMAL), ("kr.", KRONA, NORMAL), ("Kr", KRONA, NORMAL),
    ("Kr.", KRONA, NORMAL), ("Ft", &["HUF"], NORMAL), ("kn", &["HRK"], NORMAL), ("KM", &["BAM"], NORMAL),
    ("Lek", &["ALL"], NORMAL), ("Nu.", &["BTN"], NORMAL), ("Nu", &["BTN"], WEAK),
    ("FBu", &["BIF"], NORMAL), ("Fbu", &["BIF"], NORMAL), ("BD", &["BHD"], NORMAL),
    ("KD", &["KWD"], NORMAL), ("CFA", CFA, NORMAL), ("FCFA", CFA, NORMAL), ("Fdj", &["DJF"], NORMAL),
    ("Nfk", &["ERN"], NORMAL), ("LD", &["LYD"], NORMAL), ("MK", &["MWK"], NORMAL),
    ("Rf", &["MVR"], NORMAL), ("UM", &["MRU"], NORMAL), ("Db", &["STN"], NORMAL),
    ("TSh", &["TZS"], NORMAL), ("USh", &["UGX"], NORMAL), ("KSh", &["KES"], NORMAL),
    ("Ksh", &["KES"], NORMAL), ("KShs", &["KES"], NORMAL), ("DT", &["TND"], NORMAL),
    ("VT", &["VUV"], NORMAL), ("Vt", &["VUV"], NORMAL), ("ZK", &["ZMW"], NORMAL), ("FG", &["GNF"], NORMAL),
    ("Bs", &["BOB", "VES"], NORMAL), ("Bs.", &["BOB", "VES"], NORMAL), ("B/.", &["PAB"], NORMAL),
    ("S/.", &["PEN"], NORMAL), ("S/", &["PEN"], NORMAL), ("Br", &["BYN", "ETB"], NORMAL),
    ("Fr.", &["CHF"], NORMAL), ("SFr", &["CHF"], NORMAL), ("SFr.", &["CHF"], NORMAL),
    ("CHf", &["CHF"], NORMAL), ("Dh", DIRHAM, NORMAL), ("Dhs", &["AED"], NORMAL),
    ("Esc", &["CVE", "PTE"], NORMAL), ("Ks", &["MMK"], NORMAL), ("NT", &["TWD"], NORMAL),
    ("kwz", &["AOA"], NORMAL), ("Kz", &["AOA"], NORMAL), ("FRw", &["RWF"], NORMAL),
    ("RF", &["RWF"], WEAK), ("Ar", &["MGA"], WEAK), ("MT", &["MZN"], WEAK),
    ("VNĐ", &["VND"], NORMAL), ("VNđ", &["VND"], NORMAL), ("đ", &["VND"], NORMAL),
    ("so'm", &["UZS"], NORMAL), ("soʻm", &["UZS"], NORMAL), ("Sʻ", &["UZS"], NORMAL),
    ("S'", &["UZS"], NORMAL), ("som", &["KGS", "UZS"], WEAK),
    ("GBp", &[], NORMAL), ("BTC", &[], NORMAL), ("SPL", &[], WEAK),
    ("pound", POUNDS, WEAK | DOM), ("pounds", POUNDS, WEAK | DOM), ("stg", &["GBP"], WEAK),
    ("franc", &[], WEAK), ("francs", &[], WEAK),
    // Single letters: only right next to the amount.
    ("R", &["ZAR"], WEAK), ("Q", &["GTQ"], WEAK), ("q", &["GTQ"], WEAK), ("P", &["BWP", "PHP"], WEAK),
    ("L", &["HNL", "LSL", "ALL", "MDL"], WEAK), ("K", &["PGK", "MMK", "ZMW", "LAK"], WEAK),
    ("D", &["GMD"], WEAK), ("E", &["SZL"], WEAK), ("G", &["HTG"], WEAK),
];

/// ISO-4217 codes accepted when written: current ones and replaced national currencies that
/// still appear on old pages.
#[rustfmt::skip]
const ISO_CODES: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD",
    "CDF", "CHF", "CLP", "CNY", "COP", "CRC", "CUC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP",
    "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF",
    "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD",
    "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP",
    "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR",
    "MVR", "MWK", "MXN", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB",
    "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD",
    "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SLL", "SOS", "SRD", "SSP", "STN", "SVC", "SYP",
    "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD",
    "UYU", "UZS", "VED", "VES", "VND", "VUV", "WST", "XAF", "XCD", "XCG", "XOF", "XPF", "YER",
    "ZAR", "ZMW", "ZWG", "ZWL",
    // Replaced currencies.
    "ATS", "BEF", "CYP", "DEM", "EEK", "ESP", "FIM", "FRF", "GRD", "IEP", "ITL", "LTL", "LUF",
    "LVL", "MTL", "NLG", "PTE", "SIT", "SKK", "HRK", "BYR", "VEF", "ZMK", "MRO", "STD", "TRL",
    "ROL", "GHC", "ZWD", "CSD", "RUR", "SDD", "MZM", "AZM", "TMM",
];

/// Codes that are also ordinary words or abbreviations: trusted only next to the amount.
const WORDLIKE_CODES: &[&str] = &[
    "ALL", "TOP", "CUP", "MOP", "BOB", "TRY", "AMD", "PEN", "MAD", "SOS", "NAD", "BAM", "PHP",
    "GEL", "STD", "SAR", "ANG", "BTN", "CUC", "FIM", "ESP", "SIT", "LUF", "ATS",
];

/// Codes also recognised in lower case (common in shop templates: `140,00 pln`).
const LOWERCASE_CODES: &[&str] = &[
    "usd", "gbp", "pln", "chf", "nzd", "mkd", "aud", "cad", "sek", "nok", "dkk", "czk", "huf",
    "uah", "ron", "bgn", "jpy", "cny", "inr", "hkd", "sgd", "zar", "brl", "mxn", "ils", "krw",
    "rsd", "hrk", "isk",
];

/// Country-code top-level domains and the currency their shops price in. Only consulted to pick
/// between the meanings of an ambiguous symbol, never to invent a currency.
#[rustfmt::skip]
const TLD_CURRENCY: &[(&str, &str)] = &[
    ("com.au", "AUD"), ("au", "AUD"), ("ca", "CAD"), ("nz", "NZD"), ("sg", "SGD"), ("hk", "HKD"),
    ("tw", "TWD"), ("mx", "MXN"), ("ar", "ARS"), ("cl", "CLP"), ("com.co", "COP"), ("us", "USD"),
    ("ec", "USD"), ("sv", "USD"), ("pr", "USD"), ("jm", "JMD"), ("tt", "TTD"), ("bs", "BSD"),
    ("bb", "BBD"), ("bz", "BZD"), ("fj", "FJD"), ("gy", "GYD"), ("lr", "LRD"), ("na", "NAD"),
    ("sr", "SRD"), ("uy", "UYU"), ("do", "DOP"), ("cu", "CUP"), ("ws", "WST"), ("to", "TOP"),
    ("ky", "KYD"), ("bm", "BMD"), ("bn", "BND"), ("sb", "SBD"), ("ni", "NIO"), ("br", "BRL"),
    ("uk", "GBP"), ("gb", "GBP"), ("eg", "EGP"), ("gi", "GIP"), ("fk", "FKP"), ("sh", "SHP"),
    ("ss", "SSP"), ("sy", "SYP"), ("lb", "LBP"), ("jp", "JPY"), ("cn", "CNY"), ("se", "SEK"),
    ("no", "NOK"), ("dk", "DKK"), ("fo", "DKK"), ("gl", "DKK"), ("is", "ISK"), ("in", "INR"),
    ("pk", "PKR"), ("lk", "LKR"), ("np", "NPR"), ("mu", "MUR"), ("sc", "SCR"), ("sa", "SAR"),
    ("qa", "QAR"), ("om", "OMR"), ("ye", "YER"), ("ir", "IRR"), ("ae", "AED"), ("ma", "MAD"),
    ("kw", "KWD"), ("bh", "BHD"), ("jo", "JOD"), ("iq", "IQD"), ("ly", "LYD"), ("tn", "TND"),
    ("dz", "DZD"), ("rs", "RSD"), ("mk", "MKD"), ("by", "BYN"), ("et", "ETB"), ("ru", "RUB"),
    ("ro", "RON"), ("md", "MDL"), ("bo", "BOB"), ("ve", "VES"), ("hn", "HNL"), ("ls", "LSL"),
    ("al", "ALL"), ("pg", "PGK"), ("mm", "MMK"), ("zm", "ZMW"), ("la", "LAK"), ("bw", "BWP"),
    ("ph", "PHP"), ("aw", "AWG"), ("cw", "ANG"), ("sx", "ANG"), ("kr", "KRW"), ("kp", "KPW"),
    ("kg", "KGS"), ("uz", "UZS"), ("cv", "CVE"), ("pt", "EUR"), ("it", "EUR"), ("tr", "TRY"),
    ("sn", "XOF"), ("ci", "XOF"), ("ml", "XOF"), ("bf", "XOF"), ("ne", "XOF"), ("tg", "XOF"),
    ("bj", "XOF"), ("gw", "XOF"), ("cm", "XAF"), ("ga", "XAF"), ("cg", "XAF"), ("td", "XAF"),
    ("cf", "XAF"), ("gq", "XAF"), ("ch", "CHF"), ("li", "CHF"), ("za", "ZAR"), ("pl", "PLN"),
    ("cz", "CZK"), ("hu", "HUF"), ("ua", "UAH"), ("bg", "BGN"), ("il", "ILS"), ("vn", "VND"),
    ("th", "THB"), ("id", "IDR"), ("my", "MYR"), ("kz", "KZT"), ("ge", "GEL"), ("am", "AMD"),
    ("az", "AZN"), ("tm", "TMT"), ("de", "EUR"), ("fr", "EUR"), ("es", "EUR"), ("nl", "EUR"),
    ("be", "EUR"), ("at", "EUR"), ("ie", "EUR"), ("fi", "EUR"), ("gr", "EUR"), ("sk", "EUR"),
    ("si", "EUR"), ("ee", "EUR"), ("lv", "EUR"), ("lt", "EUR"), ("lu", "EUR"), ("mt", "EUR"),
    ("cy", "EUR"), ("hr", "EUR"), ("gt", "GTQ"), ("cr", "CRC"), ("py", "PYG"), ("pe", "PEN"),
    ("pa", "PAB"), ("ng", "NGN"), ("gh", "GHS"), ("ke", "KES"), ("tz", "TZS"), ("ug", "UGX"),
    ("bd", "BDT"), ("kh", "KHR"), ("mn", "MNT"), ("af", "AFN"), ("mv", "MVR"), ("bt", "BTN"),
];

/// One entry of the compiled table.
#[derive(Debug)]
pub(crate) struct Entry {
    chars: Vec<char>,
    /// ISO candidates; empty when the currency has no ISO code.
    pub(crate) iso: &'static [&'static str],
    pub(crate) tier: Tier,
    dominant: bool,
    prefix_ok: bool,
    /// The written form is itself an ISO code (`SGD`, `pln`).
    pub(crate) is_code: bool,
}

impl Entry {
    /// Whether this is the bare dollar sign, whose meaning other evidence should refine.
    pub(crate) fn is_bare_dollar(&self) -> bool {
        self.chars == ['$']
    }

    /// Whether this is a lone letter such as `R` or `L`, which counts as a prefix only when
    /// glued to the digits (`R273.00`, but not `Size L 12.99`).
    pub(crate) fn is_single_letter(&self) -> bool {
        self.chars.len() == 1 && self.chars[0].is_alphabetic()
    }
}

struct Table {
    by_first: HashMap<char, Vec<Entry>>,
}

static TABLE: LazyLock<Table> = LazyLock::new(build_table);

static ISO_SLICES: LazyLock<HashMap<&'static str, &'static [&'static str]>> = LazyLock::new(|| {
    ISO_CODES
        .iter()
        .map(|c| (*c, std::slice::from_ref(c)))
        .collect()
});

fn build_table() -> Table {
    let mut by_first: HashMap<char, Vec<Entry>> = HashMap::new();
    let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
    let mut add = |text: &'static str, iso: &'static [&'static str], flags: u8, is_code: bool| {
        if !seen.insert(text) {
            return;
        }
        let tier = if flags & SAFE != 0 {
            Tier::Safe
        } else if flags & WEAK != 0 {
            Tier::Weak
        } else {
            debug_assert!(flags & NORMAL != 0);
            Tier::Normal
        };
        let chars: Vec<char> = text.chars().collect();
        by_first.entry(chars[0]).or_default().push(Entry {
            chars,
            iso,
            tier,
            dominant: flags & DOM != 0,
            prefix_ok: flags & PREFIX != 0,
            is_code,
        });
    };
    for (text, iso, flags) in SYMBOLS {
        let is_code = ISO_CODES.contains(text);
        add(text, iso, *flags, is_code);
    }
    for code in ISO_CODES {
        let iso = ISO_SLICES[code];
        let flags = if WORDLIKE_CODES.contains(code) {
            WEAK
        } else {
            NORMAL
        };
        add(code, iso, flags, true);
    }
    for code in LOWERCASE_CODES {
        let upper = code.to_ascii_uppercase();
        if let Some(iso) = ISO_SLICES.get(upper.as_str()) {
            add(code, iso, NORMAL, true);
        }
    }
    for list in by_first.values_mut() {
        list.sort_by_key(|e| std::cmp::Reverse(e.chars.len()));
    }
    Table { by_first }
}

/// A currency found in a text: char positions `[start, end)` and the table entry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CurrencyMatch {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) entry: &'static Entry,
}

impl CurrencyMatch {
    /// The currency as written.
    pub(crate) fn text(&self, chars: &[char]) -> String {
        chars[self.start..self.end]
            .iter()
            .collect::<String>()
            .trim()
            .to_string()
    }
}

fn entry_matches_at(entry: &Entry, chars: &[char], i: usize) -> bool {
    let n = entry.chars.len();
    if i + n > chars.len() || chars[i..i + n] != entry.chars[..] {
        return false;
    }
    let first = entry.chars[0];
    if first.is_alphabetic() && i > 0 && chars[i - 1].is_alphabetic() {
        return false;
    }
    let last = entry.chars[n - 1];
    if last.is_alphabetic()
        && !entry.prefix_ok
        && let Some(next) = chars.get(i + n)
    {
        // A single letter followed by an apostrophe is an elision (`L'unité`), not a currency.
        if next.is_alphabetic() || (n == 1 && matches!(next, '\'' | '’')) {
            return false;
        }
    }
    true
}

/// All currencies written in `chars`, leftmost-longest, in order.
pub(crate) fn scan(chars: &[char]) -> Vec<CurrencyMatch> {
    let table = &*TABLE;
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let found = table
            .by_first
            .get(&chars[i])
            .and_then(|list| list.iter().find(|entry| entry_matches_at(entry, chars, i)));
        match found {
            Some(entry) => {
                let end = i + entry.chars.len();
                out.push(CurrencyMatch {
                    start: i,
                    end,
                    entry,
                });
                i = end;
            }
            None => i += 1,
        }
    }
    out
}

/// Whether an ISO code is one of the currencies written with a bare `$`.
pub(crate) fn is_dollar(code: &str) -> bool {
    DOLLARS.contains(&code)
}

/// Looks a written form up exactly (after trimming).
fn lookup(written: &str) -> Option<&'static Entry> {
    let chars: Vec<char> = written.trim().chars().collect();
    let first = *chars.first()?;
    TABLE
        .by_first
        .get(&first)?
        .iter()
        .find(|e| e.chars == chars)
}

/// The host of a domain or URL, lower case, without scheme, user, port, path or final dot.
pub(crate) fn host_of(domain: &str) -> String {
    let d = domain.trim().to_ascii_lowercase();
    let d = d.split("://").last().unwrap_or(&d);
    let host = d.split(['/', '?', '#']).next().unwrap_or(d);
    let host = host.rsplit('@').next().unwrap_or(host);
    host.split(':')
        .next()
        .unwrap_or(host)
        .trim_end_matches('.')
        .to_string()
}

/// The currency a domain's country-code TLD prices in, if known.
pub(crate) fn tld_currency(domain: &str) -> Option<&'static str> {
    let host = host_of(domain);
    TLD_CURRENCY
        .iter()
        .filter(|(tld, _)| {
            host.strip_suffix(tld)
                .is_some_and(|rest| rest.is_empty() || rest.ends_with('.'))
        })
        .max_by_key(|(tld, _)| tld.len())
        .map(|(_, code)| *code)
}

/// The currency of a two-letter country-code TLD given exactly (`"cl"`), if known.
pub(crate) fn region_tld_currency(tld: &str) -> Option<&'static str> {
    TLD_CURRENCY
        .iter()
        .find(|(t, _)| *t == tld)
        .map(|(_, code)| *code)
}

/// Every ISO meaning of a written form (`"$"` gives USD, CAD, AUD...), empty when it is not a
/// known currency or has no ISO code.
pub(crate) fn meanings(written: &str) -> &'static [&'static str] {
    lookup(written).map_or(&[], |e| e.iso)
}

fn to_currency(code: &str) -> Option<Currency> {
    Currency::new(code).ok()
}

/// Resolves a written currency to ISO-4217. `context` holds the other currencies written in the
/// price and hint texts, which may narrow an ambiguous symbol (`$` next to `AUD`).
pub(crate) fn resolve(entry: &Entry, context: &[&Entry], hints: &Hints<'_>) -> Option<Currency> {
    match entry.iso {
        [] => return None,
        [one] => return to_currency(one),
        _ => {}
    }
    let candidates = entry.iso;
    // Another written currency that is unambiguous and one of our meanings.
    for other in context {
        if let [one] = other.iso
            && candidates.contains(one)
        {
            return to_currency(one);
        }
    }
    // The page's locale (its declared currency, region or language) wins over the domain and
    // over the symbol's usual meaning: `$` on an `es-CL` page is CLP.
    if let Some(c) = hints.locale.and_then(|l| l.currency())
        && candidates.contains(&c.as_str())
    {
        return Some(c);
    }
    if let Some(code) = hints.domain.and_then(tld_currency)
        && candidates.contains(&code)
    {
        return to_currency(code);
    }
    if let Some(default) = hints.default_currency
        && candidates.contains(&default.as_str())
    {
        return Some(default);
    }
    if entry.dominant {
        return to_currency(candidates[0]);
    }
    None
}

/// Public mapping behind [`crate::currency_to_iso`].
pub(crate) fn written_to_iso(written: &str, hints: &Hints<'_>) -> Option<Currency> {
    let hint_chars: Vec<char> = hints.currency_hint.unwrap_or("").chars().collect();
    let mut context: Vec<&Entry> = scan(&hint_chars)
        .iter()
        .filter(|m| m.entry.tier > Tier::Weak)
        .map(|m| m.entry)
        .collect();
    if let Some(entry) = lookup(written) {
        return resolve(entry, &context, hints);
    }
    let trimmed = written.trim();
    if trimmed.len() == 3 {
        let upper = trimmed.to_ascii_uppercase();
        if ISO_CODES.contains(&upper.as_str()) {
            return to_currency(&upper);
        }
    }
    // A longer string such as "Price in USD": use the most trustworthy currency inside it.
    let chars: Vec<char> = written.chars().collect();
    let found = scan(&chars);
    let best = found
        .iter()
        .filter(|m| m.entry.tier > Tier::Weak)
        .max_by(|a, b| a.entry.tier.cmp(&b.entry.tier).then(b.start.cmp(&a.start)))?;
    context.extend(found.iter().map(|m| m.entry));
    resolve(best.entry, &context, hints)
}
