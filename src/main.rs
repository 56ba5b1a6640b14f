//! `hmac-gateway` binary: everything lives in the library.

// jemalloc, configured in .cargo/config.toml to hand idle pages back to the
// OS: idle connections and the memory a burst leaves behind then cost what
// they hold, not what glibc's malloc retains (docs/performance.md).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    hmac_gateway::cli::main()
}
