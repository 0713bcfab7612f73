//! The `pushgate` binary: parse flags and the web configuration file, replay the persistence log,
//! bind, serve until asked to stop, make the log durable.

use std::path::Path;
use std::process::ExitCode;

use pushgate::config::{self, Command, Config};
use pushgate::log::Logger;
use pushgate::net::server::{Server, ServerConfig};
use pushgate::persist::{Options, Persist};
use pushgate::store::Store;
use pushgate::version;
use pushgate::web::app::App;
use pushgate::web::webconfig::{self, Build, WebConfig};

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
    match run(cfg, log) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log.error("exiting", &[("err", &e)]);
            ExitCode::FAILURE
        }
    }
}

fn run(cfg: Config, log: Logger) -> Result<(), String> {
    // Taken before anything is opened: the descriptors systemd passes are the first ones.
    let activated = cfg
        .systemd_socket
        .then(pushgate::net::systemd::listeners)
        .transpose()
        .map_err(|e| format!("--web.systemd-socket: {e}"))?;
    let web = match &cfg.web_config_file {
        Some(file) => webconfig::load(Path::new(file))
            .and_then(|web| web.check_build(Build::THIS).map(|()| web))
            .map_err(|e| format!("--web.config.file: {e}"))?,
        None => WebConfig::default(),
    };
    // Certificates are read before the log is touched: a start that fails leaves no trace.
    #[cfg(feature = "tls")]
    let tls = web
        .tls
        .as_ref()
        .map(pushgate::net::tls::server_config)
        .transpose()
        .map_err(|e| format!("--web.config.file: {e}"))?;
    // Replayed before the listener exists: no request sees a partial state, and a log we
    // must not touch stops us before anyone could push.
    let mut store = Store::with_default_ttl(cfg.group_ttl.as_secs_f64());
    let persist = match &cfg.persistence_file {
        Some(file) => {
            let opts = Options {
                path: file.into(),
                fsync: cfg.persistence_fsync,
                interval: cfg.persistence_interval,
                recover_truncate: cfg.persistence_recover_truncate,
            };
            Some(Persist::open(opts, &mut store, log)?)
        }
        None => None,
    };
    let server_cfg = ServerConfig {
        max_body_bytes: cfg.max_body_bytes,
        max_inflight_bytes: cfg.max_inflight_bytes(),
        max_connections: cfg.max_connections,
        max_connections_per_ip: cfg.max_connections_per_ip,
        first_request_timeout: cfg.first_request_timeout,
        read_timeout: cfg.read_timeout,
        idle_timeout: cfg.idle_timeout,
        #[cfg(feature = "tls")]
        tls,
        ..ServerConfig::default()
    };
    let mut server = if let Some(listeners) = activated {
        Server::on(listeners, server_cfg).map_err(|e| format!("--web.systemd-socket: {e}"))?
    } else {
        Server::bind(&cfg.listen_addresses, server_cfg)
            .map_err(|e| format!("cannot listen on {:?}: {e}", cfg.listen_addresses))?
    };
    log.info("starting pushgate", &[("version", &version::VERSION)]);
    for addr in server.local_addrs() {
        log.info("listening", &[("address", addr)]);
    }
    let mut app = App::new(cfg, log, store, persist).with_web_config(&web);
    let served = server.run(&mut app).map_err(|e| e.to_string());
    // Even when the reactor failed: what was acknowledged must reach the disk.
    app.close()?;
    served?;
    log.info("stopped", &[]);
    Ok(())
}
