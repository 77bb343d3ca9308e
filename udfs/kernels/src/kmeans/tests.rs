use super::*;

/// [`super::fit`] on a copy, leaving the test's rows in their order.
fn fit(data: &[f32], d: usize, options: &KMeansOptions) -> Result<KMeansFit, KMeansError> {
    super::fit(&mut data.to_vec(), d, options)
}

fn options(k: usize, threads: usize) -> KMeansOptions {
    KMeansOptions {
        k,
        max_iterations: 100,
        tolerance: 1e-6,
        seed: 7,
        n_init: Some(1),
        threads,
        init: Init::Auto,
        batch_size: None,
    }
}

/// Three tight, far-apart blobs: any sane k-means finds them exactly.
fn blobs(per: usize) -> Vec<f32> {
    let mut rng = Rng::new(1);
    let centres = [(0.0, 0.0), (10.0, 10.0), (-10.0, 10.0)];
    let mut data = Vec::new();
    for (cx, cy) in centres {
        for _ in 0..per {
            data.push(cx + (rng.next_f64() - 0.5) as f32);
            data.push(cy + (rng.next_f64() - 0.5) as f32);
        }
    }
    data
}

#[test]
fn finds_separated_blobs() {
    let data = blobs(300);
    let fit = fit(&data, 2, &options(3, 2)).unwrap();
    assert!(fit.converged);
    let mut sizes = fit.sizes.clone();
    sizes.sort();
    assert_eq!(sizes, [300, 300, 300]);
    let mut centres: Vec<(i64, i64)> = fit
        .centroids
        .chunks(2)
        .map(|c| (c[0].round() as i64, c[1].round() as i64))
        .collect();
    centres.sort();
    assert_eq!(centres, [(-10, 10), (0, 0), (10, 10)]);
}

/// The accelerated iterations must end where plain Lloyd ends: compare
/// with a brute-force Lloyd from the same seeds.
#[test]
fn hamerly_matches_plain_lloyd() {
    let mut rng = Rng::new(3);
    let data: Vec<f32> = (0..5000 * 3).map(|_| rng.next_f64() as f32).collect();
    let d = 3;
    let k = 12;
    let opts = KMeansOptions {
        tolerance: 0.0,
        max_iterations: 300,
        ..options(k, 2)
    };
    let seeds = kmeans_plus_plus(&data, None, d, k, &mut Rng::new(opts.seed), 1);
    let fast = lloyd_hamerly(
        &data,
        d,
        seeds.clone(),
        &opts,
        0.0,
        Kernel::chosen(),
        &mut None,
    );
    // Plain Lloyd.
    let mut c = seeds;
    let n = data.len() / d;
    let mut assign = vec![usize::MAX; n];
    for _ in 0..300 {
        let mut changed = false;
        for i in 0..n {
            let p: Vec<f64> = data[i * d..(i + 1) * d]
                .iter()
                .map(|&x| f64::from(x))
                .collect();
            let (j, _) = nearest(&c, d, &p);
            if assign[i] != j {
                assign[i] = j;
                changed = true;
            }
        }
        if !changed {
            break;
        }
        let mut sums = vec![0.0; k * d];
        let mut counts = vec![0.0; k];
        for i in 0..n {
            counts[assign[i]] += 1.0;
            for t in 0..d {
                sums[assign[i] * d + t] += f64::from(data[i * d + t]);
            }
        }
        for j in 0..k {
            if counts[j] > 0.0 {
                for t in 0..d {
                    c[j * d + t] = sums[j * d + t] / counts[j];
                }
            }
        }
    }
    let slow_inertia: f64 = (0..n)
        .map(|i| {
            let p: Vec<f64> = data[i * d..(i + 1) * d]
                .iter()
                .map(|&x| f64::from(x))
                .collect();
            nearest(&c, d, &p).1
        })
        .sum();
    assert!(fast.converged);
    assert!(
        (fast.inertia - slow_inertia).abs() <= 1e-9 * slow_inertia,
        "{} vs {}",
        fast.inertia,
        slow_inertia
    );
}

