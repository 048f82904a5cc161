//! Tests of the output sinks through the public API: round trips in every format, the SQLite
//! price history across crawls, resuming after a kill at every byte, and error reporting.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use haul_core::{Availability, Currency, Method, Record, RecordKind};
use haul_output::{COLUMNS, ExistingKeys, Output, OutputError, OutputFormat, read_records};

/// Records exercising every format's escaping: unicode, commas, quotes and newlines in text,
/// absent optional fields, negative and large numbers, prices with trailing zeros.
fn sample_records() -> Vec<Record> {
    let mut out = Vec::new();

    let mut r = Record::product(
        "shop",
        "http://shop.test/p/1",
        "Café ☕ 日本語 🚀",
        Method::JsonLd,
    );
    r.price = Some("19.90".parse().unwrap());
    r.list_price = Some("24.00".parse().unwrap());
    r.currency = Some(Currency::new("EUR").unwrap());
    r.availability = Some(Availability::InStock);
    r.brand = Some("Ünïcödé, \"quoted\" brand".into());
    r.rating = Some("4.75".parse().unwrap());
    r.rating_count = Some(12_345_678_901);
    r.sku = Some("SKU-1".into());
    r.gtin = Some("0012345678905".into());
    r.image = Some("http://shop.test/i/1.png?a=1&b=2".into());
    out.push(r);

    // Only the required fields.
    out.push(Record::product(
        "shop",
        "http://shop.test/p/2",
        "Plain",
        Method::Css,
    ));

    // Text with commas, quotes, newlines and a carriage return (set directly: `Record::new`
    // normalises the title's whitespace).
    let mut r = Record::new(
        RecordKind::Deal,
        "deals",
        "http://deals.test/d/3?x=\"1\",2",
        "x",
        Method::Llm,
    );
    r.title = "Deal, with \"quotes\"\nand a second line\r\nand a third".into();
    r.merchant = Some("A, B & \"C\"".into());
    r.votes = Some(-42);
    r.posted_at = Some("2024-05-01T10:00:00+02:00".into());
    r.deal_url = Some("http://shop.test/out?id=3".into());
    r.source = Some("http://deals.test/list?page=2\nsecond line".into());
    r.price = Some("0.99".parse().unwrap());
    r.currency = Some(Currency::new("USD").unwrap());
    out.push(r);

    let mut r = Record::product(
        "other",
        "http://other.test/p/4",
        "Σ τίτλος",
        Method::Microdata,
    );
    r.availability = Some(Availability::OutOfStock);
    r.price = Some("1234567.891".parse().unwrap());
    out.push(r);
    out
}

fn assert_same_records(got: &[Record], want: &[Record], context: &str) {
    assert_eq!(got.len(), want.len(), "{context}: record count");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        // Field by field, with a readable diff.
        let (g, w) = (
            serde_json::to_value(g).unwrap(),
            serde_json::to_value(w).unwrap(),
        );
        for field in COLUMNS {
            assert_eq!(
                g.get(field),
                w.get(field),
                "{context}: record {i}, field {field}"
            );
        }
    }
}

fn keys_of(records: &[Record]) -> BTreeSet<(String, String)> {
    records
        .iter()
        .map(|r| (r.site.clone(), r.url.clone()))
        .collect()
}

fn sorted_keys(keys: &ExistingKeys) -> BTreeSet<(String, String)> {
    keys.iter()
        .map(|(s, u)| (s.to_owned(), u.to_owned()))
        .collect()
}

async fn write_all(out: Output, records: &[Record]) -> Result<u64, OutputError> {
    let tx = out.sender();
    for r in records {
        tx.send(r.clone()).await?;
    }
    drop(tx);
    out.finish().await
}

/// A new temporary folder and the path of `name` in it.
fn scratch(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    (dir, path)
}

/// Writes `records` to a new output at `path`; how many were written.
async fn create_with(path: &Path, records: &[Record]) -> u64 {
    write_all(Output::create(path).unwrap(), records)
        .await
        .unwrap()
}

