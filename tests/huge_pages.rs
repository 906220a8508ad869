//! `MIDL_ALLOC_HUGE_PAGES` decides which memory is advised transparent huge
//! pages: unset, only fresh large buffers of 4 to 64 MiB; `1`, every new
//! segment and every large object from 4 MiB; `0`, nothing. The setting is read once per process, so each
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

/// Sizes the child allocates: a small block and a block of a medium page,
/// each in a segment of its own kind; a large buffer of the tier advised
/// by default, and one above it.
const SIZES: [usize; 4] = [48, 20_000, 8 << 20, 100 << 20];

/// Runs in the child: allocates each of [`SIZES`] and prints its mapping's
/// flags, one line each.
#[test]
fn child_reports_segment_flags() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    for size in SIZES {
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
    assert_eq!(lines.len(), SIZES.len(), "child output:\n{stdout}");
    lines
}

fn advised(flags: &str) -> bool {
    flags.split_whitespace().any(|f| f == "hg")
}

#[test]
fn memory_is_advised_huge_as_the_setting_says() {
    if !std::path::Path::new("/sys/kernel/mm/transparent_hugepage/enabled").exists() {
        eprintln!("skipped: this kernel has no transparent huge pages (the advice is refused there)");
        return;
    }
    // Per setting, whether each of SIZES is advised.
    let expected = [
        (Some("1"), [true, true, true, true]),
        (None, [false, false, true, false]),
        (Some("0"), [false, false, false, false]),
    ];
    for (setting, want) in expected {
        for ((flags, want), size) in child_flags(setting).iter().zip(want).zip(SIZES) {
            assert_eq!(
                advised(flags),
                want,
                "MIDL_ALLOC_HUGE_PAGES={setting:?}, {size} bytes: flags {flags}"
            );
        }
    }
}
