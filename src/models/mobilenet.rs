//! MobileNet v1 (Howard et al. 2017, "MobileNets: Efficient Convolutional Neural Networks for Mobile Vision
//! Applications") at width multiplier 1 and resolution 224, and the paper's Table 4 baseline in which every
//! depthwise-separable block is one full 3×3 conv.
//!
//! Only the convolutions and the fully connected layer are counted: no bias, no batch-norm, and the 7×7 average pool
//! costs nothing here. Layer names: `conv1` (the stem), `dw2`/`pw2` … `dw14`/`pw14` (the 13 separable blocks, or
//! `conv2` … `conv14` in the all-conv variant), `fc`.

use crate::layer::ConvLayer;

use super::{LayerKind, Network, NetworkLayer};

/// Input resolution of the paper's Table 1.
pub const INPUT_SIZE: u32 = 224;
/// Channels of the stem's output.
pub const STEM_CHANNELS: u32 = 32;
/// Channels of the last block's output, the fc's input after the 7×7 average pool.
pub const LAST_CHANNELS: u32 = 1024;
/// ImageNet classes of the fully connected layer.
pub const CLASSES: u32 = 1000;

/// The 13 depthwise-separable blocks of Table 1 as `(C_in, C_out, stride)`. Table 1 prints the stride of the
/// second-to-last depthwise row ("Conv dw / s2" on a 7×7 input) as 2; that is a known typo, it is stride 1 (the
/// input is already 7×7 and the next row's input is still 7×7).
pub const BLOCKS: [(u32, u32, u32); 13] = [
    (32, 64, 1),
    (64, 128, 2),
    (128, 128, 1),
    (128, 256, 2),
    (256, 256, 1),
    (256, 512, 2),
    (512, 512, 1),
    (512, 512, 1),
    (512, 512, 1),
    (512, 512, 1),
    (512, 512, 1),
    (512, 1024, 2),
    (1024, 1024, 1),
];

/// A 3×3 conv with padding 1 ("same" at stride 1), no bias.
fn conv3x3(batch: u32, in_channels: u32, out_channels: u32, size: u32, stride: u32, groups: u32) -> ConvLayer {
    ConvLayer {
        batch,
        in_channels,
        out_channels,
        height: size,
        width: size,
        kernel: [3, 3],
        stride: [stride, stride],
        padding: [1, 1],
        dilation: [1, 1],
        groups,
        bias: false,
    }
}

/// The first layer: Conv 3×3 / s2, 224×224×3 → 112×112×32.
fn stem(batch: u32) -> NetworkLayer {
    NetworkLayer {
        name: "conv1".to_string(),
        kind: LayerKind::Standard,
        layer: conv3x3(batch, 3, STEM_CHANNELS, INPUT_SIZE, 2, 1),
    }
}

/// The classifier: FC 1024 → 1000 after the global average pool, as a 1×1 conv on a 1×1 input.
fn fc(batch: u32, in_channels: u32) -> NetworkLayer {
    NetworkLayer {
        name: "fc".to_string(),
        kind: LayerKind::Fc,
        layer: ConvLayer {
            batch,
            in_channels,
            out_channels: CLASSES,
            height: 1,
            width: 1,
            kernel: [1, 1],
            stride: [1, 1],
            padding: [0, 0],
            dilation: [1, 1],
            groups: 1,
            bias: false,
        },
    }
}

/// MobileNet v1 (paper Table 1): stem, 13 × (depthwise 3×3 with the block's stride, pointwise 1×1), fc; 28 layers.
/// `batch` should be at least 1 ([`super::builtin`] checks it).
pub fn mobilenet_v1(batch: u32) -> Network {
    let stem = stem(batch);
    let mut size = stem.layer.out_height();
    let mut layers = vec![stem];
    for (index, (cin, cout, stride)) in BLOCKS.into_iter().enumerate() {
        let depthwise = conv3x3(batch, cin, cin, size, stride, cin);
        let pointwise = depthwise.pointwise();
        let pointwise = ConvLayer {
            out_channels: cout,
            ..pointwise
        };
        size = pointwise.out_height();
        let number = index + 2;
        layers.push(NetworkLayer {
            name: format!("dw{number}"),
            kind: LayerKind::Depthwise,
            layer: depthwise,
        });
        layers.push(NetworkLayer {
            name: format!("pw{number}"),
            kind: LayerKind::Pointwise,
            layer: pointwise,
        });
    }
    layers.push(fc(batch, LAST_CHANNELS));
    Network {
        name: "mobilenet-v1".to_string(),
        layers,
    }
}

