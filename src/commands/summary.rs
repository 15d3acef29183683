//! `resnet summary`: the layers, sizes and learnables a config describes.

use anyhow::{Context, Result};
use resnet::core::spec::Summary;

use crate::cli::SummaryArgs;
use crate::{config, out_dir};

/// Runs `resnet summary`: the table (or JSON) on stdout and, with `--dot`,
/// the layer graph for Graphviz in a file.
///
/// Errors: an unknown config or one with errors, an unwritable dot file.
pub fn run(args: SummaryArgs) -> Result<()> {
    let found = config::load(&args.config)?;
    let summary =
        Summary::new(&found.spec).with_context(|| format!("config {}", found.path.display()))?;

    if args.json {
        let text = serde_json::to_string_pretty(&summary.to_json()).context("encoding JSON")?;
        println!("{text}");
    } else {
        println!("config {} ({})", found.name, found.path.display());
        print!("{summary}");
    }

    if let Some(dot) = &args.dot {
        out_dir::write_atomic(dot, summary.to_dot().as_bytes())?;
        log::info!(
            "wrote the layer graph to {} (render it with: dot -Tpng)",
            dot.display()
        );
    }
    Ok(())
}
