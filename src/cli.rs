//! The binary's command-line types (clap derive; the library knows nothing of them). One [`LayerArgs`] is
//! flattened into every subcommand that takes a layer, and one [`GpuArgs`] into every subcommand that uses an
//! adapter.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use convflops::error::{Field, ShapeError};
use convflops::layer::{half_padding, ConvLayer, Pair};

#[derive(Debug, Parser)]
#[command(
    name = "convflops",
    version,
    about = "FLOPs are a count, FLOP/s a rate: exact conv costs, measured on your GPU",
    long_about = "convflops counts the exact parameters, MACs and FLOPs of a 2-D convolution and of its \
                  depthwise-separable twin, runs both as WGSL compute shaders through wgpu, and turns the measured \
                  time into achieved FLOP/s.\n\nWith no subcommand it runs `compare` on the default layer \
                  (MobileNet v1's 14×14×512 → 512, 3×3)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Print every table column whatever the terminal's width (by default tables fit `COLUMNS` or the terminal:
    /// the least important columns are hidden, then cells wrap).
    #[arg(long, global = true)]
    pub wide: bool,
}

const EXAMPLES_COUNT: &str = "Examples:\n  \
     convflops count\n  \
     convflops count --in-channels 32 --out-channels 64 --size 112 --stride 2\n  \
     convflops count --kernel-size 5 --groups 4 --explain";
const EXAMPLES_DEVICES: &str = "Examples:\n  \
     convflops devices\n  \
     convflops devices --backend gl --json";
const EXAMPLES_RUN: &str = "Examples:\n  \
     convflops run --input x.npy --weight w.npy --output y.npy --padding 1\n  \
     convflops run --input x.npy --weight dw.npy --groups 32 --output y.npy --shader depthwise-tiled";
const EXAMPLES_EXPLAIN: &str = "Examples:\n  \
     convflops explain\n  \
     convflops explain --backend gl";
const EXAMPLES_COMPARE: &str = "Examples:\n  \
     convflops compare\n  \
     convflops compare --size 56 --in-channels 128 --out-channels 128 --roofline roof.png\n  \
     convflops compare --variant naive,tiled,vec4 --samples 20 --export-json run.json";
const EXAMPLES_PEAK: &str = "Examples:\n  \
     convflops peak\n  \
     convflops peak --refresh --json";
const EXAMPLES_SWEEP: &str = "Examples:\n  \
     convflops sweep --vary out-channels=64,128,256\n  \
     convflops sweep --vary size=7..56 --plot time.png --roofline roof.png\n  \
     convflops sweep --vary in-channels=16..128:16 --export-csv sweep.csv --wide";
const EXAMPLES_TUNE: &str = "Examples:\n  \
     convflops tune\n  \
     convflops tune --size 28 --in-channels 256 --out-channels 256 --no-store --json";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Exact params, MACs, FLOPs and bytes of a layer as standard, depthwise, pointwise and separable convs.
    #[command(allow_negative_numbers = true, after_help = EXAMPLES_COUNT)]
    Count(CountArgs),
    /// Count a whole network layer by layer (built in: mobilenet-v1, conv-mobilenet-v1, mobilenet-v2, resnet-18,
    /// efficientnet-b0); with --run, time it.
    #[command(allow_negative_numbers = true)]
    Model(ModelArgs),
    /// List every adapter wgpu finds, with the limits that matter here.
    #[command(allow_negative_numbers = true, after_help = EXAMPLES_DEVICES)]
    Devices(DevicesArgs),
    /// Run one convolution on the GPU from .npy files (PyTorch Conv2d semantics).
    #[command(allow_negative_numbers = true, after_help = EXAMPLES_RUN)]
    Run(RunArgs),
    /// Check every kernel against the CPU reference on random layers.
    #[command(allow_negative_numbers = true)]
    Verify(VerifyArgs),
    /// The article's worked example (5×5 input, 3×3 kernel), computed on the GPU.
    #[command(allow_negative_numbers = true, after_help = EXAMPLES_EXPLAIN)]
    Explain(GpuArgs),
    /// Time standard, depthwise, pointwise and separable convs and report achieved FLOP/s (the main job).
    #[command(allow_negative_numbers = true, after_help = EXAMPLES_COMPARE)]
    Compare(CompareArgs),
    /// Measure the adapter's ceilings: peak FMA FLOP/s and memory bandwidth (cached per adapter and driver).
    #[command(allow_negative_numbers = true, after_help = EXAMPLES_PEAK)]
    Peak(PeakArgs),
    /// Vary one layer flag and measure the standard conv and the separable pair at each value.
    #[command(allow_negative_numbers = true, after_help = EXAMPLES_SWEEP)]
    Sweep(SweepArgs),
    /// Time each conv of a layer on every tuned family (vec4 at every tile, the generated cpu kernels) and cache the
    /// fastest kernel and tile per adapter, driver and shape class.
    #[command(allow_negative_numbers = true, after_help = EXAMPLES_TUNE)]
    Tune(TuneArgs),
}