#[test]
fn deterministic_across_thread_counts() {
    let mut rng = Rng::new(9);
    let data: Vec<f32> = (0..20_000 * 2).map(|_| rng.next_f64() as f32).collect();
    let one = fit(&data, 2, &options(8, 1)).unwrap();
    let two = fit(&data, 2, &options(8, 2)).unwrap();
    assert_eq!(one, two);
}

/// k-means|| seeds as well as greedy k-means++: separated blobs are
/// found, and on noisy data the final inertia of either seeding is
/// within 2% of the other's (both end in a Lloyd local optimum).
#[test]
fn kmeans_parallel_seeds_as_well_as_plus_plus() {
    let data = blobs(300);
    let opts = KMeansOptions {
        init: Init::Parallel,
        ..options(3, 2)
    };
    let fit3 = fit(&data, 2, &opts).unwrap();
    assert_eq!(fit3.init, Init::Parallel);
    let mut sizes = fit3.sizes.clone();
    sizes.sort();
    assert_eq!(sizes, [300, 300, 300]);

    // 25 blobs on a 5 × 5 grid (spacing 10, width 2) plus 5% uniform
    // noise over the grid: both seedings should find the grid.
    let mut rng = Rng::new(11);
    let d = 2;
    let noisy: Vec<f32> = (0..30_000)
        .flat_map(|i| {
            let (bx, by) = ((i % 5) as f64 * 10.0, ((i / 5) % 5) as f64 * 10.0);
            let noise = rng.next_f64() < 0.05;
            let mut coordinate = |centre: f64| {
                if noise {
                    (rng.next_f64() * 50.0 - 5.0) as f32
                } else {
                    (centre + rng.next_f64() * 2.0 - 1.0) as f32
                }
            };
            [coordinate(bx), coordinate(by)]
        })
        .collect();
    let run = |init| {
        fit(
            &noisy,
            d,
            &KMeansOptions {
                init,
                n_init: Some(3),
                ..options(25, 2)
            },
        )
        .unwrap()
        .inertia
    };
    let (parallel, plus_plus) = (run(Init::Parallel), run(Init::PlusPlus));
    assert!(
        parallel <= plus_plus * 1.02 && plus_plus <= parallel * 1.02,
        "k-means|| {parallel} vs k-means++ {plus_plus}"
    );
}

#[test]
fn kmeans_parallel_is_deterministic_across_thread_counts() {
    let mut rng = Rng::new(4);
    let data: Vec<f32> = (0..30_000 * 3).map(|_| rng.next_f64() as f32).collect();
    let opts = |threads| KMeansOptions {
        init: Init::Parallel,
        ..options(16, threads)
    };
    assert_eq!(
        fit(&data, 3, &opts(1)).unwrap(),
        fit(&data, 3, &opts(2)).unwrap()
    );
    assert_eq!(Init::Auto.resolve(KMEANS_PARALLEL_FROM), Init::Parallel);
    assert_eq!(Init::Auto.resolve(KMEANS_PARALLEL_FROM - 1), Init::PlusPlus);
}

