//! A reproducible random number generator for tests that pick random points, such as where to kill a process.

/// A small deterministic random number generator (xorshift64) for tests that pick random points (where to kill a
/// process): seeded from the environment variable `var` when it holds a number, else from `default`, so a failure
/// in CI can be replayed by setting it. The seed is printed on stderr.
#[derive(Debug, Clone)]
pub struct Xorshift(u64);

impl Xorshift {
    /// The generator for `var`'s seed, or `default`'s.
    pub fn from_env(var: &str, default: u64) -> Xorshift {
        let seed = std::env::var(var).ok().and_then(|s| s.parse().ok()).unwrap_or(default) | 1;
        eprintln!("seed {seed} (set {var} to replay)");
        Xorshift(seed)
    }

    /// The seed it started from (or its state now).
    pub fn seed(&self) -> u64 {
        self.0
    }

    /// A number below `max`.
    pub fn below(&mut self, max: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % max.max(1)
    }
}