/// The most warm-up runs a flag may ask for.
pub const MAX_WARMUP: u32 = 1_000;
/// The most timed samples a flag may ask for.
pub const MAX_SAMPLES: u32 = 100_000;
/// The longest --min-time, in seconds.
pub const MAX_MIN_TIME_S: f64 = 3_600.0;
/// The most random layers `verify` checks.
pub const MAX_CASES: u32 = 100_000;

/// A whole number from `min` to `max`; a negative number, a fraction or anything else gets a message about the
/// value (clap names the flag).
fn bounded(text: &str, min: u64, max: u64) -> Result<u64, String> {
    let t = text.trim();
    let range = format!("a whole number from {min} to {max}");
    if t.starts_with('-') && t.len() > 1 {
        return Err(format!("{t} is negative; give {range}"));
    }
    let value: u64 = t.parse().map_err(|_| format!("'{t}' is not {range}"))?;
    if value < min || value > max {
        return Err(format!("{value} is out of range; give {range}"));
    }
    Ok(value)
}

/// A count such as --batch or --in-channels: 0 to 2^32−1 (the layer check refuses 0 by name).
pub fn whole_number(text: &str) -> Result<u32, String> {
    bounded(text, 0, u64::from(u32::MAX)).map(|v| v as u32)
}

/// --warmup: 0 to [`MAX_WARMUP`].
pub fn warmup_count(text: &str) -> Result<u32, String> {
    bounded(text, 0, u64::from(MAX_WARMUP)).map(|v| v as u32)
}

/// --samples: 1 to [`MAX_SAMPLES`].
pub fn sample_count(text: &str) -> Result<u32, String> {
    bounded(text, 1, u64::from(MAX_SAMPLES)).map(|v| v as u32)
}

/// --cases: 1 to [`MAX_CASES`].
pub fn case_count(text: &str) -> Result<u32, String> {
    bounded(text, 1, u64::from(MAX_CASES)).map(|v| v as u32)
}

/// --seed: any 64-bit unsigned number.
pub fn seed_number(text: &str) -> Result<u64, String> {
    bounded(text, 0, u64::MAX)
}

/// --min-time: seconds from 0 to [`MAX_MIN_TIME_S`].
pub fn seconds_limit(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let range = format!("a number of seconds from 0 to {MAX_MIN_TIME_S}");
    let value: f64 = t.parse().map_err(|_| format!("'{t}' is not {range}"))?;
    if !value.is_finite() || !(0.0..=MAX_MIN_TIME_S).contains(&value) {
        return Err(format!(
            "{t} is {}; give {range}",
            if value < 0.0 { "negative" } else { "out of range" }
        ));
    }
    Ok(value)
}

/// `K` or `KHxKW` (also `KH×KW`).
pub fn parse_pair(text: &str) -> Result<Pair, String> {
    let parts: Vec<&str> = text.split(['x', 'X', '×']).collect();
    let number = |s: &str| bounded(s, 0, u64::from(u32::MAX)).map(|v| v as u32);
    match parts.as_slice() {
        [one] => {
            let v = number(one)?;
            Ok([v, v])
        }
        [h, w] => Ok([number(h)?, number(w)?]),
        _ => Err("expected N or HxW, e.g. 3 or 3x5".to_string()),
    }
}

