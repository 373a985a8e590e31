//! The integration suite: each test starts the real application on a free port with a fresh
//! database — SQLite always, PostgreSQL when `YIWANG_TEST_POSTGRES` holds a server URL.

mod api_conventions;
mod applications;
mod authorization;
mod authorization_matrix;
mod backup;
mod browser;
mod calendar;
mod catalog;
mod crash;
mod drafts;
mod evaluation;
#[cfg(feature = "nats")]
mod events;
mod exchange;
mod instant;
mod ledger;
mod nodes;
mod oidc;
mod openapi;
mod outage;
mod search;
mod sessions;
mod storage;
mod support;
mod tiles;
mod workorders;
