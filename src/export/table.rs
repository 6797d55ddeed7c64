//! Human-readable tables (comfy-table), one function per report.

use std::sync::atomic::{AtomicUsize, Ordering};

use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, ColumnConstraint, ContentArrangement, Table};

use crate::bench::Statistics;
use crate::compare::Comparison;
use crate::cost::{closed_form_ratio, ConvKind, Cost, LayerCost};
use crate::gpu::TimerKind;
use crate::layer::ConvLayer;
use crate::models::run::{NetworkComparison, NetworkRun};
use crate::models::Report;
use crate::units::{flops_count, flops_rate, group_digits, seconds, si};

/// The output width tables and text are fitted to; 0 = not fitted (the library's default, and `--wide`).
static WIDTH: AtomicUsize = AtomicUsize::new(0);

/// The narrowest width honoured; below it tables could not show even their first columns.
pub const MIN_WIDTH: usize = 40;

/// Sets the output width: `Some(columns)` fits every table and paragraph to it (at least [`MIN_WIDTH`]), `None`
/// (`--wide`) fits nothing.
pub fn set_width(columns: Option<usize>) {
    WIDTH.store(columns.map_or(0, |c| c.max(MIN_WIDTH)), Ordering::Relaxed);
}

/// The width the binary fits its output to: `COLUMNS` when set to a number, else the terminal's width when stdout
/// is one, else none (a pipe or a file gets every column).
pub fn terminal_width() -> Option<usize> {
    match std::env::var("COLUMNS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        Some(columns) if columns > 0 => Some(columns),
        _ => {
            use std::io::IsTerminal;
            if std::io::stdout().is_terminal() {
                Table::new().width().map(usize::from)
            } else {
                None
            }
        }
    }
}

/// The width output is fitted to, if any (see [`set_width`]).
pub fn width() -> Option<usize> {
    let w = WIDTH.load(Ordering::Relaxed);
    (w > 0).then_some(w)
}

fn text_width(line: &str) -> usize {
    line.chars().count()
}

/// Fits `table` to [`width`]: hides the columns named in `droppable`, in that order, until it fits, then wraps
/// the cells of what is left. Returns a note naming the hidden columns (empty when none was hidden).
pub fn fit(table: &mut Table, droppable: &[&str]) -> String {
    fit_to(table, droppable, width())
}

fn fit_to(table: &mut Table, droppable: &[&str], width: Option<usize>) -> String {
    let Some(width) = width else {
        return String::new();
    };
    table.set_content_arrangement(ContentArrangement::Disabled);
    let widest = |t: &Table| t.lines().map(|l| text_width(&l)).max().unwrap_or(0);
    let names: Vec<String> = table
        .header()
        .map(|h| h.cell_iter().map(|c| c.content()).collect())
        .unwrap_or_default();
    let mut hidden = Vec::new();
    for name in droppable {
        if widest(table) <= width {
            break;
        }
        if let Some(index) = names.iter().position(|n| n == name) {
            if let Some(column) = table.column_mut(index) {
                column.set_constraint(ColumnConstraint::Hidden);
                hidden.push(*name);
            }
        }
    }
    if widest(table) > width {
        table
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_width(u16::try_from(width).unwrap_or(u16::MAX));
    }
    if hidden.is_empty() {
        String::new()
    } else {
        wrap_to(
            &format!(
                "(to fit {width} columns, hidden: {}; --wide or the exports show every column)\n",
                hidden.join(", ")
            ),
            Some(width),
        )
    }
}

/// Wraps every line of `text` longer than [`width`] at spaces (table lines are fitted by [`fit`] and never longer).
pub fn wrap(text: &str) -> String {
    wrap_to(text, width())
}

