//! `hmac-gateway` binary: everything lives in the library.

fn main() -> std::process::ExitCode {
    hmac_gateway::cli::main()
}
