//! `flate` and `brotli` against `wharf:compression`: round trips, interoperability with
//! the native codecs, levels, corrupt input, and decompression bombs refused within a
//! small memory cap instead of trapping.

mod common;

use std::io::{Read, Write};

use common::Host;
use wasmtime::{Store, StoreLimits, StoreLimitsBuilder};

use common::bindings::brotli as v1_0;
use common::bindings::flate as v1_1;
use v1_1::exports::wharf::compression::types::{Error, Format};

struct Limited {
    host: Host,
    limits: StoreLimits,
}

/// A store whose instance may grow its memory to `max_memory` bytes at most.
fn limited_store(max_memory: usize) -> (Store<Limited>, wasmtime::component::Linker<Limited>) {
    let limits = StoreLimitsBuilder::new().memory_size(max_memory).build();
    let mut store = Store::new(
        common::engine(),
        Limited {
            host: Host::with_env(&[]),
            limits,
        },
    );
    store.limiter(|s| &mut s.limits);
    let mut linker = wasmtime::component::Linker::new(common::engine());
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).unwrap();
    (store, linker)
}

impl wasmtime_wasi::WasiView for Limited {
    fn ctx(&mut self) -> wasmtime_wasi::WasiCtxView<'_> {
        self.host.ctx()
    }
}

fn flate() -> (Store<Limited>, v1_1::Flate) {
    let (mut store, linker) = limited_store(64 << 20);
    let flate = v1_1::Flate::instantiate(&mut store, &common::bundled("flate"), &linker).unwrap();
    (store, flate)
}

fn brotli() -> (Store<Limited>, v1_0::Brotli) {
    let (mut store, linker) = limited_store(64 << 20);
    let brotli =
        v1_0::Brotli::instantiate(&mut store, &common::bundled("brotli"), &linker).unwrap();
    (store, brotli)
}

/// Inputs of different shapes: empty, short text, repetitive JSON, incompressible bytes.
fn samples() -> Vec<Vec<u8>> {
    let json = br#"{"id":42,"name":"wharf","tags":["wasm","registry"]}"#.repeat(2000);
    let mut noise = vec![0u8; 100_000];
    let mut x: u32 = 0x9e37_79b9;
    for b in &mut noise {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    vec![Vec::new(), b"hello, wharf".to_vec(), json, noise]
}

fn native_decode(format: Format, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match format {
        Format::Gzip => flate2::read::GzDecoder::new(data).read_to_end(&mut out),
        Format::Deflate => flate2::read::DeflateDecoder::new(data).read_to_end(&mut out),
        Format::Zlib => flate2::read::ZlibDecoder::new(data).read_to_end(&mut out),
        Format::Brotli => brotli::Decompressor::new(data, 4096).read_to_end(&mut out),
    }
    .unwrap();
    out
}

fn native_encode(format: Format, data: &[u8]) -> Vec<u8> {
    let level = flate2::Compression::default();
    match format {
        Format::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), level);
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        Format::Deflate => {
            let mut e = flate2::write::DeflateEncoder::new(Vec::new(), level);
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        Format::Zlib => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), level);
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        Format::Brotli => {
            let mut out = Vec::new();
            brotli::CompressorWriter::new(&mut out, 4096, 5, 22)
                .write_all(data)
                .unwrap();
            out
        }
    }
}

#[test]
fn each_implementation_lists_its_formats() {
    let (mut store, flate) = flate();
    let formats = flate
        .wharf_compression_codec()
        .call_supported_formats(&mut store)
        .unwrap();
    assert_eq!(formats, [Format::Gzip, Format::Deflate, Format::Zlib]);

    let (mut store, brotli) = brotli();
    let formats = brotli
        .wharf_compression_codec()
        .call_supported_formats(&mut store)
        .unwrap();
    assert_eq!(formats.len(), 1);
    assert!(matches!(
        formats[0],
        v1_0::exports::wharf::compression::types::Format::Brotli
    ));
}

