//! The GPU context: the wgpu instance, the adapter choice, and a device requested with the adapter's own limits
//! and the features convflops uses. Validation errors and device loss are captured and come back as
//! [`GpuError`]s instead of panics.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use wgpu::{Backend, Backends, DeviceType, Features};

use crate::gpu::GpuError;

/// Which adapters to consider and which one to pick.
#[derive(Debug, Clone, Default)]
pub struct AdapterChoice {
    /// Restrict to these backends; `None` means all, or `WGPU_BACKEND` when set.
    pub backends: Option<Backends>,
    /// An index into [`list_adapters`] or a case-insensitive substring of the adapter name; `None` means the best
    /// adapter, or `WGPU_ADAPTER_NAME` when set.
    pub adapter: Option<String>,
    /// The device-memory budget in bytes (`--max-memory`); `None` means [`MemoryBudget::default_for`] the adapter.
    pub max_memory: Option<u64>,
}

/// The default budget on CPU adapters (lavapipe, llvmpipe, WARP): their "device memory" is the host's.
pub const DEFAULT_CPU_BUDGET: u64 = 2 << 30;
/// The default budget on GPUs. wgpu does not report how much memory an adapter has, so this is a figure that fits
/// any GPU with 6 GB or more; `--max-memory` raises or lowers it.
pub const DEFAULT_GPU_BUDGET: u64 = 4 << 30;

/// How much device memory one context may hold in buffers, and how much its live reservations hold now. Every
/// [`ConvJob`](crate::gpu::ConvJob) reserves its buffers here before it allocates them, and a readback reserves its
/// staging buffer, so a run that would not fit is refused with the bytes it needs before wgpu sees it.
#[derive(Debug, Clone)]
pub struct MemoryBudget {
    /// The budget in bytes.
    pub limit: u64,
    /// `Some("CPU adapters")` or `Some("GPUs")` when the budget is the default, `None` when it was given.
    pub default_for: Option<&'static str>,
    held: Arc<AtomicU64>,
}

impl MemoryBudget {
    /// `max_memory` when given, else the default for a software (CPU) adapter or a GPU.
    pub fn new(max_memory: Option<u64>, software: bool) -> MemoryBudget {
        let (limit, default_for) = match max_memory {
            Some(bytes) => (bytes, None),
            None => Self::default_for(software),
        };
        MemoryBudget {
            limit,
            default_for,
            held: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The default budget and what it is the default for.
    pub fn default_for(software: bool) -> (u64, Option<&'static str>) {
        if software {
            (DEFAULT_CPU_BUDGET, Some("CPU adapters"))
        } else {
            (DEFAULT_GPU_BUDGET, Some("GPUs"))
        }
    }

    /// Bytes held by live reservations.
    pub fn held(&self) -> u64 {
        self.held.load(Ordering::SeqCst)
    }

    /// Ok when `bytes` more fit in the budget now; nothing is reserved.
    pub fn check(&self, what: &str, bytes: u64) -> Result<(), GpuError> {
        let held = self.held();
        if held.saturating_add(bytes) > self.limit {
            return Err(self.refusal(what, bytes, held));
        }
        Ok(())
    }

    /// Reserves `bytes` until the returned [`Reservation`] is dropped, or refuses when they do not fit.
    pub fn reserve(&self, what: &str, bytes: u64) -> Result<Reservation, GpuError> {
        let limit = self.limit;
        self.held
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |held| {
                held.checked_add(bytes).filter(|&total| total <= limit)
            })
            .map_err(|held| self.refusal(what, bytes, held))?;
        Ok(Reservation {
            held: Arc::clone(&self.held),
            bytes,
        })
    }

    fn refusal(&self, what: &str, bytes: u64, held: u64) -> GpuError {
        GpuError::MemoryBudget {
            what: what.to_string(),
            needed: bytes,
            in_use: held,
            budget: self.limit,
            default_for: self.default_for,
        }
    }
}

/// Bytes reserved in a [`MemoryBudget`], given back when dropped.
#[derive(Debug)]
pub struct Reservation {
    held: Arc<AtomicU64>,
    bytes: u64,
}

impl Reservation {
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        // Never below zero: a reservation only gives back what it took.
        let _ = self.held.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |held| {
            Some(held.saturating_sub(self.bytes))
        });
    }
}

/// What `convflops devices` prints about one adapter.
#[derive(Debug, Clone, Serialize)]
pub struct AdapterSummary {
    pub index: usize,
    pub name: String,
    pub backend: String,
    pub device_type: String,
    /// True for CPU adapters (lavapipe, llvmpipe, WARP, SwiftShader): their numbers are CPU numbers.
    pub software: bool,
    pub driver: String,
    pub driver_info: String,
    pub timestamps: bool,
    pub max_storage_buffer_binding_size: u64,
    pub max_buffer_size: u64,
    pub max_compute_workgroups_per_dimension: u32,
    pub max_compute_invocations_per_workgroup: u32,
    pub max_compute_workgroup_storage_size: u32,
}

