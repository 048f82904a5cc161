//! The crawl engine: level-by-level concurrent crawling over HTTP and browser pages.
