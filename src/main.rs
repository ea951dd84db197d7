//! The `dropcast` binary: parse the command line, set up logging, hand over to the library.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = dropcast::cli::Cli::parse();
    dropcast::cli::init_logging(cli.log_format);
    dropcast::cli::main(cli)
}
