//! Evaluates the price parser on a JSON Lines corpus: `cargo run -p haul-price --example
//! eval_prices -- [FILE] [--xfail]` (default FILE: ../shared/data/price-strings/price_strings.jsonl).
//! `--xfail` also lists the xfail examples still missed.

fn main() -> std::process::ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let show_xfail = args.iter().any(|a| a == "--xfail");
    args.retain(|a| a != "--xfail");
    let path = args
        .first()
        .cloned()
        .unwrap_or_else(|| "../shared/data/price-strings/price_strings.jsonl".to_string());
    match haul_price::eval::evaluate_file(&path) {
        Ok(report) => {
            print!("{report}");
            if show_xfail {
                println!("  xfail misses:");
                for m in report.misses.iter().filter(|m| m.xfail) {
                    println!(
                        "    line {}: {:?}: expected {:?} {:?}, got {:?} {:?}",
                        m.line, m.text, m.expected.0, m.expected.1, m.got.0, m.got.1
                    );
                }
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
