use super::*;

fn records(rows: &[(&str, &[Option<&str>])], columns: &[&str]) -> Records {
    let ids = rows.iter().map(|r| r.0.to_string()).collect();
    let cols = columns
        .iter()
        .enumerate()
        .map(|(c, name)| {
            (
                name.to_string(),
                rows.iter().map(|r| r.1[c].map(str::to_string)).collect(),
            )
        })
        .collect();
    Records::new(ids, None, cols).unwrap()
}

fn settings(comparisons: &[&str], blocking: &[&str]) -> Settings {
    Settings {
        link_type: LinkType::Dedupe,
        comparisons: comparisons
            .iter()
            .map(|c| Comparison::parse(c).unwrap())
            .collect(),
        blocking: blocking
            .iter()
            .map(|b| parse_blocking_rule(b).unwrap())
            .collect(),
        max_pairs: 1_000_000,
        u_samples: 100_000,
        seed: 1,
        max_iterations: 200,
        tolerance: 1e-8,
        deterministic: Vec::new(),
        recall: 0.8,
        max_cluster_size: DEFAULT_MAX_CLUSTER_SIZE,
    }
}

/// The match weight is log2 of the prior odds plus the log2 Bayes factors
/// of the non-NULL levels; the probability is 2^w/(1+2^w). Worked by hand.
#[test]
fn bayes_factor_arithmetic() {
    let recs = records(
        &[
            ("a", &[Some("x"), Some("anna"), None]),
            ("b", &[Some("x"), Some("anna"), Some("1")]),
            ("c", &[Some("x"), Some("bob"), Some("1")]),
        ],
        &["blk", "name", "n"],
    );
    let s = settings(&["name: exact", "n: exact"], &["blk"]);
    let cand = Candidates::new(&recs, &s.comparisons, &s.blocking, 100).unwrap();
    let model = LinkageModel {
        link_type: LinkType::Dedupe,
        comparisons: s.comparisons.clone(),
        blocking: s.blocking.clone(),
        max_pairs: 100,
        m: vec![vec![0.1, 0.9], vec![0.2, 0.8]],
        u: vec![vec![0.99, 0.01], vec![0.5, 0.5]],
        trained: vec![true, true],
        // The prior odds are the random-pair ones, not λ's.
        lambda: 0.5,
        prior: Some(0.2),
        max_cluster_size: DEFAULT_MAX_CLUSTER_SIZE,
        pairs: 3,
        u_samples: 0,
        iterations: 0,
        converged: true,
    };
    let links = model.score(&cand, &cand.pairs(), 0.0);
    assert_eq!(links.len(), 3);
    let prior = (0.2f64 / 0.8).log2(); // -2
    // (a, b): name exact (BF 90), n NULL (BF 1).
    assert_eq!(links[0].levels, vec![1, NULL_LEVEL]);
    assert!((links[0].weight - (prior + 90f64.log2())).abs() < 1e-12);
    let odds = 0.25 * 90.0;
    assert!((links[0].probability - odds / (1.0 + odds)).abs() < 1e-12);
    // (b, c): name else (0.1/0.99), n exact (0.8/0.5).
    assert_eq!(links[2].levels, vec![0, 1]);
    let w = prior + (0.1f64 / 0.99).log2() + (0.8f64 / 0.5).log2();
    assert!((links[2].weight - w).abs() < 1e-12);
    // A threshold keeps only the likely pair.
    assert_eq!(model.score(&cand, &cand.pairs(), 0.9).len(), 1);
    // A model stored before the prior existed is scored with its λ.
    let old = LinkageModel {
        lambda: 0.2,
        prior: None,
        ..model.clone()
    };
    assert_eq!(old.score(&cand, &cand.pairs(), 0.0), links);

    // Term frequency: "anna" is 2 of 3 names, so exact agreement on it has
    // Bayes factor m/tf = 0.9 / (2/3) instead of m/u.
    let mut tf = model.clone();
    tf.comparisons[0].term_frequency = true;
    let cand = Candidates::new(&recs, &tf.comparisons, &tf.blocking, 100).unwrap();
    let links = tf.score(&cand, &cand.pairs(), 0.0);
    assert!((links[0].weight - (prior + (0.9f64 / (2.0 / 3.0)).log2())).abs() < 1e-12);
}

/// Named columns of text values.
type Columns = Vec<(String, Vec<Option<String>>)>;

