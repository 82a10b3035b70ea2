//! The `gameday` binary: all behaviour lives in the library; this only turns
//! the command line into an exit code.

fn main() {
    gameday::tls::init();
    std::process::exit(gameday::cli::main());
}
