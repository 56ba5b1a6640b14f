//! The time window every timestamped scheme applies: how old a signed
//! timestamp may be, and how far ahead of this clock. One type and one
//! check, so `max_age` and `max_ahead` mean the same thing on every scheme.

use std::time::Duration;

use super::AuthError;

/// The accepted age of a signed timestamp. Both bounds are whole seconds
/// (every scheme signs timestamps in seconds; the config refuses fractions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// How long after its timestamp a signature is still accepted.
    pub max_age: Duration,
    /// How far ahead of this clock a timestamp may be (the sender's clock
    /// running fast).
    pub max_ahead: Duration,
}

impl Window {
    /// Both bounds the same: the symmetric windows SigV4, Kong and the
    /// webhook providers document.
    pub const fn symmetric(secs: u64) -> Self {
        Self { max_age: Duration::from_secs(secs), max_ahead: Duration::from_secs(secs) }
    }

    fn age_secs(&self) -> i64 {
        i64::try_from(self.max_age.as_secs()).unwrap_or(i64::MAX)
    }

    fn ahead_secs(&self) -> i64 {
        i64::try_from(self.max_ahead.as_secs()).unwrap_or(i64::MAX)
    }

    /// Accepts `signed_at` (unix seconds) when `now - max_age <= signed_at
    /// <= now + max_ahead`. `what` names the timestamp in the message.
    pub fn check(&self, what: &str, signed_at: i64, now: i64) -> Result<(), AuthError> {
        if signed_at > now.saturating_add(self.ahead_secs()) {
            return Err(AuthError::Expired(format!(
                "{what} is {}s ahead of this clock (max_ahead {}s)",
                signed_at.saturating_sub(now),
                self.ahead_secs()
            )));
        }
        if now.saturating_sub(signed_at) > self.age_secs() {
            return Err(AuthError::Expired(format!(
                "{what} is {}s old (max_age {}s)",
                now.saturating_sub(signed_at),
                self.age_secs()
            )));
        }
        Ok(())
    }

    /// Seconds a replay key must be kept so that the signature cannot pass
    /// the window again once forgotten: until `signed_at + max_age`, plus one
    /// second for rounding.
    pub fn replay_ttl(&self, signed_at: i64, now: i64) -> u64 {
        let until = signed_at.saturating_add(self.age_secs());
        u64::try_from(until.saturating_sub(now)).unwrap_or(0).saturating_add(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_inclusive_and_directional() {
        let w = Window { max_age: Duration::from_secs(300), max_ahead: Duration::from_secs(30) };
        assert!(w.check("t", 1000 - 300, 1000).is_ok());
        assert!(w.check("t", 1000 + 30, 1000).is_ok());
        assert!(matches!(w.check("t", 1000 - 301, 1000), Err(AuthError::Expired(m)) if m.contains("301s old")));
        assert!(matches!(w.check("t", 1000 + 31, 1000), Err(AuthError::Expired(m)) if m.contains("ahead")));
    }

    #[test]
    fn replay_ttl_covers_the_rest_of_the_window() {
        let w = Window::symmetric(300);
        assert_eq!(w.replay_ttl(1000, 1000), 301);
        assert_eq!(w.replay_ttl(1000, 1200), 101);
        // A timestamp ahead of the clock is kept longer, never shorter.
        assert_eq!(w.replay_ttl(1030, 1000), 331);
    }
}