#[tokio::test]
async fn every_format_round_trips_and_writes_each_key_once() {
    let dir = tempfile::tempdir().unwrap();
    let records = sample_records();
    for (name, format) in [
        ("out.jsonl", OutputFormat::Jsonl),
        ("out.NDJSON", OutputFormat::Jsonl),
        ("out.json", OutputFormat::Json),
        ("out.csv", OutputFormat::Csv),
        ("out.db", OutputFormat::Sqlite),
        ("out.sqlite3", OutputFormat::Sqlite),
    ] {
        let path = dir.path().join(name);
        let out = Output::create(&path).unwrap();
        assert_eq!(out.format(), format, "{name}");
        assert_eq!(out.path(), path);
        // The first record again, changed: same key, so not written a second time.
        let mut with_dup = records.clone();
        let mut dup = records[0].clone();
        dup.title = "duplicate".into();
        with_dup.insert(2, dup);
        assert_eq!(
            write_all(out, &with_dup).await.unwrap(),
            records.len() as u64,
            "{name}"
        );
        let back = read_records(&path).unwrap();
        assert_same_records(&back, &records, name);
    }

    // The JSON output is one valid array, and the CSV has the header and quoted newlines.
    let json = std::fs::read(dir.path().join("out.json")).unwrap();
    let arr: Vec<Record> = serde_json::from_slice(&json).unwrap();
    assert_eq!(arr.len(), records.len());
    let csv = std::fs::read_to_string(dir.path().join("out.csv")).unwrap();
    assert_eq!(csv.lines().next().unwrap(), COLUMNS.join(","));
    assert!(
        csv.contains("\"Deal, with \"\"quotes\"\"\nand a second line"),
        "{csv}"
    );
    // A record without optional fields has empty cells.
    assert!(
        csv.contains("product,shop,http://shop.test/p/2,Plain,,,,,,,,,,,,,,,"),
        "{csv}"
    );
}

#[tokio::test]
async fn json_array_is_valid_after_every_flush_before_finish() {
    let (_dir, path) = scratch("live.json");
    let out = Output::create(&path).unwrap();
    // Valid (empty) right after creation.
    let arr: Vec<Record> = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert!(arr.is_empty());
    let tx = out.sender();
    let records = sample_records();
    for (n, r) in records.iter().enumerate() {
        tx.send(r.clone()).await.unwrap();
        // Once the writer caught up, the file is a complete array of what was sent.
        let mut tries = 0;
        loop {
            let bytes = std::fs::read(&path).unwrap();
            if let Ok(arr) = serde_json::from_slice::<Vec<Record>>(&bytes)
                && arr.len() == n + 1
            {
                assert_same_records(&arr, &records[..=n], "live json");
                break;
            }
            tries += 1;
            assert!(
                tries < 500,
                "the array never became valid with {} records",
                n + 1
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    drop(tx);
    assert_eq!(out.finish().await.unwrap(), records.len() as u64);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.ends_with("}\n]\n"), "{text}");
}

/// The number of rows in `table` matching `where_`.
fn count(conn: &rusqlite::Connection, sql: &str, params: impl rusqlite::Params) -> i64 {
    conn.query_row(sql, params, |r| r.get(0)).unwrap()
}

#[tokio::test]
async fn sqlite_store_upserts_and_keeps_price_history_across_crawls() {
    let (_dir, path) = scratch("store.sqlite");
    let first = sample_records();
    assert_eq!(create_with(&path, &first).await, 4);

    // Second crawl: p/1 changes price, p/2 is unchanged, d/3 has the same price written with
    // another scale, p/4 changes availability only, p/5 is new.
    let mut second = first.clone();
    second[0].price = Some("17.50".parse().unwrap());
    second[0].title = "Café renamed".into();
    second[2].price = Some("0.990".parse().unwrap());
    second[3].availability = Some(Availability::InStock);
    second.push(Record::product(
        "shop",
        "http://shop.test/p/5",
        "New",
        Method::Css,
    ));
    assert_eq!(create_with(&path, &second).await, 5);

    let back = read_records(&path).unwrap();
    assert_same_records(&back, &second, "records after two crawls");

    let conn = rusqlite::Connection::open(&path).unwrap();
    let history = |url: &str| {
        let mut stmt = conn
            .prepare(
                "SELECT price, list_price, currency, availability FROM price_history \
                 WHERE url = ?1 ORDER BY id",
            )
            .unwrap();
        stmt.query_map([url], |r| {
            Ok((
                r.get::<_, Option<String>>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<String>>(3)?,
            ))
        })
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
    };
    let p1 = history("http://shop.test/p/1");
    assert_eq!(p1.len(), 2, "{p1:?}");
    assert_eq!(p1[0].0.as_deref(), Some("19.90"));
    assert_eq!(p1[1].0.as_deref(), Some("17.50"));
    assert_eq!(p1[1].1.as_deref(), Some("24.00"));
    assert_eq!(p1[1].2.as_deref(), Some("EUR"));
    assert_eq!(history("http://shop.test/p/2").len(), 1);
    assert_eq!(history("http://deals.test/d/3?x=\"1\",2").len(), 1);
    let p4 = history("http://other.test/p/4");
    assert_eq!(p4.len(), 2, "{p4:?}");
    assert_eq!(p4[1].3.as_deref(), Some("in_stock"));
    assert_eq!(history("http://shop.test/p/5").len(), 1);

    // Bookkeeping: two finished crawls; first_seen_at kept, crawl_id moved on.
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM crawls WHERE finished_at IS NOT NULL",
            []
        ),
        2
    );
    assert_eq!(
        count(&conn, "SELECT count(*) FROM records WHERE crawl_id = 2", []),
        5
    );
    let (first_seen, seen): (String, String) = conn
        .query_row(
            "SELECT first_seen_at, seen_at FROM records WHERE url = 'http://shop.test/p/1'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        first_seen,
        serde_json::to_value(first[0].seen_at)
            .unwrap()
            .as_str()
            .unwrap()
    );
    assert_eq!(
        seen,
        serde_json::to_value(second[0].seen_at)
            .unwrap()
            .as_str()
            .unwrap()
    );
}