/// Mini-batch ends close to full-batch Lloyd. On 20 separated blobs both
/// find the same partition, and a mini-batch centroid is the mean of the
/// ~steps × batch / k points it received, off the cluster mean by about
/// σ²·d / that many in squared distance, so the inertia excess is about
/// k / (steps × batch) ≈ 0.1% here; 1% leaves room for the early,
/// poorly assigned points it never forgets. A broken update (wrong rate,
/// wrong sign) lands tens of percent away.
#[test]
fn minibatch_inertia_close_to_full_batch() {
    let mut rng = Rng::new(21);
    let d = 3;
    let centres: Vec<f64> = (0..20 * d).map(|_| rng.next_f64() * 100.0).collect();
    let data: Vec<f32> = (0..40_000)
        .flat_map(|i| {
            let c = i % 20;
            (0..d)
                .map(|t| (centres[c * d + t] + rng.next_f64() * 2.0 - 1.0) as f32)
                .collect::<Vec<_>>()
        })
        .collect();
    let full = fit(&data, d, &options(20, 2)).unwrap();
    let mini_options = |threads| KMeansOptions {
        batch_size: Some(1024),
        max_iterations: 200,
        tolerance: 0.0,
        n_init: Some(3),
        ..options(20, threads)
    };
    let mini = fit(&data, d, &mini_options(2)).unwrap();
    assert_eq!(mini.iterations, 200);
    assert!(
        mini.inertia <= full.inertia * 1.01,
        "mini-batch {} vs full batch {}",
        mini.inertia,
        full.inertia
    );
    assert_eq!(mini.sizes.iter().sum::<u64>(), 40_000);
    // Deterministic for a seed whatever the threads.
    assert_eq!(mini, fit(&data, d, &mini_options(1)).unwrap());
    // A batch larger than the data is clamped, not refused.
    let huge = KMeansOptions {
        batch_size: Some(10_000_000),
        max_iterations: 5,
        ..options(20, 2)
    };
    assert!(fit(&data, d, &huge).is_ok());
    let zero = KMeansOptions {
        batch_size: Some(0),
        ..options(20, 2)
    };
    assert!(fit(&data, d, &zero).unwrap_err().0.contains("batch_size"));
}

#[test]
fn bad_k_is_an_error() {
    let data = blobs(2);
    assert!(
        fit(&data, 2, &options(7, 1))
            .unwrap_err()
            .0
            .contains("between 1 and the number of rows (6)")
    );
    assert!(fit(&data, 2, &options(0, 1)).is_err());
}

/// Rows in a random order (Fisher–Yates driven by `seed`).
fn shuffled(data: &[f32], d: usize, seed: u64) -> Vec<f32> {
    let n = data.len() / d;
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = Rng::new(seed);
    for i in (1..n).rev() {
        order.swap(i, rng.below(i + 1));
    }
    order
        .iter()
        .flat_map(|&i| data[i * d..(i + 1) * d].iter().copied())
        .collect()
}

/// The rows in place sorted equal a plain sort of the rows as vectors,
/// duplicates and signed zeros included.
#[test]
fn sort_rows_sorts_rows() {
    let mut rng = Rng::new(5);
    let d = 3;
    let mut data: Vec<f32> = (0..2000 * d).map(|_| (rng.below(7) as f32) - 3.0).collect();
    data[4] = -0.0;
    let mut want: Vec<Vec<f32>> = data.chunks(d).map(<[f32]>::to_vec).collect();
    want.sort_by(|a, b| cmp_rows(a, b));
    sort_rows(&mut data, d);
    let got: Vec<Vec<f32>> = data.chunks(d).map(<[f32]>::to_vec).collect();
    let bits = |rows: &[Vec<f32>]| -> Vec<Vec<u32>> {
        rows.iter()
            .map(|r| r.iter().map(|x| x.to_bits()).collect())
            .collect()
    };
    assert_eq!(bits(&got), bits(&want));
}

/// The same rows in any order give the same model, bit for bit, for
/// every seeding and for mini-batch; the ids are in canonical order.
#[test]
fn fit_is_independent_of_row_order() {
    let mut rng = Rng::new(17);
    let d = 3;
    // Overlapping blobs (so seeding matters) with repeated rows.
    let mut data: Vec<f32> = (0..6000)
        .flat_map(|i| {
            let c = (i % 7) as f64;
            (0..d)
                .map(|t| (c * (t as f64 + 1.0) * 0.4 + rng.next_f64() * 2.0) as f32)
                .collect::<Vec<_>>()
        })
        .collect();
    data.extend_from_within(0..300 * d);
    for opts in [
        options(8, 2),
        KMeansOptions {
            init: Init::Parallel,
            n_init: Some(2),
            ..options(8, 2)
        },
        KMeansOptions {
            batch_size: Some(500),
            max_iterations: 50,
            ..options(8, 1)
        },
    ] {
        let first = fit(&data, d, &opts).unwrap();
        for seed in 1..4 {
            let other = fit(&shuffled(&data, d, seed), d, &opts).unwrap();
            assert_eq!(other, first, "{opts:?}, shuffle {seed}");
        }
        let ids: Vec<&[f64]> = first.centroids.chunks(d).collect();
        assert!(
            ids.windows(2).all(|w| w[0][0] <= w[1][0]),
            "ids not in coordinate order: {ids:?}"
        );
    }
}