fn wrap_to(text: &str, width: Option<usize>) -> String {
    let Some(width) = width else {
        return text.to_string();
    };
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let (body, newline) = match line.strip_suffix('\n') {
            Some(body) => (body, "\n"),
            None => (line, ""),
        };
        if text_width(body) <= width {
            out.push_str(line);
            continue;
        }
        let mut current = String::new();
        for word in body.split(' ') {
            if !current.is_empty() && text_width(&current) + 1 + text_width(word) > width {
                out.push_str(&current);
                out.push('\n');
                current.clear();
            }
            if !current.is_empty() {
                current.push(' ');
            }
            current.push_str(word);
        }
        out.push_str(&current);
        out.push_str(newline);
    }
    out
}

/// A table with the project's style and the given header; numeric columns (all but the first) right-aligned.
pub fn new_table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled);
    table.set_header(header.iter().map(Cell::new));
    for index in 1..header.len() {
        if let Some(column) = table.column_mut(index) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    if let Some(width) = width() {
        // Tables that do not hide columns with [`fit`] still wrap their cells to the width.
        table
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_width(u16::try_from(width).unwrap_or(u16::MAX));
    }
    table
}

/// `convflops count`: one row per conv, then the ratio lines.
pub fn count(layer: &ConvLayer, cost: &LayerCost) -> String {
    let mut table = new_table(&[
        "conv",
        "params",
        "MACs",
        "FLOPs (2·MACs)",
        "exact FLOPs",
        "bytes (f32)",
        "FLOPs/byte",
    ]);
    for kind in ConvKind::ALL {
        let c = cost.get(kind);
        table.add_row(vec![
            kind.name().to_string(),
            group_digits(c.params),
            group_digits(c.macs),
            group_digits(c.flops),
            group_digits(c.flops_exact),
            group_digits(c.bytes),
            format!("{:.2}", c.arithmetic_intensity()),
        ]);
    }
    let flops_ratio = cost.flops_ratio();
    let params_ratio = cost.params_ratio();
    let mut text = format!("layer: {}\n{table}\n", layer.describe());
    text.push_str(&format!(
        "separable / standard: FLOPs {:.4} ({}), params {:.4} ({})\n",
        flops_ratio,
        crate::units::times(1.0 / flops_ratio, "fewer", "more"),
        params_ratio,
        crate::units::times(1.0 / params_ratio, "fewer", "more")
    ));
    text.push_str(&format!(
        "article's closed form 1/C_out + 1/(kh·kw) = 1/{} + 1/{} = {:.4}{}\n",
        layer.out_channels,
        layer.kernel_area(),
        closed_form_ratio(layer),
        if layer.groups != 1 || layer.bias {
            " (it assumes groups 1 and no bias)"
        } else {
            ""
        }
    ));
    text.push_str("FLOPs here are counts of operations (1 MAC = 2 FLOPs); a rate is written FLOP/s.\n");
    wrap(&text)
}

/// The legend of the launch-bound mark, when some result of `c` carries it.
pub fn launch_legend_if_marked(c: &Comparison) -> Option<String> {
    let marked = c.all_results().any(|r| c.roofline(r).is_some_and(|p| p.launch_limited));
    marked
        .then(|| crate::compare::launch_legend(c.ceilings.as_ref()?))
        .flatten()
}

