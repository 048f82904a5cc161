//! Text helpers shared by the extraction layers: whitespace, HTML entities, element text.

use scraper::{ElementRef, Html, Node, Selector};

/// Collapses runs of whitespace into single spaces and trims the ends.
pub fn normalize_space(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Parses a selector written in this crate. The selectors are constants: a typo is a
/// programming error that the tests catch, hence the `expect`.
pub(crate) fn sel(s: &str) -> Selector {
    Selector::parse(s).expect("valid selector")
}

/// Decodes HTML character references (`&amp;`, `&#39;`, `&quot;`...) in `s`.
///
/// Uses the HTML parser itself on a `<textarea>` (whose content is RCDATA: references are
/// decoded, tags are not interpreted), so every named reference of the HTML standard works.
pub fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let escaped = s.replace("</", "&lt;/");
    let frag = Html::parse_fragment(&format!("<textarea>{escaped}</textarea>"));
    let out: String = frag.root_element().text().collect();
    if out.is_empty() && !s.is_empty() {
        s.to_string()
    } else {
        out
    }
}

/// How deep the recursive walks of this crate descend below the element they start from.
/// Real pages nest a few dozen levels; a pathological page nested thousands deep must not
/// overflow the stack, so text below this depth is ignored.
pub(crate) const MAX_DEPTH: usize = 200;

/// Tags whose text is never shown to a buyer.
pub(crate) const INVISIBLE_TAGS: &[&str] = &[
    "script", "style", "noscript", "template", "head", "title", "svg", "iframe", "select",
    "option", "textarea",
];

/// Whether an element is hidden by markup (`hidden`, `display:none`, `visibility:hidden`).
pub(crate) fn is_hidden(el: ElementRef<'_>) -> bool {
    let v = el.value();
    if v.attr("hidden").is_some() {
        return true;
    }
    if let Some(style) = v.attr("style") {
        for decl in style.split(';') {
            let Some((prop, value)) = decl.split_once(':') else {
                continue;
            };
            let prop = prop.trim().to_ascii_lowercase();
            let value = value.trim().to_ascii_lowercase();
            if (prop == "display" && value.starts_with("none"))
                || (prop == "visibility" && value.starts_with("hidden"))
            {
                return true;
            }
        }
    }
    if v.attr("type")
        .is_some_and(|t| t.eq_ignore_ascii_case("hidden"))
    {
        return true;
    }
    false
}

/// The visible text of an element, whitespace-normalised: text inside scripts, styles,
/// templates and hidden elements is skipped, and text nodes are separated by spaces.
pub fn element_text(el: ElementRef<'_>) -> String {
    let mut parts: Vec<&str> = Vec::new();
    collect_text(el, 0, &mut parts);
    normalize_space(&parts.join(" "))
}

fn collect_text<'a>(el: ElementRef<'a>, depth: usize, out: &mut Vec<&'a str>) {
    if depth > MAX_DEPTH {
        return;
    }
    for child in el.children() {
        match child.value() {
            Node::Text(t) => out.push(t),
            Node::Element(e) => {
                if INVISIBLE_TAGS.contains(&e.name()) {
                    continue;
                }
                if let Some(c) = ElementRef::wrap(child)
                    && !is_hidden(c)
                {
                    collect_text(c, depth + 1, out);
                }
            }
            _ => {}
        }
    }
}

/// One piece of text inside a price element, with what the markup says about it.
#[derive(Debug)]
struct Piece<'a> {
    text: &'a str,
    /// Inside `<sup>` or an element whose class names cents / decimals.
    minor: bool,
}

