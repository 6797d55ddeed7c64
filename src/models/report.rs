//! The per-network report: the exact cost of every layer, the totals, and the sums by kind with their shares of the
//! total MACs and parameters (the MobileNet paper's Table 2 view), as a table and as JSON.

use std::collections::BTreeMap;

use crate::cost::{ratio, Cost};

use super::{LayerKind, ModelError, Network, NetworkLayer};

/// One layer with its counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerReport {
    pub layer: NetworkLayer,
    pub cost: Cost,
}

/// The sum of the layers of one kind and its shares of the network's totals.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KindReport {
    pub kind: LayerKind,
    pub cost: Cost,
    /// Percent of the network's MACs (equal to its percent of FLOPs, which are 2·MACs).
    pub macs_share: f64,
    /// Percent of the network's parameters.
    pub params_share: f64,
}

/// The counts of a whole network.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub model: String,
    pub layers: Vec<LayerReport>,
    pub totals: Cost,
    /// One entry per kind present, in [`LayerKind::ALL`] order.
    pub by_kind: Vec<KindReport>,
}

impl Report {
    /// Counts every layer with [`Cost::of_layer`] and sums with checked u64 additions; errors only on overflow.
    pub fn of(network: &Network) -> Result<Report, ModelError> {
        let mut layers = Vec::with_capacity(network.layers.len());
        let mut totals = Cost::default();
        let mut sums: BTreeMap<LayerKind, Cost> = BTreeMap::new();
        for (index, layer) in network.layers.iter().enumerate() {
            let cost = Cost::of_layer(&layer.layer).map_err(|source| ModelError::Overflow {
                model: network.name.clone(),
                index,
                name: layer.name.clone(),
                source,
            })?;
            let total_overflow = |error| total_error(&network.name, error);
            totals = totals.checked_add(&cost).map_err(total_overflow)?;
            let sum = sums.entry(layer.kind).or_default();
            *sum = sum.checked_add(&cost).map_err(total_overflow)?;
            layers.push(LayerReport {
                layer: layer.clone(),
                cost,
            });
        }
        let by_kind = sums
            .into_iter()
            .map(|(kind, cost)| KindReport {
                kind,
                cost,
                macs_share: 100.0 * ratio(cost.macs, totals.macs),
                params_share: 100.0 * ratio(cost.params, totals.params),
            })
            .collect();
        Ok(Report {
            model: network.name.clone(),
            layers,
            totals,
            by_kind,
        })
    }

    /// The sums of one kind, `None` when the network has no layer of that kind.
    pub fn kind(&self, kind: LayerKind) -> Option<&KindReport> {
        self.by_kind.iter().find(|k| k.kind == kind)
    }
}

