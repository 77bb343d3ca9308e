//! Which nearest-centroid kernel runs: an instruction set ([`Path`]) and a
//! point layout ([`Layout`]), chosen once per process from the CPU, or
//! forced (for tests, benchmarks and bisecting a wrong answer) by two
//! environment variables:
//!
//! - `MICROSEG_KERNEL_PATH` = `auto` (default) | `avx512` | `avx2` |
//!   `portable`: the widest instruction set the kernels may use.
//! - `MICROSEG_KERNEL_LAYOUT` = `auto` (default) | `panel` | `row`: the
//!   layout training transposes its points into for the search, and the
//!   one [`Layout::preferred`] reports to callers that encode their own.
//!
//! `auto` is the widest path the CPU has, with panels where that is
//! AVX-512 and rows elsewhere. The code each pair runs:
//!
//! | layout | avx512 | avx2 | portable |
//! |---|---|---|---|
//! | panel | AVX-512 panel kernel | portable panel code | portable panel code |
//! | row | AVX2 + FMA row kernel | AVX2 + FMA row kernel | portable row code |
//!
//! (there is no AVX2 panel kernel and no AVX-512 row kernel; the settling
//! of near ties uses AVX2 on the avx512 and avx2 paths). Every pair gives
//! the same answer, the exact `f64` nearest centroid.
//!
//! Forcing a path the CPU lacks never executes its instructions: the
//! widest path below it that the CPU has is used, and a warning naming
//! both goes to stderr (once). An unknown value is also a warning, and
//! means `auto`. Tests choose kernels with [`Kernel::new`] and
//! [`super::Centroids::with_kernel`] rather than the environment, which is
//! read only once.

use std::sync::OnceLock;

use super::Layout;

/// The instruction sets the kernels have code for, widest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Path {
    /// AVX-512F (with AVX2 and FMA, which every such CPU has).
    Avx512,
    /// AVX2 and FMA.
    Avx2,
    /// No vector instructions chosen at run time: what the compiler makes
    /// of the portable code for the build target.
    Portable,
}

impl Path {
    /// Every path, widest first.
    pub const ALL: [Path; 3] = [Path::Avx512, Path::Avx2, Path::Portable];

    /// The spelling of `MICROSEG_KERNEL_PATH`.
    pub fn name(self) -> &'static str {
        match self {
            Path::Avx512 => "avx512",
            Path::Avx2 => "avx2",
            Path::Portable => "portable",
        }
    }

    /// Whether this CPU can run the path.
    pub fn supported(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            let avx2 = has!("avx2") && has!("fma");
            match self {
                Path::Avx512 => avx2 && has!("avx512f"),
                Path::Avx2 => avx2,
                Path::Portable => true,
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            self == Path::Portable
        }
    }

    /// The widest path this CPU can run.
    pub fn best() -> Path {
        Path::ALL
            .into_iter()
            .find(|p| p.supported())
            .unwrap_or(Path::Portable)
    }

    /// `self` if `has` it, else the widest path below it that `has`.
    fn at_most(self, has: impl Fn(Path) -> bool) -> Path {
        Path::ALL
            .into_iter()
            .filter(|&p| p >= self)
            .find(|&p| has(p))
            .unwrap_or(Path::Portable)
    }
}

impl Layout {
    /// The spelling of `MICROSEG_KERNEL_LAYOUT`.
    pub fn name(self) -> &'static str {
        match self {
            Layout::Rows => "row",
            Layout::Panels => "panel",
        }
    }
}

/// A path the CPU has and a layout. The fields are private so a kernel
/// with a path the CPU lacks cannot be made: the vector code relies on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kernel {
    path: Path,
    layout: Layout,
}

impl Kernel {
    /// `path` with `layout`, or `None` when the CPU cannot run `path`.
    pub fn new(path: Path, layout: Layout) -> Option<Kernel> {
        path.supported().then_some(Kernel { path, layout })
    }

