//! `brotli`: Brotli behind `wharf:compression@1.0.0`, on the pure-Rust `brotli` crate.
//! A second implementation of the contract beside `flate`, so that a deploy manifest
//! has a real choice of compressor.

use std::io::{Read, Write};

wit_bindgen::generate!({
    inline: "
        package wharf:brotli@1.0.0;
        world brotli {
            export wharf:compression/types@1.0.0;
            export wharf:compression/codec@1.0.0;
        }
    ",
    path: ["../../wit-packages/compression/1.0.0"],
    generate_all,
});

use exports::wharf::compression::codec::Guest as Codec;
use exports::wharf::compression::types::{Error, Format};

/// Quality 0-11; 5 is the trade-off HTTP servers commonly pick for dynamic responses.
const DEFAULT_QUALITY: u32 = 5;
/// Window size as log2 bytes; 22 (4 MiB) is the format's usual default.
const WINDOW_BITS: u32 = 22;
const BUFFER_SIZE: usize = 4096;

struct Brotli;

impl Codec for Brotli {
    fn supported_formats() -> Vec<Format> {
        vec![Format::Brotli]
    }

    fn compress(format: Format, level: Option<u32>, data: Vec<u8>) -> Result<Vec<u8>, Error> {
        only_brotli(format)?;
        let quality = match level {
            None => DEFAULT_QUALITY,
            Some(level @ 0..=11) => level,
            Some(level) => return Err(Error::InvalidLevel(level)),
        };
        let mut out = Vec::with_capacity(data.len() / 2);
        {
            let mut writer =
                brotli_codec::CompressorWriter::new(&mut out, BUFFER_SIZE, quality, WINDOW_BITS);
            writer
                .write_all(&data)
                .map_err(|e| Error::CorruptInput(e.to_string()))?;
        }
        Ok(out)
    }

    fn decompress(format: Format, data: Vec<u8>, max_output: u64) -> Result<Vec<u8>, Error> {
        only_brotli(format)?;
        // Cap the reader one byte past the limit: a bomb costs at most `max_output + 1` bytes.
        let mut out = Vec::new();
        brotli_codec::Decompressor::new(&data[..], BUFFER_SIZE)
            .take(max_output.saturating_add(1))
            .read_to_end(&mut out)
            .map_err(|e| Error::CorruptInput(e.to_string()))?;
        if out.len() as u64 > max_output {
            return Err(Error::OutputTooLarge(max_output));
        }
        Ok(out)
    }
}

fn only_brotli(format: Format) -> Result<(), Error> {
    match format {
        Format::Brotli => Ok(()),
        other => Err(Error::UnsupportedFormat(other)),
    }
}

export!(Brotli);
