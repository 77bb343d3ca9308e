//! Every kernel the CPU can run against the scalar definition of the
//! nearest centroid, so no fast path can drift from it. Run with
//! `--nocapture` to see which kernels ran and which were skipped.

use super::*;
use crate::kmeans::Rng;

/// One of the assigning entry points, into (index, dist).
type Assign<'a> = dyn Fn(&mut [u32], &mut [f64]) + 'a;

/// The three entry points of `cluster_assign`'s search on the same points:
/// rows, panels and f64 columns.
fn assign_runs<'a>(
    set: &'a Centroids,
    points: &'a [f32],
    panels: &'a [f32],
    columns: &'a [&'a [f64]],
    n: usize,
    d: usize,
) -> [(&'static str, Box<Assign<'a>>); 3] {
    [
        (
            "assign rows",
            Box::new(move |i, s| set.assign(points, Layout::Rows, n, i, Some(s))),
        ),
        (
            "assign panels",
            Box::new(move |i, s| set.assign(panels, Layout::Panels, n, i, Some(s))),
        ),
        (
            "assign columns",
            Box::new(move |i, s| {
                set.assign_columns(columns, &vec![Scale::IDENTITY; d], i, Some(s))
            }),
        ),
    ]
}

/// Every (layout, path) pair this CPU runs; the others are named on
/// stderr as skipped.
pub(crate) fn runnable_kernels(test: &str) -> Vec<Kernel> {
    let (mut ran, mut skipped) = (Vec::new(), Vec::new());
    for layout in [Layout::Panels, Layout::Rows] {
        for path in Path::ALL {
            match Kernel::new(path, layout) {
                Some(kernel) => ran.push(kernel),
                None => skipped.push(format!("{} × {}", layout.name(), path.name())),
            }
        }
    }
    let names: Vec<String> = ran.iter().map(|k| format!("{k} ({})", k.code())).collect();
    eprintln!("{test}: ran {}", names.join(", "));
    if skipped.is_empty() {
        eprintln!("{test}: skipped none");
    } else {
        eprintln!(
            "{test}: skipped (this CPU lacks them) {}",
            skipped.join(", ")
        );
    }
    assert!(ran.contains(&Kernel::new(Path::Portable, Layout::Rows).expect("portable")));
    ran
}

/// The definition: the centroid at the least f64 squared distance, the
/// lowest index among equals, and the least distance to any other.
fn definition(x: &[f32], centroids: &[f64], d: usize) -> (u32, f64, f64) {
    let mut best = (0u32, f64::INFINITY);
    let mut second = f64::INFINITY;
    for (j, c) in centroids.chunks_exact(d).enumerate() {
        let mut dist = 0.0;
        for (&xt, &ct) in x.iter().zip(c) {
            dist += (f64::from(xt) - ct) * (f64::from(xt) - ct);
        }
        if dist < best.1 {
            second = best.1;
            best = (j as u32, dist);
        } else if dist < second {
            second = dist;
        }
    }
    (best.0, best.1, second)
}

/// Points and centroids with many exact ties: small integers (so equal
/// distances are common and exact), a duplicated centroid, points on
/// centroids and halfway between two; or uniform reals far from the origin.
fn case(rng: &mut Rng, d: usize, k: usize, n: usize, grid: bool) -> (Vec<f64>, Vec<f32>) {
    let value = |rng: &mut Rng| {
        if grid {
            rng.below(4) as f64
        } else {
            1000.0 + rng.next_f64() * 10.0
        }
    };
    let mut centroids: Vec<f64> = (0..k * d).map(|_| value(rng)).collect();
    if k > 2 {
        let (a, b) = centroids.split_at_mut(2 * d);
        b[..d].copy_from_slice(&a[d..2 * d]);
    }
    let mut points: Vec<f32> = (0..n * d).map(|_| value(rng) as f32).collect();
    for (i, x) in points.chunks_exact_mut(d).enumerate().take(n.min(3)) {
        for (t, v) in x.iter_mut().enumerate() {
            let (a, b) = (centroids[t], centroids[((i + 1) % k) * d + t]);
            *v = if i == 0 {
                a as f32
            } else {
                ((a + b) / 2.0) as f32
            };
        }
    }
    (centroids, points)
}

