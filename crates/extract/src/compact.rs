//! Makes a product page's Markdown cheaper for a language model: images other than the main
//! one, empty list items and paragraphs seen before go, and a long page is cut to a window
//! around the product title (link targets never get this far: the converter writes a link's
//! text only).

use std::collections::HashSet;
use std::sync::LazyLock;

use regex::Regex;

use crate::markdown::tidy_markdown;
use crate::text::{normalize_space, title_tokens};

/// Most characters of Markdown sent to the model for one product page: a window that starts a
/// little before the product title. What a product record needs (title, prices, stock,
/// brand, identifiers, rating) sits near the title; reviews, specifications and
/// recommendations further down are what this cuts.
pub const PRODUCT_MARKDOWN_CHARS: usize = 10_000;

/// Characters of the window kept before the title (breadcrumbs, a brand line, a price shown
/// above the title).
const BEFORE_TITLE_CHARS: usize = 1_500;

/// Paragraphs shorter than this are never dropped as repeats (prices, "In stock").
const MIN_REPEAT_CHARS: usize = 24;

static IMAGE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"!\[([^\]\n]*)\]\(([^)\s]*)(?:\s+"[^"\n]*")?\)"#).expect("a valid regex")
});

/// Compacts `md` (see the module docs); `title` is the product title, when the page has one.
pub(crate) fn compact_markdown(md: &str, title: Option<&str>, max_chars: usize) -> String {
    let md = keep_main_image(md, title);
    let lines = drop_repeats(&md);
    window(&lines, title, max_chars)
}

/// Removes every image but the first whose alt text shares a word with the title (or the
/// first with any alt text when there is no title).
fn keep_main_image(md: &str, title: Option<&str>) -> String {
    let wanted: HashSet<String> = title
        .map(title_tokens)
        .unwrap_or_default()
        .into_iter()
        .collect();
    let mut kept = false;
    IMAGE
        .replace_all(md, |c: &regex::Captures<'_>| {
            let alt = &c[1];
            let matches = if wanted.is_empty() {
                !alt.trim().is_empty()
            } else {
                title_tokens(alt).iter().any(|t| wanted.contains(t))
            };
            if matches && !kept {
                kept = true;
                format!("![{alt}]({})", &c[2])
            } else {
                String::new()
            }
        })
        .into_owned()
}

/// The lines worth sending: no empty list items or lone punctuation, and no paragraph that
/// already appeared (shops repeat blocks for mobile and desktop layouts).
fn drop_repeats(md: &str) -> Vec<&str> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut out = Vec::new();
    for line in md.lines() {
        let t = line.trim();
        let bare = t.trim_matches(|c: char| c.is_ascii_punctuation() || c.is_whitespace());
        if !t.is_empty() && bare.is_empty() {
            continue;
        }
        if t.chars().count() >= MIN_REPEAT_CHARS && !seen.insert(normalize_space(t)) {
            continue;
        }
        out.push(line);
    }
    out
}

/// At most `max_chars` characters of whole lines, starting [`BEFORE_TITLE_CHARS`] before the
/// first line that holds the title (a heading preferred), else at the top.
fn window(lines: &[&str], title: Option<&str>, max_chars: usize) -> String {
    let len = |l: &&str| l.chars().count() + 1;
    let start = title
        .map(normalize_space)
        .filter(|t| !t.is_empty())
        .and_then(|t| {
            let holds = |l: &&&str| normalize_space(l).contains(t.as_str());
            let heading = lines.iter().position(|l| l.starts_with('#') && holds(&l));
            heading.or_else(|| lines.iter().position(|l| holds(&l)))
        })
        .map_or(0, |at| {
            let mut start = at;
            let mut before = 0;
            while start > 0 && before + len(&lines[start - 1]) <= BEFORE_TITLE_CHARS {
                start -= 1;
                before += len(&lines[start]);
            }
            start
        });
    let mut out = String::new();
    let mut size = 0;
    for line in &lines[start..] {
        let room = max_chars.saturating_sub(size);
        if room == 0 {
            break;
        }
        // A line longer than what is left (a page written on one line) is cut, not dropped.
        out.extend(line.chars().take(room - 1));
        out.push('\n');
        size += len(line);
    }
    tidy_markdown(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_main_image_is_kept() {
        let md = "![Logo](/l.png)\n# Blue Tent\n![Blue Tent front](/t.jpg \"x\")\n\
                  ![Blue Tent side](/s.jpg)\n![Red Chair](/c.jpg)";
        let out = compact_markdown(md, Some("Blue Tent"), 1000);
        assert_eq!(out, "# Blue Tent\n![Blue Tent front](/t.jpg)");
    }

    #[test]
    fn repeats_and_empty_items_go_short_lines_stay() {
        let md = "# Kettle\n$19.99\n*\n*   \nFree shipping on every order over $35\n\
                  $19.99\nFree shipping on every order over $35\n|\n";
        let out = compact_markdown(md, Some("Kettle"), 1000);
        assert_eq!(
            out,
            "# Kettle\n$19.99\nFree shipping on every order over $35\n$19.99"
        );
    }

    #[test]
    fn a_long_page_is_cut_to_a_window_around_the_title() {
        let mut md = String::new();
        for i in 0..200 {
            md.push_str(&format!("menu entry number {i} of the shop\n"));
        }
        md.push_str("# Alpine Tent 2\nPrice: 199,00 €\n");
        for i in 0..2000 {
            md.push_str(&format!("review {i}: a very good tent indeed\n"));
        }
        let out = compact_markdown(&md, Some("Alpine Tent 2"), 4000);
        assert!(out.chars().count() <= 4000);
        let title = out.find("# Alpine Tent 2").expect("the title is kept");
        assert!((1000..=1500).contains(&title), "{title}");
        assert!(out.contains("199,00 €"));
        assert!(!out.contains("menu entry number 0 "));
        // No title: the top of the page.
        let out = compact_markdown(&md, None, 100);
        assert!(out.starts_with("menu entry number 0 "), "{out}");
        // A page on one line is cut to the window, not dropped.
        let one_line = "# Alpine Tent 2 Price: 199,00 € ".repeat(1000);
        let out = compact_markdown(&one_line, Some("Alpine Tent 2"), 4000);
        assert!(
            (3900..=4000).contains(&out.chars().count()),
            "{}",
            out.len()
        );
    }
}
