//! `tf-netfault agent`: the link fault helper's main process.
//! `tf-netfault ctl '<request json>'`: one request to it; prints the answer.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use tf_netfault::{SOCKET, agent};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let socket = std::env::var("TF_NETFAULT_SOCKET").unwrap_or_else(|_| SOCKET.into());
    match args.first().map(String::as_str) {
        Some("agent") => match agent::Agent::default().serve(Path::new(&socket)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("tf-netfault: cannot listen at {socket}: {e}");
                ExitCode::FAILURE
            }
        },
        Some("ctl") if args.len() == 2 => {
            match agent::ctl(Path::new(&socket), &args[1], Duration::from_secs(10)) {
                Ok(answer) => {
                    print!("{answer}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("tf-netfault: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        _ => {
            eprintln!(
                "usage: tf-netfault agent | tf-netfault ctl '<request as JSON>'\n\
                 The framework's link fault helper; deployers start it next to a node."
            );
            ExitCode::from(2)
        }
    }
}
