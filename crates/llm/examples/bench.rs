//! Runs the LLM pool benchmark once and prints the report (`cargo xtask bench llm` runs the
//! same function): `cargo run -p haul-llm --release --features fake --example bench`.
//! Optional arguments: tasks, latency in ms, keys, requests per minute per key.

use std::time::Duration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let arg = |i: usize, default: u64| args.get(i).copied().unwrap_or(default);
    let report = haul_llm::bench::run_blocking(
        usize::try_from(arg(0, 2000))?,
        Duration::from_millis(arg(1, 100)),
        usize::try_from(arg(2, 3))?,
        Some(u32::try_from(arg(3, 1200))?),
    )?;
    println!("{report}");
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
