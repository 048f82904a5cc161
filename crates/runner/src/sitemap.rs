//! Sitemaps as start URLs: found through robots.txt `Sitemap:` lines (else `/sitemap.xml`),
//! sitemap indexes followed to [`MAX_DEPTH`], gzipped files read, every file streamed through
//! a pull XML parser (`quick-xml`) and bounded by the page size limit.

use std::collections::{HashSet, VecDeque};
use std::io::{BufReader, Read};

use chrono::{DateTime, NaiveDate, Utc};
use haul_core::{FetchError, FetchRequest, Fetcher};
use quick_xml::events::Event;
use tracing::{debug, info, warn};
use url::Url;

/// How deep sitemap indexes are followed: an index (depth 0) may list indexes (1), which may
/// list indexes (2), whose entries are read as URL sets or not at all.
pub(crate) const MAX_DEPTH: u32 = 2;

/// The most sitemap files read for one site (indexes included).
pub(crate) const MAX_FILES: usize = 512;

/// The most entries read from one file (the sitemap protocol's own limit).
pub(crate) const MAX_ENTRIES: usize = 50_000;

/// One page a sitemap lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SitemapUrl {
    /// The page (absolute, as listed).
    pub url: Url,
    /// Its `lastmod`, when given and readable.
    pub lastmod: Option<DateTime<Utc>>,
}

/// What kind of file a sitemap turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileKind {
    /// `<sitemapindex>`: its entries are sitemaps.
    Index,
    /// `<urlset>`: its entries are pages.
    UrlSet,
    /// Neither (or nothing read).
    Unknown,
}

/// One sitemap file read.
#[derive(Debug)]
pub(crate) struct Parsed {
    pub(crate) kind: FileKind,
    /// `(loc, lastmod)` in file order.
    pub(crate) entries: Vec<(String, Option<String>)>,
    /// Why reading stopped early (malformed XML), with the entries before it kept.
    pub(crate) error: Option<String>,
    /// The (decompressed) file was longer than the limit and was cut there.
    pub(crate) cut: bool,
}

/// A reader that gives at most `left` bytes of `inner` and notes whether there were more.
struct Capped<R> {
    inner: R,
    left: u64,
    cut: std::rc::Rc<std::cell::Cell<bool>>,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            let mut probe = [0u8; 1];
            if self.inner.read(&mut probe)? > 0 {
                self.cut.set(true);
            }
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
}

/// Parses one sitemap file (gzipped or not: told by its magic bytes, not its name), reading
/// at most `limit` bytes of XML after decompression. Streams: neither the decompressed file
/// nor its text is held whole, only its entries. Blocking (CPU work): call it off the
/// runtime.
pub(crate) fn parse(bytes: &[u8], limit: u64) -> Parsed {
    let cut = std::rc::Rc::new(std::cell::Cell::new(false));
    let source: Box<dyn Read + '_> = if bytes.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::MultiGzDecoder::new(bytes))
    } else {
        Box::new(bytes)
    };
    let capped = Capped {
        inner: source,
        left: limit,
        cut: cut.clone(),
    };
    let mut parsed = read_entries(BufReader::new(capped));
    parsed.cut = cut.get();
    if parsed.cut {
        // The cut ends the file mid-element: that error says nothing more than the cut.
        parsed.error = None;
    }
    parsed
}

