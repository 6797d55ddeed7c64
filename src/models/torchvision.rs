//! Three torchvision ImageNet classifiers at 224×224: MobileNetV2, ResNet-18 and EfficientNet-B0, every conv and
//! the classifier's Linear with torchvision's exact hyper-parameters.
//!
//! Source: torchvision 0.29.2 (`pip download torchvision`), read for these definitions:
//! - `torchvision/ops/misc.py`: `Conv2dNormActivation` pads by `(kernel − 1) // 2 · dilation` and has a bias only
//!   without a norm layer (so never here); `SqueezeExcitation` is adaptive average pool to 1×1, `fc1 = Conv2d(C,
//!   squeeze, 1)`, `fc2 = Conv2d(squeeze, C, 1)`, both with the default `bias=True`.
//! - `torchvision/models/mobilenetv2.py`: `MobileNetV2` with its default `inverted_residual_setting` (t, c, n, s),
//!   stem `Conv2dNormActivation(3, 32, stride=2)`, `InvertedResidual` = expand 1×1 (when t ≠ 1), depthwise 3×3
//!   with the block's stride, `Conv2d(hidden, oup, 1, 1, 0, bias=False)`; last 1×1 to 1280; `Linear(1280, 1000)`.
//! - `torchvision/models/resnet.py`: `resnet18` = `ResNet(BasicBlock, [2, 2, 2, 2])`: `Conv2d(3, 64,
//!   kernel_size=7, stride=2, padding=3, bias=False)`, `MaxPool2d(3, 2, 1)`, `BasicBlock` = two `conv3x3`
//!   (padding 1, bias=False; the first carries the stride) and, where the stride or width changes, a `conv1x1`
//!   downsample (stride 2, bias=False) of the block's input; `Linear(512, 1000)`.
//! - `torchvision/models/efficientnet.py`: `_efficientnet_conf("efficientnet_b0", width_mult=1.0,
//!   depth_mult=1.0)`, `MBConv` = expand 1×1 (when `_make_divisible(C_in·t, 8) ≠ C_in`), depthwise k×k with the
//!   stage's stride, `SqueezeExcitation(expanded, max(1, C_in // 4))`, project 1×1; stem `Conv2dNormActivation(3,
//!   32, 3, stride=2)`, last 1×1 to 4·320 = 1280, `Linear(1280, 1000)`.
//!
//! Layer names are torchvision's module paths (`features.2.conv.1.0`, `layer2.0.downsample.0`,
//! `features.2.0.block.2.fc1`, `classifier.1`, `fc`), in the order a forward pass calls them: in a ResNet block the
//! downsample comes after `conv2` (it reads the block's input, so it runs on its own random input here), in an
//! EfficientNet block the squeeze-excitation's `fc1` and `fc2` (1×1 convs on the pooled 1×1 input, so counted as
//! `fc`, GEMVs) come between the depthwise conv and the projection. Batch-norm, activations, pooling, the residual
//! additions and the SE scaling cost nothing here; the biases of the SE convs and of the classifier are counted as
//! parameters.

use crate::layer::ConvLayer;

use super::{Network, NetworkLayer};

/// Input resolution of torchvision's ImageNet weights for all three (`crop_size=224`).
pub const INPUT_SIZE: u32 = 224;
/// ImageNet classes of the classifier.
pub const CLASSES: u32 = 1000;

/// MobileNetV2's `inverted_residual_setting`: (expansion t, output channels c, repeats n, first stride s).
pub const MOBILENET_V2_SETTING: [(u32, u32, u32, u32); 7] = [
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
];

/// ResNet-18's four stages: (output channels, first block's stride); two `BasicBlock`s each.
pub const RESNET18_STAGES: [(u32, u32); 4] = [(64, 1), (128, 2), (256, 2), (512, 2)];

/// EfficientNet-B0's `MBConvConfig`s at width and depth multiplier 1: (expansion, kernel, stride, C_in, C_out,
/// layers).
pub const EFFICIENTNET_B0_STAGES: [(u32, u32, u32, u32, u32, u32); 7] = [
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
];

/// A square conv with torchvision's "same" padding `(kernel − 1) / 2` unless `padding` says otherwise.
#[derive(Debug, Clone, Copy)]
struct Conv {
    out: u32,
    kernel: u32,
    stride: u32,
    padding: u32,
    groups: u32,
    bias: bool,
}