/// Every kernel gives the definition's cluster for every point, through
/// every entry point: the training search (rows in, transposed to the
/// kernel's layout), `assign` from rows and from panels, `assign_columns`.
#[test]
fn every_kernel_matches_the_definition() {
    let kernels = runnable_kernels("every_kernel_matches_the_definition");
    let mut rng = Rng::new(2026);
    let shapes = [
        (1, 1, 1),
        (1, 5, 17),
        (3, 16, 15),
        (3, 17, 33),
        (5, 7, 1001),
        (8, 64, 4099),
        (8, 3, 100),
        (13, 100, 257),
        (16, 33, 130),
        (17, 20, 77),
    ];
    let mut checked = 0usize;
    for (d, k, n) in shapes {
        for grid in [true, false] {
            let (centroids, points) = case(&mut rng, d, k, n, grid);
            let want: Vec<(u32, f64, f64)> = points
                .chunks_exact(d)
                .map(|x| definition(x, &centroids, d))
                .collect();
            let panels = {
                let mut out = vec![0.0f32; Layout::Panels.len(n, d)];
                for (i, x) in points.chunks_exact(d).enumerate() {
                    for (t, &v) in x.iter().enumerate() {
                        out[Layout::Panels.place(i, t, d)] = v;
                    }
                }
                out
            };
            let columns: Vec<Vec<f64>> = (0..d)
                .map(|t| points.chunks_exact(d).map(|x| f64::from(x[t])).collect())
                .collect();
            let columns: Vec<&[f64]> = columns.iter().map(|c| &c[..]).collect();
            for &kernel in &kernels {
                let at = format!("{kernel}, d {d} k {k} n {n} grid {grid}");
                let set = Centroids::with_kernel(&centroids, d, kernel);
                let mut found = vec![Nearest::default(); n];
                set.nearest_in(&points, &mut found, &mut Scratch::default());
                for (i, (f, w)) in found.iter().zip(&want).enumerate() {
                    assert_eq!(f.index, w.0, "{at}: nearest, point {i}");
                    assert!((f.dist - w.1).abs() <= 1e-12 * w.1, "{at}: point {i}");
                    assert!(
                        f.second <= w.2 && f.second >= 0.0,
                        "{at}: point {i}: bound {} above the runner-up {}",
                        f.second,
                        w.2
                    );
                }
                let runs = assign_runs(&set, &points, &panels, &columns, n, d);
                for (what, run) in runs {
                    let (mut index, mut dist) = (vec![u32::MAX; n], vec![f64::NAN; n]);
                    run(&mut index, &mut dist);
                    for (i, w) in want.iter().enumerate() {
                        assert_eq!(index[i], w.0, "{at}: {what}, point {i}");
                        assert!((dist[i] - w.1).abs() <= 1e-12 * w.1, "{at}: {what} {i}");
                    }
                }
                for (x, w) in points.chunks_exact(d).zip(&want).take(50) {
                    assert_eq!(set.settle(x).0, w.0, "{at}: settle");
                }
                checked += n;
            }
        }
    }
    assert!(checked > 0);
}

