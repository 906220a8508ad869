//! A per-call arena shared by worker threads: each "call" makes an
//! `Environment`, two threads unmarshal its parameters into `Vec`s,
//! strings and a hash map allocated in it (`&Environment` is an
//! `Allocator`), the handler reads them, and dropping the environment
//! releases every block at once: no frees one by one.
//!
//! ```sh
//! cargo run --release --example per_call_environment [CALLS]
//! ```

use hashbrown::{DefaultHashBuilder, HashMap};
use midl_alloc::allocator_api2::vec::Vec;
use midl_alloc::environment::Environment;

/// Names: byte strings in the environment, in a vector in it.
type Names<'e> = Vec<Vec<u8, &'e Environment>, &'e Environment>;
/// Values: vectors in the environment, in a map in it.
type Values<'e> = HashMap<u32, Vec<u64, &'e Environment>, DefaultHashBuilder, &'e Environment>;

/// One call's unmarshalled parameters, all in the call's environment.
struct Params<'e> {
    names: Names<'e>,
    values: Values<'e>,
}

fn unmarshal_names(env: &Environment, call: u32) -> Names<'_> {
    let mut names = Vec::new_in(env);
    for i in 0..(call % 16 + 1) {
        let mut name = Vec::new_in(env);
        name.extend_from_slice(format!("name-{call}-{i}").as_bytes());
        names.push(name);
    }
    names
}

fn unmarshal_values(
    env: &Environment,
    call: u32,
) -> HashMap<u32, Vec<u64, &Environment>, DefaultHashBuilder, &Environment> {
    let mut values = HashMap::new_in(env);
    for k in 0..(call % 32 + 1) {
        let mut v = Vec::with_capacity_in(k as usize + 1, env);
        v.extend((0..=k).map(|x| u64::from(x * call)));
        values.insert(k, v);
    }
    values
}

fn main() {
    let calls: u32 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let mut checksum = 0u64;
    for call in 0..calls {
        let env = Environment::enable().expect("an environment");
        // Two threads fill the call's parameters at once, in one arena.
        let params = std::thread::scope(|s| {
            let names = s.spawn(|| unmarshal_names(&env, call));
            let values = s.spawn(|| unmarshal_values(&env, call));
            Params {
                names: names.join().unwrap(),
                values: values.join().unwrap(),
            }
        });
        // The handler.
        assert_eq!(params.names.len() as u32, call % 16 + 1);
        checksum += params.names.iter().map(|n| n.len() as u64).sum::<u64>();
        checksum += params.values.values().map(|v| v.iter().sum::<u64>()).sum::<u64>();
        drop(params);
        env.disable().expect("disable"); // every block of the call, at once
    }
    let s = midl_alloc::stats();
    println!(
        "{calls} calls, checksum {checksum}; {} blocks live in the heaps afterwards",
        s.totals().2
    );
}
