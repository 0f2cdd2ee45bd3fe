//! `brain-integration`: the prediction service. Starts with no setup at all (in-memory cache,
//! built-in synthetic league); see [`brain_integration::settings`] for the variables.

use std::io::IsTerminal;
use std::process::ExitCode;

use brain_integration::settings::{Settings, load_environment};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let vars = match load_environment() {
        Ok(vars) => vars,
        Err(e) => {
            eprintln!("brain-integration: {e}");
            return ExitCode::from(2);
        }
    };
    let filter = vars
        .iter()
        .rev()
        .find(|(k, _)| k == "RUST_LOG")
        .and_then(|(_, v)| EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    // Colour only for a person at a terminal: a file or a log collector gets plain text.
    let colour = std::io::stdout().is_terminal() && !vars.iter().any(|(k, _)| k == "NO_COLOR");
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(colour)
        .init();
    let settings = match Settings::from_vars(vars) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("brain-integration: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("brain-integration: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(brain_integration::app::run(settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("brain-integration: {e}");
            ExitCode::FAILURE
        }
    }
}
