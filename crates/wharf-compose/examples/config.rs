//! `cargo run -p wharf-compose --example config -- [-f FILE]...`: prints the resolved project
//! (what `wharf compose config` prints), for trying the loader by hand.

fn main() {
    let mut files = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "-f" {
            files.extend(args.next().map(Into::into));
        }
    }
    let opts = wharf_compose::LoadOptions {
        files,
        environment: std::env::vars().collect(),
        cwd: std::env::current_dir().unwrap_or_default(),
        ..Default::default()
    };
    match wharf_compose::load_with_warnings(&opts) {
        Ok(l) => {
            for w in l.warnings {
                eprintln!("WARN {w}");
            }
            print!("{}", wharf_compose::to_yaml(&l.project));
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
