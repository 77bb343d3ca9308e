use super::row::{scan, tile_portable};
use super::*;
use crate::kmeans::Rng;

/// The vector path computes exactly what the portable one does.
#[test]
fn vector_path_matches_portable() {
    let mut rng = Rng::new(8);
    let (d, k) = (7, 37);
    let centroids: Vec<f64> = (0..k * d).map(|_| rng.next_f64() * 4.0).collect();
    let points: Vec<f32> = (0..203 * d)
        .map(|_| (rng.next_f64() * 4.0) as f32)
        .collect();
    let set = Centroids::new(&centroids, d);
    let mut portable = vec![(0, 0.0, 0.0); 203];
    scan(&set, &points, &mut portable, tile_portable);
    let mut any = vec![(0, 0.0, 0.0); 203];
    approx_scan(&set, &points, &mut any);
    assert_eq!(portable, any);
}

/// The selection must agree with a plain f64 scan, including points far
/// from the origin (where the expanded form cancels) and exact ties.
#[test]
fn matches_exact_scan() {
    let mut rng = Rng::new(5);
    // Offsets: none, far from the origin (cancellation), and beyond
    // f32's square range (overflow).
    for (d, k, offset) in [
        (8, 64, 0.0),
        (3, 13, 1000.0),
        (1, 1, 0.0),
        (5, 9, 0.0),
        (2, 5, 1e20),
    ] {
        let centroids: Vec<f64> = (0..k * d).map(|_| offset + rng.next_f64() * 10.0).collect();
        let mut points: Vec<f32> = (0..1001 * d)
            .map(|_| (offset + rng.next_f64() * 10.0) as f32)
            .collect();
        // A point exactly on a centroid.
        points[..d]
            .iter_mut()
            .enumerate()
            .for_each(|(t, x)| *x = centroids[t] as f32);
        let set = Centroids::new(&centroids, d);
        let mut out = vec![Nearest::default(); 1001];
        set.nearest(&points, &mut out);
        for (x, got) in points.chunks_exact(d).zip(&out) {
            let want = set.exact_nearest(x);
            assert_eq!(got.index, want.index, "d {d} k {k} offset {offset}");
            assert_eq!(got.dist, want.dist);
            assert!(
                got.second <= want.second,
                "{} > {}",
                got.second,
                want.second
            );
        }
    }
}

/// Lays `points` (row-major) out as panels.
fn to_panels(points: &[f32], d: usize) -> Vec<f32> {
    let n = points.len() / d;
    let mut out = vec![0.0f32; Layout::Panels.len(n, d)];
    for (i, x) in points.chunks_exact(d).enumerate() {
        for (t, &v) in x.iter().enumerate() {
            out[Layout::Panels.place(i, t, d)] = v;
        }
    }
    out
}

/// Both layouts give the exact f64 nearest centroid and its distance,
/// for d held in registers and not (20), k not a multiple of the
/// group, far from the origin and beyond f32's range, with ties.
#[test]
fn panels_match_exact_scan() {
    let mut rng = Rng::new(11);
    for (d, k, offset, n) in [
        (8, 64, 0.0, 1000),
        (3, 13, 1000.0, 517),
        (1, 1, 0.0, 33),
        (20, 37, 0.0, 301),
        (5, 300, 0.0, 999),
        (2, 5, 1e20, 100),
        (16, 17, 1e3, 64),
    ] {
        let mut centroids: Vec<f64> = (0..k * d).map(|_| offset + rng.next_f64() * 10.0).collect();
        if k > 2 {
            // A duplicated centroid: its lower index must win.
            let (a, b) = centroids.split_at_mut(2 * d);
            b[..d].copy_from_slice(&a[d..2 * d]);
        }
        let mut points: Vec<f32> = (0..n * d)
            .map(|_| (offset + rng.next_f64() * 10.0) as f32)
            .collect();
        for t in 0..d {
            // On a centroid, and on the duplicated one.
            points[t] = centroids[t] as f32;
            points[d + t] = centroids[(k.min(3) - 1) * d + t] as f32;
        }
        let set = Centroids::new(&centroids, d);
        for (layout, data) in [
            (Layout::Rows, points.clone()),
            (Layout::Panels, to_panels(&points, d)),
        ] {
            let mut index = vec![u32::MAX; n];
            let mut dist = vec![f64::NAN; n];
            set.assign(&data, layout, n, &mut index, Some(&mut dist));
            for (i, x) in points.chunks_exact(d).enumerate() {
                let want = set.exact_nearest(x);
                assert_eq!(
                    (index[i], dist[i]),
                    (want.index, want.dist),
                    "{layout:?} d {d} k {k} offset {offset} point {i}"
                );
            }
        }
    }
}