/// The flag of the layer flags ([`LayerArgs`]) that sets `field`.
pub fn flag(field: Field) -> &'static str {
    match field {
        Field::Batch => "--batch",
        Field::InChannels => "--in-channels",
        Field::OutChannels => "--out-channels",
        Field::Height => "--height",
        Field::Width => "--width",
        Field::Kernel => "--kernel-size",
        Field::Stride => "--stride",
        Field::Padding => "--padding",
        Field::Dilation => "--dilation",
        Field::Groups => "--groups",
    }
}

/// A [`ShapeError`] of a layer given by flags, in the words of the flags (`flag` names them: the layer flags, or
/// another command's flags and files).
pub fn shape_error(error: &ShapeError, flag: impl Fn(Field) -> String) -> String {
    match error {
        ShapeError::Zero { field } => format!("{} must be at least 1 (got 0)", flag(*field)),
        ShapeError::GroupsDoNotDivide {
            groups,
            in_channels,
            out_channels,
        } => format!(
            "{} {groups} must divide both {} {in_channels} and {} {out_channels}",
            flag(Field::Groups),
            flag(Field::InChannels),
            flag(Field::OutChannels)
        ),
        ShapeError::EmptyOutput {
            axis,
            size,
            padding,
            kernel,
            dilation,
        } => format!(
            "{} {size} with {} {padding} is smaller than the dilated kernel ({kernel} taps, {} {dilation}): the \
             output would be empty",
            flag(*axis),
            flag(Field::Padding),
            flag(Field::Dilation)
        ),
        ShapeError::Overflow { what } => format!(
            "the {what} count of this layer overflows 64 bits: reduce {}, the channels or the spatial size",
            flag(Field::Batch)
        ),
        other => other.to_string(),
    }
}

/// A [`ShapeError`] of the layer the layer flags describe, naming the flags.
pub fn layer_flags_error(error: ShapeError) -> anyhow::Error {
    anyhow::anyhow!(shape_error(&error, |field| flag(field).to_string()))
}

/// The layer flags shared by every command that takes a layer. Defaults: the MobileNet v1 Table 3 example layer.
#[derive(Debug, Clone, Args)]
pub struct LayerArgs {
    /// Batch size N.
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = whole_number)]
    pub batch: u32,
    /// Input channels C_in.
    #[arg(long, default_value_t = 512, value_name = "C", value_parser = whole_number)]
    pub in_channels: u32,
    /// Output channels C_out.
    #[arg(long, default_value_t = 512, value_name = "C", value_parser = whole_number)]
    pub out_channels: u32,
    /// Input height H.
    #[arg(long, value_name = "H", value_parser = whole_number)]
    pub height: Option<u32>,
    /// Input width W.
    #[arg(long, value_name = "W", value_parser = whole_number)]
    pub width: Option<u32>,
    /// Sets both height and width (default 14).
    #[arg(long, value_name = "S", value_parser = whole_number)]
    pub size: Option<u32>,
    /// Kernel size: K or KHxKW.
    #[arg(long, default_value = "3", value_parser = parse_pair, value_name = "K|KHxKW")]
    pub kernel_size: Pair,
    /// Stride: S or SHxSW.
    #[arg(long, default_value = "1", value_parser = parse_pair, value_name = "S|SHxSW")]
    pub stride: Pair,
    /// Zero padding on each side: P or PHxPW. Default d·(k−1)/2, which keeps the size at stride 1 ("same").
    #[arg(long, value_parser = parse_pair, value_name = "P|PHxPW")]
    pub padding: Option<Pair>,
    /// Dilation: D or DHxDW.
    #[arg(long, default_value = "1", value_parser = parse_pair, value_name = "D|DHxDW")]
    pub dilation: Pair,
    /// Groups of the standard conv (must divide both channel counts).
    #[arg(long, default_value_t = 1, value_name = "G", value_parser = whole_number)]
    pub groups: u32,
    /// Add a bias to every conv (the separable pair then has a bias on both convs).
    #[arg(long)]
    pub bias: bool,
}

