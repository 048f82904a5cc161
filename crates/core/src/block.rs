//! Block detection: whether a response is a bot wall or CAPTCHA page rather than the page
//! asked for. One table of markers ([`MARKERS`]), a site's own markers added through
//! [`Extractor::block_markers`](crate::Extractor::block_markers), and [`detect`], a pure
//! function of the document (status, final URL, headers, the start of the body).
//!
//! How a marker counts depends on its [`Strength`]: a [`Strength::Sure`] marker (or a
//! challenge page's exact `<title>`) decides alone, whatever the status; a
//! [`Strength::Weak`] one (a CAPTCHA widget, a bot manager's header) decides only on a
//! refusal status (403, 429, 503) or next to a [`Strength::Cue`], challenge wording such
//! as "are you a robot". So a product page that loads reCAPTCHA for its newsletter form, or a
//! plain 403 "Forbidden" page, is not a block.

use crate::Document;

/// Where a [`BlockMarker`] is looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// The body (its first [`SCANNED_BYTES`], case-insensitive): every needle must appear.
    Body,
    /// The `<title>`, trimmed, case-insensitive and without trailing dots, ellipsis, `!`
    /// or `?`: it must equal the (single) needle.
    Title,
    /// A response header by (lower-case) name: its value must contain the needle (an empty
    /// needle: the header is present).
    Header(&'static str),
}

/// How much a marker says on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strength {
    /// Only challenge pages carry it: a block whatever the status.
    Sure,
    /// Also seen on normal pages: a block on 403, 429 or 503, or next to a [`Cue`](Self::Cue).
    Weak,
    /// Challenge wording: makes a [`Weak`](Self::Weak) marker a block; nothing alone.
    Cue,
}

/// One sign of a bot wall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockMarker {
    /// Who serves it (`cloudflare`, `perimeterx`...), as reported.
    pub vendor: &'static str,
    /// Where it is looked for.
    pub place: Place,
    /// What must be found there (lower-case), all of them for [`Place::Body`].
    pub needles: &'static [&'static str],
    /// How much it says.
    pub strength: Strength,
}

impl BlockMarker {
    /// A body marker: every one of `needles` (lower-case) appears in the body.
    pub const fn body(
        vendor: &'static str,
        needles: &'static [&'static str],
        strength: Strength,
    ) -> Self {
        Self {
            vendor,
            place: Place::Body,
            needles,
            strength,
        }
    }

    /// A title marker: the page's title is exactly `title` (lower-case, see [`Place::Title`]).
    pub const fn title(vendor: &'static str, title: &'static [&'static str]) -> Self {
        Self {
            vendor,
            place: Place::Title,
            needles: title,
            strength: Strength::Sure,
        }
    }

    /// A header marker: header `name` contains `value` (lower-case).
    pub const fn header(
        vendor: &'static str,
        name: &'static str,
        value: &'static [&'static str],
        strength: Strength,
    ) -> Self {
        Self {
            vendor,
            place: Place::Header(name),
            needles: value,
            strength,
        }
    }
}

use Strength::{Cue, Sure, Weak};

/// The known bot walls and CAPTCHA pages. Sure markers are strings only a challenge page
/// carries (Cloudflare's `_cf_chl_opt`, PerimeterX's `px-captcha` element, DataDome's
/// `captcha-delivery.com` frame, Amazon's `validateCaptcha` form); weak ones are also loaded
/// by normal pages (reCAPTCHA, Turnstile, bot managers' headers).
pub const MARKERS: &[BlockMarker] = &[
    // Cloudflare: managed / JS challenge ("Just a moment..."), block page (error 1020).
    BlockMarker::header("cloudflare", "cf-mitigated", &["challenge"], Sure),
    BlockMarker::body("cloudflare", &["_cf_chl_opt"], Sure),
    BlockMarker::body("cloudflare", &["cf-browser-verification"], Sure),
    BlockMarker::body("cloudflare", &["cf-error-details", "cloudflare"], Sure),
    BlockMarker::title("cloudflare", &["just a moment"]),
    BlockMarker::title("cloudflare", &["attention required! | cloudflare"]),
    BlockMarker::body("cloudflare", &["cf-chl-"], Weak),
    BlockMarker::body("cloudflare", &["challenges.cloudflare.com"], Weak),
    // PerimeterX / HUMAN: "Press & Hold" page.
    BlockMarker::body("perimeterx", &["id=\"px-captcha\""], Sure),
    BlockMarker::body("perimeterx", &["id='px-captcha'"], Sure),
    BlockMarker::title("perimeterx", &["access to this page has been denied"]),
    BlockMarker::body("perimeterx", &["_pxappid"], Weak),
    // DataDome: the challenge is a frame from captcha-delivery.com.
    BlockMarker::body("datadome", &["captcha-delivery.com"], Sure),
    BlockMarker::header("datadome", "x-datadome", &[""], Weak),
    BlockMarker::body("datadome", &["datadome"], Weak),
    // Akamai: "Access Denied ... Reference #18.xxxx" (the reference often entity-encoded).
    BlockMarker::body("akamai", &["access denied", "reference #"], Sure),
    BlockMarker::body("akamai", &["access denied", "reference&#32;&#35;"], Sure),
    BlockMarker::body("akamai", &["errors.edgesuite.net"], Sure),
    BlockMarker::body("akamai", &["/_sec/cp_challenge/"], Sure),
    // Amazon-style "Robot Check".
    BlockMarker::title("robot_check", &["robot check"]),
    BlockMarker::body("robot_check", &["enter the characters you see below"], Sure),
    BlockMarker::body("robot_check", &["/errors/validatecaptcha"], Sure),
    // Imperva / Distil.
    BlockMarker::title("imperva", &["pardon our interruption"]),
    BlockMarker::body("imperva", &["_incapsula_resource"], Weak),
    // Google's "unusual traffic" page.
    BlockMarker::body(
        "google",
        &["our systems have detected unusual traffic"],
        Sure,
    ),
    // CAPTCHA widgets: normal pages load them for forms too.
    BlockMarker::body("recaptcha", &["g-recaptcha"], Weak),
    BlockMarker::body("recaptcha", &["recaptcha/api.js"], Weak),
    BlockMarker::body("hcaptcha", &["h-captcha"], Weak),
    BlockMarker::body("hcaptcha", &["hcaptcha.com/1/api.js"], Weak),
    // Challenge wording.
    BlockMarker::body("captcha", &["are you a robot"], Cue),
    BlockMarker::body("captcha", &["not a robot"], Cue),
    BlockMarker::body("captcha", &["verify you are human"], Cue),
    BlockMarker::body("captcha", &["verify you are a human"], Cue),
    BlockMarker::body("captcha", &["confirm you are a human"], Cue),
    BlockMarker::body("captcha", &["unusual traffic"], Cue),
    BlockMarker::body("captcha", &["checking your browser"], Cue),
    BlockMarker::body("captcha", &["complete the security check"], Cue),
];

