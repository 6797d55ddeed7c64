//! The GPU context: the wgpu instance, the adapter choice, and a device requested with the adapter's own limits
//! and the features convflops uses. Validation errors and device loss are captured and come back as
//! [`GpuError`]s instead of panics.

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

    /// One line for report headers: `llvmpipe (LLVM 15.0.6, 256 bits) · Vulkan · CPU adapter (software: these are CPU
    /// numbers, not GPU numbers)`.
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
        Self::open(index, &adapters[index])
    }

    /// Opens every adapter of the chosen backends, one context each (for `--all-adapters`).
    pub fn all(backends: Option<Backends>) -> Result<Vec<GpuContext>, GpuError> {
        let adapters = enumerate(backends);
        if adapters.is_empty() {
            return Err(GpuError::NoAdapter);
        }
        adapters
            .iter()
            .enumerate()
            .map(|(index, adapter)| Self::open(index, adapter))
            .collect()
    }

    fn open(index: usize, adapter: &wgpu::Adapter) -> Result<GpuContext, GpuError> {
        let summary = AdapterSummary::new(index, adapter);
        let wanted = Features::TIMESTAMP_QUERY | Features::TIMESTAMP_QUERY_INSIDE_ENCODERS;
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
    fn gpus_before_cpus_and_vulkan_before_gl() {
        assert!(preference(DeviceType::DiscreteGpu, Backend::Gl) < preference(DeviceType::Cpu, Backend::Vulkan));
        assert!(preference(DeviceType::Cpu, Backend::Vulkan) < preference(DeviceType::Cpu, Backend::Gl));
        assert!(
            preference(DeviceType::IntegratedGpu, Backend::Vulkan) < preference(DeviceType::Other, Backend::Vulkan)
        );
    }
}