#[test]
fn flate_round_trips_and_interoperates_with_native_flate2() {
    let (mut store, flate) = flate();
    let codec = flate.wharf_compression_codec();
    for format in [Format::Gzip, Format::Deflate, Format::Zlib] {
        for data in samples() {
            for level in [None, Some(0), Some(1), Some(9)] {
                let packed = codec
                    .call_compress(&mut store, format, level, &data)
                    .unwrap()
                    .unwrap();
                assert_eq!(
                    native_decode(format, &packed),
                    data,
                    "{format:?} level {level:?}"
                );
                let unpacked = codec
                    .call_decompress(&mut store, format, &packed, data.len() as u64)
                    .unwrap()
                    .unwrap();
                assert_eq!(unpacked, data);
            }
            let native = native_encode(format, &data);
            let unpacked = codec
                .call_decompress(&mut store, format, &native, u64::MAX)
                .unwrap()
                .unwrap();
            assert_eq!(unpacked, data, "{format:?} from native flate2");
        }
    }
}

#[test]
fn brotli_round_trips_and_interoperates_with_native_brotli() {
    use v1_0::exports::wharf::compression::types::Format as F;
    let (mut store, brotli) = brotli();
    let codec = brotli.wharf_compression_codec();
    for data in samples() {
        for level in [None, Some(0), Some(11)] {
            let packed = codec
                .call_compress(&mut store, F::Brotli, level, &data)
                .unwrap()
                .unwrap();
            assert_eq!(
                native_decode(Format::Brotli, &packed),
                data,
                "level {level:?}"
            );
        }
        let native = native_encode(Format::Brotli, &data);
        let unpacked = codec
            .call_decompress(&mut store, F::Brotli, &native, u64::MAX)
            .unwrap()
            .unwrap();
        assert_eq!(unpacked, data);
    }
}

#[test]
fn repetitive_json_gets_much_smaller() {
    let json = &samples()[2];
    let (mut store, flate) = flate();
    let packed = flate
        .wharf_compression_codec()
        .call_compress(&mut store, Format::Gzip, None, json)
        .unwrap()
        .unwrap();
    assert!(
        packed.len() * 20 < json.len(),
        "{} -> {}",
        json.len(),
        packed.len()
    );
}

#[test]
fn levels_out_of_range_are_refused() {
    let (mut store, flate) = flate();
    let result = flate
        .wharf_compression_codec()
        .call_compress(&mut store, Format::Gzip, Some(10), b"x")
        .unwrap();
    assert_eq!(result, Err(Error::InvalidLevel(10)));

    use v1_0::exports::wharf::compression::types::{Error as E, Format as F};
    let (mut store, brotli) = brotli();
    let result = brotli
        .wharf_compression_codec()
        .call_compress(&mut store, F::Brotli, Some(12), b"x")
        .unwrap();
    assert!(matches!(result, Err(E::InvalidLevel(12))));
}

#[test]
fn formats_an_implementation_lacks_are_refused_by_name() {
    let (mut store, flate) = flate();
    let codec = flate.wharf_compression_codec();
    let result = codec
        .call_compress(&mut store, Format::Brotli, None, b"x")
        .unwrap();
    assert_eq!(result, Err(Error::UnsupportedFormat(Format::Brotli)));

    use v1_0::exports::wharf::compression::types::{Error as E, Format as F};
    let (mut store, brotli) = brotli();
    let result = brotli
        .wharf_compression_codec()
        .call_decompress(&mut store, F::Gzip, b"x", 10)
        .unwrap();
    assert!(matches!(result, Err(E::UnsupportedFormat(F::Gzip))));
}

