//! Charts (plotters): FLOPs against measured time, the roofline with every measured conv on it, and each layer kind's
//! share of the FLOPs against its share of the time (`model --run --plot`). SVG or PNG, chosen by the file's
//! extension; PNG text is drawn with a bundled font (DejaVu Sans), so no system fonts are needed (SVG text is laid
//! out with the same font). Files are written atomically.

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use thiserror::Error;

use crate::ceilings::Ceilings;

#[derive(Debug, Error)]
pub enum PlotError {
    #[error("{flag} {path}: the file name must end in .svg or .png")]
    Format { flag: &'static str, path: String },
    #[error("{flag} {path}: {message}")]
    Draw {
        flag: &'static str,
        path: String,
        message: String,
    },
    #[error("{flag}: nothing to plot ({why})")]
    Empty { flag: &'static str, why: &'static str },
}

/// A labelled set of (x, y) points.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

/// One measured conv on the roofline.
#[derive(Debug, Clone, PartialEq)]
pub struct RooflineMark {
    /// The conv type ("standard", "separable (fused)"): one colour per type, named in the legend.
    pub conv: String,
    /// The kernel family when several are drawn ("tiled"): one marker shape per family, named in the legend.
    pub variant: Option<String>,
    /// A label for this point (a swept value such as "size=56"), or empty. Labels are placed where they overlap
    /// nothing; one that fits nowhere is left out (its series' line and the table still place it).
    pub label: String,
    pub flops_per_byte: f64,
    pub flops_per_s: f64,
    /// Its launch cap, FLOPs ÷ (its dispatches × the adapter's launch latency), when that latency is known: the
    /// rate no kernel of as many dispatches can pass on this adapter. Drawn as a dash of the conv's colour where it
    /// lies below the roof.
    pub launch_cap_flops_per_s: Option<f64>,
}

impl RooflineMark {
    /// Every measured conv of `c` as a point: its conv type (the colour), the kernel family when several are drawn
    /// (the marker), and a point label (a swept value), possibly empty.
    pub fn of_comparison(c: &crate::compare::Comparison, variant: Option<&str>, point: &str) -> Vec<RooflineMark> {
        c.all_results()
            .map(|r| RooflineMark {
                conv: r.label(),
                variant: variant.map(str::to_string),
                label: point.to_string(),
                flops_per_byte: r.cost.arithmetic_intensity(),
                flops_per_s: r.flops_per_s(),
                launch_cap_flops_per_s: c
                    .roofline(r)
                    .and_then(|p| p.launch_floor_s)
                    .map(|floor| r.cost.flops as f64 / floor),
            })
            .collect()
    }
}

/// The colour of a conv type: fixed per type, so every chart colours them alike.
fn conv_color(conv: &str) -> RGBColor {
    let index = match conv {
        "standard" => 0,
        "depthwise" => 1,
        "pointwise" => 2,
        "separable" => 3,
        c if c.starts_with("separable") => 4,
        _ => 5,
    };
    COLORS[index]
}

/// Axis ticks that stay short: 0.1, 1, 10, 1000, 1e4 (never "1000.0").
fn tick(value: f64) -> String {
    if !value.is_finite() || value <= 0.0 {
        String::new()
    } else if value >= 1e4 {
        format!("{value:.0e}")
    } else if value >= 1.0 {
        format!("{value:.0}")
    } else {
        let text = format!("{value:.3}");
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// The largest font size up to `largest` (down to 11) at which `title` fits the chart's width with a margin.
fn title_size<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, title: &str, largest: u32) -> u32 {
    let room = area.dim_in_pixel().0.saturating_sub(24);
    (11..=largest)
        .rev()
        .find(|&size| {
            let style = TextStyle::from(("sans-serif", size).into_font());
            area.estimate_text_size(title, &style).is_ok_and(|(w, _)| w <= room)
        })
        .unwrap_or(11)
}

/// A pixel rectangle (left, top, right, bottom).
type Rect = (i32, i32, i32, i32);

/// A pixel position, or a size (width, height), or an offset.
type Px = (i32, i32);

fn overlaps(a: Rect, b: Rect) -> bool {
    a.0 < b.2 && b.0 < a.2 && a.1 < b.3 && b.1 < a.3
}

/// Places each label (its point and its size, in pixels) beside its point so that it overlaps no other label, no
/// point of `points` and stays within `bounds`: tries eight positions around the point and returns the offset of
/// the label's top-left corner from its point, or `None` when none is free (the label is then left out).
fn place_labels(points: &[Px], labels: &[(Px, Px)], bounds: Rect) -> Vec<Option<Px>> {
    let marker = 7;
    let mut taken: Vec<Rect> = points
        .iter()
        .map(|&(x, y)| (x - marker, y - marker, x + marker, y + marker))
        .collect();
    labels
        .iter()
        .map(|&((x, y), (w, h))| {
            let gap = marker + 3;
            let offsets = [
                (gap, -h / 2),
                (-gap - w, -h / 2),
                (gap, -gap - h),
                (gap, gap),
                (-gap - w, -gap - h),
                (-gap - w, gap),
                (-w / 2, -gap - h),
                (-w / 2, gap),
            ];
            let chosen = offsets.into_iter().find(|&(dx, dy)| {
                let rect = (x + dx, y + dy, x + dx + w, y + dy + h);
                let inside = rect.0 >= bounds.0 && rect.1 >= bounds.1 && rect.2 <= bounds.2 && rect.3 <= bounds.3;
                inside && !taken.iter().any(|&t| overlaps(t, rect))
            });
            if let Some((dx, dy)) = chosen {
                taken.push((x + dx, y + dy, x + dx + w, y + dy + h));
            }
            chosen
        })
        .collect()
}

const SIZE: (u32, u32) = (1024, 640);
const FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
];

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bundled font is a valid TrueType file; if registration ever failed, PNG text would be missing and
        // the drawing call reports the error.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

enum Format {
    Svg,
    Png,
}

fn format_of(flag: &'static str, path: &Path) -> Result<Format, PlotError> {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("svg") => Ok(Format::Svg),
        Some("png") => Ok(Format::Png),
        _ => Err(PlotError::Format {
            flag,
            path: path.display().to_string(),
        }),
    }
}