impl AdapterSummary {
    fn new(index: usize, adapter: &wgpu::Adapter) -> Self {
        let info = adapter.get_info();
        let limits = adapter.limits();
        AdapterSummary {
            index,
            name: info.name.clone(),
            backend: backend_name(info.backend).to_string(),
            device_type: device_type_name(info.device_type).to_string(),
            software: info.device_type == DeviceType::Cpu,
            driver: info.driver.clone(),
            driver_info: info.driver_info.clone(),
            timestamps: adapter.features().contains(Features::TIMESTAMP_QUERY),
            max_storage_buffer_binding_size: limits.max_storage_buffer_binding_size,
            max_buffer_size: limits.max_buffer_size,
            max_compute_workgroups_per_dimension: limits.max_compute_workgroups_per_dimension,
            max_compute_invocations_per_workgroup: limits.max_compute_invocations_per_workgroup,
            max_compute_workgroup_storage_size: limits.max_compute_workgroup_storage_size,
        }
    }

    /// An adapter described without one: a GPU named `name` (index 0, Vulkan, timestamps) that offers only
    /// WebGPU's default limits (`wgpu::Limits::default()`: 128 MiB storage bindings, 256 MiB buffers, 65,535
    /// workgroups per dimension, 256 invocations and 16 KiB of workgroup storage). For planning a layer against
    /// the limits every adapter guarantees, and the tests' one fixture (change fields with `..`).
    pub fn with_default_limits(name: &str) -> AdapterSummary {
        let limits = wgpu::Limits::default();
        AdapterSummary {
            index: 0,
            name: name.to_string(),
            backend: backend_name(wgpu::Backend::Vulkan).to_string(),
            device_type: device_type_name(DeviceType::DiscreteGpu).to_string(),
            software: false,
            driver: String::new(),
            driver_info: String::new(),
            timestamps: true,
            max_storage_buffer_binding_size: limits.max_storage_buffer_binding_size,
            max_buffer_size: limits.max_buffer_size,
            max_compute_workgroups_per_dimension: limits.max_compute_workgroups_per_dimension,
            max_compute_invocations_per_workgroup: limits.max_compute_invocations_per_workgroup,
            max_compute_workgroup_storage_size: limits.max_compute_workgroup_storage_size,
        }
    }

    /// One line for report headers: `adapter: llvmpipe (LLVM 15.0.6, 256 bits) · Vulkan · CPU adapter (software
    /// rendering: these are CPU numbers, not GPU numbers) · driver llvmpipe Mesa 25.0.7 (LLVM 15.0.6)`.
    pub fn headline(&self) -> String {
        let kind = if self.software {
            "CPU adapter (software rendering: these are CPU numbers, not GPU numbers)".to_string()
        } else {
            self.device_type.clone()
        };
        let driver = if self.driver.is_empty() && self.driver_info.is_empty() {
            String::new()
        } else {
            format!(" · driver {} {}", self.driver, self.driver_info)
                .trim_end()
                .to_string()
        };
        format!("adapter: {} · {} · {kind}{driver}", self.name, self.backend)
    }
}

pub fn backend_name(backend: Backend) -> &'static str {
    match backend {
        Backend::Vulkan => "Vulkan",
        Backend::Metal => "Metal",
        Backend::Dx12 => "DX12",
        Backend::Gl => "GL",
        Backend::BrowserWebGpu => "WebGPU",
        Backend::Noop => "noop",
    }
}

pub fn device_type_name(device_type: DeviceType) -> &'static str {
    match device_type {
        DeviceType::DiscreteGpu => "discrete GPU",
        DeviceType::IntegratedGpu => "integrated GPU",
        DeviceType::VirtualGpu => "virtual GPU",
        DeviceType::Cpu => "CPU",
        DeviceType::Other => "other",
    }
}

/// Lower is better: real GPUs first, CPU adapters last; Vulkan before the others, GL last.
fn preference(device_type: DeviceType, backend: Backend) -> (u8, u8) {
    let device = match device_type {
        DeviceType::DiscreteGpu => 0,
        DeviceType::IntegratedGpu => 1,
        DeviceType::VirtualGpu => 2,
        DeviceType::Other => 3,
        DeviceType::Cpu => 4,
    };
    let backend = match backend {
        Backend::Vulkan => 0,
        Backend::Metal => 1,
        Backend::Dx12 => 2,
        Backend::Gl => 3,
        _ => 4,
    };
    (device, backend)
}

