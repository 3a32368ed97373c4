//! Nothing to link: this crate holds `benches/throughput`, run by `cargo xtask bench`
//! (see `docs/benchmarks.md`).