/// How much of the body is scanned: challenge pages are small, and a marker deep in a big
/// page is not a wall.
pub const SCANNED_BYTES: usize = 128 * 1024;

/// Statuses on which a [`Weak`](Strength::Weak) marker decides alone.
const REFUSALS: [u16; 3] = [403, 429, 503];

/// What [`detect`] found: who blocked and by which sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The vendor (`cloudflare`, `captcha_redirect`...).
    pub vendor: &'static str,
    /// The marker that decided (a needle, a title or a header).
    pub evidence: String,
}

/// Whether `doc` is a bot wall or CAPTCHA page, by [`MARKERS`] and the site's `extra` markers
/// (`extra` first), or a redirect to a captcha path. Pure, bounded by [`SCANNED_BYTES`].
pub fn detect(doc: &Document, extra: &[BlockMarker]) -> Option<Block> {
    if doc.url != doc.requested
        && let Some(block) = captcha_path(doc.url.path())
    {
        return Some(block);
    }
    let mut end = doc.body.len().min(SCANNED_BYTES);
    while !doc.body.is_char_boundary(end) {
        end -= 1;
    }
    let body = doc.body[..end].to_ascii_lowercase();
    let title = title(&body);
    let found = |m: &BlockMarker| match m.place {
        Place::Body => m.needles.iter().all(|n| body.contains(n)),
        Place::Title => title.as_deref().is_some_and(|t| m.needles.contains(&t)),
        Place::Header(name) => doc.header(name).is_some_and(|v| {
            let v = v.to_ascii_lowercase();
            m.needles.iter().all(|n| v.contains(n))
        }),
    };
    let markers = || extra.iter().chain(MARKERS).filter(|m| found(m));
    let evidence = |m: &BlockMarker| Block {
        vendor: m.vendor,
        evidence: m.needles.join(" + "),
    };
    if let Some(m) = markers().find(|m| m.strength == Sure) {
        return Some(evidence(m));
    }
    let weak = markers().find(|m| m.strength == Weak)?;
    let cued = markers().any(|m| m.strength == Cue);
    (REFUSALS.contains(&doc.status) || cued).then(|| evidence(weak))
}

/// A block when a path (redirected to) is a captcha page: a segment containing `captcha`
/// (`/captcha`, `/errors/validateCaptcha`, `/showcaptcha`).
pub fn captcha_path(path: &str) -> Option<Block> {
    path.split('/')
        .any(|s| s.to_ascii_lowercase().contains("captcha"))
        .then(|| Block {
            vendor: "captcha_redirect",
            evidence: path.to_string(),
        })
}

/// The normalised `<title>` of a lower-cased page: trimmed, entities for ellipsis and `&`
/// read, trailing dots, ellipsis, `!` and `?` removed.
fn title(body: &str) -> Option<String> {
    let open = body.find("<title")?;
    let start = open + body[open..].find('>')? + 1;
    let len = body[start..].find("</title")?;
    let t = body[start..start + len]
        .replace("&hellip;", "…")
        .replace("&#8230;", "…")
        .replace("&amp;", "&");
    let t = t.split_whitespace().collect::<Vec<_>>().join(" ");
    Some(
        t.trim_end_matches(['.', '…', '!', '?', ' '])
            .trim()
            .to_string(),
    )
}

#[cfg(test)]
#[path = "block_tests.rs"]
mod tests;
