//! `https://` through the test servers' TLS front end: the kit's TLS
//! matrix (`test_support::kit::tls`), Chroma reached through a client
//! whose `build` reads the CA file.

#![cfg(feature = "tls")]

mod common;

test_support::tls_matrix!(common::Chroma);
