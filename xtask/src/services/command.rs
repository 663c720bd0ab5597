//! The command line of `cargo xtask services` (clap derive): its
//! subcommands and the server names they take.

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Subcommand};
use xtask::test_servers::Service;

/// The commands of `cargo xtask services`.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum ServicesCommand {
    /// Install (once) and start servers, wait until ready (all if no NAME)
    Up(Names),
    /// Stop servers that `up` started (by recorded pid; all if no NAME)
    Down(Names),
    /// Each server and the TLS front end: state, pid, URL
    Status,
    /// Tail of the servers' install and server logs (all and stunnel's if
    /// no NAME)
    Logs(Names),
    /// One write and one read on each server through its own protocol, and
    /// one verified TLS exchange with each TLS endpoint
    Check,
    /// Start (like up) and wait until ready
    Start(SomeNames),
    /// Stop (like down); refuses a server `up` did not start
    Stop(SomeNames),
    /// Stop, then start and wait until ready
    Restart(SomeNames),
    /// SIGSTOP the server's process group and every descendant (it keeps
    /// its connections open and answers nothing: a hung server)
    Pause(SomeNames),
    /// SIGCONT what `pause` stopped
    Resume(SomeNames),
    /// Print `export UDS3_...=...` lines: eval "$(cargo xtask services env)"
    Env,
}

/// Servers named, all of them if none.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct Names {
    /// A server: neo4j is Neo4j 5.26 Community, couch is pouchdb-server
    #[arg(value_name = "NAME", value_parser = service_name())]
    names: Vec<Service>,
}

/// At least one server named.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct SomeNames {
    /// A server: neo4j is Neo4j 5.26 Community, couch is pouchdb-server
    #[arg(value_name = "NAME", value_parser = service_name(), required = true)]
    names: Vec<Service>,
}

impl Names {
    /// The servers named, each once, in order; all if none.
    pub fn services(&self) -> Vec<Service> {
        if self.names.is_empty() {
            Service::ALL.to_vec()
        } else {
            once_each(&self.names)
        }
    }
}

impl SomeNames {
    /// The servers named, each once, in order.
    pub fn services(&self) -> Vec<Service> {
        once_each(&self.names)
    }
}

fn once_each(names: &[Service]) -> Vec<Service> {
    let mut out = Vec::new();
    for &s in names {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// A service's name on the command line (`Service::name`).
fn service_name() -> impl TypedValueParser<Value = Service> {
    PossibleValuesParser::new(Service::ALL.map(Service::name)).try_map(|name| {
        Service::from_name(&name).ok_or_else(|| format!("unknown service {name:?}"))
    })
}
