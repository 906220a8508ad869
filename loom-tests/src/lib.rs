//! Loom models of midl-alloc's lock-free protocols (see tests/); empty unless built with `--cfg loom`.
