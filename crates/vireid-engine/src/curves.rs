//! Training curves as a PNG: the loss terms, the learning rate and the periodic evaluation,
//! one panel each, redrawn from the run's history after every epoch.
//!
//! Text is drawn with DejaVu Sans compiled into the binary, so the picture looks the same on
//! a machine without any font installed.

use crate::error::{EngineError, Result};
use crate::trainer::records::{EpochRecord, EvalScores};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;
use vireid_eval::plotting::{register_font, FONT};

pub const WIDTH: u32 = 1500;
pub const HEIGHT: u32 = 450;

const DARK_GREEN: RGBColor = RGBColor(0, 150, 0);

type Series<'a> = (&'a str, RGBColor, Vec<(f64, f64)>);

fn plot_error(e: impl std::fmt::Display) -> EngineError {
    EngineError::Plot(e.to_string())
}

/// One panel: a few named series over epochs, optionally on a log y axis.
fn panel(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    title: &str,
    epochs: (f64, f64),
    series: &[Series<'_>],
    log_y: bool,
    legend: SeriesLabelPosition,
) -> Result<()> {
    let points = series.iter().flat_map(|s| s.2.iter().map(|p| p.1));
    let (lo, hi) = points.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    let (lo, hi) = if lo.is_finite() && hi.is_finite() {
        (lo, hi)
    } else {
        (0.0, 1.0)
    };
    let x = epochs.0..epochs.1.max(epochs.0 + 1.0);
    // Whole epochs only: at most one label per epoch.
    let ticks = ((x.end - x.start) as usize + 1).min(11);
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(title, (FONT, 22))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64);
    if log_y {
        let lo = lo.max(1e-12);
        let mut chart = builder
            .build_cartesian_2d(x, (lo * 0.8..hi.max(lo) * 1.25).log_scale())
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .x_labels(ticks)
            .x_label_formatter(&|v| format!("{v:.0}"))
            .label_style((FONT, 14))
            .y_label_formatter(&|v| format!("{v:.0e}"))
            .draw()
            .map_err(plot_error)?;
        draw_series(&mut chart, series, legend)
    } else {
        let pad = ((hi - lo) * 0.08).max(1e-6);
        let mut chart = builder
            .build_cartesian_2d(x, (lo - pad).min(0.0)..hi + pad)
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .x_labels(ticks)
            .x_label_formatter(&|v| format!("{v:.0}"))
            .label_style((FONT, 14))
            .draw()
            .map_err(plot_error)?;
        draw_series(&mut chart, series, legend)
    }
}