#[test]
fn non_finite_values_are_refused() {
    let mut data = blobs(10);
    data[7] = f32::NAN;
    assert!(fit(&data, 2, &options(3, 1)).unwrap_err().0.contains("NaN"));
    data[7] = f32::INFINITY;
    assert!(fit(&data, 2, &options(3, 1)).is_err());
}

/// The automatic n_init spends the work budget: the most runs on small
/// problems, one on large ones, in between proportionally.
#[test]
fn auto_n_init_follows_the_work() {
    assert_eq!(auto_n_init(2000, 6, 8), AUTO_N_INIT_MAX);
    assert_eq!(auto_n_init(100_000_000, 8, 64), 1);
    assert_eq!(auto_n_init(1 << 20, 8, 8), 4);
    assert_eq!(auto_n_init(1 << 20, 8, 1), 32);
    assert_eq!(auto_n_init(1 << 18, 8, 1), AUTO_N_INIT_MAX);
    assert_eq!(auto_n_init(usize::MAX, usize::MAX, 4096), 1);
    let fit = fit(
        &blobs(50),
        2,
        &KMeansOptions {
            n_init: None,
            ..options(3, 1)
        },
    )
    .unwrap();
    assert_eq!(fit.n_init, AUTO_N_INIT_MAX);
}

/// Total cost of the cheapest assignment, by trying every permutation.
fn brute_force_min(cost: &[f64], n: usize) -> f64 {
    fn go(cost: &[f64], n: usize, row: usize, used: &mut Vec<bool>, acc: f64, best: &mut f64) {
        if row == n {
            *best = best.min(acc);
            return;
        }
        for j in 0..n {
            if !used[j] {
                used[j] = true;
                go(cost, n, row + 1, used, acc + cost[row * n + j], best);
                used[j] = false;
            }
        }
    }
    let mut best = f64::INFINITY;
    go(cost, n, 0, &mut vec![false; n], 0.0, &mut best);
    best
}

/// The Hungarian matching is a permutation whose cost equals the
/// optimum found by enumeration, on random matrices (some with many
/// ties) of every size up to 7.
#[test]
fn min_cost_assignment_is_optimal() {
    let mut rng = Rng::new(8);
    for trial in 0..300 {
        let n = 1 + trial % 7;
        let cost: Vec<f64> = (0..n * n)
            .map(|_| {
                if trial % 3 == 0 {
                    rng.below(3) as f64
                } else {
                    rng.next_f64() * 100.0
                }
            })
            .collect();
        let column = min_cost_assignment(&cost, n);
        let mut seen = column.clone();
        seen.sort_unstable();
        assert_eq!(seen, (0..n).collect::<Vec<_>>(), "not a permutation");
        let total: f64 = column
            .iter()
            .enumerate()
            .map(|(i, &j)| cost[i * n + j])
            .sum();
        let best = brute_force_min(&cost, n);
        assert!(
            (total - best).abs() <= 1e-9 * best.max(1.0),
            "n {n}: {total} vs optimum {best} ({cost:?})"
        );
    }
    assert_eq!(min_cost_assignment(&[f64::NAN, 0.0, 0.0, 1.0], 2), [0, 1]);
    assert!(min_cost_assignment(&[], 0).is_empty());
}

