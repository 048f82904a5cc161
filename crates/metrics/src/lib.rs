//! haul metrics (being written).