/// The text of a price element, joined the way a browser shows it: pieces written in separate
/// inline elements are glued together (`$` `37` `.` `30` gives `$37.30`), and a two-digit
/// piece written as a superscript or "cents" element after a whole number becomes its
/// decimals (`$` `5` `<sup>49</sup>` gives `$5.49`).
pub fn price_text(el: ElementRef<'_>) -> String {
    let mut pieces = Vec::new();
    collect_pieces(el, false, 0, &mut pieces);
    let mut out = String::new();
    for p in pieces {
        let t = p.text.trim();
        if t.is_empty() {
            if !out.ends_with(' ') && !out.is_empty() {
                out.push(' ');
            }
            continue;
        }
        let prev_digit = out
            .trim_end()
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_digit());
        let starts_digit = t.chars().next().is_some_and(|c| c.is_ascii_digit());
        if prev_digit && starts_digit {
            let tail = out.trim_end();
            let whole: String = tail
                .chars()
                .rev()
                .take_while(|c| c.is_ascii_digit() || *c == ',')
                .collect();
            let before = tail.chars().rev().nth(whole.chars().count());
            let has_decimal = before == Some('.');
            if p.minor && t.len() == 2 && t.bytes().all(|b| b.is_ascii_digit()) && !has_decimal {
                let trimmed = tail.to_string();
                out = trimmed;
                out.push('.');
                out.push_str(t);
                continue;
            }
            // Two separate numbers: keep them apart.
            if !out.ends_with(' ') {
                out.push(' ');
            }
            out.push_str(t);
            continue;
        }
        // Glue a digit piece to a preceding currency sign or separator written in its own
        // element (`$`, `37`, `.`, `30`); keep the original spacing otherwise.
        let glue =
            (starts_digit || t.starts_with('.') || t.starts_with(',')) && glues_to(out.trim_end());
        if glue {
            let tail = out.trim_end().to_string();
            out = tail;
        } else if !out.is_empty()
            && !out.ends_with(' ')
            && (p.text.starts_with(char::is_whitespace)
                || starts_digit
                || (prev_digit && !t.starts_with(['.', ',', '%'])))
        {
            // Separate pieces, and a number from what follows it ("$4.00" "$5.95").
            out.push(' ');
        }
        out.push_str(t);
        if p.text.ends_with(char::is_whitespace) {
            out.push(' ');
        }
    }
    normalize_space(&out)
}

/// Whether a number piece continues the text so far without a space: after a separator
/// written in its own element (`39.` `99`), or after a currency sign that starts a price
/// (`$` `37`), but not after a sign that ends the previous price (`1.599,00 €` `1.299,00 €`).
fn glues_to(text: &str) -> bool {
    let Some(last) = text.chars().last() else {
        return false;
    };
    if last.is_ascii_digit() {
        // ".99" after "339".
        return true;
    }
    let token = text.rsplit(char::is_whitespace).next().unwrap_or("");
    if !last.is_alphanumeric() && last != '.' && last != ',' || matches!(token, "." | ",") {
        if matches!(token, "." | ",") {
            return true;
        }
        let before = text[..text.len() - token.len()].trim_end();
        return !before.chars().last().is_some_and(|c| c.is_ascii_digit());
    }
    // "39." or "1," glued to a number.
    (last == '.' || last == ',')
        && token
            .chars()
            .rev()
            .nth(1)
            .is_some_and(|c| c.is_ascii_digit())
}

fn collect_pieces<'a>(el: ElementRef<'a>, minor: bool, depth: usize, out: &mut Vec<Piece<'a>>) {
    if depth > MAX_DEPTH {
        return;
    }
    for child in el.children() {
        match child.value() {
            Node::Text(t) => out.push(Piece { text: t, minor }),
            Node::Element(e) => {
                if INVISIBLE_TAGS.contains(&e.name()) {
                    continue;
                }
                let Some(c) = ElementRef::wrap(child) else {
                    continue;
                };
                if is_hidden(c) {
                    continue;
                }
                let class = e.attr("class").unwrap_or("").to_ascii_lowercase();
                let is_minor = minor
                    || e.name() == "sup"
                    || ["cent", "decimal", "mantissa", "fraction", "minor"]
                        .iter()
                        .any(|k| class.contains(k));
                let block = matches!(
                    e.name(),
                    "div" | "p" | "li" | "br" | "tr" | "td" | "h1" | "h2" | "h3" | "h4" | "dd"
                );
                if block {
                    out.push(Piece { text: " ", minor });
                }
                collect_pieces(c, is_minor, depth + 1, out);
                if block {
                    out.push(Piece { text: " ", minor });
                }
            }
            _ => {}
        }
    }
}

/// A brand as shown: separators around it trimmed (`"| Acme"` gives `"Acme"`); `None` for
/// an empty value or a link that a template put where the name belongs.
pub(crate) fn clean_brand(b: &str) -> Option<String> {
    let b = normalize_space(b);
    let b = b.trim_matches(|c: char| c.is_whitespace() || matches!(c, '|' | '-' | ':' | ',' | '/'));
    (!b.is_empty() && !b.starts_with("http") && !b.contains("?")).then(|| b.to_string())
}

