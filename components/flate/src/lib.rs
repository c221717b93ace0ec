//! `flate`: gzip, raw DEFLATE and zlib behind `wharf:compression@1.1.0`, on flate2's
//! pure-Rust miniz_oxide backend (no C toolchain needed for wasm32-wasip2).

use std::io::{self, Read, Write};

use flate2::Compression;
use flate2::read::{DeflateDecoder, GzDecoder, ZlibDecoder};
use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};

wit_bindgen::generate!({
    inline: "
        package wharf:flate@1.1.0;
        world flate {
            export wharf:compression/types@1.1.0;
            export wharf:compression/codec@1.1.0;
            export wharf:compression/streaming@1.1.0;
            /// Grows the heap to what a call needs: run once by a pre-initializer
            /// (Wharf's host, wasmtime-wizer), never needed for correct answers.
            export wizer-initialize: func();
        }
    ",
    path: ["../../wit-packages/compression/1.1.0"],
    generate_all,
});

use exports::wharf::compression::codec::Guest as Codec;
use exports::wharf::compression::streaming::{Guest as Streaming, GuestEncoder};
use exports::wharf::compression::types::{Error, Format};

const FORMATS: [Format; 3] = [Format::Gzip, Format::Deflate, Format::Zlib];

struct Flate;

impl Guest for Flate {
    /// A compressor's state is about 300 KiB, more than the heap an instance starts
    /// with: without this, every fresh instance would grow its memory five times per
    /// call (each growth a remap in the host and zeroed pages to fault in). One
    /// compress and one decompress here leave that much free heap in the snapshot.
    fn wizer_initialize() {
        let sample = b"{\"warm\": \"the heap, once, for every instance of the snapshot\"}".repeat(16);
        let packed = Flate::compress(Format::Gzip, None, sample.clone())
            .expect("compressing a sample");
        let unpacked = Flate::decompress(Format::Gzip, packed, sample.len() as u64)
            .expect("decompressing the sample");
        assert_eq!(unpacked, sample, "the sample round-trips");
    }
}

impl Codec for Flate {
    fn supported_formats() -> Vec<Format> {
        FORMATS.to_vec()
    }

    fn compress(format: Format, level: Option<u32>, data: Vec<u8>) -> Result<Vec<u8>, Error> {
        let mut encoder = Encoder::open(format, level)?;
        let mut out = encoder.write(&data)?;
        out.extend(encoder.finish()?);
        Ok(out)
    }

    fn decompress(format: Format, data: Vec<u8>, max_output: u64) -> Result<Vec<u8>, Error> {
        match format {
            Format::Gzip => read_bounded(GzDecoder::new(&data[..]), max_output),
            Format::Deflate => read_bounded(DeflateDecoder::new(&data[..]), max_output),
            Format::Zlib => read_bounded(ZlibDecoder::new(&data[..]), max_output),
            Format::Brotli => Err(Error::UnsupportedFormat(format)),
        }
    }
}

/// Reads all of `decoder`, but never more than `max_output` bytes: the reader is capped
/// one byte past the limit, so a bomb costs at most `max_output + 1` bytes of memory.
fn read_bounded(decoder: impl Read, max_output: u64) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    decoder
        .take(max_output.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(corrupt)?;
    if out.len() as u64 > max_output {
        return Err(Error::OutputTooLarge(max_output));
    }
    Ok(out)
}

fn corrupt(err: io::Error) -> Error {
    Error::CorruptInput(err.to_string())
}

/// A streaming encoder over a growable buffer that is drained after every write.
enum Encoder {
    Gzip(GzEncoder<Vec<u8>>),
    Deflate(DeflateEncoder<Vec<u8>>),
    Zlib(ZlibEncoder<Vec<u8>>),
}

impl Encoder {
    fn open(format: Format, level: Option<u32>) -> Result<Self, Error> {
        let level = match level {
            None => Compression::default(),
            Some(level @ 0..=9) => Compression::new(level),
            Some(level) => return Err(Error::InvalidLevel(level)),
        };
        Ok(match format {
            Format::Gzip => Self::Gzip(GzEncoder::new(Vec::new(), level)),
            Format::Deflate => Self::Deflate(DeflateEncoder::new(Vec::new(), level)),
            Format::Zlib => Self::Zlib(ZlibEncoder::new(Vec::new(), level)),
            Format::Brotli => return Err(Error::UnsupportedFormat(format)),
        })
    }

    fn write(&mut self, chunk: &[u8]) -> Result<Vec<u8>, Error> {
        let buffer = match self {
            Self::Gzip(e) => e.write_all(chunk).map(|()| e.get_mut()),
            Self::Deflate(e) => e.write_all(chunk).map(|()| e.get_mut()),
            Self::Zlib(e) => e.write_all(chunk).map(|()| e.get_mut()),
        }
        .map_err(corrupt)?;
        Ok(std::mem::take(buffer))
    }

    fn finish(self) -> Result<Vec<u8>, Error> {
        match self {
            Self::Gzip(e) => e.finish(),
            Self::Deflate(e) => e.finish(),
            Self::Zlib(e) => e.finish(),
        }
        .map_err(corrupt)
    }
}

/// The exported resource: the encoder behind a `RefCell`, since WIT methods take `&self`.
struct StreamEncoder(std::cell::RefCell<Encoder>);

impl GuestEncoder for StreamEncoder {
    fn open(
        format: Format,
        level: Option<u32>,
    ) -> Result<exports::wharf::compression::streaming::Encoder, Error> {
        let encoder = Encoder::open(format, level)?;
        Ok(exports::wharf::compression::streaming::Encoder::new(
            StreamEncoder(encoder.into()),
        ))
    }

    fn write(&self, chunk: Vec<u8>) -> Result<Vec<u8>, Error> {
        self.0.borrow_mut().write(&chunk)
    }

    fn finish(this: exports::wharf::compression::streaming::Encoder) -> Result<Vec<u8>, Error> {
        this.into_inner::<StreamEncoder>().0.into_inner().finish()
    }
}

impl Streaming for Flate {
    type Encoder = StreamEncoder;
}

export!(Flate);