fn draw_series<'a, Y>(
    chart: &mut ChartContext<
        'a,
        BitMapBackend<'a>,
        Cartesian2d<plotters::coord::types::RangedCoordf64, Y>,
    >,
    series: &[Series<'_>],
    legend: SeriesLabelPosition,
) -> Result<()>
where
    Y: Ranged<ValueType = f64>,
{
    for (name, colour, points) in series {
        let colour = *colour;
        let line = chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                colour.stroke_width(2),
            ))
            .map_err(plot_error)?;
        line.label(*name).legend(move |(x, y)| {
            PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2))
        });
        // Dots show where the values were taken (evaluations are sparse).
        chart
            .draw_series(points.iter().map(|&p| Circle::new(p, 3, colour.filled())))
            .map_err(plot_error)?;
    }
    chart
        .configure_series_labels()
        .label_font((FONT, 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(legend)
        .draw()
        .map_err(plot_error)
}

/// Renders the curves of `history` into an RGB buffer of `WIDTH` x `HEIGHT`.
pub fn render(history: &[EpochRecord]) -> Result<Vec<u8>> {
    register_font();
    let mut pixels = vec![255u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let panels = root.split_evenly((1, 3));
        let first = history.first().map_or(0.0, |r| r.epoch as f64);
        let last = history.last().map_or(1.0, |r| r.epoch as f64);
        let over = |f: &dyn Fn(&EpochRecord) -> Option<f64>| -> Vec<(f64, f64)> {
            history
                .iter()
                .filter_map(|r| f(r).map(|v| (r.epoch as f64, v)))
                .collect()
        };
        let losses = [
            ("total", BLUE, over(&|r| Some(r.loss))),
            ("identity (CE)", RED, over(&|r| Some(r.identity))),
            ("triplet", DARK_GREEN, over(&|r| Some(r.triplet))),
        ];
        panel(
            &panels[0],
            "loss (epoch mean)",
            (first, last),
            &losses,
            false,
            SeriesLabelPosition::UpperRight,
        )?;
        let lr = [(
            "heads (backbone: x backbone_lr_ratio)",
            BLUE,
            over(&|r| Some(r.lr)),
        )];
        panel(
            &panels[1],
            "learning rate",
            (first, last),
            &lr,
            true,
            SeriesLabelPosition::LowerRight,
        )?;
        let pct = |f: fn(&EvalScores) -> f64| {
            over(&move |r: &EpochRecord| r.eval.as_ref().map(|e| 100.0 * f(e)))
        };
        let eval = [
            ("Rank-1 %", BLUE, pct(|e| e.rank1)),
            ("mAP %", RED, pct(|e| e.map)),
            ("mINP %", DARK_GREEN, pct(|e| e.minp)),
        ];
        panel(
            &panels[2],
            "evaluation (fused)",
            (first, last),
            &eval,
            false,
            SeriesLabelPosition::UpperLeft,
        )?;
        root.present().map_err(plot_error)?;
    }
    Ok(pixels)
}

/// Writes the curves of `history` as a PNG at `path`, atomically.
pub fn write_png(history: &[EpochRecord], path: &Path) -> Result<()> {
    vireid_eval::plotting::write_png(&render(history)?, (WIDTH, HEIGHT), path).map_err(|source| {
        EngineError::Write {
            path: path.to_path_buf(),
            source,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(epochs: usize) -> Vec<EpochRecord> {
        (0..epochs)
            .map(|e| EpochRecord {
                epoch: e,
                steps: 10,
                lr: crate::schedule::learning_rate(0.1, e),
                loss: 10.0 / (e + 1) as f64,
                identity: 6.0 / (e + 1) as f64,
                triplet: 4.0 / (e + 1) as f64,
                images_per_second: 100.0,
                seconds: 1.0,
                seconds_waiting: 0.0,
                seconds_exchanging: None,
                seconds_stepping: 1.0,
                eval: (e % 2 == 1).then_some(EvalScores {
                    rank1: 0.05 * e as f64,
                    map: 0.04 * e as f64,
                    minp: 0.02 * e as f64,
                }),
                skipped_steps: 0,
                loss_scale: None,
            })
            .collect()
    }

    fn count(pixels: &[u8], colour: RGBColor) -> usize {
        pixels
            .chunks_exact(3)
            .filter(|p| p == &[colour.0, colour.1, colour.2])
            .count()
    }

    #[test]
    fn every_panel_draws_its_series() {
        let pixels = render(&history(25)).unwrap();
        let third = (WIDTH / 3) as usize;
        for panel in 0..3 {
            let cols: Vec<u8> = pixels
                .chunks_exact(3 * WIDTH as usize)
                .flat_map(|row| row[3 * panel * third..3 * (panel + 1) * third].to_vec())
                .collect();
            assert!(count(&cols, BLUE) > 50, "panel {panel} has no blue line");
            if panel != 1 {
                assert!(count(&cols, RED) > 50, "panel {panel} has no red line");
                assert!(
                    count(&cols, DARK_GREEN) > 50,
                    "panel {panel} has no green line"
                );
            }
            // Text was drawn: dark anti-aliased pixels beyond the pure black of the axes.
            let grey = cols
                .chunks_exact(3)
                .filter(|p| p[0] == p[1] && p[1] == p[2] && p[0] > 20 && p[0] < 200)
                .count();
            assert!(grey > 100, "panel {panel} has no text");
        }
    }

    #[test]
    fn one_epoch_and_no_evaluation_still_draw() {
        let mut h = history(1);
        h[0].eval = None;
        render(&h).unwrap();
        render(&[]).unwrap();
    }

    #[test]
    fn png_decodes_at_its_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("curves.png");
        write_png(&history(6), &path).unwrap();
        let img = image::open(&path).unwrap();
        assert_eq!((img.width(), img.height()), (WIDTH, HEIGHT));
        if let Ok(out) = std::env::var("VIREID_KEEP_CURVES") {
            std::fs::copy(&path, out).unwrap();
        }
    }
}
