//! `tf-reaper RUN`: the compose deployer's reaper, run in a container of
//! its own beside run `RUN`'s nodes. See `tf_compose::reaper`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(run), None) = (args.next(), args.next()) else {
        eprintln!(
            "usage: {} RUN\nstarted by the compose deployer, one per run; not meant to be run by hand",
            tf_compose::reaper::BINARY
        );
        return ExitCode::from(2);
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cannot start a runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(tf_compose::reaper::serve(&run)) {
        Ok(lines) => {
            lines.iter().for_each(|line| eprintln!("{line}"));
            ExitCode::SUCCESS
        }
        Err(why) => {
            eprintln!("{why}");
            ExitCode::FAILURE
        }
    }
}
