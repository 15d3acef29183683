//! training.png: loss and accuracy per epoch, drawn with plotters.
//!
//! Text is rendered with plotters' pure-Rust `ab_glyph` feature and the
//! DejaVu Sans font embedded from the `dejavu` crate, so no system font is
//! needed at run time. The picture is drawn into memory and encoded with
//! the `image` crate, which the data loaders already use.

use std::io::Cursor;
use std::path::Path;
use std::sync::OnceLock;

use anyhow::{anyhow, bail, Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use resnet::core::train::EpochMetrics;

/// The file name inside a run folder.
pub const FILE: &str = "training.png";

/// Width and height of the picture in pixels.
const SIZE: (u32, u32) = (1000, 420);

const TRAIN_COLOUR: RGBColor = RGBColor(31, 119, 180);
const TEST_COLOUR: RGBColor = RGBColor(214, 39, 40);

/// One line of a panel: its legend text and its (epoch, value) points.
struct Line {
    label: &'static str,
    points: Vec<(f64, f64)>,
    colour: RGBColor,
}

/// Draws loss (left) and accuracy in % (right) of training and test data
/// per epoch and writes them to `path` as PNG, atomically.
///
/// Errors: drawing or encoding fails, or `path` cannot be written.
pub fn write(path: &Path, title: &str, epochs: &[EpochMetrics]) -> Result<()> {
    register_font()?;
    let (width, height) = SIZE;
    let mut rgb = vec![0u8; (width * height * 3) as usize];
    draw(&mut rgb, title, epochs).map_err(|e| anyhow!("drawing {}: {e}", path.display()))?;

    let picture = image::RgbImage::from_raw(width, height, rgb)
        .context("the plot buffer does not match its size")?;
    let mut png = Vec::new();
    picture
        .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
        .with_context(|| format!("encoding {}", path.display()))?;
    crate::out_dir::write_atomic(path, &png)
}

/// Makes DejaVu Sans the "sans-serif" family plotters draws text with.
fn register_font() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = REGISTERED.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular())
            .is_ok()
    });
    if !ok {
        bail!("the embedded DejaVu Sans font could not be read");
    }
    Ok(())
}

/// Draws both panels into an RGB buffer of [`SIZE`].
fn draw(rgb: &mut [u8], title: &str, epochs: &[EpochMetrics]) -> Result<(), String> {
    let root = BitMapBackend::with_buffer(rgb, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let root = root
        .titled(title, ("sans-serif", 22))
        .map_err(|e| e.to_string())?;
    let panels = root.split_evenly((1, 2));

    let points = |value: fn(&EpochMetrics) -> f64| -> Vec<(f64, f64)> {
        epochs.iter().map(|m| (m.epoch as f64, value(m))).collect()
    };
    let loss = [
        line("training", points(|m| m.train_loss), TRAIN_COLOUR),
        line("test", points(|m| m.test_loss), TEST_COLOUR),
    ];
    let accuracy = [
        line(
            "training",
            points(|m| 100.0 * m.train_accuracy),
            TRAIN_COLOUR,
        ),
        line("test", points(|m| 100.0 * m.test_accuracy), TEST_COLOUR),
    ];
    // Loss falls and accuracy rises: legends go where the lines end up
    // least often.
    let upper = SeriesLabelPosition::UpperRight;
    let lower = SeriesLabelPosition::LowerRight;
    panel(&panels[0], "loss (cross-entropy)", &loss, upper).map_err(|e| e.to_string())?;
    panel(&panels[1], "accuracy (%)", &accuracy, lower).map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}

fn line(label: &'static str, points: Vec<(f64, f64)>, colour: RGBColor) -> Line {
    Line {
        label,
        points,
        colour,
    }
}

/// One chart with an epoch axis and a line (with dots, so a single epoch
/// still shows) per entry of `lines`.
fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    caption: &str,
    lines: &[Line],
    legend_at: SeriesLabelPosition,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let (x_range, y_range) = ranges(lines);
    let first = x_range.start;
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(x_range.clone(), y_range)?;

    let epochs = (x_range.end - first).round() as usize + 1;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .x_labels(epochs.min(12))
        .x_label_formatter(&|x| format!("{x:.0}"))
        .light_line_style(WHITE.mix(0.0))
        .draw()?;

    for line in lines {
        let style = line.colour.stroke_width(2);
        let legend = line.colour;
        chart
            .draw_series(LineSeries::new(line.points.iter().copied(), style))?
            .label(line.label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], legend));
        let dots = line
            .points
            .iter()
            .map(|&p| Circle::new(p, 3, line.colour.filled()));
        chart.draw_series(dots)?;
    }
    chart
        .configure_series_labels()
        .position(legend_at)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .draw()
}

/// The epoch range (at least one epoch wide) and the value range (with a
/// margin, never empty) of all points.
fn ranges(lines: &[Line]) -> (std::ops::Range<f64>, std::ops::Range<f64>) {
    let points = || lines.iter().flat_map(|l| l.points.iter());
    let finite = |v: f64| v.is_finite();
    let xs: Vec<f64> = points().map(|p| p.0).collect();
    let ys: Vec<f64> = points().map(|p| p.1).filter(|v| finite(*v)).collect();

    let x_min = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let x_max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (x_min, x_max) = if x_min.is_finite() {
        (x_min, x_max)
    } else {
        (1.0, 1.0)
    };
    let x_max = x_max.max(x_min + 1.0);

    let y_min = ys.iter().copied().fold(f64::INFINITY, f64::min);
    let y_max = ys.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (y_min, y_max) = if y_min.is_finite() {
        (y_min, y_max)
    } else {
        (0.0, 1.0)
    };
    let margin = ((y_max - y_min) * 0.08).max(1e-3);
    (x_min..x_max, (y_min - margin).max(0.0)..y_max + margin)
}
