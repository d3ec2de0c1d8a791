//! The summary as a picture: one panel per score with every seed's run as a dot and each
//! kind's mean and standard deviation, and with a comparison a last panel of the paired
//! differences with their 95% intervals.

use crate::error::{EvalError, Result};
use crate::plotting::{register_font, FONT};
use crate::summary::{Scores, Summary};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

fn plot_error(e: impl std::fmt::Display) -> EvalError {
    EvalError::Invalid(format!("drawing the summary: {e}"))
}

const PANEL_WIDTH: u32 = 420;
const HEIGHT: u32 = 420;
const COLOURS: [RGBColor; 4] = [BLUE, RED, RGBColor(0, 150, 0), RGBColor(150, 0, 150)];

/// One column of dots with a mean bar and a whisker (mean ± `half`).
struct Column {
    label: String,
    dots: Vec<f64>,
    mean: f64,
    half: Option<f64>,
}

fn panel(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    title: &str,
    columns: &[Column],
    zero_line: bool,
) -> Result<()> {
    let values = columns.iter().flat_map(|c| {
        c.dots.iter().copied().chain([
            c.mean - c.half.unwrap_or(0.0),
            c.mean + c.half.unwrap_or(0.0),
        ])
    });
    let (lo, hi) = values
        .chain(zero_line.then_some(0.0))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    let pad = ((hi - lo) * 0.1).max(1.0);
    let n = columns.len() as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(-0.5..n - 0.5, (lo - pad)..(hi + pad))
        .map_err(plot_error)?;
    let labels: Vec<String> = columns.iter().map(|c| c.label.clone()).collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(columns.len() + 1)
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < labels.len() {
                labels[i as usize].clone()
            } else {
                String::new()
            }
        })
        .label_style((FONT, 14))
        .draw()
        .map_err(plot_error)?;
    if zero_line {
        chart
            .draw_series(LineSeries::new(
                [(-0.5, 0.0), (n - 0.5, 0.0)],
                BLACK.mix(0.5).stroke_width(1),
            ))
            .map_err(plot_error)?;
    }
    for (i, c) in columns.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let x = i as f64;
        // Seeds spread a little sideways so that equal scores stay visible.
        let k = c.dots.len().max(1) as f64;
        chart
            .draw_series(c.dots.iter().enumerate().map(|(j, &v)| {
                let dx = 0.2 * ((j as f64 + 0.5) / k - 0.5);
                Circle::new((x + dx, v), 4, colour.mix(0.6).filled())
            }))
            .map_err(plot_error)?;
        chart
            .draw_series(LineSeries::new(
                [(x - 0.25, c.mean), (x + 0.25, c.mean)],
                colour.stroke_width(3),
            ))
            .map_err(plot_error)?;
        if let Some(h) = c.half {
            chart
                .draw_series([ErrorBar::new_vertical(
                    x,
                    c.mean - h,
                    c.mean,
                    c.mean + h,
                    colour.stroke_width(2),
                    12,
                )])
                .map_err(plot_error)?;
        }
    }
    Ok(())
}

/// Renders `summary` into an RGB buffer; returns it with its size.
pub fn render(summary: &Summary) -> Result<(Vec<u8>, (u32, u32))> {
    register_font();
    let panels = 3 + usize::from(summary.comparison.is_some());
    let size = (PANEL_WIDTH * panels as u32, HEIGHT);
    let mut pixels = vec![255u8; (size.0 * size.1 * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, size).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let areas = root.split_evenly((1, panels));
        for (k, name) in Scores::NAMES.iter().enumerate() {
            let columns: Vec<Column> = summary
                .kinds
                .iter()
                .map(|kind| Column {
                    label: kind.kind.clone(),
                    dots: summary
                        .samples
                        .iter()
                        .filter(|s| s.kind == kind.kind)
                        .map(|s| s.scores.get(k))
                        .collect(),
                    mean: kind.scores[k].mean,
                    half: (kind.seeds.len() > 1).then_some(kind.scores[k].sd),
                })
                .collect();
            panel(&areas[k], &format!("{name} % (mean ± sd)"), &columns, false)?;
        }
        if let Some(p) = &summary.comparison {
            let columns: Vec<Column> = Scores::NAMES
                .iter()
                .enumerate()
                .map(|(k, name)| {
                    let d = &p.differences[k];
                    let dots = p
                        .seeds
                        .iter()
                        .filter_map(|seed| {
                            let of = |kind: &str| {
                                summary
                                    .samples
                                    .iter()
                                    .find(|s| s.kind == kind && s.seed == *seed)
                                    .map(|s| s.scores.get(k))
                            };
                            Some(of(&p.first)? - of(&p.second)?)
                        })
                        .collect();
                    Column {
                        label: name.to_string(),
                        dots,
                        mean: d.mean,
                        half: d.ci95.map(|(lo, hi)| (hi - lo) / 2.0),
                    }
                })
                .collect();
            panel(
                &areas[3],
                &format!("{} − {} (points, 95% CI)", p.first, p.second),
                &columns,
                true,
            )?;
        }
        root.present().map_err(plot_error)?;
    }
    Ok((pixels, size))
}

/// Writes the summary's picture as a PNG at `path`, atomically.
pub fn write_png(summary: &Summary, path: &Path) -> Result<()> {
    let (pixels, size) = render(summary)?;
    crate::plotting::write_png(&pixels, size, path).map_err(|e| EvalError::File {
        path: path.to_path_buf(),
        why: format!("cannot write: {e}"),
    })
}