/// A small population with planted duplicates: training finds them.
fn population(seed: u64, people: usize) -> (Vec<String>, Columns, Vec<usize>) {
    let syllables = [
        "an", "ber", "cla", "die", "ev", "fran", "gre", "han", "id", "jo", "kar", "le", "ma", "no",
        "ot", "pau", "ri", "sa", "ti", "wol",
    ];
    let mut rng = Rng::new(seed);
    let name = |rng: &mut Rng, parts: usize| -> String {
        (0..parts)
            .map(|_| syllables[rng.below(syllables.len())])
            .collect()
    };
    let typo = |rng: &mut Rng, s: &str| -> String {
        let mut c: Vec<char> = s.chars().collect();
        let i = rng.below(c.len() - 1);
        c.swap(i, i + 1);
        c.into_iter().collect()
    };
    let (mut ids, mut truth) = (Vec::new(), Vec::new());
    let mut cols: Vec<Vec<Option<String>>> = vec![Vec::new(); 4];
    for p in 0..people {
        let f = name(&mut rng, 2);
        let l = name(&mut rng, 3);
        let dob = format!(
            "19{:02}{:02}{:02}",
            40 + rng.below(60),
            1 + rng.below(12),
            1 + rng.below(28)
        );
        let zip = format!("{}", 10_000 + rng.below(500));
        let copies = 1 + usize::from(rng.next_f64() < 0.4);
        for copy in 0..copies {
            let mut v = [f.clone(), l.clone(), dob.clone(), zip.clone()];
            // The second copy has one typo in a name or the birth date.
            if copy > 0 {
                let k = rng.below(3);
                v[k] = typo(&mut rng, &v[k]);
            }
            ids.push(format!("r{:05}", ids.len()));
            truth.push(p);
            for (c, x) in v.into_iter().enumerate() {
                cols[c].push((rng.next_f64() > 0.03).then_some(x));
            }
        }
    }
    let names = ["first", "last", "dob", "zip"];
    (
        ids,
        names.iter().map(|n| n.to_string()).zip(cols).collect(),
        truth,
    )
}

#[test]
fn training_finds_planted_duplicates() {
    let (ids, cols, truth) = population(3, 3000);
    let recs = Records::new(ids.clone(), None, cols.clone()).unwrap();
    let s = settings(
        &[
            "first: jaro_winkler",
            "last: jaro_winkler",
            "dob: date",
            "zip: exact",
        ],
        &["dob", "zip", "first, last"],
    );
    let cand = Candidates::new(&recs, &s.comparisons, &s.blocking, s.max_pairs).unwrap();
    let pairs = cand.pairs();
    let model = train(&cand, &pairs, &s).unwrap();
    assert!(model.trained.iter().all(|&t| t));
    let links = model.score(&cand, &pairs, 0.5);
    // Ids are r00000… in creation order, so sorted index = creation index.
    let true_pairs: usize = {
        let mut per = std::collections::HashMap::new();
        for &p in &truth {
            *per.entry(p).or_insert(0usize) += 1;
        }
        per.values().map(|&c| c * (c - 1) / 2).sum()
    };
    let correct = links
        .iter()
        .filter(|l| truth[l.left as usize] == truth[l.right as usize])
        .count();
    let precision = correct as f64 / links.len() as f64;
    let recall = correct as f64 / true_pairs as f64;
    assert!(
        precision > 0.97 && recall > 0.9,
        "precision {precision} recall {recall}"
    );
    // Order of the rows does not matter.
    let mut order: Vec<usize> = (0..ids.len()).collect();
    order.reverse();
    let shuffled = Records::new(
        order.iter().map(|&i| ids[i].clone()).collect(),
        None,
        cols.iter()
            .map(|(n, v)| (n.clone(), order.iter().map(|&i| v[i].clone()).collect()))
            .collect(),
    )
    .unwrap();
    let cand2 = Candidates::new(&shuffled, &s.comparisons, &s.blocking, s.max_pairs).unwrap();
    assert_eq!(train(&cand2, &cand2.pairs(), &s).unwrap(), model);
}