/// Blobs whose canonical (coordinate) order changes between two data
/// sets: after alignment every cluster of the second fit carries the
/// id of the first fit's nearest centroid, and the matching is the
/// cheapest over all permutations.
#[test]
fn align_to_keeps_ids_of_nearest_centroids() {
    let d = 2;
    let make = |centres: &[(f64, f64)], seed: u64| -> Vec<f32> {
        let mut rng = Rng::new(seed);
        centres
            .iter()
            .flat_map(|&(x, y)| {
                (0..200)
                    .flat_map(|_| {
                        [
                            (x + rng.next_f64() * 0.2 - 0.1) as f32,
                            (y + rng.next_f64() * 0.2 - 0.1) as f32,
                        ]
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    // Blob 0 moves from first to third in x order; 1 and 2 shift less.
    let before = make(&[(0.0, 10.0), (1.0, 0.0), (2.0, 5.0), (8.0, 8.0)], 1);
    let after = make(&[(2.6, 10.3), (1.2, 0.1), (2.2, 5.0), (7.5, 8.2)], 2);
    let old = fit(&before, d, &options(4, 1)).unwrap();
    let new = fit(
        &after,
        d,
        &KMeansOptions {
            seed: 99,
            ..options(4, 1)
        },
    )
    .unwrap();
    let aligned = align_to(new.clone(), d, &old.centroids);
    let nearest_old = |c: &[f64]| nearest(&old.centroids, d, c).0;
    let canonical_matches = (0..4)
        .filter(|&j| nearest_old(&new.centroids[j * d..(j + 1) * d]) == j)
        .count();
    assert!(canonical_matches < 4, "the test data must reorder the ids");
    for j in 0..4 {
        assert_eq!(nearest_old(&aligned.centroids[j * d..(j + 1) * d]), j);
    }
    let cost: Vec<f64> = (0..16)
        .map(|x| {
            sq_dist64(
                &aligned.centroids[(x / 4) * d..][..d],
                &old.centroids[(x % 4) * d..][..d],
            )
        })
        .collect();
    let identity: f64 = (0..4).map(|j| cost[j * 4 + j]).sum();
    assert!((identity - brute_force_min(&cost, 4)).abs() <= 1e-9 * identity);
    // Sizes moved with their centroids; nothing else changed.
    let mut pairs_new: Vec<(u64, Vec<u64>)> = (0..4)
        .map(|j| {
            (
                new.sizes[j],
                new.centroids[j * d..(j + 1) * d]
                    .iter()
                    .map(|x| x.to_bits())
                    .collect(),
            )
        })
        .collect();
    let mut pairs_aligned: Vec<(u64, Vec<u64>)> = (0..4)
        .map(|j| {
            (
                aligned.sizes[j],
                aligned.centroids[j * d..(j + 1) * d]
                    .iter()
                    .map(|x| x.to_bits())
                    .collect(),
            )
        })
        .collect();
    pairs_new.sort();
    pairs_aligned.sort();
    assert_eq!(pairs_new, pairs_aligned);
    assert_eq!(aligned.inertia, new.inertia);

    // More clusters than before: the earlier ids are kept, the extra
    // cluster (the blob near (5, 0)) takes the next id.
    let grown = make(
        &[(2.6, 10.3), (1.2, 0.1), (2.2, 5.0), (7.5, 8.2), (5.0, 0.0)],
        3,
    );
    let grown = align_to(fit(&grown, d, &options(5, 1)).unwrap(), d, &old.centroids);
    for j in 0..4 {
        assert_eq!(nearest_old(&grown.centroids[j * d..(j + 1) * d]), j);
    }
    assert!((grown.centroids[8] - 5.0).abs() < 0.2 && grown.centroids[9].abs() < 0.2);
    // Fewer: the surviving clusters keep the ids 0..k of their matches.
    let shrunk = make(&[(2.6, 10.3), (1.2, 0.1), (2.2, 5.0)], 4);
    let shrunk = align_to(fit(&shrunk, d, &options(3, 1)).unwrap(), d, &old.centroids);
    for j in 0..3 {
        assert_eq!(nearest_old(&shrunk.centroids[j * d..(j + 1) * d]), j);
    }
}

/// `fit` ends at the same bits on every kernel the CPU runs (each search
/// is the exact f64 nearest), for k-means||, k-means++ and mini-batch, with
/// duplicated rows; its Davies–Bouldin from the final assignment equals
/// the index recomputed by a brute-force pass over the rows.
#[test]
fn fit_is_identical_on_every_kernel() {
    let kernels = crate::nearest::paths_tests::runnable_kernels("fit_is_identical_on_every_kernel");
    let mut rng = Rng::new(77);
    let d = 5;
    let mut data: Vec<f32> = (0..3001 * d)
        .map(|_| (rng.next_f64() * 8.0).round() as f32 * 0.5 + rng.below(3) as f32)
        .collect();
    data.extend_from_within(..100 * d);
    for (init, batch) in [
        (Init::Parallel, None),
        (Init::PlusPlus, None),
        (Init::Parallel, Some(500)),
    ] {
        let opts = KMeansOptions {
            k: 19,
            max_iterations: 15,
            tolerance: 0.0,
            init,
            batch_size: batch,
            ..options(19, 2)
        };
        let fits: Vec<KMeansFit> = kernels
            .iter()
            .map(|&kernel| fit_with(&mut data.clone(), d, &opts, kernel).unwrap())
            .collect();
        for (kernel, other) in kernels.iter().zip(&fits) {
            assert_eq!(
                other, &fits[0],
                "{kernel} against {}, {init:?} {batch:?}",
                kernels[0]
            );
        }
        let rows: Vec<f64> = data.iter().map(|&x| f64::from(x)).collect();
        let brute = crate::metrics::davies_bouldin(&rows, d, &fits[0].centroids);
        let from_fit = fits[0].davies_bouldin(d);
        assert!(
            (brute - from_fit).abs() <= 1e-9 * brute,
            "{init:?} {batch:?}: {from_fit} vs {brute}"
        );
        let inertia: f64 = rows
            .chunks_exact(d)
            .map(|x| nearest(&fits[0].centroids, d, x).1)
            .sum();
        assert!((inertia - fits[0].inertia).abs() <= 1e-9 * inertia);
    }
}

/// The keyed, threaded sort gives `cmp_rows`' order on enough rows to
/// split across threads, with long runs of tied keys (odd d, so the last
/// key has one coordinate), signed zeros, infinities and NaNs.
#[test]
fn threaded_sort_matches_cmp_rows() {
    let mut rng = Rng::new(9);
    let d = 5;
    let special = [
        0.0,
        -0.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        -f32::NAN,
        1e-42,
    ];
    let mut data: Vec<f32> = (0..70_001 * d)
        .map(|i| match rng.below(10) {
            0 => special[rng.below(special.len())],
            _ if i % d < 2 => rng.below(3) as f32 - 1.0,
            _ => (rng.next_f64() * 4.0 - 2.0) as f32,
        })
        .collect();
    data.extend_from_within(..500 * d);
    let bits = |rows: &[f32]| -> Vec<u32> { rows.iter().map(|x| x.to_bits()).collect() };
    let mut want: Vec<&[f32]> = data.chunks(d).collect();
    want.sort_by(|a, b| cmp_rows(a, b));
    let want: Vec<u32> = want.iter().flat_map(|r| bits(r)).collect();
    for threads in [1, 2, 3] {
        let mut got = data.clone();
        sort_rows_on(&mut got, d, threads);
        assert!(bits(&got) == want, "{threads} threads");
    }
}

/// More clusters than distinct rows is refused with the statement's
/// message (counted on the sorted rows, bit patterns compared).
#[test]
fn more_clusters_than_distinct_rows_is_an_error() {
    let d = 2;
    let mut data: Vec<f32> = [[1.0, 2.0], [3.0, 4.0], [1.0, 2.0], [0.0, 0.0], [-0.0, 0.0]]
        .iter()
        .cycle()
        .take(50)
        .flatten()
        .copied()
        .collect();
    // 0.0 and -0.0 differ in bits: 4 distinct rows.
    assert!(fit(&data, d, &options(4, 1)).is_ok());
    let err = fit(&data, d, &options(5, 1)).unwrap_err();
    assert_eq!(
        err.0,
        "num_clusters 5 is more than the 4 distinct rows of the training data"
    );
    data.extend([9.0, 9.0]);
    assert!(fit(&data, d, &options(5, 2)).is_ok());
}

/// Plain Lloyd from `seeds`: assign, then `iterations` times move the
/// centroids to their points' means and assign again; the centroids and
/// the sizes of the last assignment.
fn plain_lloyd(data: &[f32], d: usize, seeds: &[f64], iterations: u32) -> (Vec<f64>, Vec<u64>) {
    let (n, k) = (data.len() / d, seeds.len() / d);
    let mut c = seeds.to_vec();
    let assign_all = |c: &[f64]| -> Vec<usize> {
        (0..n)
            .map(|i| {
                let p: Vec<f64> = data[i * d..(i + 1) * d]
                    .iter()
                    .map(|&x| f64::from(x))
                    .collect();
                nearest(c, d, &p).0
            })
            .collect()
    };
    let mut assign = assign_all(&c);
    for _ in 0..iterations {
        let mut sums = vec![0.0; k * d];
        let mut counts = vec![0u64; k];
        for i in 0..n {
            counts[assign[i]] += 1;
            for t in 0..d {
                sums[assign[i] * d + t] += f64::from(data[i * d + t]);
            }
        }
        for j in 0..k {
            if counts[j] > 0 {
                for t in 0..d {
                    c[j * d + t] = sums[j * d + t] / counts[j] as f64;
                }
            }
        }
        assign = assign_all(&c);
    }
    let mut sizes = vec![0u64; k];
    for &a in &assign {
        sizes[a] += 1;
    }
    (c, sizes)
}

/// Heavy-tailed rows with many ties, like order counts and sums: a few
/// clusters far out move a lot each iteration while the bulk's barely do,
/// which is what the split drift bounds exploit. Every iteration must
/// still end where plain Lloyd's does, on every kernel.
#[test]
fn drift_bounds_match_plain_lloyd_on_heavy_tails() {
    let mut rng = Rng::new(20);
    let (n, d, k) = (6000, 4, 24);
    let data: Vec<f32> = (0..n * d)
        .map(|t| {
            let u = rng.next_f64().max(1e-9);
            let heavy = u.powf(-0.8) - 1.0;
            // Integers in some columns (counts: ties), reals in others.
            if t % 2 == 0 {
                heavy.floor() as f32
            } else {
                heavy as f32
            }
        })
        .collect();
    let seeds = kmeans_plus_plus(&data, None, d, k, &mut Rng::new(5), 1);
    for iterations in [1, 4, 12] {
        let (want, want_sizes) = plain_lloyd(&data, d, &seeds, iterations);
        for kernel in crate::nearest::paths_tests::runnable_kernels("drift_bounds") {
            let opts = KMeansOptions {
                tolerance: -1.0,
                max_iterations: iterations,
                ..options(k, 2)
            };
            let mut profile = Some(FitProfile::default());
            let fast = lloyd_hamerly(&data, d, seeds.clone(), &opts, -1.0, kernel, &mut profile);
            assert_eq!(fast.sizes, want_sizes, "{kernel}, {iterations} iterations");
            for (a, b) in fast.centroids.iter().zip(&want) {
                assert!(
                    (a - b).abs() <= 1e-9 * (1.0 + b.abs()),
                    "{kernel}: {a} vs {b}"
                );
            }
            // The bounds do skip points (else this tests nothing).
            let profile = profile.unwrap_or_default();
            if iterations == 12 {
                let last = profile.iterations.last().map_or(n as u64, |i| i.searched);
                assert!(last < n as u64 / 4, "{kernel}: searched {last} of {n}");
            }
        }
    }
}
