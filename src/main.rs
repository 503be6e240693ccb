//! The `kadi` command: parses arguments (src/cli/) and calls the library. Nothing else lives here.
mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // Everything kadi creates is private (database, WAL, key file, PNGs), whatever umask it was
    // started with; fsx also sets modes explicitly.
    unsafe { libc::umask(0o077) };
    // glibc gives every thread that allocates its own heap arena (up to 8 per core); memory
    // freed in one is not reused by another. Records prepared on rayon's threads and the main
    // thread's pass then held separate heaps: two arenas cut the peak of resolving 50,000
    // records from 137 to 124 MB at the same speed (a clinic box has 1-2 GB).
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2)
    };
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
