//! Live event streams held open at once: a cap per operator and one for the
//! process, so a tab left reloading or a script opening streams cannot take
//! every connection or every task. A slot is held by the stream and given
//! back when the client goes (the stream is dropped).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use crate::ids::OperatorId;

/// Streams one operator may hold open (tabs, stations, the dashboard).
pub const PER_OPERATOR: usize = 16;
/// Streams the process holds open at once.
pub const TOTAL: usize = 512;

/// Why no stream was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Full {
    #[error("you already have {PER_OPERATOR} live event streams open (tabs or stations): close one and reload")]
    Operator,
    #[error("the server holds its {TOTAL} live event streams: try again in a minute")]
    Server,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    by_operator: HashMap<OperatorId, usize>,
}

/// The open streams' counts (one per app).
#[derive(Debug, Default)]
pub struct Slots {
    counts: Mutex<Counts>,
}

/// One open stream's slot; dropping it gives the slot back.
#[derive(Debug)]
pub struct Slot {
    slots: Arc<Slots>,
    operator: OperatorId,
}

impl Slots {
    /// Takes a slot for `operator`, or says which cap is reached.
    pub fn take(self: &Arc<Self>, operator: OperatorId) -> Result<Slot, Full> {
        let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let mine = c.by_operator.get(&operator).copied().unwrap_or(0);
        if mine >= PER_OPERATOR {
            return Err(Full::Operator);
        }
        if c.total >= TOTAL {
            return Err(Full::Server);
        }
        c.total += 1;
        c.by_operator.insert(operator, mine + 1);
        Ok(Slot { slots: self.clone(), operator })
    }

    /// Streams open now.
    pub fn open(&self) -> usize {
        self.counts.lock().unwrap_or_else(|p| p.into_inner()).total
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = self.slots.counts.lock().unwrap_or_else(|p| p.into_inner());
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.by_operator.get_mut(&self.operator) {
            *n -= 1;
            if *n == 0 {
                c.by_operator.remove(&self.operator);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_per_operator_and_in_total_and_slots_come_back() {
        let slots = Arc::new(Slots::default());
        let a = OperatorId(1);
        let held: Vec<Slot> = (0..PER_OPERATOR).map(|_| slots.take(a).expect("slot")).collect();
        assert_eq!(slots.take(a).expect_err("full"), Full::Operator);
        drop(held);
        assert_eq!(slots.open(), 0);
        let many: Vec<Slot> = (0..TOTAL).map(|i| slots.take(OperatorId(100 + (i / PER_OPERATOR) as u64)).expect("slot")).collect();
        assert_eq!(slots.take(a).expect_err("full"), Full::Server);
        drop(many);
        assert!(slots.take(a).is_ok());
    }
}
