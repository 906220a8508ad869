//! RpcSs sequences driven by the fuzzer's bytes: enable / allocate / free
//! (valid blocks, blocks freed twice, and pointers that are not blocks of
//! the environment) / disable, through the exported `RpcSm*` functions.
//! Every live block's bytes are checked before it is freed and when the
//! environment ends; a free of a live block succeeds, and any other free is
//! refused with `RPC_S_INVALID_ARG` without touching memory.

#![no_main]

use libfuzzer_sys::fuzz_target;
use midl_alloc::{RpcSmAllocate, RpcSmDisableAllocate, RpcSmEnableAllocate, RpcSmFree};
use std::ffi::c_void;

const RPC_S_OK: i32 = 0;
const RPC_S_INVALID_ARG: i32 = 87;

fn byte(p: usize, i: usize) -> u8 {
    (p >> 4) as u8 ^ (i as u8).wrapping_mul(7)
}

fn check(p: usize, size: usize) {
    for i in 0..size {
        // SAFETY: a live block of `size` bytes.
        let got = unsafe { *(p as *const u8).add(i) };
        assert_eq!(got, byte(p, i), "byte {i} of a {size}-byte environment block");
    }
}

fuzz_target!(|data: &[u8]| {
    let mut enabled = false;
    let mut live: Vec<(usize, usize)> = Vec::new();
    let mut freed: Vec<usize> = Vec::new();
    let mut it = data.iter().copied();
    while let Some(op) = it.next() {
        let a = it.next().unwrap_or(0) as usize;
        match op % 8 {
            0 => {
                if !enabled {
                    assert_eq!(RpcSmEnableAllocate(), RPC_S_OK);
                    enabled = true;
                }
            }
            1 => {
                if enabled {
                    for &(p, size) in &live {
                        check(p, size);
                    }
                    assert_eq!(RpcSmDisableAllocate(), RPC_S_OK);
                    enabled = false;
                    live.clear();
                    freed.clear();
                }
            }
            2..=4 => {
                if !enabled {
                    continue;
                }
                let size = if op % 8 == 4 { a * 97 + 1 } else { a + 1 };
                let mut status = -1;
                // SAFETY: a valid status pointer.
                let p = unsafe { RpcSmAllocate(size, &mut status) } as usize;
                if p == 0 {
                    continue;
                }
                assert_eq!(status, RPC_S_OK);
                assert_eq!(p % 8, 0, "misaligned environment block");
                for &(q, s) in &live {
                    assert!(p + size <= q || q + s <= p, "environment blocks overlap");
                }
                for i in 0..size {
                    // SAFETY: a fresh block of `size` bytes.
                    unsafe { *(p as *mut u8).add(i) = byte(p, i) };
                }
                live.push((p, size));
            }
            5 | 6 => {
                if !enabled || live.is_empty() {
                    continue;
                }
                let (p, size) = live.swap_remove(a % live.len());
                check(p, size);
                // SAFETY: a live block of the environment.
                assert_eq!(unsafe { RpcSmFree(p as *mut c_void) }, RPC_S_OK);
                freed.push(p);
            }
            _ => {
                if !enabled {
                    continue;
                }
                // A pointer that is no live block: one freed already (if
                // not handed out again since), or one inside a live block.
                let bad = if a % 2 == 0 && !freed.is_empty() {
                    freed[a % freed.len()]
                } else if let Some(&(p, size)) = live.get(a % live.len().max(1)) {
                    if size < 2 {
                        continue;
                    }
                    p + 1
                } else {
                    continue;
                };
                if live.iter().any(|&(p, _)| p == bad) {
                    continue;
                }
                // SAFETY: the function checks the pointer before using it.
                let status = unsafe { RpcSmFree(bad as *mut c_void) };
                assert_eq!(status, RPC_S_INVALID_ARG, "a bad free of {bad:#x} was not refused");
            }
        }
    }
    if enabled {
        for &(p, size) in &live {
            check(p, size);
        }
        assert_eq!(RpcSmDisableAllocate(), RPC_S_OK);
    }
});
