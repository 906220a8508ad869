//! The base layer: what every other layer builds on and that depends on
//! nothing: the atomics facade that loom switches ([`sync`]), the
//! deliberate faults of the loom expected-failure models ([`fault`]), and
//! bit helpers ([`bits`]).

pub(crate) mod bits;
pub(crate) mod fault;
pub(crate) mod sync;