#[tokio::test]
async fn sqlite_resume_continues_the_latest_crawl() {
    let (_dir, path) = scratch("resume.db");
    let recs = sample_records();
    create_with(&path, &recs[..1]).await;
    // A second crawl that wrote two records, then "crashed".
    create_with(&path, &recs[1..3]).await;

    let (out, keys) = Output::open_append(&path).unwrap();
    assert_eq!(sorted_keys(&keys), keys_of(&recs[1..3]));
    // Resending a key of this crawl is skipped; a new one is written.
    assert_eq!(write_all(out, &recs[2..]).await.unwrap(), 1);
    let conn = rusqlite::Connection::open(&path).unwrap();
    assert_eq!(count(&conn, "SELECT count(*) FROM crawls", []), 2);
    assert_eq!(
        count(&conn, "SELECT count(*) FROM records WHERE crawl_id = 2", []),
        3
    );
    assert_eq!(count(&conn, "SELECT count(*) FROM records", []), 4);
}

#[tokio::test]
async fn sqlite_keeps_the_last_visit_of_each_page_and_files_ignore_visits() {
    let (dir, path) = scratch("visits.db");
    for (status, etag) in [(Some(200), Some("\"v1\"")), (Some(404), None)] {
        let out = Output::create(&path).unwrap();
        let tx = out.sender();
        let mut v = haul_output::Visit::new("demo", "http://shop.test/p/1");
        v.status = status;
        v.etag = etag.map(String::from);
        v.records = vec!["http://shop.test/p/1".into()];
        tx.visit(v).await.unwrap();
        drop(tx);
        out.finish().await.unwrap();
    }
    let conn = rusqlite::Connection::open(&path).unwrap();
    let row: (i64, Option<String>, String, i64) = conn
        .query_row(
            "SELECT status, etag, records, crawl_id FROM pages WHERE site = 'demo'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert_eq!(row, (404, None, r#"["http://shop.test/p/1"]"#.into(), 2));

    let jsonl = dir.path().join("visits.jsonl");
    let out = Output::create(&jsonl).unwrap();
    let tx = out.sender();
    tx.visit(haul_output::Visit::new("demo", "http://shop.test/"))
        .await
        .unwrap();
    drop(tx);
    assert_eq!(out.finish().await.unwrap(), 0);
    assert_eq!(std::fs::read_to_string(&jsonl).unwrap(), "");
}

/// Where each record of a complete file ends: a cut at or after that offset keeps it.
fn record_ends(format: OutputFormat, bytes: &[u8]) -> Vec<usize> {
    match format {
        // The closing `}`: a missing newline is restored on resume.
        OutputFormat::Jsonl => bytes
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .map(|(i, _)| i)
            .collect(),
        OutputFormat::Json => {
            let mut ends = Vec::new();
            let mut start = 0;
            for line in bytes.split_inclusive(|b| *b == b'\n') {
                if line.starts_with(b"{") {
                    let close = line.iter().rposition(|b| *b == b'}').unwrap();
                    ends.push(start + close + 1);
                }
                start += line.len();
            }
            ends
        }
        // The whole row with its newline.
        OutputFormat::Csv => {
            let mut reader = csv::ReaderBuilder::new().from_reader(bytes);
            let mut starts: Vec<usize> = reader
                .byte_records()
                .map(|r| r.unwrap().position().unwrap().byte() as usize)
                .collect();
            starts.remove(0);
            starts.push(bytes.len());
            starts
        }
        other => unreachable!("{other:?}"),
    }
}

#[tokio::test]
async fn resume_after_a_kill_anywhere_keeps_each_record_once() {
    let dir = tempfile::tempdir().unwrap();
    let recs = sample_records();
    let (old, new) = recs.split_at(3);
    for name in ["cut.jsonl", "cut.json", "cut.csv"] {
        let path = dir.path().join(name);
        let format = OutputFormat::for_path(&path).unwrap();
        create_with(&path, old).await;
        let full = std::fs::read(&path).unwrap();
        let ends = record_ends(format, &full);
        assert_eq!(ends.len(), old.len(), "{name}: {ends:?}");
        // Every byte near a line end or a record end (where the cases differ), and every
        // fifth byte elsewhere (a cut inside text is all alike).
        let near_end = |c: usize| {
            let lo = c.saturating_sub(2);
            let hi = (c + 3).min(full.len());
            full[lo..hi].contains(&b'\n') || ends.iter().any(|e| e.abs_diff(c) <= 2)
        };
        let cuts: Vec<usize> = (0..=full.len())
            .filter(|c| c % 5 == 0 || near_end(*c))
            .collect();
        for cut in cuts {
            let context = format!("{name} cut at {cut} of {}", full.len());
            // A new file per cut: truncating a file is slow on some file systems.
            let path = dir.path().join(format!("{cut}.{name}"));
            std::fs::write(&path, &full[..cut]).unwrap();
            let (out, keys) =
                Output::open_append(&path).unwrap_or_else(|e| panic!("{context}: {e}"));
            let kept: Vec<Record> = old
                .iter()
                .zip(&ends)
                .filter(|(_, end)| **end <= cut)
                .map(|(r, _)| r.clone())
                .collect();
            assert_eq!(sorted_keys(&keys), keys_of(&kept), "{context}");
            // The resumed crawl sends everything again plus a new record.
            let written = write_all(out, &recs).await.unwrap();
            assert_eq!(written as usize, recs.len() - kept.len(), "{context}");
            let back = read_records(&path).unwrap_or_else(|e| panic!("{context}: {e}"));
            let mut want = kept.clone();
            want.extend(old.iter().filter(|r| !kept.contains(r)).cloned());
            want.extend(new.iter().cloned());
            assert_same_records(&back, &want, &context);
            if format == OutputFormat::Json {
                let arr: Vec<Record> = serde_json::from_slice(&std::fs::read(&path).unwrap())
                    .unwrap_or_else(|e| panic!("{context}: {e}"));
                assert_eq!(arr.len(), recs.len(), "{context}");
            }
        }
    }
}

#[tokio::test]
async fn json_resume_repairs_an_element_started_over_the_closing_bracket() {
    let (_dir, path) = scratch("remnant.json");
    let recs = sample_records();
    create_with(&path, &recs[..2]).await;
    let full = std::fs::read_to_string(&path).unwrap();
    let body = full.strip_suffix("\n]\n").unwrap();
    // What a kill leaves after the next element overwrote 1, 2 or 3 bytes of "\n]\n".
    for tail in [",]\n", ",\n\n", ",\n{", ",\n{\"kind\":\"prod"] {
        std::fs::write(&path, format!("{body}{tail}")).unwrap();
        let (out, keys) = Output::open_append(&path).unwrap();
        assert_eq!(sorted_keys(&keys), keys_of(&recs[..2]), "{tail:?}");
        assert_eq!(write_all(out, &recs).await.unwrap(), 2, "{tail:?}");
        let arr: Vec<Record> = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_same_records(&arr, &recs, tail);
        // Back to the two-record file for the next case.
        std::fs::write(&path, &full).unwrap();
    }
}

#[tokio::test]
async fn open_append_on_a_missing_file_creates_it() {
    let dir = tempfile::tempdir().unwrap();
    let recs = sample_records();
    for name in ["new.jsonl", "new.json", "new.csv", "new.db"] {
        let path = dir.path().join(name);
        let (out, keys) = Output::open_append(&path).unwrap();
        assert!(keys.is_empty(), "{name}");
        assert_eq!(write_all(out, &recs).await.unwrap(), 4, "{name}");
        assert_same_records(&read_records(&path).unwrap(), &recs, name);
    }
}

/// `open_append` on `content` fails as corrupt at `line`, naming the file, and leaves it alone.
fn assert_corrupt(path: &Path, content: &str, line: u64) {
    std::fs::write(path, content).unwrap();
    let e = Output::open_append(path).unwrap_err();
    match &e {
        OutputError::Corrupt {
            path: p, line: l, ..
        } => {
            assert_eq!(p, path, "{e}");
            assert_eq!(*l, line, "{e}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert!(e.to_string().contains(&path.display().to_string()), "{e}");
    assert_eq!(std::fs::read_to_string(path).unwrap(), content);
}

#[test]
fn resume_rejects_files_haul_did_not_write_with_the_line_number() {
    let dir = tempfile::tempdir().unwrap();
    let line = serde_json::to_string(&sample_records()[1]).unwrap();
    let jsonl = dir.path().join("bad.jsonl");
    assert_corrupt(&jsonl, &format!("{line}\nnot json\n{line}\n"), 2);
    assert_corrupt(
        &jsonl,
        &format!("{line}\n{line}\n{{\"site\":\"x\"}}\n{line}"),
        3,
    );
    let json = dir.path().join("bad.json");
    assert_corrupt(&json, &format!("[\n{line},\nnope,\n{line}\n]\n"), 3);
    assert_corrupt(&json, &format!("{line}\n"), 1);
    assert_corrupt(&json, &format!("[\n{line}\n]\n{line}\n"), 4);
    let csv = dir.path().join("bad.csv");
    assert_corrupt(&csv, "a,b,c\n1,2,3\n", 1);
    let header = COLUMNS.join(",");
    let row = "product,s,http://x/1,T,,,,,,,,,,,,,,,2024-01-01T00:00:00Z,css,,";
    assert_corrupt(&csv, &format!("{header}\n{row}\nshort,row\n{row}\n"), 3);
}

#[tokio::test]
async fn a_write_error_names_the_file() {
    // /dev/full accepts the open and fails every write with ENOSPC.
    let path = Path::new("/dev/full");
    let out = Output::create(path).unwrap();
    let tx = out.sender();
    tx.send(sample_records()[0].clone()).await.unwrap();
    // The writer stops at its first flush; later sends say so, naming the file and why.
    let mut gone = None;
    for _ in 0..2000 {
        if let Err(e) = tx.send(sample_records()[1].clone()).await {
            gone = Some(e);
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let gone = gone.expect("sending never failed");
    assert!(matches!(gone, OutputError::WriterGone { .. }), "{gone:?}");
    let msg = gone.to_string();
    assert!(
        msg.contains("/dev/full") && msg.contains("cannot write"),
        "{msg}"
    );
    drop(tx);
    let e = out.finish().await.unwrap_err();
    assert!(matches!(e, OutputError::Write { .. }), "{e:?}");
    assert!(e.to_string().contains("/dev/full"), "{e}");
}

#[test]
fn bad_paths_and_formats_name_the_file() {
    for name in ["x.jsonl", "x.json", "x.csv", "x.db"] {
        let path = PathBuf::from("/nonexistent-dir").join(name);
        let e = Output::create(&path).unwrap_err();
        assert!(matches!(e, OutputError::Create { .. }), "{e:?}");
        assert!(e.to_string().contains(&path.display().to_string()), "{e}");
    }
    let e = Output::create(Path::new("out.xlsx")).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("out.xlsx"), "{msg}");
    for ext in [
        ".jsonl", ".ndjson", ".json", ".csv", ".db", ".sqlite", ".sqlite3",
    ] {
        assert!(msg.contains(ext), "{msg}");
    }
    assert!(Output::open_append(Path::new("out.xlsx")).is_err());
    assert_eq!(
        OutputFormat::for_path(Path::new("-")).unwrap(),
        OutputFormat::Jsonl
    );
    assert_eq!(
        OutputFormat::for_path(Path::new("out")).unwrap(),
        OutputFormat::Jsonl
    );
    assert_eq!(
        OutputFormat::for_path(Path::new("a.SQLite")).unwrap(),
        OutputFormat::Sqlite
    );
}

#[test]
fn a_file_that_is_not_a_database_names_the_file() {
    let (_dir, path) = scratch("text.db");
    std::fs::write(
        &path,
        "this is not a SQLite database, just text that is long enough\n".repeat(20),
    )
    .unwrap();
    let e = Output::create(&path).unwrap_err();
    assert!(e.to_string().contains(&path.display().to_string()), "{e}");
    let e = Output::open_append(&path).unwrap_err();
    assert!(e.to_string().contains(&path.display().to_string()), "{e}");
}

#[tokio::test]
async fn standard_output_is_json_lines() {
    let out = Output::create(Path::new("-")).unwrap();
    assert_eq!(out.format(), OutputFormat::Jsonl);
    assert_eq!(out.finish().await.unwrap(), 0);
    let (out, keys) = Output::open_append(Path::new("-")).unwrap();
    assert!(keys.is_empty());
    assert_eq!(out.finish().await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_senders_write_each_key_once_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let (tasks, per_task, distinct) = (4usize, 400usize, 1200usize);
    for name in ["many.jsonl", "many.json", "many.csv", "many.db"] {
        let path = dir.path().join(name);
        let out = Output::create(&path).unwrap();
        let mut handles = Vec::new();
        for t in 0..tasks {
            let tx = out.sender();
            handles.push(tokio::spawn(async move {
                for i in 0..per_task {
                    // Tasks overlap: 1600 sends of 1200 distinct keys.
                    let k = (t * 300 + i) % distinct;
                    let mut r = Record::product(
                        "s",
                        format!("http://x/p/{k}"),
                        format!("P {k}, \"n\""),
                        Method::Css,
                    );
                    r.price = Some(format!("{k}.5").parse().unwrap());
                    tx.send(r).await.unwrap();
                }
            }));
        }
        for h in handles {
            h.await.unwrap();
        }
        assert_eq!(out.finish().await.unwrap(), distinct as u64, "{name}");
        let back = read_records(&path).unwrap();
        assert_eq!(back.len(), distinct, "{name}");
        assert_eq!(keys_of(&back).len(), distinct, "{name}");
        for r in &back {
            let k: String = r.url.rsplit('/').next().unwrap().into();
            assert_eq!(r.price.unwrap().to_string(), format!("{k}.5"), "{name}");
            assert_eq!(r.title, format!("P {k}, \"n\""), "{name}");
        }
    }
}