impl LayerArgs {
    /// The layer these flags describe, not yet validated.
    pub fn layer(&self) -> ConvLayer {
        let size = self.size.unwrap_or(14);
        let padding = self.padding.unwrap_or([
            half_padding(self.kernel_size[0], self.dilation[0]),
            half_padding(self.kernel_size[1], self.dilation[1]),
        ]);
        ConvLayer {
            batch: self.batch,
            in_channels: self.in_channels,
            out_channels: self.out_channels,
            height: self.height.unwrap_or(size),
            width: self.width.unwrap_or(size),
            kernel: self.kernel_size,
            stride: self.stride,
            padding,
            dilation: self.dilation,
            groups: self.groups,
            bias: self.bias,
        }
    }
}

#[derive(Debug, Args)]
pub struct CountArgs {
    #[command(flatten)]
    pub layer: LayerArgs,
    /// Print the article's formulas with this layer's numbers, step by step.
    #[arg(long, conflicts_with = "json")]
    pub explain: bool,
    /// Print JSON instead of the table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(
    group(clap::ArgGroup::new("gpu_run").args(["run", "compare"]).multiple(true)),
    after_help = "Without --run or --compare the network is only counted. With --run every conv layer runs on the \
                  adapter, each layer's input buffer being the previous layer's output (activations stay linear: \
                  only the convs run). Each layer is timed on its own, then the whole network in one submission, \
                  and every layer's output is checked against the CPU reference on sampled values. The sampling \
                  defaults are lower than compare's (--warmup 1, --samples 5, --min-time 0.2) so that a network \
                  run finishes in time.\n\nExamples:\n  convflops model mobilenet-v1\n  convflops model mobilenet-v1 --run --export-csv layers.csv --plot shares.png\n  convflops model --compare mobilenet-v1 conv-mobilenet-v1"
)]
pub struct ModelArgs {
    /// A built-in network: mobilenet-v1, conv-mobilenet-v1, mobilenet-v2, resnet-18 or efficientnet-b0.
    #[arg(required_unless_present_any = ["file", "compare"], conflicts_with = "file")]
    pub name: Option<String>,
    /// Read the network from a JSON layer file (format in docs/commands.md) or an ONNX model (told apart by
    /// content).
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// The ONNX model's input shape, NxCxHxW, when the file's is symbolic (or to count at another size); its N
    /// is the batch.
    #[arg(long, value_name = "NxCxHxW", conflicts_with_all = ["batch", "name", "compare"], requires = "file")]
    pub input_shape: Option<convflops::models::onnx::InputShape>,
    /// Batch size for every layer.
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = whole_number)]
    pub batch: u32,
    /// Write the network's layers in the file format to FILE (atomically) and exit.
    #[arg(long, value_name = "FILE", conflicts_with = "gpu_run")]
    pub export_layers: Option<PathBuf>,
    /// Print JSON instead of the tables (the same as --format json).
    #[arg(long)]
    pub json: bool,
    /// What to print on stdout: table (fits the terminal), wide (every column), json, and with --run or
    /// --compare also csv or markdown (the formats of the --export-* files).
    #[arg(long, value_enum, value_name = "FORMAT", conflicts_with = "json")]
    pub format: Option<FormatArg>,
    /// Run every conv layer on the adapter, chained on the device, and time each layer and the whole network.
    #[arg(long)]
    pub run: bool,
    /// Run two networks (built-in names, layer files or ONNX models) and set their FLOPs ratio against their time
    /// ratio.
    #[arg(long, num_args = 2, value_names = ["A", "B"], conflicts_with_all = ["name", "file"])]
    pub compare: Option<Vec<String>>,
    /// The kernels to run: a family, or auto (per layer the kernel `tune` chose for its shape class on this
    /// adapter, else the adapter's default family: cpu on CPU adapters, vec4 on GPUs).
    #[arg(long, value_parser = variant_parser(), default_value = "auto", requires = "gpu_run")]
    pub variant: VariantArg,
    #[command(flatten)]
    pub gpu: GpuArgs,
    /// Warm-up runs per layer (at least this many, and at least 0.2 s of them); 1 for network runs (compare: 3).
    #[arg(long, default_value_t = 1, value_name = "N", requires = "gpu_run", value_parser = warmup_count)]
    pub warmup: u32,
    /// Minimum number of timed samples per layer; 5 for network runs (compare: 10).
    #[arg(long, default_value_t = 5, value_name = "N", requires = "gpu_run", value_parser = sample_count)]
    pub samples: u32,
    /// Minimum total time of the timed samples per layer, in seconds; 0.2 for network runs (compare: 1).
    #[arg(long, default_value_t = 0.2, value_name = "SECONDS", requires = "gpu_run", value_parser = seconds_limit)]
    pub min_time: f64,
    /// Write the run as JSON to FILE.
    #[arg(long, value_name = "FILE", requires = "gpu_run")]
    pub export_json: Option<PathBuf>,
    /// Write the run as CSV to FILE (one row per layer, and one for the whole network).
    #[arg(long, value_name = "FILE", requires = "gpu_run")]
    pub export_csv: Option<PathBuf>,
    /// Write the run as Markdown tables to FILE.
    #[arg(long, value_name = "FILE", requires = "gpu_run")]
    pub export_markdown: Option<PathBuf>,
    /// Draw each layer kind's share of the FLOPs against its share of the measured time to FILE (.svg or .png).
    #[arg(long, value_name = "FILE", requires = "gpu_run")]
    pub plot: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendArg {
    Vulkan,
    Metal,
    Dx12,
    Gl,
}

