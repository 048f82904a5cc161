//! The demo shop haul ships: its catalogue, its pages and its extractor.
