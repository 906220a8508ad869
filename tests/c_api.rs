//! Compiles the C programs in tests/c/ with the system C compiler against
//! include/midl_alloc.h and the crate's shared library, and runs them. A
//! mismatch between the header and the exports fails to compile or link.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Builds the crate's shared library from the current sources (`cargo test`
/// builds only the rlib) in its own target directory, so it never races the
/// outer build, and returns the directory holding `libmidl_alloc.so`.
fn lib_dir() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let root = Path::new(env!("CARGO_MANIFEST_DIR"));
            let target = root.join("target").join("c-api");
            let release = !cfg!(debug_assertions);
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let mut cmd = Command::new(cargo);
            cmd.current_dir(root)
                .args(["build", "--lib", "-p", "midl-alloc", "--target-dir"])
                .arg(&target);
            if release {
                cmd.arg("--release");
            }
            let status = cmd.status().expect("cannot run cargo");
            assert!(status.success(), "building libmidl_alloc.so failed");
            let dir = target.join(if release { "release" } else { "debug" });
            assert!(
                dir.join("libmidl_alloc.so").exists(),
                "libmidl_alloc.so not found in {}",
                dir.display()
            );
            dir
        })
        .clone()
}

fn compile_and_run(name: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib = lib_dir();
    let out = std::env::temp_dir().join(format!("midl-alloc-{name}-{}", std::process::id()));
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(&cc)
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-O1", "-pthread"])
        .arg("-I")
        .arg(root.join("include"))
        .arg("-I")
        .arg(root.join("tests/c"))
        .arg(root.join("tests/c").join(format!("{name}.c")))
        .arg("-o")
        .arg(&out)
        .arg("-L")
        .arg(&lib)
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .arg("-lmidl_alloc")
        .status()
        .unwrap_or_else(|e| panic!("cannot run {cc}: {e}"));
    assert!(status.success(), "compiling tests/c/{name}.c failed");
    // cargo test puts target/<profile>/deps on LD_LIBRARY_PATH, which beats
    // the rpath: point it at the library just built.
    let run = Command::new(&out).env("LD_LIBRARY_PATH", &lib).output().unwrap();
    let _ = std::fs::remove_file(&out);
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(
        run.status.success(),
        "{name} failed: {}\n{}",
        stdout,
        String::from_utf8_lossy(&run.stderr)
    );
    stdout
}

#[test]
fn c_contract_program_passes() {
    let out = compile_and_run("contract");
    assert!(out.contains("checks passed"), "{out}");
}

#[test]
fn c_rpcss_program_passes() {
    let out = compile_and_run("rpcss");
    assert!(out.contains("checks passed"), "{out}");
}

#[test]
fn c_out_of_memory_program_passes() {
    let out = compile_and_run("oom");
    assert!(out.contains("checks passed"), "{out}");
}