fn instance(backends: Backends) -> wgpu::Instance {
    let mut descriptor = wgpu::InstanceDescriptor::new_without_display_handle().with_env();
    descriptor.backends = backends;
    wgpu::Instance::new(descriptor)
}

/// Every adapter of the chosen backends, in wgpu's order (the indices `--adapter` takes).
pub fn enumerate(backends: Option<Backends>) -> Vec<wgpu::Adapter> {
    let backends = backends.unwrap_or_else(|| Backends::all().with_env());
    pollster::block_on(instance(backends).enumerate_adapters(backends))
}

/// Summaries of every adapter, for `convflops devices`.
pub fn list_adapters(backends: Option<Backends>) -> Vec<AdapterSummary> {
    enumerate(backends)
        .iter()
        .enumerate()
        .map(|(index, adapter)| AdapterSummary::new(index, adapter))
        .collect()
}

fn rank(adapter: &wgpu::Adapter) -> (u8, u8) {
    let info = adapter.get_info();
    preference(info.device_type, info.backend)
}

/// The index of the adapter `choice` selects among `adapters`.
fn select(adapters: &[wgpu::Adapter], choice: &AdapterChoice) -> Result<usize, GpuError> {
    if adapters.is_empty() {
        return Err(GpuError::NoAdapter);
    }
    let wanted = choice
        .adapter
        .clone()
        .or_else(|| std::env::var("WGPU_ADAPTER_NAME").ok().filter(|s| !s.is_empty()));
    let names = || {
        adapters
            .iter()
            .enumerate()
            .map(|(i, a)| format!("{i}: {}", a.get_info().name))
            .collect::<Vec<_>>()
    };
    match wanted {
        Some(text) => {
            if let Ok(index) = text.trim().parse::<usize>() {
                return if index < adapters.len() {
                    Ok(index)
                } else {
                    Err(GpuError::AdapterNotFound {
                        wanted: text,
                        available: names().join(", "),
                    })
                };
            }
            let needle = text.to_lowercase();
            adapters
                .iter()
                .enumerate()
                .filter(|(_, a)| a.get_info().name.to_lowercase().contains(&needle))
                .min_by_key(|(_, a)| rank(a))
                .map(|(i, _)| i)
                .ok_or(GpuError::AdapterNotFound {
                    wanted: text,
                    available: names().join(", "),
                })
        }
        None => adapters
            .iter()
            .enumerate()
            .min_by_key(|(_, a)| rank(a))
            .map(|(i, _)| i)
            .ok_or(GpuError::NoAdapter),
    }
}

/// Captured errors and device loss, shared with wgpu's callbacks.
#[derive(Debug, Default)]
struct Incidents {
    uncaptured: Vec<String>,
    lost: Option<String>,
}

/// An open device on the chosen adapter.
pub struct GpuContext {
    pub adapter: wgpu::Adapter,
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub summary: AdapterSummary,
    /// True when the device was created with TIMESTAMP_QUERY.
    pub timestamps: bool,
    /// True when the device was created with SHADER_INT64 (64-bit integers in shaders): depthwise-cpu then moves its
    /// 16-byte accesses as `vec2<u64>` ([`crate::gpu::cpu::Vec4Access`]).
    pub int64: bool,
    /// The device-memory budget (`--max-memory`) and what is held in it.
    pub memory: MemoryBudget,
    incidents: Arc<Mutex<Incidents>>,
}

impl std::fmt::Debug for GpuContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuContext")
            .field("adapter", &self.summary.name)
            .finish()
    }
}

impl GpuContext {
    /// Opens the adapter `choice` selects.
    pub fn new(choice: &AdapterChoice) -> Result<GpuContext, GpuError> {
        let adapters = enumerate(choice.backends);
        let index = select(&adapters, choice)?;
        let adapter = adapters.get(index).ok_or(GpuError::NoAdapter)?;
        Self::open(index, adapter, choice.max_memory)
    }

    /// Opens every adapter of `choice`'s backends (its `adapter` is ignored), each with `choice`'s memory budget.
    pub fn every(choice: &AdapterChoice) -> Result<Vec<GpuContext>, GpuError> {
        let adapters = enumerate(choice.backends);
        if adapters.is_empty() {
            return Err(GpuError::NoAdapter);
        }
        adapters
            .iter()
            .enumerate()
            .map(|(index, adapter)| Self::open(index, adapter, choice.max_memory))
            .collect()
    }

