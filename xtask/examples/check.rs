//! The contract check behind `cargo xtask check SITE [--fixtures DIR]` (which runs this
//! example). An example rather than part of the xtask binary because it links every site
//! through `haul-sites` (a dev-dependency), and xtask itself must keep building in seconds.

#[allow(dead_code)] // `record`'s half of the index is not used here
#[path = "../src/fixtures.rs"]
mod fixtures;

#[path = "../src/check.rs"]
mod check;

fn main() -> std::process::ExitCode {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is inside the workspace")
        .to_path_buf();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match check::run(&root, &args) {
        Ok(_) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask check: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