impl Conv {
    /// `Conv2dNormActivation(_, out, kernel, stride)`: padding `(kernel − 1) / 2`, no bias (a batch-norm follows).
    fn normed(out: u32, kernel: u32, stride: u32) -> Conv {
        Conv {
            out,
            kernel,
            stride,
            padding: (kernel - 1) / 2,
            groups: 1,
            bias: false,
        }
    }

    /// A depthwise `Conv2dNormActivation(c, c, kernel, stride, groups=c)`.
    fn depthwise(channels: u32, kernel: u32, stride: u32) -> Conv {
        Conv {
            groups: channels,
            ..Conv::normed(channels, kernel, stride)
        }
    }

    /// A 1×1 `Conv2d` with bias and no padding: the squeeze-excitation's `fc1`/`fc2`, or a `Linear` on a 1×1
    /// input.
    fn linear(out: u32) -> Conv {
        Conv {
            bias: true,
            ..Conv::normed(out, 1, 1)
        }
    }

    fn on(self, batch: u32, in_channels: u32, size: u32) -> ConvLayer {
        ConvLayer {
            batch,
            in_channels,
            out_channels: self.out,
            height: size,
            width: size,
            kernel: [self.kernel, self.kernel],
            stride: [self.stride, self.stride],
            padding: [self.padding, self.padding],
            dilation: [1, 1],
            groups: self.groups,
            bias: self.bias,
        }
    }
}

/// Builds a network along its main path: the current channels and spatial size, and the layers so far.
struct Builder {
    batch: u32,
    channels: u32,
    size: u32,
    layers: Vec<NetworkLayer>,
}

impl Builder {
    fn new(batch: u32) -> Builder {
        Builder {
            batch,
            channels: 3,
            size: INPUT_SIZE,
            layers: Vec::new(),
        }
    }

    /// A conv on the main path: it reads the current tensor and its output becomes the current tensor.
    fn conv(&mut self, name: String, conv: Conv) {
        let layer = conv.on(self.batch, self.channels, self.size);
        self.channels = layer.out_channels;
        self.size = layer.out_height();
        self.layers.push(NetworkLayer::new(name, layer));
    }

    /// A conv beside the main path, reading a tensor of `in_channels` × `size`²; the current tensor stays.
    fn side(&mut self, name: String, conv: Conv, in_channels: u32, size: u32) {
        let layer = conv.on(self.batch, in_channels, size);
        self.layers.push(NetworkLayer::new(name, layer));
    }

    /// A pooling layer (max or average): only the spatial size changes.
    fn pool(&mut self, kernel: u32, stride: u32, padding: u32) {
        self.size = (self.size + 2 * padding - kernel) / stride + 1;
    }

    /// Global average pool, flatten and `Linear(channels, CLASSES)` (a 1×1 conv with bias on a 1×1 input).
    fn classifier(&mut self, name: &str) {
        self.size = 1;
        self.conv(name.to_string(), Conv::linear(CLASSES));
    }

    fn finish(self, name: &str) -> Network {
        Network {
            name: name.to_string(),
            layers: self.layers,
        }
    }
}

/// torchvision's `_make_divisible(v, 8)`: `v` rounded to the nearest multiple of 8, at least 8, and not more than
/// 10 % below `v`. Exact for the whole `v` used here.
fn make_divisible(v: u32) -> u32 {
    let rounded = ((v + 4) / 8 * 8).max(8);
    // `rounded < 0.9·v` ⇔ `10·rounded < 9·v`.
    if 10 * u64::from(rounded) < 9 * u64::from(v) {
        rounded + 8
    } else {
        rounded
    }
}

/// torchvision's `mobilenet_v2()`: 52 convs and the classifier; 53 layers.
pub fn mobilenet_v2(batch: u32) -> Network {
    let mut net = Builder::new(batch);
    net.conv("features.0.0".to_string(), Conv::normed(32, 3, 2));
    let mut index = 1;
    for (t, c, n, s) in MOBILENET_V2_SETTING {
        for repeat in 0..n {
            let stride = if repeat == 0 { s } else { 1 };
            let hidden = net.channels * t;
            let prefix = format!("features.{index}.conv");
            let mut part = 0;
            if t != 1 {
                net.conv(format!("{prefix}.{part}.0"), Conv::normed(hidden, 1, 1));
                part += 1;
            }
            net.conv(format!("{prefix}.{part}.0"), Conv::depthwise(hidden, 3, stride));
            net.conv(format!("{prefix}.{}", part + 1), Conv::normed(c, 1, 1));
            index += 1;
        }
    }
    net.conv(format!("features.{index}.0"), Conv::normed(1280, 1, 1));
    net.classifier("classifier.1");
    net.finish("mobilenet-v2")
}