/// Adapter selection, shared by every GPU command.
#[derive(Debug, Clone, Args, Default)]
pub struct GpuArgs {
    /// Only consider adapters of this backend (WGPU_BACKEND also works).
    #[arg(long, value_enum)]
    pub backend: Option<BackendArg>,
    /// Pick an adapter by index (as `convflops devices` lists them) or by a substring of its name
    /// (WGPU_ADAPTER_NAME also works).
    #[arg(long, value_name = "INDEX|NAME")]
    pub adapter: Option<String>,
    /// Refuse a run whose buffers need more device memory than this: bytes, or a size such as 512MiB or 2GiB
    /// (default 2GiB on CPU adapters, 4GiB on GPUs; wgpu does not report an adapter's memory size).
    #[arg(long, value_parser = convflops::units::parse_bytes, value_name = "SIZE")]
    pub max_memory: Option<u64>,
}

impl GpuArgs {
    /// The adapter choice these flags describe.
    pub fn choice(&self) -> convflops::gpu::AdapterChoice {
        let backends = self.backend.map(|b| match b {
            BackendArg::Vulkan => wgpu::Backends::VULKAN,
            BackendArg::Metal => wgpu::Backends::METAL,
            BackendArg::Dx12 => wgpu::Backends::DX12,
            BackendArg::Gl => wgpu::Backends::GL,
        });
        convflops::gpu::AdapterChoice {
            backends,
            adapter: self.adapter.clone(),
            max_memory: self.max_memory,
        }
    }
}

#[derive(Debug, Args)]
pub struct DevicesArgs {
    #[command(flatten)]
    pub gpu: GpuArgs,
    /// Print JSON instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// `--shader NAME`: any kernel of the registry ([`convflops::gpu::ShaderKind::ALL`]), each listed with its summary.
fn shader_parser() -> impl clap::builder::TypedValueParser<Value = convflops::gpu::ShaderKind> {
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
    let values = convflops::gpu::ShaderKind::ALL.map(|k| PossibleValue::new(k.name()).help(k.spec().summary()));
    PossibleValuesParser::new(values).try_map(|name| {
        convflops::gpu::ShaderKind::from_name(&name).ok_or_else(|| format!("no kernel is named '{name}'"))
    })
}

/// A `--variant` value: a family of the registry ([`convflops::gpu::Variant::ALL`]), or `auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VariantArg(pub convflops::gpu::Variant);

impl VariantArg {
    /// `auto`: per layer, the kernel `tune` chose on the adapter, else the adapter's default family.
    pub const AUTO: VariantArg = VariantArg(convflops::gpu::Variant::Auto);

