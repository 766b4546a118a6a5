//! Link options for burrow's binaries: every command pays the dynamic
//! loader's relocation of the binary before `main`, and burrow is a
//! position-independent executable with thousands of relative relocations
//! (tables of pointers: clap's, serde's, the seccomp profile's). Packed
//! relative relocations (DT_RELR) store them as a bitmap a few kilobytes
//! long instead of 24 bytes each, and the loader applies them in a tight
//! loop. binutils before 2.38 ignores the option with a warning, and newer
//! ones leave DT_RELR out when the C library cannot read it (glibc < 2.36).
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