/// torchvision's `resnet18()`: the 7×7 stem, 8 basic blocks (16 3×3 convs), 3 downsample 1×1 convs, and `fc`;
/// 21 layers.
pub fn resnet18(batch: u32) -> Network {
    let mut net = Builder::new(batch);
    net.conv(
        "conv1".to_string(),
        Conv {
            padding: 3,
            ..Conv::normed(64, 7, 2)
        },
    );
    net.pool(3, 2, 1);
    for (stage, (planes, first_stride)) in RESNET18_STAGES.into_iter().enumerate() {
        for block in 0..2 {
            let stride = if block == 0 { first_stride } else { 1 };
            let prefix = format!("layer{}.{block}", stage + 1);
            let (in_channels, in_size) = (net.channels, net.size);
            net.conv(format!("{prefix}.conv1"), Conv::normed(planes, 3, stride));
            net.conv(format!("{prefix}.conv2"), Conv::normed(planes, 3, 1));
            if stride != 1 || in_channels != planes {
                net.side(
                    format!("{prefix}.downsample.0"),
                    Conv::normed(planes, 1, stride),
                    in_channels,
                    in_size,
                );
            }
        }
    }
    net.classifier("fc");
    net.finish("resnet-18")
}

/// torchvision's `efficientnet_b0()`: the stem, 16 MBConv blocks (15 with an expansion), each with a
/// squeeze-excitation pair, the last 1×1 conv and the classifier; 81 convs, 82 layers.
pub fn efficientnet_b0(batch: u32) -> Network {
    let mut net = Builder::new(batch);
    net.conv("features.0.0".to_string(), Conv::normed(32, 3, 2));
    for (stage, (t, kernel, s, c_in, c_out, layers)) in EFFICIENTNET_B0_STAGES.into_iter().enumerate() {
        for repeat in 0..layers {
            // Every block after a stage's first reads the stage's output channels.
            let (input, stride) = if repeat == 0 { (c_in, s) } else { (c_out, 1) };
            let expanded = make_divisible(input * t);
            let prefix = format!("features.{}.{repeat}.block", stage + 1);
            let mut part = 0;
            if expanded != input {
                net.conv(format!("{prefix}.{part}.0"), Conv::normed(expanded, 1, 1));
                part += 1;
            }
            net.conv(format!("{prefix}.{part}.0"), Conv::depthwise(expanded, kernel, stride));
            part += 1;
            let squeeze = (input / 4).max(1);
            net.side(format!("{prefix}.{part}.fc1"), Conv::linear(squeeze), expanded, 1);
            net.side(format!("{prefix}.{part}.fc2"), Conv::linear(expanded), squeeze, 1);
            part += 1;
            net.conv(format!("{prefix}.{part}.0"), Conv::normed(c_out, 1, 1));
        }
    }
    let last = EFFICIENTNET_B0_STAGES.len() + 1;
    net.conv(format!("features.{last}.0"), Conv::normed(4 * net.channels, 1, 1));
    net.classifier("classifier.1");
    net.finish("efficientnet-b0")
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::models::LayerKind;

    fn all(batch: u32) -> [Network; 3] {
        [mobilenet_v2(batch), resnet18(batch), efficientnet_b0(batch)]
    }

    #[test]
    fn make_divisible_is_torchvisions() {
        // `_make_divisible(v, 8)`: nearest multiple of 8 (halves up), at least 8, bumped when > 10 % below v.
        for (v, expected) in [
            (1, 8),
            (4, 8),
            (10, 16),
            (12, 16),
            (16, 16),
            (20, 24),
            (96, 96),
            (100, 104),
            (1152, 1152),
        ] {
            assert_eq!(make_divisible(v), expected, "{v}");
        }
        // For B0 the expansion never changes a channel count that is already a multiple of 8.
        for (t, _, _, c_in, c_out, _) in EFFICIENTNET_B0_STAGES {
            assert_eq!(make_divisible(c_in * t), c_in * t);
            assert_eq!(make_divisible(c_out * t), c_out * t);
        }
    }

    #[test]
    fn layers_are_valid_named_once_and_of_their_kind() {
        for net in all(2) {
            let mut names = HashSet::new();
            for l in &net.layers {
                assert_eq!(l.layer.validated(), Ok(l.layer), "{} {}", net.name, l.name);
                assert_eq!(l.kind, LayerKind::of_layer(&l.layer), "{} {}", net.name, l.name);
                assert_eq!(l.layer.batch, 2);
                assert!(names.insert(l.name.as_str()), "{} {}", net.name, l.name);
            }
            let fc = net.layers.last().map(|l| (l.kind, l.layer.bias, l.layer.out_channels));
            assert_eq!(fc, Some((LayerKind::Fc, true, CLASSES)), "{}", net.name);
        }
    }

    /// Along the main path every conv reads the previous one's output, except where torchvision's forward reads
    /// something else: the classifier after the global pool, ResNet's first block after the max pool, a downsample
    /// (the block's input) and the conv after it, an SE `fc1` (the pooled tensor) and the projection after `fc2`
    /// (the depthwise output).
    #[test]
    fn main_path_chains() {
        for net in all(1) {
            let mut previous: Option<&NetworkLayer> = None;
            for l in &net.layers {
                if let Some(p) = previous {
                    let feeds = p.layer.out_channels == l.layer.in_channels && p.layer.out_height() == l.layer.height;
                    let off_path = l.name == "layer1.0.conv1"
                        || l.name.ends_with("downsample.0")
                        || p.name.ends_with("downsample.0")
                        || l.name.ends_with(".fc1")
                        || p.name.ends_with(".fc2")
                        || l.kind == LayerKind::Fc && !l.name.ends_with(".fc2");
                    assert!(feeds || off_path, "{}: {} does not feed {}", net.name, p.name, l.name);
                }
                previous = Some(l);
            }
        }
        // The last conv of each reads a 7×7 map.
        for net in all(1) {
            let last_conv = &net.layers[net.layers.len() - 2];
            assert_eq!(
                (last_conv.layer.height, last_conv.layer.out_height()),
                (7, 7),
                "{}",
                net.name
            );
        }
    }

    #[test]
    fn block_structure() {
        let [v2, resnet, b0] = all(1);
        assert_eq!((v2.layers.len(), resnet.layers.len(), b0.layers.len()), (53, 21, 82));
        // MobileNetV2: 17 inverted residuals, each with one depthwise conv; the first has no expansion.
        assert_eq!(v2.layers.iter().filter(|l| l.kind == LayerKind::Depthwise).count(), 17);
        assert_eq!(v2.layers[1].name, "features.1.conv.0.0");
        assert_eq!(v2.layers[1].kind, LayerKind::Depthwise);
        assert_eq!(v2.layers[51].name, "features.18.0");
        // ResNet-18: the stem's 112² output is max-pooled to 56² before layer1.
        assert_eq!(
            (resnet.layers[0].layer.out_height(), resnet.layers[1].layer.height),
            (112, 56)
        );
        let downsample: Vec<_> = resnet
            .layers
            .iter()
            .filter(|l| l.name.ends_with("downsample.0"))
            .collect();
        assert_eq!(downsample.len(), 3);
        assert!(downsample
            .iter()
            .all(|l| l.layer.stride == [2, 2] && l.layer.kernel == [1, 1]));
        // EfficientNet-B0: 16 SE pairs, squeeze = max(1, block C_in / 4).
        let se: Vec<_> = b0.layers.iter().filter(|l| l.name.ends_with(".fc1")).collect();
        assert_eq!(se.len(), 16);
        assert_eq!((se[0].layer.in_channels, se[0].layer.out_channels), (32, 8));
        assert_eq!((se[15].layer.in_channels, se[15].layer.out_channels), (1152, 48));
        assert_eq!(b0.layers[80].name, "features.8.0");
        assert_eq!(
            (b0.layers[80].layer.in_channels, b0.layers[80].layer.out_channels),
            (320, 1280)
        );
    }
}