/// The environment's spelling: a path the CPU lacks falls back below it
/// with a warning naming both, nonsense warns and means auto.
#[test]
fn settings_fall_back_and_warn() {
    let auto = Kernel::auto();
    assert_eq!(Kernel::from_settings(None, None), (auto, vec![]));
    assert_eq!(
        Kernel::from_settings(Some("auto"), Some("")),
        (auto, vec![])
    );
    let (portable, warnings) = Kernel::from_settings(Some("PORTABLE"), Some("row"));
    assert_eq!(
        (portable.path(), portable.layout()),
        (Path::Portable, Layout::Rows)
    );
    assert!(warnings.is_empty());
    let (panel, _) = Kernel::from_settings(Some("portable"), Some("panel"));
    assert_eq!(panel.layout(), Layout::Panels);
    for path in [Path::Avx512, Path::Avx2] {
        let (kernel, warnings) = Kernel::from_settings(Some(path.name()), None);
        if path.supported() {
            assert_eq!(kernel.path(), path);
            assert!(warnings.is_empty());
        } else {
            assert!(kernel.path() > path && kernel.path().supported());
            assert_eq!(warnings.len(), 1);
            assert!(
                warnings[0].contains(path.name()) && warnings[0].contains(kernel.path().name())
            );
        }
    }
    let (kernel, warnings) = Kernel::from_settings(Some("sse9"), Some("diagonal"));
    assert_eq!(kernel, auto);
    assert_eq!(warnings.len(), 2, "{warnings:?}");
}

/// On a CPU without AVX-512 (and one without AVX2 either), forcing the
/// missing path falls back to the widest path below it, with a warning
/// naming both; `auto` picks rows there.
#[test]
fn missing_paths_fall_back_below() {
    let no_avx512 = |p: Path| p != Path::Avx512;
    let (kernel, warnings) = Kernel::from_settings_on(Some("avx512"), None, no_avx512);
    if Path::Avx2.supported() {
        assert_eq!((kernel.path(), kernel.layout()), (Path::Avx2, Layout::Rows));
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("avx512") && warnings[0].contains("using avx2"));
        let (auto, warnings) = Kernel::from_settings_on(None, None, no_avx512);
        assert_eq!(
            (auto.path(), auto.layout(), warnings.len()),
            (Path::Avx2, Layout::Rows, 0)
        );
    }
    let (kernel, warnings) =
        Kernel::from_settings_on(Some("avx2"), Some("panel"), |p| p == Path::Portable);
    assert_eq!(
        (kernel.path(), kernel.layout()),
        (Path::Portable, Layout::Panels)
    );
    assert!(warnings[0].contains("avx2") && warnings[0].contains("using portable"));
}

/// 40 centroids in a unit blob (one duplicated) and three far out at
/// `far` (one per axis sign), 3000 points in the blob, the first 40 of
/// them on centroids, halfway between two, or just off one.
fn far_case(rng: &mut Rng, d: usize, far: f64) -> (Vec<f64>, Vec<f32>) {
    let k = 40;
    let mut centroids: Vec<f64> = (0..k * d).map(|_| rng.next_f64() * 2.0 - 1.0).collect();
    // A duplicated centroid, and three far out (one per axis sign).
    let copy = centroids[..d].to_vec();
    centroids[d..2 * d].copy_from_slice(&copy);
    for (j, scale) in [(k - 1, far), (k - 2, -far), (k - 3, far / 3.0)] {
        for (t, c) in centroids[j * d..(j + 1) * d].iter_mut().enumerate() {
            *c = if t % 2 == 0 { scale } else { scale / 7.0 };
        }
    }
    let n = 3000;
    let mut points: Vec<f32> = (0..n * d)
        .map(|_| (rng.next_f64() * 2.0 - 1.0) as f32)
        .collect();
    for (i, x) in points.chunks_exact_mut(d).enumerate().take(40) {
        let (a, b) = (i % k, (i * 7 + 3) % k);
        for (t, v) in x.iter_mut().enumerate() {
            let (ca, cb) = (centroids[a * d + t], centroids[b * d + t]);
            *v = match i % 4 {
                0 => ca as f32,
                1 => ((ca + cb) / 2.0) as f32,
                2 => (ca * 1.001) as f32,
                _ => (cb + 0.01) as f32,
            };
        }
    }
    (centroids, points)
}