/// Checks that `path` names a chart format convflops draws, before any measuring is done.
pub fn check_path(flag: &'static str, path: &Path) -> Result<(), PlotError> {
    format_of(flag, path).map(|_| ())
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// Renders with `draw` into `path` (SVG or PNG by extension), through a temporary file renamed into place.
fn render(
    flag: &'static str,
    path: &Path,
    draw: impl Fn(&DrawingArea<SVGBackend, Shift>) -> DrawResult + Copy,
    draw_png: impl Fn(&DrawingArea<BitMapBackend, Shift>) -> DrawResult,
) -> Result<(), PlotError> {
    let fail = |message: String| PlotError::Draw {
        flag,
        path: path.display().to_string(),
        message,
    };
    let format = format_of(flag, path)?;
    // Both backends lay text out with the bundled font.
    register_font();
    match format {
        Format::Svg => {
            let mut svg = String::new();
            {
                let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
                draw(&root).map_err(|e| fail(e.to_string()))?;
                root.present().map_err(|e| fail(e.to_string()))?;
            }
            crate::export::write_atomically(path, svg.as_bytes()).map_err(|e| fail(e.to_string()))
        }
        Format::Png => {
            // Encoded into a private temporary file first, then written as any export is (a symlink is followed,
            // a device or FIFO written through, a regular file replaced atomically).
            let temp = tempfile::Builder::new()
                .suffix(".png")
                .tempfile()
                .map_err(|e| fail(e.to_string()))?;
            {
                let root = BitMapBackend::new(temp.path(), SIZE).into_drawing_area();
                draw_png(&root).map_err(|e| fail(e.to_string()))?;
                root.present().map_err(|e| fail(e.to_string()))?;
            }
            let png = std::fs::read(temp.path()).map_err(|e| fail(e.to_string()))?;
            crate::export::write_atomically(path, &png).map_err(|e| fail(e.to_string()))
        }
    }
}

fn log_range(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let (lo, hi) = values
        .filter(|v| v.is_finite() && *v > 0.0)
        .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    (lo <= hi).then(|| (lo / 2.0, hi * 2.0))
}

/// FLOPs (x, a count) against measured time (y) for each conv type, with the straight line FLOPs alone would
/// predict: time = FLOPs × `seconds_per_flop` (the reference rate, e.g. the standard conv's).
pub fn flops_vs_time(path: &Path, title: &str, series: &[Series], seconds_per_flop: f64) -> Result<(), PlotError> {
    let flag = "--plot";
    let all = || series.iter().flat_map(|s| s.points.iter().copied());
    let (x_range, y_range) = match (log_range(all().map(|p| p.0)), log_range(all().map(|p| p.1))) {
        (Some(x), Some(y)) => (x, y),
        _ => {
            return Err(PlotError::Empty {
                flag,
                why: "no measured point",
            })
        }
    };
    macro_rules! draw_chart {
        ($root:expr) => {{
            let root = $root;
            root.fill(&WHITE)?;
            let mut chart = ChartBuilder::on(root)
                .caption(title, ("sans-serif", title_size(root, title, 22)))
                .margin(16)
                .x_label_area_size(48)
                .y_label_area_size(100)
                .build_cartesian_2d((x_range.0..x_range.1).log_scale(), (y_range.0..y_range.1).log_scale())?;
            chart
                .configure_mesh()
                .x_desc("FLOPs (a count, log scale)")
                .y_desc("measured time per run, s (log scale)")
                .x_label_formatter(&|v| crate::units::si(*v, ""))
                .y_label_formatter(&|v| crate::units::seconds(*v))
                .label_style(("sans-serif", 14))
                .draw()?;
            let line: Vec<(f64, f64)> = (0..=64)
                .map(|i| x_range.0 * (x_range.1 / x_range.0).powf(f64::from(i) / 64.0))
                .map(|x| (x, x * seconds_per_flop))
                .collect();
            chart
                .draw_series(LineSeries::new(line, BLACK.stroke_width(1)))?
                .label("time if every FLOP cost the same (standard conv's rate)")
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK));
            for s in series {
                // The conv type is the label's first word: the same colour as on the roofline.
                let color = conv_color(s.label.split(' ').next().unwrap_or(""));
                chart
                    .draw_series(s.points.iter().map(|&p| Circle::new(p, 5, color.filled())))?
                    .label(s.label.as_str())
                    .legend(move |(x, y)| Circle::new((x + 10, y), 5, color.filled()));
                chart.draw_series(LineSeries::new(s.points.iter().copied(), color.stroke_width(1)))?;
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font(("sans-serif", 14))
                .draw()?;
            Ok(())
        }};
    }
    render(flag, path, |root| draw_chart!(root), |root| draw_chart!(root))
}