/// The entries of a sitemap or sitemap index, from a pull parser over `input`.
fn read_entries(input: impl std::io::BufRead) -> Parsed {
    let mut reader = quick_xml::Reader::from_reader(input);
    reader.config_mut().trim_text(true);
    let mut parsed = Parsed {
        kind: FileKind::Unknown,
        entries: Vec::new(),
        error: None,
        cut: false,
    };
    let mut buf = Vec::new();
    // The element whose text is being read (`loc`, `lastmod`), and the entry's so far.
    let mut field: Option<&'static str> = None;
    let mut text = String::new();
    let (mut loc, mut lastmod) = (None::<String>, None::<String>);
    loop {
        let event = match reader.read_event_into(&mut buf) {
            Ok(e) => e,
            Err(e) => {
                parsed.error = Some(format!(
                    "malformed XML at byte {}: {e}",
                    reader.error_position()
                ));
                break;
            }
        };
        match event {
            Event::Start(e) => match e.local_name().as_ref() {
                b"sitemapindex" if parsed.kind == FileKind::Unknown => {
                    parsed.kind = FileKind::Index;
                }
                b"urlset" if parsed.kind == FileKind::Unknown => parsed.kind = FileKind::UrlSet,
                b"url" | b"sitemap" => (loc, lastmod) = (None, None),
                b"loc" => (field, text) = (Some("loc"), String::new()),
                b"lastmod" => (field, text) = (Some("lastmod"), String::new()),
                _ => {}
            },
            Event::Text(t) if field.is_some() => {
                text.push_str(&t.decode().unwrap_or_default());
            }
            Event::CData(t) if field.is_some() => {
                text.push_str(&String::from_utf8_lossy(&t));
            }
            Event::GeneralRef(r) if field.is_some() => {
                let name = r.decode().unwrap_or_default();
                if let Ok(Some(c)) = r.resolve_char_ref() {
                    text.push(c);
                } else if let Some(s) = quick_xml::escape::resolve_predefined_entity(&name) {
                    text.push_str(s);
                }
            }
            Event::End(e) => match e.local_name().as_ref() {
                b"loc" => (loc, field) = (Some(text.trim().to_string()), None),
                b"lastmod" => (lastmod, field) = (Some(text.trim().to_string()), None),
                b"url" | b"sitemap" => {
                    if let Some(l) = loc.take().filter(|l| !l.is_empty()) {
                        parsed.entries.push((l, lastmod.take()));
                        if parsed.entries.len() >= MAX_ENTRIES {
                            parsed.cut = true;
                            break;
                        }
                    }
                }
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    parsed
}

/// A sitemap `lastmod` (W3C datetime: a date, or a date and time with a zone) as UTC.
pub fn parse_lastmod(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    // `YYYY-MM-DDThh:mmTZD` (no seconds) is valid W3C datetime, not RFC 3339.
    if let Ok(t) = DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M%:z") {
        return Some(t.with_timezone(&Utc));
    }
    if let Some(naive) = s.strip_suffix('Z')
        && let Ok(t) = chrono::NaiveDateTime::parse_from_str(naive, "%Y-%m-%dT%H:%M")
    {
        return Some(t.and_utc());
    }
    let date = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(&format!("{s}-01"), "%Y-%m-%d"))
        .ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc())
}

/// Where a site's sitemaps are: the `Sitemap:` lines of each start URL's domain's robots.txt,
/// else that domain's `/sitemap.xml`.
async fn roots(fetcher: &dyn Fetcher, start_urls: &[Url]) -> Vec<(Url, bool)> {
    let mut origins = Vec::new();
    for u in start_urls {
        let mut origin = u.clone();
        origin.set_path("/");
        origin.set_query(None);
        origin.set_fragment(None);
        if !origins.contains(&origin) {
            origins.push(origin);
        }
    }
    let mut roots = Vec::new();
    for origin in origins {
        let listed = fetcher.sitemaps(&origin).await;
        if listed.is_empty() {
            if let Ok(u) = origin.join("/sitemap.xml") {
                roots.push((u, false));
            }
        } else {
            roots.extend(listed.into_iter().map(|u| (u, true)));
        }
    }
    roots
}

/// Reads every sitemap of a site (robots.txt `Sitemap:` lines, else `/sitemap.xml`, of each
/// start URL's domain) through `fetcher` (the site's: scope, session, robots.txt and the
/// per-domain limits apply), each file at most `limit` bytes (compressed and decompressed),
/// and returns the pages listed, each once, in order. Problems (an unreachable, malformed or
/// oversize sitemap) are warnings: the pages read so far count.
pub async fn discover(fetcher: &dyn Fetcher, start_urls: &[Url], limit: u64) -> Vec<SitemapUrl> {
    let mut queue: VecDeque<(Url, u32, bool)> = roots(fetcher, start_urls)
        .await
        .into_iter()
        .map(|(u, listed)| (u, 0, listed))
        .collect();
    let mut seen_files = HashSet::new();
    let mut seen_urls = HashSet::new();
    let mut out = Vec::new();
    while let Some((file, depth, listed)) = queue.pop_front() {
        if !seen_files.insert(file.clone()) {
            continue;
        }
        if seen_files.len() > MAX_FILES {
            warn!("more than {MAX_FILES} sitemap files: {file} and the rest are not read");
            break;
        }
        let body = match fetcher
            .fetch_raw(FetchRequest::get(file.clone()), limit)
            .await
        {
            Ok(body) => body,
            // A missing /sitemap.xml that nothing announced is no surprise.
            Err(FetchError::Status { status: 404, .. }) if !listed => {
                info!("{file}: no sitemap (404)");
                continue;
            }
            Err(e) => {
                warn!("sitemap {file} not read: {e}");
                continue;
            }
        };
        if body.cut {
            warn!(
                "sitemap {file} is larger than the page size limit ({limit} bytes): cut there, the entries after it are not read"
            );
        }
        let bytes = body.bytes;
        let parsed = tokio::task::spawn_blocking(move || parse(&bytes, limit))
            .await
            .unwrap_or_else(|e| Parsed {
                kind: FileKind::Unknown,
                entries: Vec::new(),
                error: Some(format!("the parser ended abnormally: {e}")),
                cut: false,
            });
        report_problems(&file, &parsed, limit, body.cut);
        let base = body.url;
        for (loc, lastmod) in parsed.entries {
            let Ok(url) = base.join(&loc) else {
                debug!("sitemap {file}: unreadable URL {loc:?}");
                continue;
            };
            match parsed.kind {
                FileKind::Index if depth < MAX_DEPTH => queue.push_back((url, depth + 1, true)),
                FileKind::Index => {
                    warn!(
                        "sitemap index {file} is nested deeper than {MAX_DEPTH} levels: {url} not read"
                    );
                }
                _ => {
                    if seen_urls.insert(url.clone()) {
                        let lastmod = lastmod.as_deref().and_then(parse_lastmod);
                        out.push(SitemapUrl { url, lastmod });
                    }
                }
            }
        }
    }
    out
}