/// `convflops compare`: the adapter line, one row per conv, notes on timing, then the lesson.
pub fn compare(c: &Comparison) -> String {
    let time_header = if c.uses_wall_time() {
        "time (wall, median)"
    } else {
        "GPU time (median)"
    };
    let mut table = new_table(&[
        "conv",
        "FLOPs",
        "MACs",
        "bytes",
        time_header,
        "± (rel. stddev)",
        "wall time",
        "dispatches/sample",
        "achieved FLOP/s",
        "FLOPs/byte",
        "lower roof",
        "% of peak",
        "% of roofline",
    ]);
    for r in c.all_results() {
        let roof = c.roofline(r);
        let percent = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{v:.1} %"));
        let t = r.measurement.best();
        table.add_row(vec![
            r.label(),
            flops_count(r.cost.flops),
            group_digits(r.cost.macs),
            group_digits(r.cost.bytes),
            seconds(t.median),
            format!("{:.1} %", 100.0 * t.rel_stddev),
            seconds(r.measurement.wall.median),
            r.measurement.repetitions.to_string(),
            flops_rate(r.flops_per_s()),
            format!("{:.2}", r.cost.arithmetic_intensity()),
            roof.map_or("—".to_string(), |p| p.bound_cell()),
            percent(roof.map(|p| p.percent_of_peak)),
            percent(roof.map(|p| p.percent_of_roofline)),
        ]);
    }
    let hidden = fit(
        &mut table,
        &[
            "dispatches/sample",
            "wall time",
            "MACs",
            "bytes",
            "± (rel. stddev)",
            "FLOPs/byte",
            "% of peak",
        ],
    );
    let mut text = format!(
        "{}\nlayer: {} · {} kernels\n{table}\n{hidden}",
        c.adapter.headline(),
        c.layer.describe(),
        c.variant.name()
    );
    let samples = c
        .results
        .iter()
        .map(|r| r.measurement.best().samples)
        .min()
        .unwrap_or(0);
    text.push_str(&format!(
        "Times are per dispatch: the median of at least {samples} samples, each of `dispatches/sample` back-to-back \
         dispatches divided by that count; FLOP/s = FLOPs / median time. Every output checked against the CPU reference \
         on {} sampled values.\n",
        c.results.first().map_or(0, |r| r.checked_outputs)
    ));
    let kernels: Vec<String> = c
        .results
        .iter()
        .filter(|r| r.kind != crate::cost::ConvKind::Separable)
        .map(|r| format!("{} {}", r.kind, r.kernel))
        .collect();
    let origin = kernel_origin(c.results.iter().map(|r| r.kernel.as_str()));
    text.push_str(&format!("Kernels: {}{origin}.\n", kernels.join(" · ")));
    if !c.compile_s.is_empty() {
        let compiled: Vec<String> = c
            .compile_s
            .iter()
            .map(|(label, s)| format!("{label} {}", seconds(*s)))
            .collect();
        text.push_str(&format!(
            "Compiled at their first dispatch, outside every timed sample: {}.\n",
            compiled.join(" · ")
        ));
    }
    match &c.ceilings {
        Some(k) => text.push_str(&format!(
            "Ceilings of this adapter: peak {} (FMA), bandwidth {} (copy, read + write); ridge point {:.1} FLOPs/byte. \
             lower roof = the smaller of peak and bandwidth × FLOPs/byte; \
             % of roofline is measured against it, and a roof is named as a limit only above 50 %.\n",
            flops_rate(k.fma_flops_per_s),
            crate::units::si(k.bandwidth_bytes_per_s, "B/s"),
            k.ridge_flops_per_byte()
        )),
        None => text.push_str(
            "No ceilings known for this adapter: run `convflops peak` (cached) or `compare --ceilings` for the roofline columns.\n",
        ),
    }
    if let Some(legend) = launch_legend_if_marked(c) {
        text.push_str(&legend);
        text.push('\n');
    }
    if c.uses_wall_time() {
        text.push_str("This adapter has no timestamp queries: times are wall-clock, submit to completion.\n");
    } else if c.results.iter().all(|r| r.timer == TimerKind::Timestamp) {
        text.push_str("GPU time comes from timestamp queries at the beginning and end of the compute pass.\n");
    }
    for (kind, spread) in c.noisy() {
        text.push_str(&format!(
            "warning: {kind}: the samples spread {:.0} % (relative standard deviation); the machine may be busy, the median is quoted\n",
            100.0 * spread
        ));
    }
    text.push('\n');
    for line in c.lesson() {
        text.push_str(&line);
        text.push('\n');
    }
    if c.adapter.software {
        text.push_str("(A CPU adapter: these are CPU numbers, not GPU numbers.)\n");
    }
    wrap(&text)
}

