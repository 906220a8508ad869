//! Memory return: every case measures the process's resident set, which
//! is process-wide, so each runs in a child process of its own: the test
//! of the same name runs this binary again, filtered to itself, with
//! `MIDL_ALLOC_TEST_MEMORY_CASE` naming the case, and the child runs the
//! case's body. Children run one at a time, as the separate binaries they
//! replace did, so no case's timing competes with another's.

#[path = "../common/mod.rs"]
mod common;

mod big_block_reuse;
mod blocks;
mod churn_refaults;
mod classes;
mod environment_release;
mod idle;
mod large_cache;
mod large_tier;
mod pool_resident;
mod purge_churn;
mod purge_delay_setting;
mod remote_burst;
mod return_to_os;
mod sparse;
mod sparse_decay;
mod sparse_remote;
mod thread_churn;

use std::process::Command;
use std::sync::Mutex;

const CASE: &str = "MIDL_ALLOC_TEST_MEMORY_CASE";

/// One child at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// In the child (the variable names `name`): runs `body`. In the parent:
/// runs this binary again for test `name` alone and fails with the child's
/// output if the child fails.
fn in_child(name: &str, body: fn()) {
    if let Some(case) = std::env::var_os(CASE) {
        if case == name {
            body();
        }
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let out = Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CASE, name)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success(),
        "case {name} failed in its child:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("1 passed"),
        "case {name} did not run in its child:\n{stdout}"
    );
    eprint!("{stderr}");
}

/// A `#[test]` per case, each named after its body.
macro_rules! cases {
    ($($module:ident::$case:ident,)*) => {
        $(
            #[test]
            fn $case() {
                in_child(stringify!($case), $module::$case);
            }
        )*
    };
}

cases! {
    blocks::free_blocks_of_pages_in_use_are_given_back,
    big_block_reuse::big_blocks_in_steady_reuse_keep_their_memory,
    purge_delay_setting::the_purge_delay_set_at_run_time_governs_what_goes_back,
    churn_refaults::thread_churn_reuses_memory_instead_of_faulting_it_in_again,
    classes::classes_no_longer_used_give_their_pages_back,
    environment_release::ending_environments_gives_their_memory_back,
    environment_release::resetting_an_environment_gives_its_memory_back,
    idle::a_burst_freed_by_its_own_thread_goes_back_without_further_calls,
    large_cache::cached_large_objects_go_back_after_the_delay,
    large_tier::large_objects_reuse_each_others_memory,
    pool_resident::emptied_segments_reach_the_next_thread_resident,
    purge_churn::steady_remote_frees_are_reused_not_purged,
    purge_churn::steady_mixed_sizes_are_reused_not_purged,
    purge_churn::rounds_that_free_everything_reuse_their_memory,
    purge_churn::paused_rounds_reuse_their_memory,
    remote_burst::memory_freed_remotely_goes_back_while_the_owner_allocates_lightly,
    return_to_os::memory_freed_after_the_owner_exited_goes_back_to_the_os,
    sparse::sparse_pages_give_back_free_os_pages_and_keep_every_block,
    sparse_decay::sparse_pages_wait_out_the_delay,
    sparse_remote::pages_left_sparse_by_remote_frees_give_back_free_os_pages,
    thread_churn::address_space_stays_bounded_under_thread_churn,
    thread_churn::address_space_stays_bounded_when_a_quiet_thread_adopts,
}
