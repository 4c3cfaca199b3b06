//! Quartermaster: the per-tenant ops appliance for a WooCommerce merchant.
//!
//! One folder per domain; `web` is the HTTP surface over them, `jobs` the
//! scheduled work, `cli` the `qm` verbs, `startup` the wiring.

pub mod alerts;
pub mod app;
pub mod backup;
pub mod books;
pub mod calendar;
pub mod channels;
pub mod cli;
pub mod config;
pub mod dashboard;
pub mod db;
pub mod demo;
pub mod deploy;
pub mod events;
pub mod feeds;
pub mod fulfillment;
pub mod ids;
pub mod integrations;
pub mod inventory;
pub mod jobs;
pub mod mail;
pub mod metrics;
pub mod money;
pub mod operators;
pub mod printing;
pub mod quotes;
pub mod reviews;
pub mod runs;
pub mod services;
#[cfg(feature = "standin")]
pub mod standin;
pub mod startup;
pub mod station;
pub mod summary;
pub mod sync;
pub mod telemetry;
pub mod token;
pub mod urls;
pub mod web;