/// Warns about what went wrong reading one file.
fn report_problems(file: &Url, parsed: &Parsed, limit: u64, body_cut: bool) {
    if let Some(e) = &parsed.error {
        warn!(
            "malformed sitemap {file}: {e}; the {} entries before it are kept",
            parsed.entries.len()
        );
    } else if parsed.cut && !body_cut {
        warn!(
            "sitemap {file} unpacks to more than the page size limit ({limit} bytes) or {MAX_ENTRIES} entries: cut there, {} entries read",
            parsed.entries.len()
        );
    }
    if parsed.kind == FileKind::Unknown && parsed.error.is_none() && !parsed.cut {
        warn!("{file} is not a sitemap (no <urlset> or <sitemapindex>)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    const SET: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url><loc>https://shop.example/p/1?a=1&amp;b=2</loc><lastmod>2024-05-01</lastmod></url>
  <url><loc> https://shop.example/p/2 </loc><lastmod>2024-05-02T10:00:00+02:00</lastmod></url>
  <url><loc><![CDATA[https://shop.example/p/3]]></loc></url>
</urlset>"#;

    #[test]
    fn url_sets_indexes_and_gzip_are_read() {
        let p = parse(SET.as_bytes(), 1 << 20);
        assert_eq!(p.kind, FileKind::UrlSet);
        assert!(p.error.is_none() && !p.cut, "{p:?}");
        let locs: Vec<&str> = p.entries.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(
            locs,
            [
                "https://shop.example/p/1?a=1&b=2",
                "https://shop.example/p/2",
                "https://shop.example/p/3"
            ]
        );
        assert_eq!(p.entries[0].1.as_deref(), Some("2024-05-01"));

        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(SET.as_bytes()).unwrap();
        let p = parse(&gz.finish().unwrap(), 1 << 20);
        assert_eq!((p.kind, p.entries.len()), (FileKind::UrlSet, 3));

        let index = r#"<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><sitemap><loc>/s1.xml.gz</loc></sitemap></sitemapindex>"#;
        let p = parse(index.as_bytes(), 1 << 20);
        assert_eq!(p.kind, FileKind::Index);
        assert_eq!(p.entries, [("/s1.xml.gz".to_string(), None)]);
    }

    #[test]
    fn malformed_and_oversize_files_keep_what_came_before() {
        let broken =
            r#"<urlset><url><loc>https://a/1</loc></url><url><loc>https://a/2</lo></url></urlset>"#;
        let p = parse(broken.as_bytes(), 1 << 20);
        assert_eq!(p.entries.len(), 1);
        assert!(
            p.error.as_deref().unwrap().contains("malformed XML"),
            "{p:?}"
        );

        let big = format!(
            "<urlset>{}</urlset>",
            (0..1000)
                .map(|i| format!("<url><loc>https://a/{i}</loc></url>"))
                .collect::<String>()
        );
        let p = parse(big.as_bytes(), 4096);
        assert!(p.cut && p.error.is_none(), "{:?}", p.error);
        assert!(
            p.entries.len() > 50 && p.entries.len() < 200,
            "{}",
            p.entries.len()
        );
        // A gzip bomb is cut at the limit after decompression too.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(big.as_bytes()).unwrap();
        let p = parse(&gz.finish().unwrap(), 4096);
        assert!(p.cut && p.entries.len() < 200);
    }

    #[test]
    fn lastmod_takes_the_w3c_forms() {
        let t = |s: &str| parse_lastmod(s).map(|d| d.to_rfc3339());
        assert_eq!(
            t("2024-05-01").as_deref(),
            Some("2024-05-01T00:00:00+00:00")
        );
        assert_eq!(
            t("2024-05-01T10:00:00+02:00").as_deref(),
            Some("2024-05-01T08:00:00+00:00")
        );
        assert_eq!(
            t("2024-05-01T10:30+01:00").as_deref(),
            Some("2024-05-01T09:30:00+00:00")
        );
        assert_eq!(t("2024-05").as_deref(), Some("2024-05-01T00:00:00+00:00"));
        assert_eq!(t("yesterday"), None);
    }
}
