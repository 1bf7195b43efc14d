//! The CLI alone, for trying it against any Engine API daemon without building the engine:
//! `cargo run -p wharf-cli --example wharf-cli -- -H unix:///path images`.

fn main() {
    std::process::exit(wharf_cli::main());
}
