#!/usr/bin/env python3
"""Independent figures for the built-in torchvision networks (tests/torchvision_networks.rs).

Runs torchvision's own model code -- `mobilenet_v2()`, `resnet18()`, `efficientnet_b0()` from an unpacked
torchvision wheel -- on a 1x3x224x224 input with a small shape-only stand-in for `torch` (no torch install, no
weights): every `nn.Conv2d` and `nn.Linear` called in the forward pass is recorded with its hyper-parameters, its
input size and its MACs (output elements x C_in/groups x kh x kw; batch x in x out for a Linear, the bias not
counted as a MAC), the way PyTorch forward hooks count them. It also sums every `nn.Parameter` (batch-norm
weight and bias included) so that the stand-in can be checked against the `num_params` torchvision publishes in
each model's weights metadata, which it prints beside its own count, with the published `_ops` (GMACs).

Usage (the wheel is the one on PyPI; this script was run against torchvision 0.29.2):
    pip download torchvision --no-deps -d /tmp/tv && (cd /tmp/tv && unzip -q torchvision-*.whl 'torchvision/*')
    python3 tests/torchvision_reference.py /tmp/tv [--layers]
With --layers it also prints every recorded layer (name, C_in, C_out, input H and W, kernel, stride, padding,
dilation, groups, bias, MACs), one a line: that output is tests/data/torchvision_layers.json, which
tests/torchvision_networks.rs compares with the built-ins layer by layer.
"""

import importlib.util
import json
import math
import sys
import types
from collections import OrderedDict

# ---------------------------------------------------------------------------------------------------------------
# A shape-only torch: tensors carry a shape, modules register children and parameters in order, Conv2d and Linear
# compute their output shape and report to the recorder.
# ---------------------------------------------------------------------------------------------------------------

RECORD = []


class Tensor:
    def __init__(self, *shape):
        self.shape = tuple(shape)
        self.dtype = "float32"
        self.device = "cpu"

    def size(self, dim=None):
        return self.shape if dim is None else self.shape[dim]

    def dim(self):
        return len(self.shape)

    def numel(self):
        return math.prod(self.shape)

    def _broadcast(self, other):
        if not isinstance(other, Tensor):
            return Tensor(*self.shape)
        a, b = self.shape, other.shape
        assert len(a) == len(b), (a, b)
        out = []
        for x, y in zip(a, b):
            assert x == y or x == 1 or y == 1, (a, b)
            out.append(max(x, y))
        return Tensor(*out)

    __add__ = __radd__ = __mul__ = __rmul__ = _broadcast

    def __iadd__(self, other):
        result = self._broadcast(other)
        assert result.shape == self.shape
        return self


class Parameter(Tensor):
    def __init__(self, shape):
        super().__init__(*shape)


class Module:
    training = False

    def __init__(self, *args, **kwargs):
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_parameters", OrderedDict())

    def __setattr__(self, name, value):
        if "_modules" not in self.__dict__:
            object.__setattr__(self, "_modules", OrderedDict())
            object.__setattr__(self, "_parameters", OrderedDict())
        if isinstance(value, Module):
            self._modules[name] = value
        elif isinstance(value, Parameter):
            self._parameters[name] = value
        object.__setattr__(self, name, value)

    def add_module(self, name, module):
        setattr(self, name, module)

    def named_modules(self, prefix=""):
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self):
        for _, module in self.named_modules():
            yield module

    def parameters(self):
        for module in self.modules():
            yield from module._parameters.values()

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def eval(self):
        return self


class Sequential(Module):
    def __init__(self, *args):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for name, module in args[0].items():
                self.add_module(name, module)
        else:
            for index, module in enumerate(args):
                self.add_module(str(index), module)

    def __iter__(self):
        return iter(self._modules.values())

    def __len__(self):
        return len(self._modules)

    def __getitem__(self, index):
        return list(self._modules.values())[index]

    def forward(self, x):
        for module in self._modules.values():
            x = module(x)
        return x


class ModuleDict(Module):
    pass


