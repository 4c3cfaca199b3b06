//! Dashboard collectors whose source is slow or broken: what the dashboard's
//! tests and its benchmark put beside the real collectors to show that one
//! bad source holds up nothing but its own tile.

use std::time::Duration;

use futures::future::BoxFuture;

use crate::{
    dashboard::{Collector, Level, Reading},
    services::Services,
};

/// A source that answers "done" after `pause`.
pub struct Slow {
    pub pause: Duration,
    pub deadline: Duration,
    pub ttl: Duration,
}

impl Slow {
    /// With the trait's default deadline and TTL.
    pub fn new(pause: Duration) -> Self {
        Self { pause, deadline: Duration::from_millis(500), ttl: Duration::from_secs(10) }
    }
}

impl Collector for Slow {
    fn name(&self) -> &'static str {
        "slow_source"
    }
    fn title(&self) -> &'static str {
        "A slow source"
    }
    fn ttl(&self) -> Duration {
        self.ttl
    }
    fn deadline(&self) -> Duration {
        self.deadline
    }
    fn collect<'a>(&'a self, _: &'a Services) -> BoxFuture<'a, anyhow::Result<Reading>> {
        Box::pin(async move {
            tokio::time::sleep(self.pause).await;
            Ok(Reading::new("done", Level::Ok))
        })
    }
}

/// A source that always fails.
pub struct Failing {
    pub ttl: Duration,
}

impl Default for Failing {
    fn default() -> Self {
        Self { ttl: Duration::from_secs(10) }
    }
}

impl Collector for Failing {
    fn name(&self) -> &'static str {
        "failing_source"
    }
    fn title(&self) -> &'static str {
        "A failing source"
    }
    fn ttl(&self) -> Duration {
        self.ttl
    }
    fn collect<'a>(&'a self, _: &'a Services) -> BoxFuture<'a, anyhow::Result<Reading>> {
        Box::pin(async { anyhow::bail!("the source broke: connection reset") })
    }
}
