//! `ChromaBatchInserter::add_many` and `add_many_async` against the real
//! server: the conformance kit's add_many contract
//! (`test_support::kit::add_many`), with Chroma's invalid records (NaN in
//! the vector, an empty id) handed back by their index.

mod common;

test_support::add_many_contract!(common::Chroma);