/// The roofline of `ceilings` (log-log: FLOPs per byte against FLOP/s) with every measured conv: one colour per
/// conv type and one marker per kernel family, named in a legend beside the chart; the points of one series are
/// joined in order (a sweep), and point labels are placed where they overlap nothing.
pub fn roofline(path: &Path, title: &str, ceilings: &Ceilings, marks: &[RooflineMark]) -> Result<(), PlotError> {
    let flag = "--roofline";
    if marks.is_empty() {
        return Err(PlotError::Empty {
            flag,
            why: "no measured conv",
        });
    }
    let ridge = ceilings.ridge_flops_per_byte();
    let xs = marks.iter().map(|m| m.flops_per_byte).chain([ridge]);
    // The launch caps that lie below the roof, drawn as dashes: (mark, cap).
    let caps: Vec<(&RooflineMark, f64)> = marks
        .iter()
        .filter_map(|m| m.launch_cap_flops_per_s.map(|cap| (m, cap)))
        .filter(|&(m, cap)| cap.is_finite() && cap > 0.0 && cap < ceilings.bound(m.flops_per_byte).0)
        .collect();
    let ys = marks
        .iter()
        .map(|m| m.flops_per_s)
        .chain(caps.iter().map(|&(_, cap)| cap))
        .chain([ceilings.fma_flops_per_s]);
    let (Some(x_range), Some(y_range)) = (log_range(xs), log_range(ys)) else {
        return Err(PlotError::Empty {
            flag,
            why: "no finite point",
        });
    };
    let (x_range, y_range) = (
        (x_range.0.min(0.1), x_range.1.max(1000.0)),
        (y_range.0, y_range.1 * 2.0),
    );
    // The series, in order of first appearance: (conv, variant).
    let mut series: Vec<(String, Option<String>)> = Vec::new();
    for m in marks {
        let key = (m.conv.clone(), m.variant.clone());
        if !series.contains(&key) {
            series.push(key);
        }
    }
    let mut variants: Vec<Option<String>> = Vec::new();
    for (_, v) in &series {
        if !variants.contains(v) {
            variants.push(v.clone());
        }
    }
    let marker_of = |variant: &Option<String>| variants.iter().position(|v| v == variant).unwrap_or(0) % 4;
    let legend_label = |(conv, variant): &(String, Option<String>)| match variant {
        Some(v) => format!("{conv} ({v} kernels)"),
        None => conv.clone(),
    };
    macro_rules! marker {
        ($area:expr, $at:expr, $shape:expr, $color:expr) => {{
            let (at, color) = ($at, $color);
            match $shape {
                0 => $area.draw_series([EmptyElement::at(at) + Circle::new((0, 0), 6, color.filled())])?,
                1 => $area.draw_series([EmptyElement::at(at) + TriangleMarker::new((0, 0), 8, color.filled())])?,
                2 => $area.draw_series([EmptyElement::at(at) + Rectangle::new([(-5, -5), (5, 5)], color.filled())])?,
                _ => $area.draw_series([EmptyElement::at(at) + Cross::new((0, 0), 6, color.stroke_width(3))])?,
            };
        }};
    }
    macro_rules! draw_chart {
        ($root:expr) => {{
            let root = $root;
            root.fill(&WHITE)?;
            let root = root.titled(title, ("sans-serif", title_size(root, title, 20)))?;
            let (left, right) = root.split_horizontally(SIZE.0 - 250);
            let mut chart = ChartBuilder::on(&left)
                .margin(16)
                .margin_right(28)
                .x_label_area_size(48)
                .y_label_area_size(110)
                .build_cartesian_2d((x_range.0..x_range.1).log_scale(), (y_range.0..y_range.1).log_scale())?;
            chart
                .configure_mesh()
                .x_desc("arithmetic intensity, FLOPs per byte (log scale)")
                .y_desc("FLOP/s (a rate, log scale)")
                .x_label_formatter(&|v| tick(*v))
                .y_label_formatter(&|v| crate::units::flops_rate(*v))
                .label_style(("sans-serif", 14))
                .draw()?;
            let roof: Vec<(f64, f64)> = (0..=128)
                .map(|i| x_range.0 * (x_range.1 / x_range.0).powf(f64::from(i) / 128.0))
                .map(|x| (x, ceilings.bound(x).0))
                .collect();
            chart.draw_series(LineSeries::new(roof, BLACK.stroke_width(2)))?;
            // Each launch cap under the roof: a dash across the conv's point, in its colour.
            for &(m, cap) in &caps {
                let color = conv_color(&m.conv);
                let (x0, x1) = (m.flops_per_byte / 1.6, m.flops_per_byte * 1.6);
                chart.draw_series(LineSeries::new([(x0, cap), (x1, cap)], color.stroke_width(3)))?;
            }
            for key in &series {
                let color = conv_color(&key.0);
                let points: Vec<(f64, f64)> = marks
                    .iter()
                    .filter(|m| m.conv == key.0 && m.variant == key.1)
                    .map(|m| (m.flops_per_byte, m.flops_per_s))
                    .collect();
                if points.len() > 1 {
                    chart.draw_series(LineSeries::new(points.iter().copied(), color.mix(0.5).stroke_width(1)))?;
                }
                for &point in &points {
                    marker!(chart, point, marker_of(&key.1), color);
                }
            }
            // Point labels where they overlap no other label, point or the plot's edge.
            let label_font = TextStyle::from(("sans-serif", 13).into_font());
            let labelled: Vec<&RooflineMark> = marks.iter().filter(|m| !m.label.is_empty()).collect();
            if !labelled.is_empty() {
                let pixel = |m: &RooflineMark| chart.backend_coord(&(m.flops_per_byte, m.flops_per_s));
                let points: Vec<(i32, i32)> = marks.iter().map(pixel).collect();
                let labels: Vec<((i32, i32), (i32, i32))> = labelled
                    .iter()
                    .map(|m| {
                        let (w, h) = left.estimate_text_size(&m.label, &label_font).unwrap_or((0, 0));
                        (pixel(m), (w as i32, h as i32))
                    })
                    .collect();
                let (xs, ys) = chart.plotting_area().get_pixel_range();
                let offsets = place_labels(&points, &labels, (xs.start, ys.start, xs.end, ys.end));
                for (m, offset) in labelled.iter().zip(offsets) {
                    if let Some((dx, dy)) = offset {
                        let color = conv_color(&m.conv);
                        let style = label_font.clone().color(&color).pos(Pos::new(HPos::Left, VPos::Top));
                        chart.draw_series([EmptyElement::at((m.flops_per_byte, m.flops_per_s))
                            + Text::new(m.label.clone(), (dx, dy), style)])?;
                    }
                }
            }
            // The legend beside the chart: the roof, then one line per series.
            let text = TextStyle::from(("sans-serif", 14).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
            let mut y = 60;
            right.draw(&PathElement::new(vec![(8, y), (30, y)], BLACK.stroke_width(2)))?;
            let roof_lines = [
                "roofline:".to_string(),
                format!("peak {} (FMA)", crate::units::flops_rate(ceilings.fma_flops_per_s)),
                format!(
                    "bandwidth {} (copy)",
                    crate::units::si(ceilings.bandwidth_bytes_per_s, "B/s")
                ),
                format!("ridge {:.1} FLOPs/byte", ridge),
            ];
            let launch_lines = match (&ceilings.launch, caps.is_empty()) {
                (Some(launch), false) => vec![
                    "launch cap (dash), a conv's".to_string(),
                    format!("FLOPs ÷ (dispatches × {})", crate::units::seconds(launch.dispatch_s)),
                ],
                _ => Vec::new(),
            };
            let roof_lines: Vec<String> = roof_lines.into_iter().chain(launch_lines).collect();
            for line in &roof_lines {
                right.draw(&Text::new(line.clone(), (38, y), text.clone()))?;
                y += 18;
            }
            y += 12;
            for key in &series {
                let color = conv_color(&key.0);
                let at = (19, y);
                match marker_of(&key.1) {
                    0 => right.draw(&Circle::new(at, 6, color.filled()))?,
                    1 => right.draw(&TriangleMarker::new(at, 8, color.filled()))?,
                    2 => right.draw(&Rectangle::new(
                        [(at.0 - 5, at.1 - 5), (at.0 + 5, at.1 + 5)],
                        color.filled(),
                    ))?,
                    _ => right.draw(&Cross::new(at, 6, color.stroke_width(3)))?,
                }
                right.draw(&Text::new(legend_label(key), (38, y), text.clone()))?;
                y += 22;
            }
            Ok(())
        }};
    }
    render(flag, path, |root| draw_chart!(root), |root| draw_chart!(root))
}

/// One group of two bars: a label (a layer kind; lines separated by `\n`) with its share of the FLOPs and its share
/// of the measured time, both in percent.
#[derive(Debug, Clone, PartialEq)]
pub struct ShareBars {
    pub label: String,
    pub flops_share: f64,
    pub time_share: f64,
}

/// A share as the bars print it: two decimals below 1 %, one above.
fn percent(value: f64) -> String {
    if value < 1.0 {
        format!("{value:.2} %")
    } else {
        format!("{value:.1} %")
    }
}

/// A bar chart of each group's share of the FLOPs (a count) beside its share of the measured time: where the two
/// bars differ, FLOPs mispredict time.
pub fn shares(path: &Path, title: &str, groups: &[ShareBars]) -> Result<(), PlotError> {
    let flag = "--plot";
    if groups.is_empty() {
        return Err(PlotError::Empty {
            flag,
            why: "no layer kind",
        });
    }
    let values = || groups.iter().flat_map(|g| [g.flops_share, g.time_share]);
    if values().any(|v| !v.is_finite() || v < 0.0) {
        return Err(PlotError::Empty {
            flag,
            why: "a share is not a finite, non-negative percentage",
        });
    }
    // Room above the bars for their values and the legend, and below zero (inside the chart) for the labels.
    let top = values().fold(100.0f64, f64::max) * 1.25;
    let bottom = -0.1 * top;
    let n = groups.len() as f64;
    let bars = [
        (0.12, 0.48, COLORS[0], "share of FLOPs (a count)"),
        (0.52, 0.88, COLORS[1], "share of measured time"),
    ];
    let share = |g: &ShareBars, i: usize| if i == 0 { g.flops_share } else { g.time_share };
    macro_rules! draw_chart {
        ($root:expr) => {{
            let root = $root;
            root.fill(&WHITE)?;
            let mut chart = ChartBuilder::on(root)
                .caption(title, ("sans-serif", title_size(root, title, 22)))
                .margin(16)
                .x_label_area_size(8)
                .y_label_area_size(70)
                .build_cartesian_2d(0f64..n, bottom..top)?;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(0)
                .y_desc("share of the network, %")
                .y_label_formatter(&|v| {
                    if *v < 0.0 || *v > 100.0 {
                        String::new()
                    } else {
                        format!("{v:.0} %")
                    }
                })
                .label_style(("sans-serif", 14))
                .draw()?;
            chart.draw_series([Rectangle::new([(0.0, bottom), (n, 0.0)], WHITE.filled())])?;
            chart.draw_series(LineSeries::new([(0.0, 0.0), (n, 0.0)], BLACK.stroke_width(1)))?;
            for (i, (left, right, color, label)) in bars.into_iter().enumerate() {
                chart
                    .draw_series(groups.iter().enumerate().map(|(g_index, g)| {
                        let x = g_index as f64;
                        Rectangle::new([(x + left, 0.0), (x + right, share(g, i))], color.filled())
                    }))?
                    .label(label)
                    .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], color.filled()));
                let value_style = TextStyle::from(("sans-serif", 14).into_font())
                    .color(&BLACK)
                    .pos(Pos::new(HPos::Center, VPos::Bottom));
                chart.draw_series(groups.iter().enumerate().map(|(g_index, g)| {
                    let x = g_index as f64 + (left + right) / 2.0;
                    EmptyElement::at((x, share(g, i))) + Text::new(percent(share(g, i)), (0, -4), value_style.clone())
                }))?;
            }
            let label_style = TextStyle::from(("sans-serif", 15).into_font())
                .color(&BLACK)
                .pos(Pos::new(HPos::Center, VPos::Top));
            chart.draw_series(groups.iter().enumerate().flat_map(|(g_index, g)| {
                let style = label_style.clone();
                g.label.lines().enumerate().map(move |(line, text)| {
                    EmptyElement::at((g_index as f64 + 0.5, 0.0))
                        + Text::new(text.to_string(), (0, 8 + 18 * line as i32), style.clone())
                })
            }))?;
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font(("sans-serif", 14))
                .draw()?;
            Ok(())
        }};
    }
    render(flag, path, |root| draw_chart!(root), |root| draw_chart!(root))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_never_overlap_each_other_or_points() {
        // Twelve points piled up where a sweep's small values sit, plus a spread of others.
        let mut points: Vec<(i32, i32)> = (0..12).map(|i| (200 + i % 3, 300 + i % 2)).collect();
        points.extend((0..12).map(|i| (100 + 40 * i, 100 + 20 * i)));
        let labels: Vec<((i32, i32), (i32, i32))> = points.iter().map(|&p| (p, (60, 14))).collect();
        let bounds = (0, 0, 800, 600);
        let offsets = place_labels(&points, &labels, bounds);
        let rects: Vec<Rect> = labels
            .iter()
            .zip(&offsets)
            .filter_map(|(((x, y), (w, h)), o)| o.map(|(dx, dy)| (x + dx, y + dy, x + dx + w, y + dy + h)))
            .collect();
        assert!(rects.len() >= 12, "most labels find a place: {}", rects.len());
        assert!(rects.len() < points.len(), "a pile of 12 cannot label every point");
        for (i, a) in rects.iter().enumerate() {
            assert!(a.0 >= 0 && a.1 >= 0 && a.2 <= 800 && a.3 <= 600);
            for b in &rects[i + 1..] {
                assert!(!overlaps(*a, *b), "{a:?} overlaps {b:?}");
            }
            for &(x, y) in &points {
                assert!(
                    !overlaps(*a, (x - 7, y - 7, x + 7, y + 7)),
                    "{a:?} covers the point ({x}, {y})"
                );
            }
        }
    }

    #[test]
    fn long_titles_shrink_to_fit() {
        register_font();
        let mut svg = String::new();
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        let long = "tiny-net: share of FLOPs vs share of time per layer kind · llvmpipe (LLVM 15.0.6, 256 bits) · \
                    Vulkan · CPU adapter";
        let size = title_size(&root, long, 22);
        assert!(size < 22);
        let style = TextStyle::from(("sans-serif", size).into_font());
        assert!(root.estimate_text_size(long, &style).unwrap().0 <= SIZE.0 - 24);
        assert_eq!(title_size(&root, "short", 22), 22);
    }

    #[test]
    fn the_roofline_draws_a_launch_cap_only_where_it_is_under_the_roof() {
        let ceilings = Ceilings {
            method: 0,
            fma_flops_per_s: 100e9,
            bandwidth_bytes_per_s: 10e9,
            read_bytes_per_s: 10e9,
            fma_variant: String::new(),
            bandwidth_variant: String::new(),
            read_variant: String::new(),
            fma_variants: Vec::new(),
            bandwidth_variants: Vec::new(),
            bandwidth_buffer_bytes: 0,
            timer: "timestamp".into(),
            launch: Some(crate::ceilings::LaunchLatency {
                dispatch_s: 20e-6,
                single_s: 40e-6,
                dispatches_per_sample: 64,
                timer: "timestamp".into(),
            }),
        };
        let mark = |cap: f64| RooflineMark {
            conv: "pointwise".into(),
            variant: None,
            label: String::new(),
            flops_per_byte: 2.0,
            flops_per_s: 1e9,
            launch_cap_flops_per_s: Some(cap),
        };
        let dir = tempfile::tempdir().unwrap();
        let draw = |cap: f64| {
            let path = dir.path().join("roof.svg");
            roofline(&path, "t", &ceilings, &[mark(cap)]).unwrap();
            std::fs::read_to_string(&path).unwrap()
        };
        // The memory roof at 2 FLOPs/byte is 20 GFLOP/s: a 5 GFLOP/s cap lies under it and is drawn and named.
        let under = draw(5e9);
        assert!(under.contains("launch cap (dash)"), "{under}");
        assert!(under.contains("20.0 µs"), "{under}");
        // A 50 GFLOP/s cap is above the roof there: it bounds nothing, and the chart says nothing of it.
        let above = draw(50e9);
        assert!(!above.contains("launch cap"), "{above}");
        assert!(under.matches("<polyline").count() > above.matches("<polyline").count());
    }

    #[test]
    fn ticks_are_short() {
        assert_eq!(tick(1000.0), "1000");
        assert_eq!(tick(0.1), "0.1");
        assert_eq!(tick(1e5), "1e5");
        assert_eq!(conv_color("separable (fused)"), COLORS[4]);
        assert_ne!(conv_color("standard"), conv_color("depthwise"));
    }
}
