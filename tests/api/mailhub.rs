//! The real mail servers the tests use live in the library
//! (`quartermaster::standin::mail`), shared with the benchmarks.

pub use quartermaster::standin::mail::{Certs, ImapServer, SmtpServer, certs};