    /// The fastest kernel on this CPU: the widest path, panels with
    /// AVX-512 (where the panel kernel is several times the row kernel's
    /// speed), rows without it (where panels run portable code).
    pub fn auto() -> Kernel {
        let path = Path::best();
        let layout = if path == Path::Avx512 {
            Layout::Panels
        } else {
            Layout::Rows
        };
        Kernel { path, layout }
    }

    /// The kernel of this process: [`Kernel::auto`] unless the environment
    /// forces a path or layout (see the module docs). Read once.
    pub fn chosen() -> Kernel {
        static CHOSEN: OnceLock<Kernel> = OnceLock::new();
        *CHOSEN.get_or_init(|| {
            let path = std::env::var("MICROSEG_KERNEL_PATH").ok();
            let layout = std::env::var("MICROSEG_KERNEL_LAYOUT").ok();
            let (kernel, warnings) = Kernel::from_settings(path.as_deref(), layout.as_deref());
            for warning in warnings {
                eprintln!("microseg: {warning}");
            }
            kernel
        })
    }

    /// The kernel the two settings ask for (`None`: unset), and the
    /// warnings to print: how [`Kernel::chosen`] reads the environment.
    pub fn from_settings(path: Option<&str>, layout: Option<&str>) -> (Kernel, Vec<String>) {
        Kernel::from_settings_on(path, layout, |_| true)
    }

    /// [`Kernel::from_settings`] on a CPU that has only the paths both
    /// `has` and this one has: how tests see the fallback on a CPU that
    /// has every path.
    pub(super) fn from_settings_on(
        path: Option<&str>,
        layout: Option<&str>,
        has: impl Fn(Path) -> bool,
    ) -> (Kernel, Vec<String>) {
        let has = |p: Path| p == Path::Portable || has(p) && p.supported();
        let best = Path::ALL
            .into_iter()
            .find(|&p| has(p))
            .unwrap_or(Path::Portable);
        let auto = Kernel {
            path: best,
            layout: if best == Path::Avx512 {
                Layout::Panels
            } else {
                Layout::Rows
            },
        };
        let mut warnings = Vec::new();
        let path = match path.map(|p| p.trim().to_ascii_lowercase()).as_deref() {
            None | Some("" | "auto") => auto.path,
            Some(name) => match Path::ALL.into_iter().find(|p| p.name() == name) {
                Some(wanted) => {
                    let got = wanted.at_most(has);
                    if got != wanted {
                        warnings.push(format!(
                            "MICROSEG_KERNEL_PATH={name}: this CPU lacks it; using {}",
                            got.name()
                        ));
                    }
                    got
                }
                None => {
                    warnings.push(format!(
                        "MICROSEG_KERNEL_PATH={name} is not auto, avx512, avx2 or portable; using auto ({})",
                        auto.path.name()
                    ));
                    auto.path
                }
            },
        };
        // Panels only pay with the AVX-512 kernel behind them.
        let fitting = if path == Path::Avx512 {
            Layout::Panels
        } else {
            Layout::Rows
        };
        let layout = match layout.map(|l| l.trim().to_ascii_lowercase()).as_deref() {
            None | Some("" | "auto") => fitting,
            Some("panel" | "panels") => Layout::Panels,
            Some("row" | "rows") => Layout::Rows,
            Some(name) => {
                warnings.push(format!(
                    "MICROSEG_KERNEL_LAYOUT={name} is not auto, panel or row; using auto ({})",
                    fitting.name()
                ));
                fitting
            }
        };
        (Kernel { path, layout }, warnings)
    }

    /// The instruction set.
    pub fn path(self) -> Path {
        self.path
    }

    /// The layout of the search.
    pub fn layout(self) -> Layout {
        self.layout
    }

    /// Which code runs the search (see the table in the module docs).
    pub fn code(self) -> &'static str {
        match (self.layout, self.path) {
            (Layout::Panels, Path::Avx512) => "AVX-512 panel kernel",
            (Layout::Panels, _) => "portable panel code",
            (Layout::Rows, Path::Portable) => "portable row code",
            (Layout::Rows, _) => "AVX2 + FMA row kernel",
        }
    }
}

impl std::fmt::Display for Kernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} × {}", self.layout.name(), self.path.name())
    }
}
