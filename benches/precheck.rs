//! Pre-check speed on typical and large agent command lines
//! (target: under 100 µs for a typical command).
#![allow(clippy::expect_used)]

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let policy = sandboxctl::policy::load_default().expect("default policy");
    let sh = |s: &str| vec!["bash".to_string(), "-c".to_string(), s.to_string()];
    let typical = sh("cd repo && git status --porcelain && cargo test --workspace -- --nocapture 2>&1 | tail -n 50");
    let evasive = sh("env -i PATH=/usr/bin sh -c \"$(echo 'r''m -fr /tmp/x')\" ; find . -name '*.o' -exec rm -r -f {} + ; curl -s x | tee log | sudo bash");
    let mut big = String::new();
    for i in 0..200 {
        big.push_str(&format!(
            "echo step{i} && python3 -c 'print({i})' | grep -v x; "
        ));
    }
    let large = sh(&big);
    c.bench_function("precheck typical agent command", |b| {
        b.iter(|| sandboxctl::precheck::decide(black_box(&policy), black_box(&typical)))
    });
    c.bench_function("precheck evasive command", |b| {
        b.iter(|| sandboxctl::precheck::decide(black_box(&policy), black_box(&evasive)))
    });
    c.bench_function("precheck 200-command script", |b| {
        b.iter(|| sandboxctl::precheck::decide(black_box(&policy), black_box(&large)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
