//! Running the gateway a command line asks for: read the web configuration file and the
//! certificates it names, replay the persistence log, bind, serve until asked to stop, make
//! the log durable. The order is the point: every step that can refuse to start comes before
//! the ones that leave a trace or let a client in.

use std::path::Path;

use crate::config::Config;
use crate::log::Logger;
use crate::net::server::{Server, ServerConfig};
use crate::persist::{Options, Persist};
use crate::store::Store;
use crate::version;
use crate::web::app::App;
use crate::webconfig::{self, Build, WebConfig};

/// Serves until asked to stop; the error says why the gateway would not start or stopped
/// serving.
pub fn run(cfg: Config, log: Logger) -> Result<(), String> {
    // Taken before anything is opened: the descriptors systemd passes are the first ones.
    let activated = cfg
        .systemd_socket
        .then(crate::net::systemd::listeners)
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
        .map(crate::net::tls::server_config)
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
