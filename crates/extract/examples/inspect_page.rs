//! Shows what each extraction layer finds on one saved page, and the best heuristic price
//! candidates: `cargo run -p haul-extract --example inspect_page -- FILE [URL]`.

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        eprintln!("usage: inspect_page FILE [URL]");
        return std::process::ExitCode::FAILURE;
    };
    let html = match std::fs::read(path) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) => {
            eprintln!("error: cannot read {path}: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let url = args
        .get(1)
        .and_then(|u| haul_core::Url::parse(u).ok())
        .unwrap_or_else(|| haul_core::Url::parse("https://page.invalid/").expect("valid URL"));
    let page = haul_extract::Page::parse(&html, &url);
    if std::env::var("MARKDOWN").is_ok() {
        let t = std::time::Instant::now();
        let md = haul_extract::page_markdown(&page);
        println!("{md}");
        eprintln!("markdown: {} chars in {:?}", md.len(), t.elapsed());
        return std::process::ExitCode::SUCCESS;
    }
    println!("{page:?}");
    let l = haul_extract::layers(&page, "inspect");
    for r in l.json_ld.iter() {
        println!(
            "json_ld: {:?} {:?} {:?} list {:?}",
            r.title, r.price, r.currency, r.list_price
        );
    }
    for r in l.microdata.iter() {
        println!(
            "microdata: {:?} {:?} {:?} list {:?}",
            r.title, r.price, r.currency, r.list_price
        );
    }
    if let Some(r) = &l.open_graph {
        println!("open_graph: {:?} {:?} {:?}", r.title, r.price, r.currency);
    }
    if let Some(r) = &l.heuristic {
        println!(
            "heuristic: {:?} {:?} {:?} list {:?}",
            r.title, r.price, r.currency, r.list_price
        );
    }
    for c in haul_extract::price_candidates(&page).iter().take(
        std::env::var("TOPN")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(12),
    ) {
        println!(
            "  {:6.2} {:>10} old={} {:?} {}",
            c.score,
            c.amount.to_string(),
            c.old,
            c.text,
            c.why
        );
    }
    let ex = haul_extract::extract_page(&page, "inspect");
    for r in &ex.records {
        println!("=> {}", serde_json::to_string(r).unwrap_or_default());
    }
    std::process::ExitCode::SUCCESS
}
