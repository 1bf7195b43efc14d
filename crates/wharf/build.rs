//! Links the `wharf` executable as a non-PIE binary (docs/adr-0016-non-pie.md).
//!
//! A PIE build carries ≈ 43 000 relative relocations: at every exec (each CLI call, the
//! daemon, the zygote) ld.so writes the whole `.data.rel.ro` (≈ 730 KiB, 190 pages, each a
//! copy-on-write fault). Linked at a fixed address those pages stay clean and shared, and a
//! CLI call starts in 1.2 ms instead of 1.7. Shared libraries, stack, heap and mmap stay
//! randomized. `WHARF_PIE=1` at build time keeps the PIE link.
fn main() {
    println!("cargo:rerun-if-env-changed=WHARF_PIE");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    let pie = std::env::var_os("WHARF_PIE").is_some_and(|v| v == "1");
    if linux && !pie {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
