//! The price-history chart of one product: a step line (a price holds until the next change)
//! from its first sighting to the report's time, drawn as SVG by `plotters` (SVG backend,
//! no font library: labels are `<text>` in the browser's own font).

use chrono::{DateTime, Utc};
use haul_output::ProductHistory;
use plotters::prelude::*;

use crate::ReportError;

/// Width and height of a chart, in pixels.
const SIZE: (u32, u32) = (340, 110);

/// `(time, price)` of each history row that has a price, oldest first.
fn points(p: &ProductHistory) -> Vec<(DateTime<Utc>, f64)> {
    p.history
        .iter()
        .filter_map(|h| {
            let t = DateTime::parse_from_rfc3339(&h.seen_at)
                .ok()?
                .with_timezone(&Utc);
            let price = h.price.as_deref()?.parse::<f64>().ok()?;
            Some((t, price))
        })
        .collect()
}

/// The chart of `p` up to `now`, as an inline `<svg>` element.
pub(crate) fn svg(p: &ProductHistory, now: DateTime<Utc>) -> Result<String, ReportError> {
    let pts = points(p);
    let err = |e: &dyn std::fmt::Display| ReportError::Chart {
        url: p.url.clone(),
        reason: e.to_string(),
    };
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        if pts.is_empty() {
            root.draw(&Text::new("no price seen", (120, 50), ("sans-serif", 12)))
                .map_err(|e| err(&e))?;
        } else {
            draw(&root, &pts, now).map_err(|e| err(&e))?;
        }
        root.present().map_err(|e| err(&e))?;
    }
    // Inline SVG needs no namespace; leaving it out keeps the page free of any URL.
    let out = out.replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1);
    Ok(out.replacen("<svg ", "<svg class=\"chart\" role=\"img\" ", 1))
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    pts: &[(DateTime<Utc>, f64)],
    now: DateTime<Utc>,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let t0 = pts[0].0;
    let hours = |t: DateTime<Utc>| (t - t0).num_seconds() as f64 / 3600.0;
    let end = hours(now.max(pts[pts.len() - 1].0)).max(1.0 / 60.0);
    let (lo, hi) = pts.iter().fold((f64::MAX, f64::MIN), |(lo, hi), (_, y)| {
        (lo.min(*y), hi.max(*y))
    });
    let pad = ((hi - lo) * 0.15).max(hi.abs() * 0.05).max(0.01);
    let mut chart = ChartBuilder::on(root)
        .margin(6)
        .x_label_area_size(18)
        .y_label_area_size(48)
        .build_cartesian_2d(0.0..end, (lo - pad)..(hi + pad))?;
    let label = |x: &f64| {
        let t = t0 + chrono::Duration::seconds((x * 3600.0) as i64);
        t.format("%m-%d %H:%M").to_string()
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(WHITE)
        .x_labels(3)
        .y_labels(3)
        .x_label_formatter(&label)
        .y_label_formatter(&|y: &f64| format!("{y:.2}"))
        .label_style(("sans-serif", 10))
        .draw()?;
    // A step line: each price holds until the next change, the last one until now.
    let mut line = Vec::with_capacity(pts.len() * 2);
    for (i, (t, y)) in pts.iter().enumerate() {
        line.push((hours(*t), *y));
        let until = pts.get(i + 1).map_or(end, |(n, _)| hours(*n));
        line.push((until, *y));
    }
    chart.draw_series(LineSeries::new(line, BLUE.stroke_width(2)))?;
    chart.draw_series(
        pts.iter()
            .map(|(t, y)| Circle::new((hours(*t), *y), 3, BLUE.filled())),
    )?;
    Ok(())
}
