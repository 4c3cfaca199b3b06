//! The one integration-test binary: every test talks to the real MariaDB
//! (its own database each), real OpenBao, and the real `qm` binary.

mod attack;
mod helpers;
mod shop;

mod inventory_pages;
mod jobs;
mod layers;

mod auth;
mod backup;
mod books;
mod browser;
mod carrier;
mod cli;
mod config_check;
mod dashboard;
mod demo;
mod deploy;
mod documents;
mod fleet;
mod fuzz;
mod hardening;
mod lock;
mod mail;
mod mailhub;
mod printing;
mod quotes;
mod redaction;
mod reservations;
mod round_trips;
mod schema;
mod sql;
mod station;
mod store_changes;
mod sync;
mod sync_real;
mod vault;
mod webhooks;
mod woo_contract;
