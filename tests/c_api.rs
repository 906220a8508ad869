//! Compiles the C programs in tests/c/ with the system C compiler against
//! include/midl_alloc.h and the crate's shared library, and runs them. A
//! mismatch between the header and the exports fails to compile or link.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The library variants the C programs run against.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Build {
    Default,
    /// `--features checked`
    Checked,
    /// `--features override`, loaded with LD_PRELOAD instead of linked
    Override,
    /// The default library, not linked: the program loads it with
    /// `dlopen` from the path in `MIDL_TEST_LIBRARY`
    Dlopen,
    /// `--features valgrind`, the program run under valgrind's memcheck
    Valgrind,
    /// `--features dlopen-tls`, loaded with `dlopen` as `Dlopen`
    DlopenTls,
}

/// Builds the crate's shared library from the current sources (`cargo test`
/// builds only the rlib) in its own target directory, so it never races the
/// outer build, and returns the directory holding `libmidl_alloc.so`.
fn lib_dir(build: Build) -> PathBuf {
    static DEFAULT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    static CHECKED: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    static OVERRIDE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    static VALGRIND: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    static DLOPEN_TLS: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    let (cell, dir, features) = match build {
        Build::Default | Build::Dlopen => (&DEFAULT, "c-api", ""),
        Build::Checked => (&CHECKED, "c-api-checked", "checked"),
        Build::Override => (&OVERRIDE, "c-api-override", "override"),
        Build::Valgrind => (&VALGRIND, "c-api-valgrind", "valgrind"),
        Build::DlopenTls => (&DLOPEN_TLS, "c-api-dlopen-tls", "dlopen-tls"),
    };
    cell.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let target = root.join("target").join(dir);
        let release = !cfg!(debug_assertions);
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(root)
            .args([
                "build",
                "--lib",
                "-p",
                "midl-alloc",
                "--features",
                features,
                "--target-dir",
            ])
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
    run_c(name, Build::Default, &[]).0
}

/// Compiles tests/c/<name>.c (or <name>.c from the repository's root if
/// `name` has a `/`) against the `build` library, runs it with the
/// extra environment `env`, and returns its (stdout, stderr); fails the test
/// if it does not exit 0.
fn run_c(name: &str, build: Build, env: &[(&str, &str)]) -> (String, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib = lib_dir(build);
    let tag = match build {
        Build::Default => "",
        Build::Dlopen => "dlopen-",
        Build::Checked => "checked-",
        Build::Override => "override-",
        Build::Valgrind => "valgrind-",
        Build::DlopenTls => "dlopen-tls-",
    };
    let base = name.rsplit('/').next().unwrap();
    let out = std::env::temp_dir().join(format!("midl-alloc-{tag}{base}-{}", std::process::id()));
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(&cc)
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-O1", "-g", "-pthread"])
        .arg("-I")
        .arg(root.join("include"))
        .arg("-I")
        .arg(root.join("tests/c"))
        .arg(if name.contains('/') {
            root.join(format!("{name}.c"))
        } else {
            root.join("tests/c").join(format!("{name}.c"))
        })
        .arg("-o")
        .arg(&out)
        .args(if matches!(build, Build::Override | Build::Dlopen | Build::DlopenTls) {
            vec!["-ldl".to_string()]
        } else {
            vec![
                "-L".into(),
                lib.display().to_string(),
                format!("-Wl,-rpath,{}", lib.display()),
                "-lmidl_alloc".into(),
            ]
        })
        .status()
        .unwrap_or_else(|e| panic!("cannot run {cc}: {e}"));
    assert!(status.success(), "compiling tests/c/{name}.c failed");
    // cargo test puts target/<profile>/deps on LD_LIBRARY_PATH, which beats
    // the rpath: point it at the library just built.
    let mut cmd = if build == Build::Valgrind {
        let mut c = Command::new("valgrind");
        c.args(["--leak-check=full", "--errors-for-leak-kinds=definite"])
            .arg(&out);
        c
    } else {
        Command::new(&out)
    };
    if build == Build::Override {
        cmd.env("LD_PRELOAD", lib.join("libmidl_alloc.so"));
    }
    if matches!(build, Build::Dlopen | Build::DlopenTls) {
        cmd.env("MIDL_TEST_LIBRARY", lib.join("libmidl_alloc.so"));
    }
    let run = cmd
        .env("LD_LIBRARY_PATH", &lib)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {name} (valgrind for the valgrind build: apt-get install valgrind): {e}")
        });
    let _ = std::fs::remove_file(&out);
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
    assert!(run.status.success(), "{name} failed: {stdout}\n{stderr}");
    (stdout, stderr)
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
fn c_threads_program_passes() {
    let out = compile_and_run("threads");
    assert!(out.contains("threads: ok"), "{out}");
}

