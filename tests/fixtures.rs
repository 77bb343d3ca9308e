//! Lakes shared by the tests of this binary: generated once per run.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use microseg::generate::{GenerateOptions, generate};

/// Customers in the shared small lake: enough for every table to have rows,
/// small enough for a debug build to generate in a moment.
pub const SMALL_LAKE_CUSTOMERS: u64 = 400;

/// A generated lake (seed 7) shared read-only by every test in this process.
pub fn small_lake() -> &'static Path {
    // Under cargo's per-target temp dir rather than a TempDir: a static is
    // never dropped, so a TempDir would leave one lake behind per run.
    static LAKE: OnceLock<PathBuf> = OnceLock::new();
    LAKE.get_or_init(|| {
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("small-lake");
        if out.exists() {
            std::fs::remove_dir_all(&out).expect("remove the previous test lake");
        }
        let opts = GenerateOptions {
            customers: SMALL_LAKE_CUSTOMERS,
            seed: 7,
            out: out.clone(),
            ..GenerateOptions::default()
        };
        generate(&opts, &|_, _| {}).expect("generate the shared test lake");
        out
    })
}

/// Customers in the shared medium lake: the triggers' precision and recall
/// and the per-persona campaign lift need a few hundred customers per
/// persona and per recent week (400 customers give about 20 recent
/// abandoned carts and 200 holdout sends of tech enthusiasts over two years,
/// too few for a floor); 4,000 still generate in about two seconds in a
/// debug build.
pub const MEDIUM_LAKE_CUSTOMERS: u64 = 4_000;

/// A generated lake of [`MEDIUM_LAKE_CUSTOMERS`] (seed 7, so its first 400
/// customers are the small lake's) shared read-only by the tests.
pub fn medium_lake() -> &'static Path {
    static LAKE: OnceLock<PathBuf> = OnceLock::new();
    LAKE.get_or_init(|| {
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("medium-lake");
        if out.exists() {
            std::fs::remove_dir_all(&out).expect("remove the previous medium test lake");
        }
        let opts = GenerateOptions {
            customers: MEDIUM_LAKE_CUSTOMERS,
            seed: 7,
            out: out.clone(),
            ..GenerateOptions::default()
        };
        generate(&opts, &|_, _| {}).expect("generate the medium test lake");
        out
    })
}

/// The shared lake's path as a string, as the CLI and `Engine::open` take it.
pub fn small_lake_str() -> String {
    small_lake().to_string_lossy().into_owned()
}

/// A private copy of the shared small lake, for tests that write into a
/// lake (segment sets, models) so they cannot disturb tests reading it.
pub fn small_lake_copy() -> tempfile::TempDir {
    lake_copy(small_lake())
}

/// A private copy of the shared medium lake (models trained on it).
pub fn medium_lake_copy() -> tempfile::TempDir {
    lake_copy(medium_lake())
}

fn lake_copy(lake: &Path) -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).expect("create folder");
        for entry in std::fs::read_dir(from).expect("read folder") {
            let entry = entry.expect("folder entry");
            let target = to.join(entry.file_name());
            if entry.file_type().expect("file type").is_dir() {
                copy(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), &target).expect("copy file");
            }
        }
    }
    let dir = tempfile::tempdir().expect("temp dir");
    copy(lake, dir.path());
    dir
}
