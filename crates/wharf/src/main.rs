//! The one `wharf` binary. `wharf daemon …` runs the daemon; everything else is the CLI.

fn main() {
    let mut args = std::env::args_os();
    let _argv0 = args.next();
    match args.next().as_deref().and_then(|a| a.to_str()) {
        Some("daemon") => std::process::exit(wharf_engine::daemon_main(std::env::args_os().skip(1))),
        _ => std::process::exit(wharf_cli::main()),
    }
}
