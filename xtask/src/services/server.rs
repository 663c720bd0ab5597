//! `Server`: what `cargo xtask services` does with one server. Each
//! service's module implements it once (install, start command,
//! readiness, checks); the generic code in `services` drives all four
//! alike through `services::server`, the one place that maps a
//! [`Service`] to its implementation (there, so that this trait depends
//! on no service module).

use anyhow::Result;
use std::process::Command;

use xtask::test_servers::Service;

use super::{Ctx, tls};

/// One managed server. Defaults are what most servers do.
pub(crate) trait Server: Sync {
    /// The service this server implements.
    fn service(&self) -> Service;

    /// A label for messages: the service and the server behind it.
    fn label(&self) -> &'static str;

    /// Installs the server into the services folder (once; a second call
    /// finds it there).
    fn install(&self, ctx: &Ctx) -> Result<()>;

    /// The command that runs the server in the foreground.
    fn command(&self, ctx: &Ctx) -> Result<Command>;

    /// Whether the server xtask started answers as it should.
    fn ready(&self, ctx: &Ctx) -> Result<()>;

    /// Readiness of a server xtask did not start (no ready file, ...).
    fn probe_external(&self, ctx: &Ctx) -> Result<()> {
        self.ready(ctx)
    }

    /// Set-up once the server is ready (users, databases).
    fn after_start(&self, _ctx: &Ctx) -> Result<()> {
        Ok(())
    }

    /// `services check`: a write and a read back, tagged with `token`.
    fn check(&self, ctx: &Ctx, token: &str) -> Result<String>;

    /// The TLS check: through the TLS front end unless the server speaks
    /// TLS itself.
    fn check_tls(&self, ctx: &Ctx) -> Result<String> {
        tls::check(ctx, self.service())
    }

    /// The signal that stops the server cleanly, and whether it goes to
    /// the whole process group.
    fn stop_signal(&self) -> (&'static str, bool) {
        ("TERM", true)
    }

    /// Settings the server is started with besides its URL, recorded next
    /// to its pid (a change means a restart).
    fn started_with(&self) -> &'static str {
        ""
    }

    /// Whether the server's log shows a start-up failure although the
    /// process lives on.
    fn failed_in_log(&self, _log_tail: &str) -> bool {
        false
    }
}

/// Declares a service module's server: the unit struct `$name` and its
/// [`Server`] impl, whose `install`, `command`, `ready` and `check` are
/// the module's functions of those names (every module has them), plus
/// the overrides given in braces. Expanded in the module, so those names,
/// `Ctx`, `Command` and `Service` are the module's.
macro_rules! managed_server {
    ($name:ident: $service:expr, $label:literal { $($overrides:tt)* }) => {
        /// This server for `services::server`.
        pub(crate) struct $name;

        impl super::server::Server for $name {
            fn service(&self) -> Service {
                $service
            }

            fn label(&self) -> &'static str {
                $label
            }

            fn install(&self, ctx: &Ctx) -> Result<()> {
                install(ctx)
            }

            fn command(&self, ctx: &Ctx) -> Result<Command> {
                command(ctx)
            }

            fn ready(&self, ctx: &Ctx) -> Result<()> {
                ready(ctx)
            }

            fn check(&self, ctx: &Ctx, token: &str) -> Result<String> {
                check(ctx, token)
            }

            $($overrides)*
        }
    };
}
pub(crate) use managed_server;
