//! The `pushgate` binary: parse flags, answer `--help` and `--version`, run the gateway with its
//! logger, turn the outcome into an exit code.

use std::process::ExitCode;

use pushgate::config::{self, Command};
use pushgate::log::Logger;
use pushgate::{gateway, version};

fn main() -> ExitCode {
    let cfg = match config::parse(std::env::args().skip(1)) {
        Ok(Command::Run(cfg)) => *cfg,
        Ok(Command::Help) => {
            print!("{}", config::usage());
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            print!("{}", version::print());
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("pushgate: {e}");
            return ExitCode::from(2);
        }
    };
    let log = Logger::new(cfg.log_level, cfg.log_format);
    match gateway::run(cfg, log) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log.error("exiting", &[("err", &e)]);
            ExitCode::FAILURE
        }
    }
}