#[test]
fn refusals_name_the_problem() {
    let recs = records(
        &[
            ("a", &[Some("x")]),
            ("b", &[Some("x")]),
            ("c", &[Some("x")]),
        ],
        &["blk"],
    );
    let s = settings(&["blk: exact"], &["blk"]);
    let e = Candidates::new(&recs, &s.comparisons, &s.blocking, 2)
        .unwrap_err()
        .0;
    assert!(
        e.contains("3 candidate pairs, more than max_pairs 2") && e.contains("'blk': 3"),
        "{e}"
    );
    let s = settings(&["name: exact"], &["blk"]);
    let e = Candidates::new(&recs, &s.comparisons, &s.blocking, 10)
        .unwrap_err()
        .0;
    assert!(
        e.contains("comparison 'name: exact' names column name"),
        "{e}"
    );
    let s = settings(&["blk: exact"], &["nope"]);
    let e = Candidates::new(&recs, &s.comparisons, &s.blocking, 10)
        .unwrap_err()
        .0;
    assert!(e.contains("blocking rule 'nope'"), "{e}");
    let e = Records::new(vec!["a".into(), "a".into()], None, vec![])
        .unwrap_err()
        .0;
    assert!(e.contains("\"a\" appears more than once"), "{e}");
    assert!(Records::new(vec![], None, vec![]).is_err());
    let e = Records::new(vec!["a".into()], Some(vec!["s".into()]), vec![])
        .unwrap_err()
        .0;
    assert!(e.contains("at least two sources"), "{e}");
    // Blocks with no pair in them.
    let lonely = records(&[("a", &[Some("x")]), ("b", &[Some("y")])], &["blk"]);
    let s = settings(&["blk: exact"], &["blk"]);
    let cand = Candidates::new(&lonely, &s.comparisons, &s.blocking, 10).unwrap();
    assert!(
        train(&cand, &cand.pairs(), &s)
            .unwrap_err()
            .0
            .contains("no candidate pairs")
    );
}

/// Possible pairs: all pairs for a dedupe, pairs across sources for a link.
#[test]
fn possible_pairs_count() {
    let cols = || vec![("blk".to_string(), vec![Some("x".to_string()); 5])];
    let ids = || (1..=5).map(|i| i.to_string()).collect::<Vec<_>>();
    assert_eq!(
        Records::new(ids(), None, cols()).unwrap().possible_pairs(),
        10
    );
    let sources = ["a", "b", "a", "b", "a"].map(String::from).to_vec();
    let linked = Records::new(ids(), Some(sources), cols()).unwrap();
    assert_eq!(linked.possible_pairs(), 3 * 2);
}

#[test]
fn link_pairs_run_across_sources() {
    let cols = vec![("blk".to_string(), vec![Some("x".to_string()); 4])];
    let recs = Records::new(
        vec!["1".into(), "2".into(), "3".into(), "4".into()],
        Some(vec!["b".into(), "a".into(), "b".into(), "a".into()]),
        cols,
    )
    .unwrap();
    let s = settings(&["blk: exact"], &["blk"]);
    let cand = Candidates::new(&recs, &s.comparisons, &s.blocking, 10).unwrap();
    // Left is always the record of source "a" (ids 2 and 4: indexes 1, 3).
    assert_eq!(cand.pairs(), vec![(1, 0), (1, 2), (3, 0), (3, 2)]);
}

#[test]
fn components() {
    assert_eq!(
        clusters(6, &[(4, 5), (1, 4), (2, 3)]),
        vec![0, 1, 2, 2, 1, 1]
    );
}

/// Strongest links first; a merge past the cap is refused, worked by hand:
/// 0-1 and 1-2 make {0, 1, 2}; 2-3 would make four; 3-4 makes {3, 4}.
#[test]
fn capped_clusters_refuse_chains() {
    let links = [(2, 3, 8.0), (3, 4, 1.0), (0, 1, 10.0), (1, 2, 9.0)];
    assert_eq!(capped_clusters(5, &links, 3), (vec![0, 0, 0, 3, 3], 1));
    // Without a cap, connected components.
    assert_eq!(capped_clusters(5, &links, 5), (vec![0; 5], 0));
}

/// On a random graph: no cluster passes the cap, every refused link
/// would have passed it, and with no cap the clusters are the connected
/// components found by a breadth-first search.
#[test]
fn capped_clusters_on_random_graphs() {
    let mut rng = Rng::new(7);
    let n = 400;
    let links: Vec<(u32, u32, f64)> = (0..500)
        .map(|_| (rng.below(n) as u32, rng.below(n) as u32, rng.next_f64()))
        .collect();
    let mut adjacent = vec![Vec::new(); n];
    for &(a, b, _) in &links {
        adjacent[a as usize].push(b);
        adjacent[b as usize].push(a);
    }
    let mut component = vec![u32::MAX; n];
    for start in 0..n {
        if component[start] != u32::MAX {
            continue;
        }
        let mut queue = std::collections::VecDeque::from([start as u32]);
        component[start] = start as u32;
        while let Some(x) = queue.pop_front() {
            for &y in &adjacent[x as usize] {
                if component[y as usize] == u32::MAX {
                    component[y as usize] = start as u32;
                    queue.push_back(y);
                }
            }
        }
    }
    assert_eq!(capped_clusters(n, &links, u64::MAX), (component, 0));
    for cap in [2, 5, 20] {
        let (of, refused) = capped_clusters(n, &links, cap);
        let mut sizes = std::collections::HashMap::new();
        for &c in &of {
            *sizes.entry(c).or_insert(0u64) += 1;
        }
        assert!(sizes.values().all(|&s| s <= cap), "cap {cap}");
        let refusals = links
            .iter()
            .filter(|&&(a, b, _)| of[a as usize] != of[b as usize])
            .count() as u64;
        assert_eq!(refused, refusals, "cap {cap}");
        for &(a, b, _) in &links {
            let (x, y) = (of[a as usize], of[b as usize]);
            if x != y {
                assert!(sizes[&x] + sizes[&y] > cap, "cap {cap}: {a}-{b} could join");
            }
        }
    }
}

