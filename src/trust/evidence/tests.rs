//! Unit tests of the evidence verifier.
