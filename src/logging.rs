//! Log lines that read like sentences: no timestamps or module paths, info
//! by default, `RUST_LOG` to change the level.

use std::io::Write;

use log::Level;

/// Sends `log` records to stderr: info lines as they are, others prefixed
/// with their level ("warning: ...").
pub fn init() {
    let env = env_logger::Env::default().default_filter_or("info");
    env_logger::Builder::from_env(env)
        .format(|out, record| match record.level() {
            Level::Info => writeln!(out, "{}", record.args()),
            Level::Warn => writeln!(out, "warning: {}", record.args()),
            Level::Error => writeln!(out, "error: {}", record.args()),
            level => writeln!(out, "{}: {}", level.as_str().to_lowercase(), record.args()),
        })
        .init();
}
