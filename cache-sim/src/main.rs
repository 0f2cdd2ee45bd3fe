//! `cache-sim`: the stampede simulator's command line (see `cache-sim help`).

fn main() {
    if let Err(message) = cache_sim::run_cli(std::env::args().skip(1).collect()) {
        eprintln!("error: {message}");
        std::process::exit(2);
    }
}