    /// The kernels this argument names (`auto` is resolved per layer and adapter by `tune::AutoKernels`).
    pub fn resolve(self, _summary: &convflops::gpu::AdapterSummary) -> convflops::gpu::Variant {
        self.0
    }
}

/// `--variant NAME`: `auto` or a family of the registry, each listed with its summary.
fn variant_parser() -> impl clap::builder::TypedValueParser<Value = VariantArg> {
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
    let auto = convflops::gpu::Variant::Auto;
    let mut values = vec![PossibleValue::new(auto.name()).help(auto.summary())];
    values.extend(
        convflops::gpu::Variant::ALL
            .into_iter()
            .map(|v| PossibleValue::new(v.name()).help(v.summary())),
    );
    PossibleValuesParser::new(values).try_map(|name| match name.as_str() {
        "auto" => Ok(VariantArg::AUTO),
        other => convflops::gpu::Variant::from_name(other)
            .map(VariantArg)
            .ok_or_else(|| format!("no kernel family is named '{other}'")),
    })
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Input tensor [N, C_in, H, W], f32 .npy in C order.
    #[arg(long, value_name = "FILE")]
    pub input: PathBuf,
    /// Weight tensor [C_out, C_in/groups, kh, kw], f32 .npy in C order.
    #[arg(long, value_name = "FILE")]
    pub weight: PathBuf,
    /// Bias vector [C_out], f32 .npy.
    #[arg(long, value_name = "FILE")]
    pub bias: Option<PathBuf>,
    /// Where to write the output [N, C_out, H_out, W_out] (written atomically).
    #[arg(long, value_name = "FILE")]
    pub output: PathBuf,
    #[arg(long, default_value = "1", value_parser = parse_pair, value_name = "S|SHxSW")]
    pub stride: Pair,
    #[arg(long, default_value = "0", value_parser = parse_pair, value_name = "P|PHxPW")]
    pub padding: Pair,
    #[arg(long, default_value = "1", value_parser = parse_pair, value_name = "D|DHxDW")]
    pub dilation: Pair,
    #[arg(long, default_value_t = 1, value_name = "G", value_parser = whole_number)]
    pub groups: u32,
    /// Force one kernel instead of choosing from the shapes (default: the kernel `--variant auto` picks for the
    /// layer: the tuned one for its shape class, else the adapter's default family's, cpu on CPU adapters and vec4 on
    /// GPUs, falling back cpu → vec4 → tiled where a family's shape rules do not hold).
    #[arg(long, value_parser = shader_parser(), value_name = "KERNEL")]
    pub shader: Option<convflops::gpu::ShaderKind>,
    #[command(flatten)]
    pub gpu: GpuArgs,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Tolerance: a GPU result y passes when |y − ref| ≤ 1e-5 + 4·K·ε·Σ|x·w| for every output, where ref is \
                  the CPU reference accumulated in f64, K = C_in/groups·kh·kw + 1 terms (one for the bias, counted whether or \
                  not the layer has one), ε = 2^-24 (f32 unit roundoff) and Σ|x·w| the sum of the absolute products (plus \
                  |bias|): the worst-case bound of f32 summation of K terms with a safety factor 4.\n\nExamples:\n  convflops verify --cases 20\n  convflops verify --cases 500 --seed 7 --backend gl"
)]
pub struct VerifyArgs {
    /// Number of random layers.
    #[arg(long, default_value_t = 200, value_name = "N", value_parser = case_count)]
    pub cases: u32,
    /// Seed of the random layers and data.
    #[arg(long, default_value_t = 1, value_name = "S", value_parser = seed_number)]
    pub seed: u64,
    #[command(flatten)]
    pub gpu: GpuArgs,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    #[command(flatten)]
    pub layer: LayerArgs,
    #[command(flatten)]
    pub gpu: GpuArgs,
    #[command(flatten)]
    pub bench: BenchArgs,
    /// The kernels to time: a family, or auto (per conv the kernel `tune` chose for its shape class on this
    /// adapter, else the adapter's default family: cpu on CPU adapters, vec4 on GPUs). Several, comma-separated
    /// (naive,tiled,vec4,cpu,gpu), are timed one after another and summed up side by side.
    #[arg(long, value_parser = variant_parser(), value_delimiter = ',', default_value = "auto")]
    pub variant: Vec<VariantArg>,
    /// Measure the adapter's ceilings (peak FLOP/s, bandwidth) in this run for the roofline columns; without it
    /// the ceilings cached by `convflops peak` are used when present.
    #[arg(long)]
    pub ceilings: bool,
    /// Run the comparison on every adapter, then print a summary table.
    #[arg(long, conflicts_with = "adapter")]
    pub all_adapters: bool,
    #[command(flatten)]
    pub export: ExportArgs,
    /// Draw the roofline with every measured conv on it to FILE (.svg or .png); needs the ceilings (cached by
    /// `convflops peak`, or measured with --ceilings).
    #[arg(long, value_name = "FILE")]
    pub roofline: Option<PathBuf>,
    /// Tune this layer first (as `convflops tune` does: the fastest kernel and tile per conv, cached), then compare.
    #[arg(long)]
    pub tune: bool,
}