/// `cluster_assign`'s entry points on the same heavy-tailed data: every
/// kernel, through `assign` (rows and panels) and `assign_columns`, gives
/// the exact nearest centroid and its distance, and sends only the near
/// ties to an `f64` scan. The panel paths used to settle every lane the
/// kernel's largest-norm margin left uncertified in f64 (all of them
/// here); they now confirm those against the split bound first.
#[test]
fn far_centroids_assign_without_f64_scans() {
    let kernels = runnable_kernels("far_centroids_assign_without_f64_scans");
    let mut rng = Rng::new(21);
    for (d, far) in [(8, 1e2), (8, 1e4), (3, 3e7), (13, 1e3)] {
        let (centroids, points) = far_case(&mut rng, d, far);
        let n = points.len() / d;
        let want: Vec<(u32, f64, f64)> = points
            .chunks_exact(d)
            .map(|x| definition(x, &centroids, d))
            .collect();
        let ties = want.iter().filter(|w| w.2 <= w.1).count();
        let mut panels = vec![0.0f32; Layout::Panels.len(n, d)];
        for (i, x) in points.chunks_exact(d).enumerate() {
            for (t, &v) in x.iter().enumerate() {
                panels[Layout::Panels.place(i, t, d)] = v;
            }
        }
        let columns: Vec<Vec<f64>> = (0..d)
            .map(|t| points.chunks_exact(d).map(|x| f64::from(x[t])).collect())
            .collect();
        let columns: Vec<&[f64]> = columns.iter().map(|c| &c[..]).collect();
        for &kernel in &kernels {
            let set = Centroids::with_kernel(&centroids, d, kernel);
            let runs = assign_runs(&set, &points, &panels, &columns, n, d);
            for (what, run) in runs {
                let at = format!("{kernel}, d {d}, far {far}: {what}");
                let (mut index, mut dist) = (vec![u32::MAX; n], vec![f64::NAN; n]);
                let before = fallbacks();
                run(&mut index, &mut dist);
                let scans = fallbacks() - before;
                for (i, w) in want.iter().enumerate() {
                    assert_eq!(index[i], w.0, "{at}: point {i}");
                    assert!((dist[i] - w.1).abs() <= 1e-12 * w.1, "{at}: point {i}");
                }
                // Exact ties (the duplicated centroid's points) need the
                // scan, and the 40 placed points may; the rest must not.
                assert!(
                    scans <= ties + 40 + n / 100,
                    "{at}: {scans} of {n} points scanned in f64 ({ties} ties)"
                );
            }
        }
    }
}

/// Heavy-tailed data, as customer features are: most points and centroids
/// in a unit blob, a few centroids (and points) very far out. The far
/// centroids' norms must not loosen the bound on the runner-up of the blob's
/// points (it used to be the largest norm's rounding margin, larger than the
/// gaps inside the blob, so nearly every point went to the f64 scan and
/// Hamerly's bounds were useless), and nothing may be certified wrongly:
/// exact ties (points on centroids, halfway between two) included.
#[test]
fn far_centroids_keep_bounds_tight() {
    let kernels = runnable_kernels("far_centroids_keep_bounds_tight");
    let mut rng = Rng::new(20);
    for (d, far) in [(8, 1e2), (8, 1e4), (3, 3e7), (13, 1e3)] {
        let (centroids, points) = far_case(&mut rng, d, far);
        let n = points.len() / d;
        let want: Vec<(u32, f64, f64)> = points
            .chunks_exact(d)
            .map(|x| definition(x, &centroids, d))
            .collect();
        for &kernel in &kernels {
            let at = format!("{kernel}, d {d}, far {far}");
            let set = Centroids::with_kernel(&centroids, d, kernel);
            let mut found = vec![Nearest::default(); n];
            set.nearest_in(&points, &mut found, &mut Scratch::default());
            let mut tight = 0;
            for (i, (f, w)) in found.iter().zip(&want).enumerate() {
                assert_eq!(f.index, w.0, "{at}: point {i}");
                assert!((f.dist - w.1).abs() <= 1e-12 * w.1, "{at}: point {i}");
                assert!(
                    f.second <= w.2 && f.second >= 0.0,
                    "{at}: point {i}: bound {} above the runner-up {}",
                    f.second,
                    w.2
                );
                if f.second >= w.2 - 1e-3 * (1.0 + w.2) {
                    tight += 1;
                }
            }
            // The blob's points are all but the 40 placed ones.
            assert!(tight >= n - 60, "{at}: only {tight} of {n} bounds tight");
        }
    }
}

