//! The one retry policy: exponential backoff (backon), doubling from a
//! first delay up to a cap, for a given number of retries. Step attempts
//! (`retries:`/`backoff:`), undo calls and the Prometheus client all use it;
//! each decides which errors are worth another attempt.

use backon::ExponentialBuilder;
use std::time::Duration;

/// Longest wait between two attempts of a step or an undo.
pub const MAX_DELAY: Duration = Duration::from_secs(60);

/// `retries` more attempts after the first, waiting `first`, then twice as
/// long each time (at most 64 × `first`, at most `max`).
pub fn backoff(first: Duration, max: Duration, retries: usize) -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(first)
        .with_max_delay(max.min(first.saturating_mul(64)))
        .with_factor(2.0)
        .with_max_times(retries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use backon::BackoffBuilder;

    #[test]
    fn delays_double_from_the_first_up_to_the_cap() {
        let delays: Vec<Duration> = backoff(Duration::from_secs(1), MAX_DELAY, 8)
            .build()
            .collect();
        let secs: Vec<u64> = delays.iter().map(|d| d.as_secs()).collect();
        assert_eq!(secs, vec![1, 2, 4, 8, 16, 32, 60, 60]);
        let small: Vec<u128> = backoff(Duration::from_millis(500), MAX_DELAY, 2)
            .build()
            .map(|d| d.as_millis())
            .collect();
        assert_eq!(small, vec![500, 1000]);
        let capped = backoff(Duration::from_millis(10), MAX_DELAY, 9)
            .build()
            .last()
            .unwrap();
        assert_eq!(capped, Duration::from_millis(640));
    }
}