fn total_error(model: &str, error: crate::error::ShapeError) -> ModelError {
    let what = match error {
        crate::error::ShapeError::Overflow { what } => what,
        _ => "cost",
    };
    ModelError::TotalOverflow {
        model: model.to_string(),
        what,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{conv_mobilenet_v1, mobilenet_v1};

    /// Three significant digits, the precision the paper prints.
    fn three_significant(n: u64) -> f64 {
        let x = n as f64;
        let scale = 10f64.powi(x.log10().floor() as i32 - 2);
        (x / scale).round() * scale
    }

    /// Paper Table 1/4: MobileNet v1 has 569 M mult-adds and 4.2 M parameters.
    #[test]
    fn mobilenet_totals() {
        let report = Report::of(&mobilenet_v1(1)).unwrap();
        assert_eq!(report.totals.macs, 568_740_352);
        assert_eq!(report.totals.params, 4_209_088);
        assert_eq!(report.totals.flops, 2 * 568_740_352);
        assert_eq!(three_significant(report.totals.macs), 569e6);
        assert_eq!(three_significant(report.totals.params), 4.21e6);
    }

    /// Paper Table 4: the all-conv MobileNet has 4866 M mult-adds and 29.3 M parameters. The exact total is
    /// 4,867,293,184 MACs (4.87e9 to three digits); the paper's 4866 M is the conv layers alone, without the fc's
    /// 1,024,000.
    #[test]
    fn conv_mobilenet_totals() {
        let report = Report::of(&conv_mobilenet_v1(1)).unwrap();
        assert_eq!(report.totals.macs, 4_867_293_184);
        assert_eq!(report.totals.params, 29_281_120);
        assert_eq!(report.totals.flops, 2 * 4_867_293_184);
        assert_eq!(three_significant(report.totals.macs), 4.87e9);
        assert_eq!(three_significant(report.totals.params), 29.3e6);
        assert_eq!(report.by_kind.len(), 2);
        assert_eq!(report.kind(LayerKind::Standard).unwrap().cost.macs, 4_866_269_184);
    }

    /// Paper Table 2, to 0.01 percentage points. The paper prints 1.19 % for the mult-adds of the standard 3×3 conv
    /// (the stem); that is a typo for 1.91 %: the stem has 10,838,016 of 568,740,352 MACs, 1.906 %, and the four
    /// printed shares only sum to 100 % with 1.91.
    #[test]
    fn mobilenet_shares_match_table2() {
        let report = Report::of(&mobilenet_v1(1)).unwrap();
        let expected = [
            (LayerKind::Pointwise, 94.86, 74.59),
            (LayerKind::Depthwise, 3.06, 1.06),
            (LayerKind::Standard, 1.91, 0.02),
            (LayerKind::Fc, 0.18, 24.33),
        ];
        for (kind, macs, params) in expected {
            let k = report.kind(kind).unwrap();
            assert!(
                (k.macs_share - macs).abs() <= 0.01,
                "{kind}: {} % of MACs",
                k.macs_share
            );
            assert!(
                (k.params_share - params).abs() <= 0.01,
                "{kind}: {} % of params",
                k.params_share
            );
        }
        assert_eq!(report.kind(LayerKind::Standard).unwrap().cost.macs, 10_838_016);
        let sum: f64 = report.by_kind.iter().map(|k| k.macs_share).sum();
        assert!((sum - 100.0).abs() < 1e-9);
    }

    #[test]
    fn batch_scales_macs_not_params() {
        let one = Report::of(&mobilenet_v1(1)).unwrap();
        let eight = Report::of(&mobilenet_v1(8)).unwrap();
        assert_eq!(eight.totals.macs, 8 * one.totals.macs);
        assert_eq!(eight.totals.params, one.totals.params);
    }

    #[test]
    fn overflow_is_an_error() {
        let error = Report::of(&conv_mobilenet_v1(u32::MAX)).unwrap_err().to_string();
        assert!(
            error.contains("conv-mobilenet-v1") && error.contains("--batch"),
            "{error}"
        );
        let mut net = mobilenet_v1(u32::MAX);
        let copy = net.layers[6].clone();
        net.layers.extend(std::iter::repeat_n(copy, 100));
        let error = Report::of(&net).unwrap_err().to_string();
        assert!(error.contains("overflows 64 bits"), "{error}");
    }

    #[test]
    fn json_shape() {
        let report = Report::of(&mobilenet_v1(1)).unwrap();
        let value = serde_json::to_value(crate::export::json::ModelJson::from(&report)).unwrap();
        assert_eq!(value["model"], "mobilenet-v1");
        assert_eq!(value["totals"]["macs"], 568_740_352u64);
        assert_eq!(value["by_kind"]["fc"]["params"], 1_024_000u64);
        let first = &value["layers"][0];
        for key in [
            "name",
            "kind",
            "params",
            "macs",
            "flops",
            "batch",
            "kernel",
            "groups",
            "bias",
            "out_height",
        ] {
            assert!(first.get(key).is_some(), "{key} missing");
        }
        assert_eq!(first["kind"], "standard");
        assert_eq!(first["out_width"], 112);
        let keys: Vec<&String> = value["by_kind"].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["depthwise", "fc", "pointwise", "standard"]);
    }

    #[test]
    fn table_lists_every_layer_and_kind() {
        let text = crate::export::table::model_report(&Report::of(&mobilenet_v1(1)).unwrap());
        assert!(text.contains("pw14") && text.contains("224x224x3") && text.contains("1x1x1000"));
        assert!(text.contains("568,740,352") && text.contains("94.86 %") && text.contains("24.33 %"));
    }
}
