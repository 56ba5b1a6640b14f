//! The names written after `scheme:`, and which of them sign.

use crate::scheme::compat::Dialect;
use crate::scheme::webhook::Provider;

/// A scheme's name in the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemeName {
    /// `rfc9421`.
    Rfc9421,
    /// `aws-sigv4`.
    AwsSigV4,
    /// `kong` or `apisix`.
    Compat(Dialect),
    /// A webhook provider, by its name.
    Webhook(Provider),
}

impl SchemeName {
    /// Every scheme, in the order messages list them.
    pub const ALL: [Self; 9] = [
        Self::Rfc9421,
        Self::AwsSigV4,
        Self::Compat(Dialect::Kong),
        Self::Compat(Dialect::Apisix),
        Self::Webhook(Provider::Github),
        Self::Webhook(Provider::Stripe),
        Self::Webhook(Provider::Slack),
        Self::Webhook(Provider::StandardWebhooks),
        Self::Webhook(Provider::Shopify),
    ];

    /// The name written after `scheme:`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Rfc9421 => "rfc9421",
            Self::AwsSigV4 => "aws-sigv4",
            Self::Compat(Dialect::Kong) => "kong",
            Self::Compat(Dialect::Apisix) => "apisix",
            Self::Webhook(p) => p.name(),
        }
    }

    /// The scheme called `name`, if any.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Whether the gateway can sign in this scheme (Kong and APISIX only verify).
    pub fn signs(self) -> bool {
        !matches!(self, Self::Compat(_))
    }

    /// The names a list in a message shows.
    pub fn names(sign: bool) -> String {
        let names: Vec<&str> = Self::ALL.iter().filter(|s| !sign || s.signs()).map(|s| s.name()).collect();
        names.join(", ")
    }
}