/// The paper's Table 4 "Conv MobileNet": the same stem and fc, every depthwise-separable block replaced by one full
/// 3×3 conv with the block's stride and C_in → C_out; 15 layers.
pub fn conv_mobilenet_v1(batch: u32) -> Network {
    let stem = stem(batch);
    let mut size = stem.layer.out_height();
    let mut layers = vec![stem];
    for (index, (cin, cout, stride)) in BLOCKS.into_iter().enumerate() {
        let layer = conv3x3(batch, cin, cout, size, stride, 1);
        size = layer.out_height();
        layers.push(NetworkLayer {
            name: format!("conv{}", index + 2),
            kind: LayerKind::Standard,
            layer,
        });
    }
    layers.push(fc(batch, LAST_CHANNELS));
    Network {
        name: "conv-mobilenet-v1".to_string(),
        layers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The output sizes of Table 1: 112 after the stem, then 112, 56, 56, 28, 28, 14 (×6), 7, 7.
    #[test]
    fn spatial_sizes_follow_table1() {
        let net = mobilenet_v1(1);
        assert_eq!(net.layers.len(), 28);
        let pointwise: Vec<(u32, u32, u32)> = net
            .layers
            .iter()
            .filter(|l| l.kind == LayerKind::Pointwise)
            .map(|l| (l.layer.out_height(), l.layer.out_width(), l.layer.out_channels))
            .collect();
        let expected = [
            (112, 112, 64),
            (56, 56, 128),
            (56, 56, 128),
            (28, 28, 256),
            (28, 28, 256),
            (14, 14, 512),
            (14, 14, 512),
            (14, 14, 512),
            (14, 14, 512),
            (14, 14, 512),
            (14, 14, 512),
            (7, 7, 1024),
            (7, 7, 1024),
        ];
        assert_eq!(pointwise, expected);
        let last_dw = &net.layers[25];
        assert_eq!(
            (last_dw.name.as_str(), last_dw.layer.height, last_dw.layer.stride),
            ("dw14", 7, [1, 1])
        );
        for layer in &net.layers {
            assert_eq!(layer.layer.validated(), Ok(layer.layer), "{}", layer.name);
            assert_eq!(LayerKind::of_layer(&layer.layer), layer.kind, "{}", layer.name);
        }
        let names: Vec<&str> = net.layers.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(&names[..5], ["conv1", "dw2", "pw2", "dw3", "pw3"]);
        assert_eq!(names[27], "fc");
    }

    #[test]
    fn conv_variant_has_the_same_shapes() {
        let separable = mobilenet_v1(2);
        let conv = conv_mobilenet_v1(2);
        assert_eq!(conv.layers.len(), 15);
        for (block, full) in conv.layers[1..14].iter().enumerate() {
            let pw = &separable.layers[2 + 2 * block];
            assert_eq!(full.kind, LayerKind::Standard);
            assert_eq!(full.name, format!("conv{}", block + 2));
            assert_eq!(
                (full.layer.out_height(), full.layer.out_channels),
                (pw.layer.out_height(), pw.layer.out_channels)
            );
            assert_eq!(full.layer.validated(), Ok(full.layer));
        }
        assert_eq!(conv.layers[0], separable.layers[0]);
        assert_eq!(conv.layers[14], separable.layers[27]);
        assert!(conv.layers.iter().all(|l| l.layer.batch == 2));
    }
}