#[test]
fn corrupt_input_is_an_error_not_a_trap() {
    let (mut store, flate) = flate();
    let codec = flate.wharf_compression_codec();
    for format in [Format::Gzip, Format::Zlib] {
        let result = codec
            .call_decompress(&mut store, format, b"definitely not compressed", 1 << 20)
            .unwrap();
        assert!(
            matches!(result, Err(Error::CorruptInput(_))),
            "{format:?}: {result:?}"
        );
    }
    // A truncated stream is corrupt too.
    let packed = native_encode(Format::Gzip, &samples()[2]);
    let result = codec
        .call_decompress(
            &mut store,
            Format::Gzip,
            &packed[..packed.len() / 2],
            1 << 30,
        )
        .unwrap();
    assert!(matches!(result, Err(Error::CorruptInput(_))), "{result:?}");

    use v1_0::exports::wharf::compression::types::{Error as E, Format as F};
    let (mut store, brotli) = brotli();
    let result = brotli
        .wharf_compression_codec()
        .call_decompress(&mut store, F::Brotli, &[0xff; 64], 1 << 20)
        .unwrap();
    assert!(matches!(result, Err(E::CorruptInput(_))));
}

/// 256 MiB of zeros packs into a few hundred KiB. Decompressed with a 1 MiB limit in an
/// instance that may not grow past 16 MiB of memory, it must fail with
/// `output-too-large`, not trap for lack of memory.
#[test]
fn decompression_bombs_are_refused_within_a_small_memory_cap() {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..256 {
        encoder.write_all(&zeros).unwrap();
    }
    let bomb = encoder.finish().unwrap();
    assert!(bomb.len() < 1 << 20);

    let (mut store, linker) = limited_store(16 << 20);
    let flate = v1_1::Flate::instantiate(&mut store, &common::bundled("flate"), &linker).unwrap();
    let result = flate
        .wharf_compression_codec()
        .call_decompress(&mut store, Format::Gzip, &bomb, 1 << 20)
        .unwrap();
    assert_eq!(result, Err(Error::OutputTooLarge(1 << 20)));

    let mut packed = Vec::new();
    brotli::CompressorWriter::new(&mut packed, 4096, 9, 22)
        .write_all(&vec![0u8; 64 << 20])
        .unwrap();
    drop(zeros);
    use v1_0::exports::wharf::compression::types::{Error as E, Format as F};
    let (mut store, linker) = limited_store(16 << 20);
    let brotli =
        v1_0::Brotli::instantiate(&mut store, &common::bundled("brotli"), &linker).unwrap();
    let result = brotli
        .wharf_compression_codec()
        .call_decompress(&mut store, F::Brotli, &packed, 1 << 20)
        .unwrap();
    assert!(matches!(result, Err(E::OutputTooLarge(n)) if n == 1 << 20));
}

#[test]
fn the_limit_is_exact() {
    let data = samples()[2].clone();
    let (mut store, flate) = flate();
    let codec = flate.wharf_compression_codec();
    let packed = codec
        .call_compress(&mut store, Format::Zlib, None, &data)
        .unwrap()
        .unwrap();
    let n = data.len() as u64;
    assert_eq!(
        codec
            .call_decompress(&mut store, Format::Zlib, &packed, n)
            .unwrap(),
        Ok(data)
    );
    assert_eq!(
        codec
            .call_decompress(&mut store, Format::Zlib, &packed, n - 1)
            .unwrap(),
        Err(Error::OutputTooLarge(n - 1))
    );
}

#[test]
fn the_streaming_encoder_of_1_1_produces_one_valid_stream() {
    let data = samples()[2].clone();
    let (mut store, flate) = flate();
    let streaming = flate.wharf_compression_streaming().encoder();
    let encoder = streaming
        .call_open(&mut store, Format::Gzip, Some(6))
        .unwrap()
        .unwrap();
    let mut packed = Vec::new();
    for chunk in data.chunks(7919) {
        packed.extend(
            streaming
                .call_write(&mut store, encoder, chunk)
                .unwrap()
                .unwrap(),
        );
    }
    packed.extend(streaming.call_finish(&mut store, encoder).unwrap().unwrap());
    assert_eq!(native_decode(Format::Gzip, &packed), data);

    let refused = streaming
        .call_open(&mut store, Format::Brotli, None)
        .unwrap();
    assert!(matches!(
        refused,
        Err(Error::UnsupportedFormat(Format::Brotli))
    ));
}
