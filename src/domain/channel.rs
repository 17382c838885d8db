//! Promotion channels and their configured order.

use std::str::FromStr;

use super::SlugError;

/// A promotion channel name such as `dev` or `prod`; lowercase slug form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Channel(String);

impl Channel {
    /// The channel name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Channel {
    type Err = SlugError;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        // A channel is a slug; reuse the slug rules so names are uniform everywhere.
        raw.parse::<super::ProjectSlug>()?;
        Ok(Self(raw.to_owned()))
    }
}

super::string_newtype_serde!(Channel);

/// Why a configured channel order is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelOrderError {
    /// No channels were configured.
    #[error("at least one channel must be configured")]
    Empty,
    /// A channel appears twice.
    #[error("channel `{0}` is listed twice")]
    Duplicate(String),
}

/// The ordered list of channels (default `dev < test < staging < prod`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelOrder(Vec<Channel>);

impl ChannelOrder {
    /// Builds the order, refusing an empty list or duplicates.
    pub fn new(channels: Vec<Channel>) -> Result<Self, ChannelOrderError> {
        if channels.is_empty() {
            return Err(ChannelOrderError::Empty);
        }
        for (i, c) in channels.iter().enumerate() {
            if channels[..i].contains(c) {
                return Err(ChannelOrderError::Duplicate(c.0.clone()));
            }
        }
        Ok(Self(channels))
    }

    /// The channels in order.
    pub fn channels(&self) -> &[Channel] {
        &self.0
    }

    /// Whether `channel` is one of the configured channels.
    pub fn contains(&self, channel: &Channel) -> bool {
        self.0.contains(channel)
    }

    /// The channel just before `channel`, or `None` for the first (or an unknown) channel.
    pub fn previous(&self, channel: &Channel) -> Option<&Channel> {
        let at = self.0.iter().position(|c| c == channel)?;
        at.checked_sub(1).map(|i| &self.0[i])
    }
}

impl Default for ChannelOrder {
    fn default() -> Self {
        Self(
            ["dev", "test", "staging", "prod"]
                .iter()
                .map(|c| Channel((*c).to_owned()))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previous_follows_the_configured_order() {
        let order = ChannelOrder::default();
        let prod: Channel = "prod".parse().unwrap();
        let dev: Channel = "dev".parse().unwrap();
        assert_eq!(order.previous(&prod).map(Channel::as_str), Some("staging"));
        assert_eq!(order.previous(&dev), None);
        assert_eq!(order.previous(&"qa".parse().unwrap()), None);
    }

    #[test]
    fn refuses_empty_and_duplicate_orders() {
        assert_eq!(ChannelOrder::new(vec![]), Err(ChannelOrderError::Empty));
        let dev: Channel = "dev".parse().unwrap();
        assert!(matches!(
            ChannelOrder::new(vec![dev.clone(), dev]),
            Err(ChannelOrderError::Duplicate(_))
        ));
        assert!("Prod".parse::<Channel>().is_err());
    }
}
