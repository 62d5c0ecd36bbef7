//! `lime decode`: a LIME TCP byte stream in, canonical JSON lines out.

use std::{
    fs::File,
    io::{self, BufWriter, Read, Write},
    path::PathBuf,
    process::ExitCode,
};

use lime::{EnvelopeDecoder, FrameError, DEFAULT_MAX_ENVELOPE_SIZE};

/// Arguments of `lime decode`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The capture to read; standard input when absent or `-`.
    file: Option<PathBuf>,
    /// Largest accepted envelope, in bytes.
    #[arg(long, default_value_t = DEFAULT_MAX_ENVELOPE_SIZE)]
    max_envelope_size: usize,
}

enum Failure {
    Io(String),
    Stream(FrameError),
}

pub(crate) fn run(args: &Args) -> ExitCode {
    let input: Box<dyn Read> = match args.file.as_deref() {
        None => Box::new(io::stdin().lock()),
        Some(p) if p.as_os_str() == "-" => Box::new(io::stdin().lock()),
        Some(p) => match File::open(p) {
            Ok(f) => Box::new(f),
            Err(e) => {
                eprintln!("lime decode: cannot open {}: {e}", p.display());
                return ExitCode::from(1);
            }
        },
    };
    let stdout = io::stdout().lock();
    let mut out = BufWriter::with_capacity(64 * 1024, stdout);
    let result = decode(input, &mut out, args.max_envelope_size);
    let flushed = out.flush();
    match (result, flushed) {
        (Ok(()), Ok(())) => ExitCode::SUCCESS,
        (Err(Failure::Stream(e)), _) => {
            eprintln!("lime decode: {e}");
            ExitCode::from(2)
        }
        (Err(Failure::Io(e)), _) => {
            eprintln!("lime decode: {e}");
            ExitCode::from(1)
        }
        (Ok(()), Err(e)) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        (Ok(()), Err(e)) => {
            eprintln!("lime decode: cannot write output: {e}");
            ExitCode::from(1)
        }
    }
}

fn decode(mut input: impl Read, out: &mut impl Write, max: usize) -> Result<(), Failure> {
    let mut decoder = EnvelopeDecoder::with_max_envelope_size(max);
    let mut chunk = vec![0u8; 64 * 1024];
    let mut line = Vec::with_capacity(1024);
    loop {
        let n = match input.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Failure::Io(format!("cannot read input: {e}"))),
        };
        decoder.push(&chunk[..n]);
        while let Some((_, env)) = decoder.next_envelope().map_err(Failure::Stream)? {
            line.clear();
            env.write_json(&mut line);
            line.push(b'\n');
            if let Err(e) = out.write_all(&line) {
                if e.kind() == io::ErrorKind::BrokenPipe {
                    return Ok(());
                }
                return Err(Failure::Io(format!("cannot write output: {e}")));
            }
        }
    }
    decoder.finish().map_err(Failure::Stream)
}
