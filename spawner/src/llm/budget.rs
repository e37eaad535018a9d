//! How much a language model may be asked: calls and tokens within a sliding window, so a storm of signals cannot
//! run up a bill. Measured on tokio's clock, so tests can move time.

use std::{collections::VecDeque, sync::Mutex, time::Duration};

use tokio::time::Instant;

/// A budget of calls and tokens per window; spent calls leave it as the window slides past them.
#[derive(Debug)]
pub struct Budget {
    calls: u32,
    tokens: u64,
    window: Duration,
    spent: Mutex<VecDeque<(Instant, u64)>>,
}

impl Budget {
    /// At most `calls` calls and `tokens` tokens within any `window`.
    pub fn new(calls: u32, tokens: u64, window: Duration) -> Budget {
        Budget { calls, tokens, window, spent: Mutex::new(VecDeque::new()) }
    }

    /// No limit.
    pub fn unlimited() -> Budget {
        Budget::new(u32::MAX, u64::MAX, Duration::from_secs(3_600))
    }

    /// Takes one call if the budget allows it, else says what is spent. Tokens are counted afterwards
    /// ([`Budget::spend`]), so the call that crosses the token limit still happens; the next one does not.
    pub fn take_call(&self) -> Result<Slot<'_>, String> {
        let now = Instant::now();
        let mut spent = self.spent.lock().unwrap_or_else(|e| e.into_inner());
        while spent.front().is_some_and(|(at, _)| now.duration_since(*at) >= self.window) {
            spent.pop_front();
        }
        let tokens: u64 = spent.iter().map(|(_, t)| *t).sum();
        if spent.len() >= self.calls as usize {
            return Err(format!("{} calls within {:?} spent", self.calls, self.window));
        }
        if tokens >= self.tokens {
            return Err(format!("{} tokens within {:?} spent", self.tokens, self.window));
        }
        spent.push_back((now, 0));
        Ok(Slot { budget: self, at: now })
    }
}

/// A call taken from a [`Budget`]; [`Slot::spend`] records its tokens.
#[derive(Debug)]
pub struct Slot<'b> {
    budget: &'b Budget,
    at: Instant,
}

impl Slot<'_> {
    /// Records the tokens the call cost.
    pub fn spend(self, tokens: u64) {
        let mut spent = self.budget.spent.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = spent.iter_mut().rev().find(|(at, t)| *at == self.at && *t == 0) {
            entry.1 = tokens;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn calls_and_tokens_are_limited_within_the_window_and_come_back_after_it() {
        let budget = Budget::new(2, 1_000, Duration::from_secs(60));
        budget.take_call().expect("first").spend(10);
        budget.take_call().expect("second").spend(10);
        assert_eq!(budget.take_call().expect_err("third").as_str(), "2 calls within 60s spent");
        tokio::time::advance(Duration::from_secs(60)).await;
        budget.take_call().expect("the window slid past the first two").spend(5_000);
        assert_eq!(budget.take_call().expect_err("tokens").as_str(), "1000 tokens within 60s spent");
        tokio::time::advance(Duration::from_secs(61)).await;
        assert!(budget.take_call().is_ok());
    }
}
