//! `PostgreSQLBatchInserter::add_many` and `add_many_async` against the
//! real server: the conformance kit's add_many contract
//! (`test_support::kit::add_many`), with PostgreSQL's invalid rows (a
//! negative count, a NUL byte in the id) handed back by their index.

mod common;

test_support::add_many_contract!(common::Postgres);
