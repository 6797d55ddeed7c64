//! `convflops model`: count a whole network layer by layer.

use anyhow::Result;

use convflops::cli::ModelArgs;

pub fn run(_args: ModelArgs) -> Result<()> {
    anyhow::bail!("`convflops model` is not built yet")
}
