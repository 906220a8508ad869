//! Run-time control of the settings the environment gives at start
//! (`ds::config`): from Rust ([`set_purge_delay_ms`] and the rest) and from
//! C (`midl_alloc_option_set` / `midl_alloc_option_get` with the header's
//! `MIDL_ALLOC_OPTION_*` numbers). A value set here wins over the
//! environment's, whenever it is set.

use crate::ds::config::{self, HugePages as Mode};
use crate::global::thread;

/// Which memory is advised transparent huge pages
/// (`MIDL_ALLOC_HUGE_PAGES`; see docs/MEMORY.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HugePages {
    /// None (`MIDL_ALLOC_HUGE_PAGES=0`).
    Never,
    /// Fresh large buffers of 4 to 64 MiB (the default).
    Buffers,
    /// New segments too, and large objects of any size from 4 MiB
    /// (`MIDL_ALLOC_HUGE_PAGES=1`).
    All,
}

/// The purge delay: how long freed memory waits before it goes back to the
/// OS, in milliseconds (`MIDL_ALLOC_PURGE_DELAY_MS`, default 100).
///
/// ```
/// let before = midl_alloc::purge_delay_ms();
/// midl_alloc::set_purge_delay_ms(250).unwrap();
/// assert_eq!(midl_alloc::purge_delay_ms(), 250);
/// midl_alloc::set_purge_delay_ms(before).unwrap();
/// ```
pub fn purge_delay_ms() -> u64 {
    config::load();
    config::purge_delay_ms()
}

/// Sets the purge delay (0 to 86,400,000 ms; 0 is taken as 1). Each thread
/// takes the new value at its next maintenance pass, within a quarter of
/// its old delay of allocator activity. A longer value is refused with
/// `Err(ms)` and nothing changes.
pub fn set_purge_delay_ms(ms: u64) -> Result<(), u64> {
    if config::set_purge_delay_ms(ms) {
        Ok(())
    } else {
        Err(ms)
    }
}

/// Which memory is advised huge pages.
///
/// ```
/// use midl_alloc::HugePages;
/// let before = midl_alloc::huge_pages();
/// midl_alloc::set_huge_pages(HugePages::Never);
/// assert_eq!(midl_alloc::huge_pages(), HugePages::Never);
/// midl_alloc::set_huge_pages(before);
/// ```
pub fn huge_pages() -> HugePages {
    config::load();
    match config::huge_pages() {
        Mode::Never => HugePages::Never,
        Mode::Buffers => HugePages::Buffers,
        Mode::All => HugePages::All,
    }
}

/// Sets which memory is advised huge pages, for memory mapped from now on.
pub fn set_huge_pages(h: HugePages) {
    config::set_huge_pages(match h {
        HugePages::Never => Mode::Never,
        HugePages::Buffers => Mode::Buffers,
        HugePages::All => Mode::All,
    });
}

/// Whether the statistics table is printed to standard error at exit
/// (`MIDL_ALLOC_STATS=1`).
///
/// ```
/// midl_alloc::set_stats_at_exit(false);
/// assert!(!midl_alloc::stats_at_exit());
/// ```
pub fn stats_at_exit() -> bool {
    config::load();
    config::stats_at_exit()
}

/// Sets whether the statistics table is printed to standard error at exit.
pub fn set_stats_at_exit(on: bool) {
    thread::set_stats_at_exit(on);
}

/// `MIDL_ALLOC_OPTION_PURGE_DELAY_MS`: milliseconds, 0 to 86,400,000.
pub const OPTION_PURGE_DELAY_MS: i32 = 0;
/// `MIDL_ALLOC_OPTION_HUGE_PAGES`: 0 never, 1 large buffers (default), 2 all.
pub const OPTION_HUGE_PAGES: i32 = 1;
/// `MIDL_ALLOC_OPTION_STATS_AT_EXIT`: 0 or 1.
pub const OPTION_STATS_AT_EXIT: i32 = 2;

/// `int midl_alloc_option_set(int option, int64_t value)`: sets an option
/// (`MIDL_ALLOC_OPTION_*`); 0, or -1 for an unknown option or a value out
/// of its range (nothing changes then).
///
/// ```
/// use midl_alloc::*;
/// assert_eq!(midl_alloc_option_set(OPTION_HUGE_PAGES, 0), 0);
/// assert_eq!(midl_alloc_option_get(OPTION_HUGE_PAGES), 0);
/// assert_eq!(midl_alloc_option_set(OPTION_HUGE_PAGES, 9), -1); // refused
/// ```
#[no_mangle]
pub extern "C" fn midl_alloc_option_set(option: i32, value: i64) -> i32 {
    let ok = match option {
        OPTION_PURGE_DELAY_MS => match u64::try_from(value) {
            Ok(v) => set_purge_delay_ms(v).is_ok(),
            Err(_) => false,
        },
        OPTION_HUGE_PAGES => {
            let mode = match value {
                0 => Some(HugePages::Never),
                1 => Some(HugePages::Buffers),
                2 => Some(HugePages::All),
                _ => None,
            };
            mode.map(set_huge_pages).is_some()
        }
        OPTION_STATS_AT_EXIT if value == 0 || value == 1 => {
            set_stats_at_exit(value == 1);
            true
        }
        _ => false,
    };
    if ok {
        0
    } else {
        -1
    }
}

/// `int64_t midl_alloc_option_get(int option)`: an option's value, or -1
/// for an unknown option.
///
/// ```
/// assert_eq!(midl_alloc::midl_alloc_option_get(99), -1); // no such option
/// ```
#[no_mangle]
pub extern "C" fn midl_alloc_option_get(option: i32) -> i64 {
    match option {
        OPTION_PURGE_DELAY_MS => purge_delay_ms() as i64,
        OPTION_HUGE_PAGES => match huge_pages() {
            HugePages::Never => 0,
            HugePages::Buffers => 1,
            HugePages::All => 2,
        },
        OPTION_STATS_AT_EXIT => stats_at_exit() as i64,
        _ => -1,
    }
}