/// `compare --all-adapters`: one row per adapter.
pub fn compare_summary(comparisons: &[Comparison]) -> String {
    let mut table = new_table(&[
        "adapter",
        "backend",
        "type",
        "kernels",
        "standard FLOP/s",
        "depthwise FLOP/s",
        "pointwise FLOP/s",
        "separable FLOP/s",
        "speedup (FLOPs predict)",
        "speedup (measured)",
    ]);
    for c in comparisons {
        let rate = |kind| c.get(kind).map_or("—".to_string(), |r| flops_rate(r.flops_per_s()));
        let kind = if c.adapter.software {
            format!("{} (software)", c.adapter.device_type)
        } else {
            c.adapter.device_type.clone()
        };
        table.add_row(vec![
            c.adapter.name.clone(),
            c.adapter.backend.clone(),
            kind,
            c.variant.name().to_string(),
            rate(crate::cost::ConvKind::Standard),
            rate(crate::cost::ConvKind::Depthwise),
            rate(crate::cost::ConvKind::Pointwise),
            rate(crate::cost::ConvKind::Separable),
            format!("{:.1}×", c.predicted_speedup()),
            c.measured_speedup().map_or("—".to_string(), |m| format!("{m:.1}×")),
        ]);
    }
    let hidden = fit(
        &mut table,
        &["type", "backend", "depthwise FLOP/s", "pointwise FLOP/s", "kernels"],
    );
    format!("summary\n{table}\n{hidden}")
}

/// `model` (counting): the layer table with a total row, a totals line, then the by-kind table.
pub fn model_report(report: &Report) -> String {
    let batch = report.layers.first().map_or(1, |l| l.layer.layer.batch);
    let mut layers = new_table(&[
        "layer",
        "kind",
        "input HxWxC",
        "output HxWxC",
        "params",
        "MACs",
        "FLOPs",
    ]);
    if let Some(column) = layers.column_mut(1) {
        column.set_cell_alignment(CellAlignment::Left);
    }
    for layer in &report.layers {
        let l = &layer.layer.layer;
        layers.add_row(vec![
            layer.layer.name.clone(),
            layer.layer.kind.name().to_string(),
            format!("{}x{}x{}", l.height, l.width, l.in_channels),
            format!("{}x{}x{}", l.out_height(), l.out_width(), l.out_channels),
            group_digits(layer.cost.params),
            group_digits(layer.cost.macs),
            group_digits(layer.cost.flops),
        ]);
    }
    layers.add_row(vec![
        "total".to_string(),
        String::new(),
        String::new(),
        String::new(),
        group_digits(report.totals.params),
        group_digits(report.totals.macs),
        group_digits(report.totals.flops),
    ]);
    let mut kinds = new_table(&["kind", "MACs", "share of MACs", "params", "share of params"]);
    for kind in &report.by_kind {
        kinds.add_row(vec![
            kind.kind.name().to_string(),
            group_digits(kind.cost.macs),
            format!("{:.2} %", kind.macs_share),
            group_digits(kind.cost.params),
            format!("{:.2} %", kind.params_share),
        ]);
    }
    wrap(&format!(
        "model {}, batch {batch}, {} layers\n{layers}\ntotal: {} params, {} MACs, {} ({} FLOPs = 2·MACs)\n\
         by kind (the MobileNet paper's Table 2 view):\n{kinds}\n",
        report.model,
        report.layers.len(),
        si(report.totals.params as f64, ""),
        si(report.totals.macs as f64, ""),
        flops_count(report.totals.flops),
        group_digits(report.totals.flops),
    ))
}

