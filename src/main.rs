//! esoutliers binary: parse the command line, set up logging, run, map the exit status.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = esoutliers::cli::Cli::parse();
    esoutliers::app::init_logging(cli.verbose, cli.quiet);
    let status = esoutliers::app::main(cli);
    std::process::ExitCode::from(status as u8)
}
