//! Trust inputs: signatures and attestations checked against configured keys.

pub mod dsse;