/// `model --run`: the per-layer table with totals, then the by-kind table, the lesson and the notes.
pub fn network_run(run: &NetworkRun) -> String {
    let time_header = match run.timer {
        TimerKind::Timestamp => "GPU time (median)",
        TimerKind::Wall => "time (wall, median)",
    };
    let mut layers = new_table(&[
        "layer",
        "kind",
        "input",
        "output HxWxC",
        "FLOPs",
        "FLOPs/byte",
        time_header,
        "±",
        "dispatches/sample",
        "FLOP/s",
        "% of peak",
        "lower roof",
        "share of FLOPs",
        "share of time",
    ]);
    for column in [1, 2] {
        if let Some(column) = layers.column_mut(column) {
            column.set_cell_alignment(comfy_table::CellAlignment::Left);
        }
    }
    for l in &run.layers {
        let roof = run.roofline(l);
        let shape = &l.layer.layer;
        let t = l.measurement.best();
        layers.add_row(vec![
            l.layer.name.clone(),
            l.layer.kind.name().to_string(),
            l.input.name().to_string(),
            format!("{}x{}x{}", shape.out_height(), shape.out_width(), shape.out_channels),
            flops_count(l.cost.flops),
            format!("{:.2}", l.cost.arithmetic_intensity()),
            seconds(t.median),
            format!("{:.1} %", 100.0 * t.rel_stddev),
            l.measurement.repetitions.to_string(),
            flops_rate(l.flops_per_s()),
            roof.map_or("—".to_string(), |p| format!("{:.1} %", p.percent_of_peak)),
            roof.map_or("—".to_string(), |p| p.bound_cell()),
            format!("{:.2} %", run.flops_share(l)),
            format!("{:.1} %", run.time_share(l)),
        ]);
    }
    let totals = &run.report.totals;
    let total_row = |label: String, cost: &Cost, time: f64, stats: Option<&Statistics>, reps: String| {
        vec![
            label,
            String::new(),
            String::new(),
            String::new(),
            flops_count(cost.flops),
            format!("{:.2}", cost.arithmetic_intensity()),
            seconds(time),
            stats.map_or(String::new(), |s| format!("{:.1} %", 100.0 * s.rel_stddev)),
            reps,
            flops_rate(cost.flops as f64 / time),
            run.ceilings.as_ref().map_or("—".to_string(), |k| {
                format!("{:.1} %", 100.0 * cost.flops as f64 / time / k.fma_flops_per_s)
            }),
            String::new(),
            "100.00 %".to_string(),
            String::new(),
        ]
    };
    layers.add_row(total_row(
        run.total_label(),
        &run.measured.totals,
        run.layer_time_s(),
        None,
        String::new(),
    ));
    layers.add_row(total_row(
        run.whole_label(),
        &run.whole_cost,
        run.whole_time_s(),
        Some(run.whole.best()),
        run.whole.repetitions.to_string(),
    ));

    let mut kinds = new_table(&[
        "kind",
        "layers",
        "FLOPs",
        "share of FLOPs",
        time_header,
        "share of time",
        "FLOP/s",
    ]);
    for k in run.by_kind() {
        kinds.add_row(vec![
            k.kind.name().to_string(),
            k.layers.to_string(),
            flops_count(k.cost.flops),
            format!("{:.2} %", k.flops_share),
            seconds(k.time_s),
            format!("{:.1} %", k.time_share),
            flops_rate(k.flops_per_s()),
        ]);
    }
    let hidden = fit(
        &mut layers,
        &[
            "dispatches/sample",
            "input",
            "±",
            "FLOPs/byte",
            "output HxWxC",
            "% of peak",
            "kind",
        ],
    );
    let mut text = format!(
        "{}\nmodel {} on the adapter · batch {} · {} input · {} conv layers · {} kernels\n{layers}\n{hidden}\
         total: {} params, {} MACs, {} FLOPs (2·MACs), as counted without --run\n\
         by kind: share of FLOPs against share of measured time (the MobileNet paper's Table 2, with time):\n\
         {kinds}\n",
        run.adapter.headline(),
        run.model(),
        run.batch(),
        run.input_shape(),
        run.report.layers.len(),
        run.variant.name(),
        group_digits(totals.params),
        group_digits(totals.macs),
        group_digits(totals.flops),
    );
    for line in run.lesson() {
        text.push_str(&line);
        text.push('\n');
    }
    for note in run.notes() {
        text.push_str(&note);
        text.push('\n');
    }
    wrap(&text)
}

