//! genvm-policy-mlua: the project's Lua runtime under mlua 0.10.3 with Lua 5.3, the
//! embedding GenVM's LLM module uses (GENVM.md §2).
//!
//! Usage:
//!   genvm-policy-mlua vectors DISPATCH FILE...   replay vector files through
//!       DISPATCH/vectors/verify.lua; the last line is `N passed, M failed`;
//!       exit 0 only when nothing failed and a case ran.
//!   genvm-policy-mlua serve DISPATCH             answer framed calls on stdin (serve.rs).
//!   genvm-policy-mlua host SCENARIO...           run each hook scenario under the
//!       GenVM-shaped host; one JSON report per line on stdout.
//!   genvm-policy-mlua bench SCENARIO STARTS CALLS  time VM start and entry-point calls.

mod host;
mod sandbox;
mod serve;
mod vectors;

use std::path::Path;
use std::process::ExitCode;

const USAGE: &str = "usage: genvm-policy-mlua vectors DISPATCH FILE... | serve DISPATCH | \
host SCENARIO... | bench SCENARIO STARTS CALLS";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("vectors") if args.len() >= 2 => {
            vectors::verify(Path::new(&args[1]), &args[2..]).map_err(|e| e.to_string())
        }
        Some("serve") if args.len() == 2 => serve::serve(&args[1]).map(|()| true).map_err(|e| e.to_string()),
        Some("host") if args.len() >= 2 => host::run_files(&args[1..]),
        Some("bench") if args.len() == 4 => host::bench(&args[1], &args[2], &args[3]),
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(message) => {
            eprintln!("genvm-policy-mlua: {message}");
            ExitCode::from(2)
        }
    }
}
