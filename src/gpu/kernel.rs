//! One abstraction for every compute kernel: shader module + pipeline + bind group layout + dispatch geometry.
//! A kernel is built once per device and reused for every dispatch.

use std::borrow::Cow;

use crate::gpu::{GpuContext, GpuError};

/// Whether naga wraps the kernel's memory accesses and loops in runtime checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checks {
    /// wgpu's default: bounds-checked indexing, bounded loops.
    Runtime,
    /// No runtime checks: for kernels whose indexing is in bounds by construction.
    ProvenSafe,
}

/// How a storage buffer is bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    ReadWrite,
}

/// One binding of a generated kernel's layout (group 0, in binding order from 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    /// A uniform buffer.
    Uniform,
    /// A storage buffer.
    Storage(Access),
    /// A sampled (`textureLoad`) 2-D array texture of non-filterable floats.
    TextureArray,
    /// A sampled (`textureLoad`) 2-D texture of non-filterable floats.
    Texture,
    /// A write-only rgba32float 2-D array storage texture.
    StorageTextureArray,
}

impl Binding {
    fn layout_type(self) -> wgpu::BindingType {
        match self {
            Binding::Uniform => wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Uniform,
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            Binding::Storage(access) => wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Storage {
                    read_only: access == Access::Read,
                },
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            Binding::TextureArray => wgpu::BindingType::Texture {
                sample_type: wgpu::TextureSampleType::Float { filterable: false },
                view_dimension: wgpu::TextureViewDimension::D2Array,
                multisampled: false,
            },
            Binding::Texture => wgpu::BindingType::Texture {
                sample_type: wgpu::TextureSampleType::Float { filterable: false },
                view_dimension: wgpu::TextureViewDimension::D2,
                multisampled: false,
            },
            Binding::StorageTextureArray => wgpu::BindingType::StorageTexture {
                access: wgpu::StorageTextureAccess::WriteOnly,
                format: wgpu::TextureFormat::Rgba32Float,
                view_dimension: wgpu::TextureViewDimension::D2Array,
            },
        }
    }
}

/// A compute pipeline whose bindings are: 0 a uniform parameter block, then one storage buffer per entry of
/// `storage` (bindings 1, 2, …), all in group 0.
#[derive(Debug)]
pub struct Kernel {
    pub label: &'static str,
    pub workgroup_size: u32,
    pipeline: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
    bindings: Vec<Binding>,
}

impl Kernel {
    /// Compiles `source` (WGSL with an entry point `main` and an override constant `WORKGROUP_SIZE`).
    pub fn new(
        ctx: &GpuContext,
        label: &'static str,
        source: &str,
        storage: &[Access],
        workgroup_size: u32,
        checks: Checks,
    ) -> Result<Kernel, GpuError> {
        Self::with_options(
            ctx,
            label,
            source,
            "main",
            &[("WORKGROUP_SIZE", workgroup_size)],
            storage,
            checks,
        )
    }

    /// Compiles entry point `entry` of `source` with the given override constants (`WORKGROUP_SIZE` among them).
    pub fn with_options(
        ctx: &GpuContext,
        label: &'static str,
        source: &str,
        entry: &str,
        overrides: &[(&str, u32)],
        storage: &[Access],
        checks: Checks,
    ) -> Result<Kernel, GpuError> {
        let mut bindings = vec![Binding::Uniform];
        bindings.extend(storage.iter().map(|&access| Binding::Storage(access)));
        Self::with_bindings(ctx, label, source, entry, overrides, &bindings, checks)
    }

    /// Compiles entry point `entry` of `source` with the given override constants and bind group layout (group 0,
    /// bindings 0, 1, … as listed). The workgroup size is `WORKGROUP_SIZE` among the overrides, else 1 (a
    /// generated kernel with its size baked in records it with [`Kernel::with_workgroup_size`]).
    pub fn with_bindings(
        ctx: &GpuContext,
        label: &'static str,
        source: &str,
        entry: &str,
        overrides: &[(&str, u32)],
        bindings: &[Binding],
        checks: Checks,
    ) -> Result<Kernel, GpuError> {
        Self::build(ctx, label, source, entry, overrides, bindings, checks, true)
    }

    /// [`Kernel::with_bindings`] for a kernel that writes every workgroup-memory element before any invocation
    /// reads it (behind a barrier), so wgpu need not zero its workgroup memory first. On GL, wgpu writes that fill
    /// into the shader, and llvmpipe took a minute to compile it for a 9 KiB array (Mesa 25.0.7).
    pub fn with_bindings_unzeroed(
        ctx: &GpuContext,
        label: &'static str,
        source: &str,
        bindings: &[Binding],
        checks: Checks,
    ) -> Result<Kernel, GpuError> {
        Self::build(ctx, label, source, "main", &[], bindings, checks, false)
    }