def _pair(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


class Conv2d(Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, **kwargs):
        super().__init__()
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size, self.stride = _pair(kernel_size), _pair(stride)
        self.padding, self.dilation = _pair(padding), _pair(dilation)
        self.weight = Parameter((out_channels, in_channels // groups) + self.kernel_size)
        self.bias = Parameter((out_channels,)) if bias else None

    def forward(self, x):
        n, c, h, w = x.shape
        assert c == self.in_channels, (c, self.in_channels)
        out = [
            (size + 2 * p - d * (k - 1) - 1) // s + 1
            for size, k, s, p, d in zip((h, w), self.kernel_size, self.stride, self.padding, self.dilation)
        ]
        y = Tensor(n, self.out_channels, *out)
        per_output = (c // self.groups) * self.kernel_size[0] * self.kernel_size[1]
        RECORD.append({
            "module": self, "in_channels": c, "out_channels": self.out_channels, "height": h, "width": w,
            "kernel": list(self.kernel_size), "stride": list(self.stride), "padding": list(self.padding),
            "dilation": list(self.dilation), "groups": self.groups, "bias": self.bias is not None,
            "macs": y.numel() * per_output,
        })
        return y


class Linear(Module):
    def __init__(self, in_features, out_features, bias=True, **kwargs):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter((out_features, in_features))
        self.bias = Parameter((out_features,)) if bias else None

    def forward(self, x):
        n, features = x.shape
        assert features == self.in_features
        RECORD.append({
            "module": self, "in_channels": features, "out_channels": self.out_features, "height": 1, "width": 1,
            "kernel": [1, 1], "stride": [1, 1], "padding": [0, 0], "dilation": [1, 1], "groups": 1,
            "bias": self.bias is not None, "macs": n * features * self.out_features,
        })
        return Tensor(n, self.out_features)


class BatchNorm2d(Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1, **kwargs):
        super().__init__()
        self.weight = Parameter((num_features,))
        self.bias = Parameter((num_features,))

    def forward(self, x):
        assert x.shape[1] == self.weight.shape[0]
        return x


class _Elementwise(Module):
    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x


class MaxPool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0, **kwargs):
        super().__init__()
        self.k, self.s, self.p = kernel_size, stride or kernel_size, padding

    def forward(self, x):
        n, c, h, w = x.shape
        return Tensor(n, c, *[(size + 2 * self.p - self.k) // self.s + 1 for size in (h, w)])


def adaptive_avg_pool2d(x, output_size):
    out = _pair(output_size)
    return Tensor(x.shape[0], x.shape[1], *out)


class AdaptiveAvgPool2d(Module):
    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        return adaptive_avg_pool2d(x, self.output_size)


def _unsupported(self, *args, **kwargs):
    raise NotImplementedError(f"the shape-only torch has no {type(self).__name__}")


def flatten(x, start_dim=0):
    return Tensor(*x.shape[:start_dim], math.prod(x.shape[start_dim:]))


def _install_torch():
    torch = types.ModuleType("torch")
    nn = types.ModuleType("torch.nn")
    for name, value in {
        "Module": Module, "Sequential": Sequential, "ModuleDict": ModuleDict, "Conv2d": Conv2d, "Linear": Linear,
        "BatchNorm2d": BatchNorm2d, "MaxPool2d": MaxPool2d, "AdaptiveAvgPool2d": AdaptiveAvgPool2d,
        "Parameter": Parameter,
    }.items():
        setattr(nn, name, value)
    for name in ["ReLU", "ReLU6", "SiLU", "Sigmoid", "Hardswish", "Hardsigmoid", "Dropout", "Identity",
                 "GroupNorm", "LayerNorm", "GELU"]:
        setattr(nn, name, type(name, (_Elementwise,), {}))
    # Named by the model files but not used by these three networks: building one is an error.
    for name in ["BatchNorm3d", "Conv3d", "BatchNorm1d", "Conv1d", "MultiheadAttention", "Flatten"]:
        setattr(nn, name, type(name, (Module,), {"__init__": _unsupported}))
    nn.init = types.SimpleNamespace(**{name: (lambda *a, **k: None) for name in [
        "kaiming_normal_", "kaiming_uniform_", "zeros_", "ones_", "normal_", "uniform_", "constant_",
        "trunc_normal_"]})
    nn.functional = types.SimpleNamespace(adaptive_avg_pool2d=adaptive_avg_pool2d, interpolate=None)
    torch.nn = nn
    torch.Tensor = Tensor
    torch.flatten = flatten
    torch.float = "float32"
    torch.jit = types.SimpleNamespace(is_scripting=lambda: False, is_tracing=lambda: False)
    torch.fx = types.ModuleType("torch.fx")
    torch.fx.wrap = lambda name: None
    torch._C = types.SimpleNamespace(_log_api_usage_once=lambda *a: None)
    torch.hub = types.SimpleNamespace(load_state_dict_from_url=None)
    sys.modules.update({"torch": torch, "torch.nn": nn, "torch.fx": torch.fx})


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _package(name, path):
    package = types.ModuleType(name)
    package.__path__ = [path]
    sys.modules[name] = package
    return package


def load_torchvision(root):
    """Imports torchvision's model files from `root/torchvision` without its package __init__ (which needs torch's
    compiled extensions); the few helpers they import from elsewhere are stood in for."""
    _install_torch()
    tv = f"{root}/torchvision"
    _package("torchvision", tv)
    utils = types.ModuleType("torchvision.utils")
    utils._log_api_usage_once = lambda obj: None
    utils._make_ntuple = lambda x, n: tuple(x) if isinstance(x, (tuple, list)) else (x,) * n
    sys.modules["torchvision.utils"] = utils
    sys.modules["torchvision._internally_replaced_utils"] = types.SimpleNamespace(load_state_dict_from_url=None)
    presets = types.ModuleType("torchvision.transforms._presets")
    presets.ImageClassification = lambda **kwargs: None
    presets.InterpolationMode = types.SimpleNamespace(BILINEAR="bilinear", BICUBIC="bicubic")
    _package("torchvision.transforms", f"{tv}/transforms")
    sys.modules["torchvision.transforms._presets"] = presets
    _load("torchvision._utils", f"{tv}/_utils.py")
    ops = _package("torchvision.ops", f"{tv}/ops")
    _load("torchvision.ops.misc", f"{tv}/ops/misc.py")
    ops.StochasticDepth = _load("torchvision.ops.stochastic_depth", f"{tv}/ops/stochastic_depth.py").StochasticDepth
    _package("torchvision.models", f"{tv}/models")
    for name in ["_api", "_meta", "_utils"]:
        _load(f"torchvision.models.{name}", f"{tv}/models/{name}.py")
    return {name: _load(f"torchvision.models.{name}", f"{tv}/models/{name}.py")
            for name in ["mobilenetv2", "resnet", "efficientnet"]}


def measure(builder, weights):
    RECORD.clear()
    model = builder()
    names = {id(module): name for name, module in model.named_modules()}
    model(Tensor(1, 3, 224, 224))
    layers = [dict(name=names[id(r["module"])], **{k: v for k, v in r.items() if k != "module"}) for r in RECORD]
    params = sum(p.numel() for p in model.parameters())
    meta = weights.IMAGENET1K_V1.meta
    return layers, params, meta


def main():
    root = sys.argv[1]
    modules = load_torchvision(root)
    nets = {
        "mobilenet-v2": (modules["mobilenetv2"].mobilenet_v2, modules["mobilenetv2"].MobileNet_V2_Weights),
        "resnet-18": (modules["resnet"].resnet18, modules["resnet"].ResNet18_Weights),
        "efficientnet-b0": (modules["efficientnet"].efficientnet_b0, modules["efficientnet"].EfficientNet_B0_Weights),
    }
    out = {}
    for name, (builder, weights) in nets.items():
        layers, params, meta = measure(builder, weights)
        convs = [layer for layer in layers if not layer["name"].startswith(("fc", "classifier"))]
        linear = [layer for layer in layers if layer not in convs]
        out[name] = {
            "convs": len(convs),
            "conv_macs": sum(layer["macs"] for layer in convs),
            "linear_macs": sum(layer["macs"] for layer in linear),
            "total_macs": sum(layer["macs"] for layer in layers),
            "conv_and_linear_params": sum(
                math.prod([layer["out_channels"], layer["in_channels"] // layer["groups"], *layer["kernel"]])
                + (layer["out_channels"] if layer["bias"] else 0)
                for layer in layers),
            "all_params": params,
            "published_num_params": meta["num_params"],
            "published_gmacs": meta["_ops"],
        }
        if "--layers" in sys.argv:
            out[name]["layers"] = layers
    # One layer per line, so that the file reads (and diffs) layer by layer.
    text = json.dumps(out, indent=1)
    for layers in (net.get("layers", []) for net in out.values()):
        for layer in layers:
            text = text.replace(json.dumps(layer, indent=1).replace("\n", "\n   "), json.dumps(layer), 1)
    print(text)


if __name__ == "__main__":
    main()