    fn open(index: usize, adapter: &wgpu::Adapter, max_memory: Option<u64>) -> Result<GpuContext, GpuError> {
        let summary = AdapterSummary::new(index, adapter);
        let wanted = Features::TIMESTAMP_QUERY | Features::SHADER_INT64;
        let features = adapter.features() & wanted;
        let descriptor = wgpu::DeviceDescriptor {
            label: Some("convflops device"),
            required_features: features,
            // The adapter's own limits: wgpu's defaults cap storage bindings at 128 MiB.
            required_limits: adapter.limits(),
            memory_hints: wgpu::MemoryHints::Performance,
            ..Default::default()
        };
        let (device, queue) =
            pollster::block_on(adapter.request_device(&descriptor)).map_err(|e| GpuError::RequestDevice {
                adapter: summary.name.clone(),
                message: e.to_string(),
            })?;
        let incidents = Arc::new(Mutex::new(Incidents::default()));
        let sink = Arc::clone(&incidents);
        device.on_uncaptured_error(Arc::new(move |error: wgpu::Error| {
            if let Ok(mut incidents) = sink.lock() {
                incidents.uncaptured.push(error.to_string());
            }
        }));
        let sink = Arc::clone(&incidents);
        device.set_device_lost_callback(move |reason, message| {
            if let Ok(mut incidents) = sink.lock() {
                incidents.lost.get_or_insert(format!("{reason:?}: {message}"));
            }
        });
        Ok(GpuContext {
            adapter: adapter.clone(),
            device,
            queue,
            timestamps: features.contains(Features::TIMESTAMP_QUERY),
            int64: features.contains(Features::SHADER_INT64),
            memory: MemoryBudget::new(max_memory, summary.software),
            summary,
            incidents,
        })
    }

    /// Returns an error if the device was lost or an error escaped every error scope since the last check.
    pub fn check(&self) -> Result<(), GpuError> {
        let mut incidents = match self.incidents.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(reason) = incidents.lost.clone() {
            return Err(GpuError::DeviceLost {
                adapter: self.summary.name.clone(),
                reason,
            });
        }
        if !incidents.uncaptured.is_empty() {
            let message = incidents.uncaptured.join("; ");
            incidents.uncaptured.clear();
            return Err(GpuError::Validation {
                during: "GPU work".into(),
                message,
            });
        }
        Ok(())
    }

    /// Blocks until all submitted work is done.
    pub fn wait(&self) -> Result<(), GpuError> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| GpuError::DeviceLost {
                adapter: self.summary.name.clone(),
                reason: e.to_string(),
            })?;
        self.check()
    }

    /// Runs `work` inside a validation and an out-of-memory error scope and returns its value, or the first error
    /// wgpu reported while it ran.
    pub fn scoped<T>(&self, during: &str, work: impl FnOnce() -> T) -> Result<T, GpuError> {
        // A lost device makes some wgpu calls panic rather than report: stop before any of them.
        self.check()?;
        let memory = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let value = work();
        let validation_error = pollster::block_on(validation.pop());
        let memory_error = pollster::block_on(memory.pop());
        if let Some(error) = validation_error {
            return Err(GpuError::Validation {
                during: during.to_string(),
                message: error.to_string(),
            });
        }
        if let Some(error) = memory_error {
            return Err(GpuError::OutOfMemory {
                during: during.to_string(),
                message: error.to_string(),
            });
        }
        self.check()?;
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_counts_live_reservations() {
        let budget = MemoryBudget::new(Some(100), false);
        assert_eq!(budget.default_for, None);
        let a = budget.reserve("a", 60).unwrap();
        assert_eq!(budget.held(), 60);
        let refused = budget.reserve("the b job", 50).unwrap_err().to_string();
        assert!(refused.contains("the b job needs 50 bytes"), "{refused}");
        assert!(refused.contains("on top of 60 bytes already held"), "{refused}");
        assert!(refused.contains("--max-memory 100 bytes"), "{refused}");
        assert!(budget.check("c", 40).is_ok());
        drop(a);
        assert_eq!(budget.held(), 0);
        let b = budget.reserve("b", 100).unwrap();
        assert_eq!(b.bytes(), 100);
        assert!(budget.reserve("overflow", u64::MAX).is_err());
        let default = MemoryBudget::new(None, true);
        assert_eq!(
            (default.limit, default.default_for),
            (DEFAULT_CPU_BUDGET, Some("CPU adapters"))
        );
        let message = default.check("x", 3 << 30).unwrap_err().to_string();
        assert!(
            message.contains(
                "the default budget of 2.00 GiB (2,147,483,648 bytes) on CPU adapters: raise it with --max-memory"
            ),
            "{message}"
        );
    }

    #[test]
    fn gpus_before_cpus_and_vulkan_before_gl() {
        assert!(preference(DeviceType::DiscreteGpu, Backend::Gl) < preference(DeviceType::Cpu, Backend::Vulkan));
        assert!(preference(DeviceType::Cpu, Backend::Vulkan) < preference(DeviceType::Cpu, Backend::Gl));
        assert!(
            preference(DeviceType::IntegratedGpu, Backend::Vulkan) < preference(DeviceType::Other, Backend::Vulkan)
        );
    }
}