/// `model --compare`: the summary table of the two runs, their ratios and the lesson.
pub fn network_comparison(c: &NetworkComparison) -> String {
    let mut table = new_table(&[
        "network",
        "FLOPs",
        "time, whole network",
        "time, sum of layers",
        "FLOP/s (whole network)",
    ]);
    for run in [&c.first, &c.second] {
        // A network with failed layers: its times and FLOP/s cover the layers that ran, its FLOPs are its count.
        let name = if run.failed.is_empty() {
            run.model().to_string()
        } else {
            format!(
                "{} ({} of {} layers ran; FLOP/s over those)",
                run.model(),
                run.layers.len(),
                run.report.layers.len()
            )
        };
        table.add_row(vec![
            name,
            flops_count(run.report.totals.flops),
            seconds(run.whole_time_s()),
            seconds(run.layer_time_s()),
            flops_rate(run.whole_flops_per_s()),
        ]);
    }
    wrap(&format!(
        "{} against {} (batch {}, {} kernels):\n{table}\n{}\n{}\n",
        c.first.model(),
        c.second.model(),
        c.first.batch(),
        c.first.variant.name(),
        c.ratios(),
        c.lesson(),
    ))
}

/// Where the tiles of the kernels that ran came from (a result's kernel is `name (tile)`, two joined by " + " for a
/// pair), when one of them is tiled; a generated kernel's own description already says "(generated per layer)"
/// (`ConvKernels::describe`).
fn kernel_origin<'a>(mut kernels: impl Iterator<Item = &'a str>) -> &'static str {
    let tiled = kernels.any(|k| {
        k.split(" + ")
            .filter_map(|k| crate::gpu::ShaderKind::from_name(k.split(" (").next().unwrap_or(k)))
            .any(|k| k.is_tunable())
    });
    if tiled {
        " (tiles from `convflops tune` when cached for these shapes, else built-in)"
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrow_tables_hide_columns_in_order_then_wrap() {
        let header = ["conv", "FLOPs", "a rather long column", "another long column", "time"];
        let build = || {
            let mut t = new_table(&header);
            t.add_row(vec![
                "standard",
                "462.4 MFLOPs",
                "1,234,567,890",
                "9,876,543,210",
                "1.20 ms",
            ]);
            t
        };
        let widest = |t: &Table| t.lines().map(|l| l.chars().count()).max().unwrap();
        let natural = widest(&build());
        assert!(natural > 60);
        let mut t = build();
        let note = fit_to(&mut t, &["a rather long column", "another long column"], Some(60));
        assert!(widest(&t) <= 60, "{t}");
        assert!(note.contains("hidden: a rather long column"), "{note}");
        assert!(!t.to_string().contains("a rather long column"));
        assert!(t.to_string().contains("time"));
        // Nothing left to hide: cells wrap instead.
        let mut t = build();
        fit_to(&mut t, &[], Some(40));
        assert!(widest(&t) <= 40, "{t}");
        // Not fitted: unchanged.
        let mut t = build();
        assert!(fit_to(&mut t, &["FLOPs"], None).is_empty());
        assert_eq!(widest(&t), natural);
    }

    #[test]
    fn long_lines_wrap_at_spaces() {
        let text = "short\nthe quick brown fox jumps over the lazy dog\n";
        let wrapped = wrap_to(text, Some(15));
        assert!(wrapped.lines().all(|l| l.chars().count() <= 15), "{wrapped}");
        assert_eq!(
            wrapped.split_whitespace().collect::<Vec<_>>(),
            text.split_whitespace().collect::<Vec<_>>()
        );
        assert_eq!(wrap_to(text, None), text);
    }

    #[test]
    fn kernel_origin_names_tiles_only_for_tiled_kernels() {
        let origin = |k: &[&str]| kernel_origin(k.iter().copied());
        // Generated kernels are named so by their own description: nothing to add.
        assert_eq!(
            origin(&["conv2d-cpu (generated per layer)", "depthwise-cpu + pointwise-cpu"]),
            ""
        );
        assert!(origin(&["conv2d-vec4 (4px×8ch/wg64)"]).contains("tiles from"));
        let both = origin(&["conv2d-vec4 (4px×8ch/wg64)", "depthwise-cpu (generated per layer)"]);
        assert!(both.contains("tiles from") && !both.contains("generated"));
        assert_eq!(origin(&["conv2d", "depthwise"]), "");
    }
}
