//! `qm`: parse the command line and hand over to the library.

/// mimalloc rather than glibc's malloc: a page allocates a few hundred small
/// strings and frees them at once, which glibc's arenas spend a fifth of a
/// page's CPU on (`scripts/bench --bench station`, profiled with perf).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    quartermaster::cli::main()
}
