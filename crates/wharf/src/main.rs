//! The one `wharf` binary: `wharf daemon …` runs the daemon, `wharf shim …` is a container's
//! shim (started by the daemon), `wharf registry …` is the registry server, everything else
//! is the CLI.

fn main() {
    let mut args = std::env::args_os();
    let _argv0 = args.next();
    let code = match args.next().as_deref().and_then(|a| a.to_str()) {
        Some("daemon") => wharf_engine::daemon_main(std::env::args_os().skip(1)),
        Some("shim") => wharf_engine::shim_main(std::env::args_os().skip(1)),
        Some("registry") => wharf_registry::registry_main(std::env::args_os().skip(1)),
        _ => wharf_cli::main(),
    };
    std::process::exit(code)
}
