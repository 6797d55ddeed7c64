//! Human-readable tables (comfy-table), one function per report.

use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, ContentArrangement, Table};

use crate::cost::{closed_form_ratio, ConvKind, LayerCost};
use crate::layer::ConvLayer;
use crate::units::group_digits;

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
        "separable / standard: FLOPs {:.4} ({:.2}× fewer), params {:.4} ({:.2}× fewer)\n",
        flops_ratio,
        1.0 / flops_ratio,
        params_ratio,
        1.0 / params_ratio
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
    text.push_str(
        "FLOPs here are counts of operations (1 MAC = 2 FLOPs); a rate is written FLOP/s.\n",
    );
    text
}
