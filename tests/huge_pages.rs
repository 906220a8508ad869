//! `MIDL_ALLOC_HUGE_PAGES=1` asks for transparent huge pages on every new
//! segment, and only then. The setting is read once per process, so each
//! case runs this test binary again as a child with the environment it
//! needs; the child reports the kernel's flags for the mapping that holds
//! a block it allocated (`hg`: advised `MADV_HUGEPAGE`, in
//! /proc/self/smaps).

use midl_alloc::{MIDL_user_allocate, MIDL_user_free};
use std::process::Command;

const CHILD: &str = "MIDL_ALLOC_TEST_HUGE_PAGES_CHILD";

/// The VmFlags of the mapping holding `addr`.
fn vm_flags(addr: usize) -> String {
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
    let mut inside = false;
    for line in smaps.lines() {
        if let Some((range, _)) = line
            .split_once(' ')
            .filter(|(r, _)| r.contains('-') && !r.ends_with(':'))
        {
            let (lo, hi) = range.split_once('-').unwrap();
            let (lo, hi) = (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16));
            inside = matches!((lo, hi), (Ok(lo), Ok(hi)) if (lo..hi).contains(&addr));
        } else if inside {
            if let Some(flags) = line.strip_prefix("VmFlags:") {
                return flags.trim().to_string();
            }
        }
    }
    panic!("no mapping holds {addr:#x}");
}

/// Runs in the child: a small block and a block of a medium page, each in a
/// segment of its own kind; prints their mappings' flags, one line each.
#[test]
fn child_reports_segment_flags() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    for size in [48, 20_000] {
        let p = MIDL_user_allocate(size);
        assert!(!p.is_null());
        println!("flags {size}: {}", vm_flags(p as usize));
        // SAFETY: allocated above, freed once.
        unsafe { MIDL_user_free(p) };
    }
}

fn child_flags(huge_pages: Option<&str>) -> Vec<String> {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "child_reports_segment_flags",
        "--exact",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD, "1");
    match huge_pages {
        Some(v) => cmd.env("MIDL_ALLOC_HUGE_PAGES", v),
        None => cmd.env_remove("MIDL_ALLOC_HUGE_PAGES"),
    };
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<String> = stdout
        .lines()
        // (The harness's "test ... " may start the first line.)
        .filter_map(|l| l.split_once("flags ").map(|(_, f)| f.to_string()))
        .collect();
    assert_eq!(lines.len(), 2, "child output:\n{stdout}");
    lines
}

fn advised(flags: &str) -> bool {
    flags.split_whitespace().any(|f| f == "hg")
}

#[test]
fn segments_are_advised_huge_only_when_asked() {
    if !std::path::Path::new("/sys/kernel/mm/transparent_hugepage/enabled").exists() {
        eprintln!("skipped: this kernel has no transparent huge pages (the advice is refused there)");
        return;
    }
    for flags in child_flags(Some("1")) {
        assert!(advised(&flags), "MIDL_ALLOC_HUGE_PAGES=1, segment not advised: {flags}");
    }
    for setting in [None, Some("0")] {
        for flags in child_flags(setting) {
            assert!(
                !advised(&flags),
                "MIDL_ALLOC_HUGE_PAGES={setting:?}, segment advised: {flags}"
            );
        }
    }
}