#[derive(Debug, Args)]
pub struct TuneArgs {
    #[command(flatten)]
    pub layer: LayerArgs,
    #[command(flatten)]
    pub gpu: GpuArgs,
    /// Warm-up runs per tile (at least this many, and at least 0.2 s of them).
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = warmup_count)]
    pub warmup: u32,
    /// Minimum number of timed samples per tile.
    #[arg(long, default_value_t = 3, value_name = "N", value_parser = sample_count)]
    pub samples: u32,
    /// Minimum total time of the timed samples per tile, in seconds.
    #[arg(long, default_value_t = 0.2, value_name = "SECONDS", value_parser = seconds_limit)]
    pub min_time: f64,
    /// Print JSON to stdout instead of the tables.
    #[arg(long)]
    pub json: bool,
    /// Do not write the best tiles to the cache.
    #[arg(long)]
    pub no_store: bool,
}

#[derive(Debug, Args)]
pub struct SweepArgs {
    /// The flag to vary and its values: AXIS=LIST or AXIS=RANGE, AXIS one of out-channels, in-channels, size,
    /// kernel-size, batch; e.g. out-channels=16,32,64 · size=7..56 (doubling) · in-channels=16..128:16 (step) ·
    /// batch=1..64x4 (factor). At most 64 values.
    #[arg(long, value_name = "AXIS=VALUES")]
    pub vary: convflops::sweep::SweepSpec,
    #[command(flatten)]
    pub layer: LayerArgs,
    #[command(flatten)]
    pub gpu: GpuArgs,
    #[command(flatten)]
    pub bench: BenchArgs,
    /// The kernels to time (see `compare --help`).
    #[arg(long, value_parser = variant_parser(), default_value = "auto")]
    pub variant: VariantArg,
    /// Measure the ceilings in this run (otherwise the cached ones are used for --roofline and the % columns).
    #[arg(long)]
    pub ceilings: bool,
    #[command(flatten)]
    pub export: ExportArgs,
    /// Draw FLOPs (x) against measured time (y) per conv type to FILE (.svg or .png), with the line FLOPs alone
    /// would predict.
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    /// Draw the roofline with every measured conv on it to FILE (.svg or .png).
    #[arg(long, value_name = "FILE")]
    pub roofline: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PeakArgs {
    #[command(flatten)]
    pub gpu: GpuArgs,
    /// Measure again even when the cache holds this adapter's ceilings.
    #[arg(long)]
    pub refresh: bool,
    /// Print JSON instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// What a command prints on stdout (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// Tables that fit the terminal (the default): the least important columns hidden, then cells wrapped.
    Table,
    /// Tables with every column, whatever the terminal's width (as --wide).
    Wide,
    /// CSV, as --export-csv writes it.
    Csv,
    /// JSON, as --json prints it and --export-json writes it.
    Json,
    /// Markdown tables, as --export-markdown writes them.
    Markdown,
}

impl FormatArg {
    /// `--format`, with `--json` meaning `json` and nothing meaning `table`.
    pub fn chosen(format: Option<FormatArg>, json: bool) -> FormatArg {
        if json {
            FormatArg::Json
        } else {
            format.unwrap_or(FormatArg::Table)
        }
    }