#[test]
fn c_out_of_memory_program_passes() {
    let out = compile_and_run("oom");
    assert!(out.contains("checks passed"), "{out}");
}

#[test]
fn c_library_loaded_with_dlopen_after_start_up_works_on_every_thread() {
    let (out, _) = run_c("dlopen", Build::Dlopen, &[]);
    assert!(out.contains("1 checks passed"), "{out}");
}

#[test]
fn c_default_build_stops_every_double_and_invalid_free() {
    let out = compile_and_run("bad_free");
    assert!(out.contains("21 checks passed"), "{out}");
}

#[test]
fn c_free_list_corruption_never_hands_out_a_forged_pointer() {
    let out = compile_and_run("corruption");
    assert!(out.contains("5 checks passed"), "{out}");
}

#[test]
fn c_free_list_corruption_is_reported_in_the_checked_build() {
    let (out, _) = run_c("corruption", Build::Checked, &[("MIDL_TEST_CHECKED", "1")]);
    assert!(out.contains("5 checks passed"), "{out}");
    assert!(!out.contains("SIGSEGV"), "{out}");
}

#[test]
fn c_stats_program_passes_and_prints_at_exit() {
    let (out, err) = run_c("stats", Build::Default, &[("MIDL_ALLOC_STATS", "1")]);
    assert!(out.contains("checks passed"), "{out}");
    // The program's own table (stdout) and the one printed at exit (stderr).
    for text in [&out, &err] {
        assert!(
            text.contains("midl-alloc statistics") && text.contains("OS memory: reserved"),
            "{text}"
        );
    }
    assert!(
        err.lines().any(|l| l.trim_start().starts_with("112 ")),
        "no 112-byte row: {err}"
    );
}

#[test]
fn c_checked_mode_stops_every_bad_pointer() {
    let (out, _) = run_c("checked", Build::Checked, &[]);
    assert!(out.contains("10 checks passed"), "{out}");
}

#[test]
fn c_checked_mode_request_without_the_feature_is_reported() {
    let (out, err) = run_c("stats", Build::Default, &[("MIDL_ALLOC_CHECKED", "1")]);
    assert!(out.contains("checks passed"), "{out}");
    assert!(err.contains("has no checked mode"), "{err}");
}

#[test]
fn c_override_gives_glibc_semantics_under_ld_preload() {
    let (out, _) = run_c("override", Build::Override, &[]);
    assert!(out.contains("5 checks passed"), "{out}");
}

#[test]
fn c_rpc_server_example_serves_every_call() {
    let (out, _) = run_c("examples/c/rpc_server", Build::Default, &[]);
    assert!(out.contains("50000 calls served"), "{out}");
    let json = out.lines().nth(1).unwrap_or("");
    assert!(json.starts_with("{\"version\":2,") && json.ends_with('}'), "{out}");
}