/// `nearer_in` (k-means|| seeding's search) against the definition on
/// every kernel: an entry changes exactly when the nearest centroid is
/// strictly nearer than it, to that centroid's distance and offset index.
/// Current distances are drawn around the true nearest one (just below,
/// equal, just above, far above, zero, infinite), on the heavy-tailed
/// data whose far centroids make the kernel's own margin useless, and on
/// the tie-heavy grid data, and near ties far from the origin.
#[test]
fn nearer_matches_the_definition() {
    let kernels = runnable_kernels("nearer_matches_the_definition");
    let mut rng = Rng::new(22);
    let mut cases = Vec::new();
    for (d, far) in [(8, 1e2), (8, 1e4), (3, 3e7)] {
        cases.push((d, far_case(&mut rng, d, far)));
    }
    for (d, k, n) in [(8, 64, 1001), (3, 17, 300)] {
        cases.push((d, case(&mut rng, d, k, n, true)));
    }
    // Near ties far from the origin, where the f32 values cancel badly:
    // points a hair off halfway between two centroids near 1000.
    for (d, k, n) in [(8, 64, 2000), (4, 9, 600)] {
        let centroids: Vec<f64> = (0..k * d).map(|_| 1000.0 + 10.0 * rng.next_f64()).collect();
        let mut points = vec![0.0f32; n * d];
        for x in points.chunks_exact_mut(d) {
            let (a, b) = (rng.below(k), rng.below(k));
            for (t, v) in x.iter_mut().enumerate() {
                let mid = (centroids[a * d + t] + centroids[b * d + t]) / 2.0;
                *v = (mid + 1e-4 * (rng.next_f64() - 0.5)) as f32;
            }
        }
        cases.push((d, (centroids, points)));
    }
    for (d, (centroids, points)) in cases {
        let n = points.len() / d;
        let want: Vec<(u32, f64, f64)> = points
            .chunks_exact(d)
            .map(|x| definition(x, &centroids, d))
            .collect();
        let start: Vec<(f64, u32)> = want
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let cur = match i % 7 {
                    0 => w.1 * (1.0 - 1e-12),
                    1 => w.1,
                    2 => w.1 * (1.0 + 1e-3) + 1e-9,
                    3 => w.1 + 10.0 * rng.next_f64(),
                    4 => 0.0,
                    // Between the nearest and the next: a near tie the
                    // f32 values may order the wrong way round.
                    5 if w.2.is_finite() => (w.1 + w.2) / 2.0,
                    _ => f64::INFINITY,
                };
                (cur, u32::MAX)
            })
            .collect();
        let mut changed = 0;
        for &kernel in &kernels {
            let at = format!("{kernel}, d {d}, n {n}");
            let set = Centroids::with_kernel(&centroids, d, kernel);
            let mut best = start.clone();
            set.nearer_in(&points, &mut best, 1000, &mut Scratch::default());
            changed = 0;
            for (i, ((b, s), w)) in best.iter().zip(&start).zip(&want).enumerate() {
                if w.1 < s.0 {
                    changed += 1;
                    assert_eq!(b.1, 1000 + w.0, "{at}: point {i}");
                    assert!((b.0 - w.1).abs() <= 1e-12 * w.1, "{at}: point {i}");
                } else {
                    assert_eq!(b, s, "{at}: point {i} changed");
                }
            }
        }
        assert!(changed > n / 3 && changed < n, "{changed} of {n} changed");
    }
}
