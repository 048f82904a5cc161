//! haul report (being written).

/// Placeholder.
pub fn write_report(
    _store: &std::path::Path,
    _site: Option<&str>,
    _out: &std::path::Path,
) -> Result<usize, std::io::Error> {
    Ok(0)
}