/// The `dlopen-tls` build takes no static TLS (the dynamic section has no
/// `STATIC_TLS` flag, which the default build's initial-exec slot sets)
/// and passes the dlopen program.
#[test]
fn c_dlopen_tls_build_needs_no_static_tls_and_loads_with_dlopen() {
    let flags = |build: Build| -> String {
        let out = Command::new("readelf")
            .arg("-d")
            .arg(lib_dir(build).join("libmidl_alloc.so"))
            .output()
            .expect("readelf (binutils)");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(
        flags(Build::Default).contains("STATIC_TLS"),
        "the default build should use initial-exec TLS"
    );
    let dl = flags(Build::DlopenTls);
    assert!(dl.contains("FLAGS") && !dl.contains("STATIC_TLS"), "{dl}");
    let (out, _) = run_c("dlopen", Build::DlopenTls, &[]);
    assert!(out.contains("checks passed"), "{out}");
}

/// The exported calls a stub makes for every parameter reach the thread's
/// state through the initial-exec slots, not through `__tls_get_addr` (a
/// call in each, which a Rust `thread_local!` in a shared library costs):
/// none of their bodies in the default build calls it.
#[test]
fn c_per_block_exports_call_no_tls_get_addr() {
    let out = Command::new("objdump")
        .args(["-d", "--no-show-raw-insn"])
        .arg(lib_dir(Build::Default).join("libmidl_alloc.so"))
        .output()
        .expect("objdump (binutils)");
    let text = String::from_utf8_lossy(&out.stdout);
    for name in ["MIDL_user_allocate", "MIDL_user_free", "RpcSsAllocate", "RpcSmAllocate"] {
        let start = format!("<{name}>:");
        let body: Vec<&str> = text
            .lines()
            .skip_while(|l| !l.ends_with(&start))
            .skip(1)
            .take_while(|l| !l.trim().is_empty())
            .collect();
        assert!(!body.is_empty(), "{name} not found in the library");
        let tls: Vec<&&str> = body.iter().filter(|l| l.contains("__tls_get_addr")).collect();
        assert!(tls.is_empty(), "{name} calls __tls_get_addr: {tls:?}");
    }
}

/// The `valgrind` build under memcheck: each of the faulty program's errors
/// is reported where it is (the default build, unannounced, gives none of
/// them), and correct programs (the contract, the RpcSs package, the
/// example server, whose threads exit with blocks out) get no report at
/// all.
#[test]
fn c_memcheck_reports_leaks_uses_after_free_and_invalid_frees() {
    let (out, err) = run_c("memcheck_faulty", Build::Valgrind, &[]);
    assert!(
        out.contains("faulty program done") && out.contains("stopped at the double free"),
        "{out}"
    );
    assert!(err.contains("midl-alloc: double free of"), "{err}");
    for (what, text) in [
        ("the read after free", "Invalid read of size 1"),
        (
            "the branch on fresh memory",
            "Conditional jump or move depends on uninitialised value",
        ),
        ("the double free", "Invalid free()"),
        ("the leak", "definitely lost: 100 bytes in 1 blocks"),
        ("four errors and no more", "ERROR SUMMARY: 4 errors from 4 contexts"),
    ] {
        assert!(err.contains(text), "memcheck did not report {what} ({text:?}):\n{err}");
    }
    for line in ["memcheck_faulty.c:46", "memcheck_faulty.c:51", "memcheck_faulty.c:60"] {
        assert!(err.contains(line), "no report at {line}:\n{err}");
    }
    // Correct programs, threads exiting with blocks out included: no report.
    for program in ["contract", "rpcss", "examples/c/rpc_server"] {
        let (out, err) = run_c(program, Build::Valgrind, &[]);
        assert!(out.contains("checks passed") || out.contains("calls served"), "{out}");
        assert!(
            err.contains("ERROR SUMMARY: 0 errors"),
            "memcheck reported {program}, a correct program:\n{err}"
        );
    }
}

#[test]
fn c_override_answers_mallinfo_malloc_trim_and_malloc_stats() {
    let (out, err) = run_c("introspection", Build::Override, &[]);
    assert!(out.contains("4 checks passed"), "{out}");
    assert!(
        err.contains("midl-alloc statistics"),
        "malloc_stats printed no table: {err}"
    );
}

#[test]
fn c_options_are_set_and_read_at_run_time() {
    let (out, err) = run_c("options", Build::Default, &[("MIDL_ALLOC_PURGE_DELAY_MS", "7")]);
    assert!(out.contains("checks passed"), "{out}");
    assert!(err.contains("midl-alloc statistics"), "no table at exit: {err}");
}

/// The header's version macros are the crate's version (so the library's
/// `midl_alloc_version()`, which `tests/c/contract.c` compares with the
/// macro, can only match a header of the same release).
#[test]
fn header_version_is_the_crate_version() {
    let header = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/midl_alloc.h")).unwrap();
    let macro_value = |name: &str| -> String {
        header
            .lines()
            .find_map(|l| l.strip_prefix(&format!("#define {name} ")))
            .unwrap_or_else(|| panic!("{name} not in the header"))
            .trim()
            .to_string()
    };
    let version = format!(
        "{}.{}.{}",
        macro_value("MIDL_ALLOC_VERSION_MAJOR"),
        macro_value("MIDL_ALLOC_VERSION_MINOR"),
        macro_value("MIDL_ALLOC_VERSION_PATCH")
    );
    assert_eq!(
        version,
        env!("CARGO_PKG_VERSION"),
        "include/midl_alloc.h against Cargo.toml"
    );
    let v = midl_alloc::midl_alloc_version();
    assert_eq!(
        format!("{}.{}.{}", v >> 16, (v >> 8) & 0xff, v & 0xff),
        env!("CARGO_PKG_VERSION")
    );
}