/// Reading f64 columns directly gives what encoding them first and
/// assigning the encoded rows gives: bit-equal coordinates (identity
/// and z-scores), every tail length of the last panel, d held in
/// registers and not (20), NaN and far-off rows.
#[test]
fn columns_match_encoded_rows() {
    let mut rng = Rng::new(17);
    for (d, k, n) in [
        (8, 64, 1000),
        (3, 13, 1),
        (3, 13, 15),
        (5, 40, 33),
        (20, 37, 47),
    ] {
        let centroids: Vec<f64> = (0..k * d).map(|_| rng.next_f64() * 10.0 - 5.0).collect();
        let set = Centroids::new(&centroids, d);
        let mut columns: Vec<Vec<f64>> = (0..d)
            .map(|_| (0..n).map(|_| rng.next_f64() * 30.0 - 15.0).collect())
            .collect();
        columns[0][n / 2] = f64::NAN;
        columns[d - 1][n - 1] = 1e30;
        for scales in [
            vec![Scale::IDENTITY; d],
            (0..d)
                .map(|t| Scale::z_score(t as f64 * 0.3 - 1.0, 0.7 + t as f64))
                .collect(),
        ] {
            let slices: Vec<&[f64]> = columns.iter().map(|c| &c[..]).collect();
            let (mut index, mut dist) = (vec![u32::MAX; n], vec![f64::NAN; n]);
            set.assign_columns(&slices, &scales, &mut index, Some(&mut dist));
            let rows: Vec<f32> = (0..n)
                .flat_map(|i| {
                    (0..d)
                        .map(|t| scales[t].apply(columns[t][i]))
                        .collect::<Vec<_>>()
                })
                .collect();
            let mut want = (vec![0u32; n], vec![0.0f64; n]);
            set.assign(&rows, Layout::Rows, n, &mut want.0, Some(&mut want.1));
            assert_eq!(index, want.0, "d {d} k {k} n {n}");
            for (i, (got, want)) in dist.iter().zip(&want.1).enumerate() {
                assert!(
                    got.to_bits() == want.to_bits(),
                    "d {d} k {k} row {i}: {got} vs {want}"
                );
            }
            let mut alone = vec![u32::MAX; n];
            set.assign_columns(&slices, &scales, &mut alone, None);
            assert_eq!(alone, index);
        }
    }
}

/// A z-score applies (x − mean) / std up to one rounding of 1/std.
#[test]
fn z_score_scales() {
    let scale = Scale::z_score(10.0, 4.0);
    assert_eq!(scale.apply(18.0), 2.0);
    assert_eq!(Scale::IDENTITY.apply(0.1), 0.1f32);
    assert!(Scale::IDENTITY.apply(f64::NAN).is_nan());
}

/// The panel path settles almost every point in f32 (a certification
/// that never succeeds would still be exact, only slow), and the
/// AVX-512 path computes exactly what the portable one does.
#[test]
fn panels_certify_and_vector_matches_portable() {
    let mut rng = Rng::new(3);
    for (d, k) in [(8, 64), (4, 256), (19, 40)] {
        let n = 4096;
        let centroids: Vec<f64> = (0..k * d).map(|_| rng.next_f64() * 20.0 - 10.0).collect();
        let points: Vec<f32> = (0..n * d)
            .map(|_| (rng.next_f64() * 20.0 - 10.0) as f32)
            .collect();
        let set = Centroids::with_kernel(&centroids, d, Kernel::auto());
        let panels = to_panels(&points, d);
        let mut candidates = vec![0u32; n];
        let mut certain = vec![0u16; n / PANEL];
        let mut seconds = vec![0.0f32; n];
        panels_portable(&set, &panels, &mut candidates, &mut certain, &mut seconds);
        let settled: u32 = certain.iter().map(|m| m.count_ones()).sum();
        assert!(
            settled as usize > n * 99 / 100,
            "d {d} k {k}: only {settled} of {n} settled in f32"
        );
        for (i, x) in points.chunks_exact(d).enumerate() {
            if certain[i / PANEL] >> (i % PANEL) & 1 == 1 {
                assert_eq!(candidates[i], set.exact_nearest(x).index);
            }
        }
        let (mut fast, mut fast_certain) = (vec![0u32; n], vec![0u16; n / PANEL]);
        let mut fast_seconds = vec![0.0f32; n];
        set.scan_panels(&panels, &mut fast, &mut fast_certain, &mut fast_seconds);
        assert_eq!((fast, fast_certain), (candidates, certain), "d {d} k {k}");
        assert_eq!(fast_seconds, seconds, "d {d} k {k}");
    }
}

/// Settling a near tie with the f32 prefilter gives the full f64
/// scan's answer, with centroids packed so that near ties are common.
#[test]
fn settle_matches_exact_scan() {
    let mut rng = Rng::new(21);
    for (d, k) in [(8, 512), (3, 40), (11, 9)] {
        let centroids: Vec<f64> = (0..k * d).map(|_| 5.0 + rng.next_f64() * 0.01).collect();
        let set = Centroids::new(&centroids, d);
        for _ in 0..500 {
            let x: Vec<f32> = (0..d).map(|_| (rng.next_f64() * 10.0) as f32).collect();
            let want = set.exact_nearest(&x);
            assert_eq!(set.settle(&x), (want.index, want.dist), "d {d} k {k}");
        }
    }
}
