//! The `haul` binary: a thin entry point over the `haul_cli` library.

fn main() -> std::process::ExitCode {
    haul_cli::main()
}