    /// Table or wide: a report for people, with the adapter line and progress on stderr.
    pub fn is_table(self) -> bool {
        matches!(self, FormatArg::Table | FormatArg::Wide)
    }
}

/// Where measured results go besides the table; every file is written atomically, all or none.
#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// Print JSON to stdout instead of the table (the same as --format json).
    #[arg(long)]
    pub json: bool,
    /// What to print on stdout: table (fits the terminal), wide (every column), csv, json or markdown (the
    /// formats of the --export-* files).
    #[arg(long, value_enum, value_name = "FORMAT", conflicts_with = "json")]
    pub format: Option<FormatArg>,
    /// Write the results as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub export_json: Option<PathBuf>,
    /// Write the results as CSV to FILE (one row per conv, and per adapter or swept value).
    #[arg(long, value_name = "FILE")]
    pub export_csv: Option<PathBuf>,
    /// Write the results as Markdown tables to FILE.
    #[arg(long, value_name = "FILE")]
    pub export_markdown: Option<PathBuf>,
}

impl ExportArgs {
    /// What stdout gets.
    pub fn format(&self) -> FormatArg {
        FormatArg::chosen(self.format, self.json)
    }

    /// The export files asked for, as (flag, path).
    pub fn files(&self) -> Vec<(&'static str, &std::path::Path)> {
        [
            ("--export-json", &self.export_json),
            ("--export-csv", &self.export_csv),
            ("--export-markdown", &self.export_markdown),
        ]
        .into_iter()
        .filter_map(|(flag, path)| Some((flag, path.as_deref()?)))
        .collect()
    }
}

/// Sampling settings of the bench harness.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Warm-up runs (at least this many, and at least 0.2 s of them).
    #[arg(long, default_value_t = 3, value_name = "N", value_parser = warmup_count)]
    pub warmup: u32,
    /// Minimum number of timed samples.
    #[arg(long, default_value_t = 10, value_name = "N", value_parser = sample_count)]
    pub samples: u32,
    /// Minimum total time of the timed samples, in seconds.
    #[arg(long, default_value_t = 1.0, value_name = "SECONDS", value_parser = seconds_limit)]
    pub min_time: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs() {
        assert_eq!(parse_pair("3"), Ok([3, 3]));
        assert_eq!(parse_pair("3x5"), Ok([3, 5]));
        assert_eq!(parse_pair("1×7"), Ok([1, 7]));
        assert!(parse_pair("3x").is_err());
        assert!(parse_pair("a").is_err());
        assert!(parse_pair("1x2x3").is_err());
    }

    #[test]
    fn default_layer_is_table3() {
        let cli = Cli::parse_from(["convflops", "count"]);
        let Some(Command::Count(args)) = cli.command else {
            panic!("count expected")
        };
        assert_eq!(args.layer.layer(), ConvLayer::default());
    }

    #[test]
    fn same_padding_follows_dilation() {
        let cli = Cli::parse_from([
            "convflops",
            "count",
            "--kernel-size",
            "5x3",
            "--dilation",
            "2",
            "--size",
            "9",
        ]);
        let Some(Command::Count(args)) = cli.command else {
            panic!("count expected")
        };
        let layer = args.layer.layer();
        assert_eq!(layer.padding, [4, 2]);
        assert_eq!((layer.out_height(), layer.out_width()), (9, 9));
    }

    proptest::proptest! {
        /// The value parsers answer every string with a value or a message.
        #[test]
        fn value_parsers_never_panic(text in ".{0,24}", number in proptest::prelude::any::<u64>()) {
            let _ = parse_pair(&text);
            let _ = whole_number(&text);
            let _ = seconds_limit(&text);
            if let Ok([a, b]) = parse_pair(&format!("{}x{}", number, number / 3)) {
                proptest::prop_assert_eq!((u64::from(a), u64::from(b)), (number, number / 3));
            }
        }
    }

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
