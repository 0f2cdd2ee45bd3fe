//! Envelope encode and decode with the default JSON codec.
//! IDs: `envelope/encode/{100B,10KB,1MB}`, `envelope/decode/{100B,10KB,1MB}`.

use std::time::Duration;

use cache_core::{Codec, Envelope, JsonCodec};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

fn envelope(c: &mut Criterion) {
    let mut group = c.benchmark_group("envelope");
    for (label, size) in [
        ("100B", 100usize),
        ("10KB", 10 * 1024),
        ("1MB", 1024 * 1024),
    ] {
        // Letters only: JSON writes them as they are, so the value weighs `size` bytes encoded.
        let value: String = (0..size)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        let env = Envelope::new(
            value,
            Duration::from_secs(60),
            Duration::from_secs(10),
            Duration::from_millis(3),
        );
        let bytes = JsonCodec.encode(&env).unwrap();
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("encode", label), &env, |b, env| {
            b.iter(|| JsonCodec.encode(env).unwrap())
        });
        group.bench_with_input(BenchmarkId::new("decode", label), &bytes, |b, bytes| {
            b.iter(|| JsonCodec.decode::<String>(bytes).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, envelope);
criterion_main!(benches);
