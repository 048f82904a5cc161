//! haul report (being written).
