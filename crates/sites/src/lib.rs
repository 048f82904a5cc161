//! Links every site crate so that their inventory registrations exist.
