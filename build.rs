//! Build script: links the `gameday` binary with packed relative relocations
//! (`-z pack-relative-relocs`, DT_RELR) where the linker and C library take
//! them. A position-independent executable of this size carries about
//! 120,000 relative relocations; as classic RELA entries they are 2.9 MiB that
//! the dynamic loader reads at every start, so even `gameday --version` had a
//! resident set of ~10 MiB. Packed, they are 30 KiB, and `gameday validate`
//! needs 3 MiB less memory (benches/engine.sh). The executable stays
//! position-independent (ASLR is kept).
//!
//! The flag is probed by linking an empty C program with it (warnings made
//! fatal, since an older GNU ld only warns about an unknown `-z` keyword), so
//! an older toolchain builds as before instead of failing.

use std::path::PathBuf;
use std::process::{Command, Stdio};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=RUSTC_LINKER");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    let host = std::env::var("HOST").unwrap_or_default();
    let target = std::env::var("TARGET").unwrap_or_default();
    // Only for a native Linux/glibc build: the probe runs the host's linker.
    if os != "linux" || env != "gnu" || host != target {
        return;
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into()));
    let src = out.join("relr-probe.c");
    let exe = out.join("relr-probe");
    if std::fs::write(&src, "int main(void) { return 0; }\n").is_err() {
        return;
    }
    // The linker rustc will use: cargo passes a configured one as RUSTC_LINKER.
    let linker = std::env::var("RUSTC_LINKER").unwrap_or_else(|_| "cc".into());
    let linked = Command::new(linker)
        .args(["-pie", "-fPIE"])
        .arg(&src)
        .arg("-o")
        .arg(&exe)
        .args(["-Wl,-z,pack-relative-relocs", "-Wl,--fatal-warnings"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    // The probe must also run: a C library without DT_RELR support refuses it.
    let runs = linked && Command::new(&exe).status().is_ok_and(|s| s.success());
    if runs {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