    #[allow(clippy::too_many_arguments)]
    fn build(
        ctx: &GpuContext,
        label: &'static str,
        source: &str,
        entry: &str,
        overrides: &[(&str, u32)],
        bindings: &[Binding],
        checks: Checks,
        zero_workgroup_memory: bool,
    ) -> Result<Kernel, GpuError> {
        let workgroup_size = overrides
            .iter()
            .find(|(name, _)| *name == "WORKGROUP_SIZE")
            .map_or(1, |(_, v)| *v);
        ctx.scoped(&format!("building the {label} kernel"), || {
            let descriptor = wgpu::ShaderModuleDescriptor {
                label: Some(label),
                source: wgpu::ShaderSource::Wgsl(Cow::Borrowed(source)),
            };
            let module = match checks {
                Checks::Runtime => ctx.device.create_shader_module(descriptor),
                // SAFETY: only kernels whose every index is clamped into its buffer by construction (stated in the
                // shader's header comment) are built this way, and `convflops verify` and the kernel tests run each
                // of them against the CPU reference on random shapes, edges and padding included.
                Checks::ProvenSafe => unsafe {
                    ctx.device
                        .create_shader_module_trusted(descriptor, wgpu::ShaderRuntimeChecks::unchecked())
                },
            };
            let entries: Vec<wgpu::BindGroupLayoutEntry> = bindings
                .iter()
                .enumerate()
                .map(|(i, binding)| wgpu::BindGroupLayoutEntry {
                    binding: i as u32,
                    visibility: wgpu::ShaderStages::COMPUTE,
                    ty: binding.layout_type(),
                    count: None,
                })
                .collect();
            let layout = ctx.device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some(label),
                entries: &entries,
            });
            let pipeline_layout = ctx.device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some(label),
                bind_group_layouts: &[Some(&layout)],
                immediate_size: 0,
            });
            let constants: Vec<(&str, f64)> = overrides.iter().map(|(name, v)| (*name, f64::from(*v))).collect();
            let pipeline = ctx.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(label),
                layout: Some(&pipeline_layout),
                module: &module,
                entry_point: Some(entry),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants: &constants,
                    zero_initialize_workgroup_memory: zero_workgroup_memory,
                },
                cache: None,
            });
            Kernel {
                label,
                workgroup_size,
                pipeline,
                layout,
                bindings: bindings.to_vec(),
            }
        })
    }

    /// This kernel, recorded as running `size` invocations per workgroup (its size baked into its source).
    pub fn with_workgroup_size(mut self, size: u32) -> Kernel {
        self.workgroup_size = size;
        self
    }

    /// A bind group of `resources`, one per binding of the layout, in binding order.
    pub fn bind_resources(
        &self,
        ctx: &GpuContext,
        resources: &[wgpu::BindingResource<'_>],
    ) -> Result<wgpu::BindGroup, GpuError> {
        if resources.len() != self.bindings.len() {
            return Err(GpuError::Validation {
                during: format!("binding the {} kernel", self.label),
                message: format!("{} resources given, {} expected", resources.len(), self.bindings.len()),
            });
        }
        ctx.scoped(&format!("binding the {} kernel", self.label), || {
            let entries: Vec<wgpu::BindGroupEntry> = resources
                .iter()
                .enumerate()
                .map(|(i, resource)| wgpu::BindGroupEntry {
                    binding: i as u32,
                    resource: resource.clone(),
                })
                .collect();
            ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(self.label),
                layout: &self.layout,
                entries: &entries,
            })
        })
    }

    /// A bind group of `params` (uniform) and the storage buffers, in binding order.
    pub fn bind(
        &self,
        ctx: &GpuContext,
        params: &wgpu::Buffer,
        storage: &[&wgpu::Buffer],
    ) -> Result<wgpu::BindGroup, GpuError> {
        let mut resources = vec![params.as_entire_binding()];
        resources.extend(storage.iter().map(|buffer| buffer.as_entire_binding()));
        self.bind_resources(ctx, &resources)
    }

    /// The workgroup grid that gives at least `invocations` invocations: a 2-D grid, x at most the adapter's
    /// per-dimension limit, so no dispatch is silently truncated at 65 535 workgroups.
    pub fn grid(&self, ctx: &GpuContext, invocations: u64) -> Result<[u32; 3], GpuError> {
        grid(
            invocations,
            self.workgroup_size,
            ctx.summary.max_compute_workgroups_per_dimension,
            self.label,
        )
    }

    /// Records one dispatch of this kernel into `pass`.
    pub fn dispatch(&self, pass: &mut wgpu::ComputePass<'_>, bind_group: &wgpu::BindGroup, grid: [u32; 3]) {
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, bind_group, &[]);
        pass.dispatch_workgroups(grid[0], grid[1], grid[2]);
    }
}

/// See [`Kernel::grid`].
pub fn grid(invocations: u64, workgroup_size: u32, max_per_dimension: u32, label: &str) -> Result<[u32; 3], GpuError> {
    let groups = invocations.div_ceil(u64::from(workgroup_size.max(1))).max(1);
    let max = u64::from(max_per_dimension.max(1));
    let x = groups.min(max);
    let y = groups.div_ceil(x);
    if y > max {
        return Err(GpuError::Limit {
            what: format!("the {label} dispatch ({invocations} invocations)"),
            needed: y,
            limit: "max_compute_workgroups_per_dimension (second dimension)",
            available: max,
        });
    }
    Ok([x as u32, y as u32, 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_covers_without_truncation() {
        assert_eq!(grid(1, 64, 65_535, "t").unwrap(), [1, 1, 1]);
        assert_eq!(grid(64 * 65_535, 64, 65_535, "t").unwrap(), [65_535, 1, 1]);
        let g = grid(64 * 65_535 + 1, 64, 65_535, "t").unwrap();
        assert_eq!(g, [65_535, 2, 1]);
        assert!(u64::from(g[0]) * u64::from(g[1]) * 64 > 64 * 65_535);
        assert!(grid(u64::MAX / 2, 64, 65_535, "t").is_err());
    }
}