/// With deterministic rules, λ is the candidate pairs that agree exactly
/// on every column of a rule, over the rule's recall, over all candidate
/// pairs — counted here from the raw values.
#[test]
fn deterministic_rules_set_the_prior() {
    let (ids, cols, truth) = population(3, 3000);
    let recs = Records::new(ids, None, cols.clone()).unwrap();
    let mut s = settings(
        &[
            "first: jaro_winkler",
            "last: jaro_winkler",
            "dob: date",
            "zip: exact",
        ],
        &["dob", "zip", "first, last"],
    );
    s.deterministic = vec![vec!["dob".into(), "zip".into()]];
    s.recall = 0.7;
    let cand = Candidates::new(&recs, &s.comparisons, &s.blocking, s.max_pairs).unwrap();
    let pairs = cand.pairs();
    let model = train(&cand, &pairs, &s).unwrap();
    let value = |c: usize, row: u32| cols[c].1[row as usize].as_deref();
    let same = |c: usize, i: u32, j: u32| value(c, i).is_some() && value(c, i) == value(c, j);
    let agreeing = pairs
        .iter()
        .filter(|&&(i, j)| same(2, i, j) && same(3, i, j))
        .count();
    let expected = agreeing as f64 / 0.7 / pairs.len() as f64;
    assert!(
        (model.lambda - expected).abs() < 1e-12,
        "{} vs {expected}",
        model.lambda
    );
    // The scoring prior is the same count over every pair of records.
    let n = recs.len() as f64;
    let prior = agreeing as f64 / 0.7 / (n * (n - 1.0) / 2.0);
    assert!(
        (model.prior.unwrap() - prior).abs() < 1e-15,
        "{:?} vs {prior}",
        model.prior
    );
    // A looser blocking rule brings more candidate pairs, all but a few
    // non-matches: λ falls, the prior over random pairs stays
    let mut loose = s.clone();
    loose.blocking.push(vec!["last".into()]);
    let wide =
        Candidates::new(&recs, &loose.comparisons, &loose.blocking, loose.max_pairs).unwrap();
    let wide_pairs = wide.pairs();
    assert!(wide_pairs.len() > pairs.len());
    let widened = train(&wide, &wide_pairs, &loose).unwrap();
    assert!(widened.lambda < model.lambda);
    // (every pair agreeing on dob and zip was a candidate already)
    assert!((widened.prior.unwrap() - prior).abs() < 1e-15);
    // The links are as good as with λ fitted.
    let links = model.score(&cand, &pairs, 0.5);
    let correct = links
        .iter()
        .filter(|l| truth[l.left as usize] == truth[l.right as usize])
        .count();
    assert!(
        correct as f64 / links.len() as f64 > 0.97,
        "{correct} of {}",
        links.len()
    );
    // Bad rules and recalls are named.
    for (rule, recall, says) in [
        (
            vec!["email".to_string()],
            0.8,
            "names email, which no comparison compares",
        ),
        (
            vec!["zip".to_string()],
            0.0,
            "deterministic_recall must be in (0, 1]",
        ),
        (
            vec!["zip".to_string()],
            1.5,
            "deterministic_recall must be in (0, 1]",
        ),
    ] {
        let bad = Settings {
            deterministic: vec![rule],
            recall,
            ..s.clone()
        };
        let e = train(&cand, &pairs, &bad).unwrap_err().0;
        assert!(e.contains(says), "{e}");
    }
    let none = records(
        &[
            ("a", &[Some("x"), Some("1")]),
            ("b", &[Some("x"), Some("2")]),
        ],
        &["blk", "z"],
    );
    let mut s = settings(&["blk: exact", "z: exact"], &["blk"]);
    s.deterministic = vec![vec!["z".into()]];
    let cand = Candidates::new(&none, &s.comparisons, &s.blocking, 10).unwrap();
    let e = train(&cand, &cand.pairs(), &s).unwrap_err().0;
    assert!(e.contains("match none of the 1 candidate pairs"), "{e}");
}
