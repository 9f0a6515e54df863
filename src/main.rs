//! The `kask` command: a thin front end over the library.

fn main() -> std::process::ExitCode {
    kask::cli::main(std::env::args().skip(1)).into()
}