/// Words of a title for fuzzy comparison: lower-case alphanumeric runs.
pub fn title_tokens(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Share (0..=1) of the tokens of `a` that also appear in `b`.
pub fn token_overlap(a: &str, b: &str) -> f64 {
    TitleWords::new(b).share_of(a)
}

/// Characters of one piece of a title reference (an `<h1>`, `og:title`, `<title>`) that
/// count: a real title is far shorter, and an unclosed `<h1>` or `<title>` on a broken page
/// holds the rest of the page.
pub(crate) const REFERENCE_PIECE_CHARS: usize = 600;

/// The words a page uses for its product, from its title-like `pieces` (each cut at
/// [`REFERENCE_PIECE_CHARS`]), joined by spaces.
pub(crate) fn title_reference(pieces: impl IntoIterator<Item = String>) -> String {
    pieces
        .into_iter()
        .map(|p| match p.char_indices().nth(REFERENCE_PIECE_CHARS) {
            Some((cut, _)) => p[..cut].to_string(),
            None => p,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The words of a reference text (a page's title and `<h1>`), tokenised once so that many
/// candidate titles can be compared with it: on a page with thousands of candidates and a
/// long reference, tokenising the reference per candidate was quadratic.
#[derive(Debug, Default, Clone)]
pub struct TitleWords(std::collections::HashSet<String>);

impl TitleWords {
    /// The words of `reference` (see [`title_tokens`]).
    pub fn new(reference: &str) -> Self {
        Self(title_tokens(reference).into_iter().collect())
    }

    /// Whether the reference has no word.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Share (0..=1) of the tokens of `title` that the reference uses; 0 without tokens.
    pub fn share_of(&self, title: &str) -> f64 {
        let ta = title_tokens(title);
        if ta.is_empty() {
            return 0.0;
        }
        ta.iter().filter(|t| self.0.contains(*t)).count() as f64 / ta.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first(html: &str) -> String {
        let doc = Html::parse_fragment(html);
        let el = doc
            .root_element()
            .child_elements()
            .next()
            .expect("an element");
        price_text(el)
    }

    #[test]
    fn price_text_glues_split_prices() {
        let cases = [
            (
                r#"<span><span>$</span><span>37</span><span>.</span><span>30</span></span>"#,
                "$37.30",
            ),
            (
                r#"<span><sup>$</sup><span>5</span><sup>49</sup></span>"#,
                "$5.49",
            ),
            (
                r#"<span><span class="c">$</span><span>31</span><span class="price__cents">57</span></span>"#,
                "$31.57",
            ),
            (
                r#"<span>$<strong>339</strong><sup>.99</sup></span>"#,
                "$339.99",
            ),
            (
                r#"<span><sup>$</sup><span>809.<sup>97</sup></span></span>"#,
                "$809.97",
            ),
            (
                r#"<span><sup>$</sup>199<sup><span>.</span>00</sup></span>"#,
                "$199.00",
            ),
            (
                r#"<span>Was <s>$49.90</s> now $39.90</span>"#,
                "Was $49.90 now $39.90",
            ),
            (r#"<span>1.299,00&nbsp;€</span>"#, "1.299,00 €"),
            (r#"<span>$19.95</span>"#, "$19.95"),
            (
                r#"<span><span>$19.95</span> – <span>$24.95</span></span>"#,
                "$19.95 – $24.95",
            ),
            (r#"<span>12 <span>99</span></span>"#, "12 99"),
            (
                r#"<div><span>UVP <del>1.599,00&nbsp;€</del></span><span>1.299,00&nbsp;€</span></div>"#,
                "UVP 1.599,00 € 1.299,00 €",
            ),
            (r#"<span><span>US$</span><span>5</span></span>"#, "US$5"),
            (r#"<span><span>39.</span><span>99</span></span>"#, "39.99"),
        ];
        for (html, want) in cases {
            assert_eq!(first(html), want, "{html}");
        }
    }

    #[test]
    fn entities_are_decoded_without_interpreting_tags() {
        assert_eq!(decode_entities("Tom &amp; Jerry&#39;s"), "Tom & Jerry's");
        assert_eq!(
            decode_entities("a <b>bold</b> &quot;x&quot;"),
            "a <b>bold</b> \"x\""
        );
        assert_eq!(decode_entities("plain"), "plain");
        assert_eq!(decode_entities("x</textarea>&amp;"), "x</textarea>&");
    }

    #[test]
    fn element_text_skips_scripts_and_hidden_parts() {
        let doc = Html::parse_fragment(
            r#"<div style="-webkit-backface-visibility: hidden"><h1>Title <span style="color:red; display: none">secret</span></h1><script>var x=1;</script><p>Body</p></div>"#,
        );
        let el = doc.root_element().child_elements().next().unwrap();
        assert_eq!(element_text(el), "Title Body");
    }

    #[test]
    fn token_overlap_counts_words_of_the_first_title() {
        assert_eq!(token_overlap("Blue Tent", "Blue Tent - Shop"), 1.0);
        assert_eq!(token_overlap("Blue Tent", "Red Tent"), 0.5);
        assert_eq!(token_overlap("", "x"), 0.0);
    }
}
