//! Row ids as types of their own, so an order id cannot be passed where a
//! lot id is wanted. Each is the table's `BIGINT UNSIGNED` primary key,
//! read and bound as it is (`sqlx(transparent)`), shown as the bare number
//! (pages, paths, events), and parsed from a path segment.

macro_rules! id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, sqlx::Type, serde::Serialize, serde::Deserialize)]
        #[sqlx(transparent)]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<$name> for u64 {
            fn from(id: $name) -> u64 {
                id.0
            }
        }
    };
}

id!(
    /// An `orders` row: an order as Quartermaster mirrors it (not its WooCommerce id).
    OrderId
);
id!(
    /// An `inventory_lots` row.
    LotId
);
id!(
    /// An `operators` row: who did something.
    OperatorId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_shows_and_parses_as_its_number() {
        assert_eq!(OrderId(42).to_string(), "42");
        assert_eq!(serde_json::from_str::<LotId>("7").expect("id"), LotId(7));
        assert_eq!(serde_json::to_string(&OrderId(9)).expect("json"), "9");
        assert!(serde_json::from_str::<OrderId>("\"x\"").is_err());
    }
}
