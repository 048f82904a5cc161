//! The haul command line.
