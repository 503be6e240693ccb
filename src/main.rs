//! The `kadi` command: sets the process's allocator (src/alloc.rs), parses arguments (src/cli/)
//! and calls the library. Nothing else lives here.
mod alloc;
mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // Everything kadi creates is private (database, WAL, key file, PNGs), whatever umask it was
    // started with; fsx also sets modes explicitly.
    unsafe { libc::umask(0o077) };
    // Before SQLite's first use (src/alloc.rs).
    alloc::configure_sqlite();
    let result = cli::Cli::parse().run();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if kadi::output::is_stdout_closed(&e) {
                // `kadi ... --json | head -c1`: the reader had enough; not a failure.
                return ExitCode::SUCCESS;
            }
            if let Some(r) = e.downcast_ref::<kadi::output::AlreadyReported>() {
                return ExitCode::from(r.0.clamp(1, 255) as u8);
            }
            eprintln!("kadi: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
