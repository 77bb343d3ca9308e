//! The search training runs: row-major points, each answered with its
//! exact nearest centroid, that distance, and a lower bound on the distance
//! to every other centroid (Hamerly's bounds need it), in the kernel's
//! layout. Panels are filled from the rows a call at a time, into buffers
//! the caller keeps, so the hot loop allocates nothing.

use super::{Centroids, Layout, Nearest, PANEL, Tile, approx_scan, margin};
use crate::kmeans::sq_dist;

/// Buffers a search reuses from call to call: keep one per thread.
#[derive(Debug, Default)]
pub struct Scratch {
    approx: Vec<Tile>,
    panels: Vec<f32>,
    candidates: Vec<u32>,
    certain: Vec<u16>,
    seconds: Vec<f32>,
}

impl Centroids {
    /// The nearest centroid of each point of `points` (row-major, d wide)
    /// into `out` (one per point).
    pub fn nearest(&self, points: &[f32], out: &mut [Nearest]) {
        self.nearest_in(points, out, &mut Scratch::default());
    }

    /// [`Centroids::nearest`] with the buffers of `scratch`, in the layout
    /// of the kernel: the same answer in either.
    pub fn nearest_in(&self, points: &[f32], out: &mut [Nearest], scratch: &mut Scratch) {
        debug_assert_eq!(points.len(), out.len() * self.d);
        if self.k == 0 || out.is_empty() {
            return;
        }
        match self.kernel.layout() {
            Layout::Rows => self.nearest_rows(points, out, &mut scratch.approx),
            Layout::Panels => self.nearest_panels(points, out, scratch),
        }
    }

    /// The row kernel: f32 winner and runner-up per point, the winner
    /// confirmed (or the point rescanned) in f64.
    pub(super) fn nearest_rows(&self, points: &[f32], out: &mut [Nearest], approx: &mut Vec<Tile>) {
        let d = self.d;
        approx.clear();
        approx.resize(out.len(), (0, 0.0, 0.0));
        approx_scan(self, points, approx);
        for ((x, o), &(index, best, second)) in points
            .chunks_exact(d)
            .zip(out.iter_mut())
            .zip(approx.iter())
        {
            let xn: f64 = x.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
            let slack = margin(d, xn, self.max_norm);
            let (best, second) = (xn + f64::from(best), xn + f64::from(second));
            // An infinite runner-up is only genuine for k = 1; otherwise it
            // is f32 overflow (coordinates beyond ~1e19), settled in f64.
            let clear = second - best > 2.0 * slack && (second.is_finite() || self.k == 1);
            *o = if clear {
                let j = index as usize;
                Nearest {
                    index,
                    dist: sq_dist(x, &self.exact[j * d..(j + 1) * d]),
                    second: (second - slack).max(0.0),
                }
            } else {
                self.exact_nearest(x)
            };
        }
    }

    /// The panel kernel: the rows transposed into panels, the certified
    /// winners confirmed in f64 with the runner-up's f32 value, less the
    /// whole certification margin, as the lower bound; the others (near
    /// ties, huge or NaN coordinates) rescanned in f64.
    fn nearest_panels(&self, points: &[f32], out: &mut [Nearest], scratch: &mut Scratch) {
        let d = self.d;
        let n = out.len();
        let panels = n.div_ceil(PANEL);
        let Scratch {
            panels: buffer,
            candidates,
            certain,
            seconds,
            ..
        } = scratch;
        buffer.clear();
        buffer.resize(Layout::Panels.len(n, d), 0.0);
        for (p, rows) in points.chunks(PANEL * d).enumerate() {
            let panel = &mut buffer[p * PANEL * d..(p + 1) * PANEL * d];
            for (lane, x) in rows.chunks_exact(d).enumerate() {
                for (t, &v) in x.iter().enumerate() {
                    panel[t * PANEL + lane] = v;
                }
            }
        }
        candidates.resize(panels * PANEL, 0);
        certain.resize(panels, 0);
        seconds.resize(panels * PANEL, 0.0);
        self.scan_panels(buffer, candidates, certain, seconds);
        let margin = f64::from(self.panel_margin());
        // Index bits move a value by up to 15 units in its last place,
        // which near 0 (subnormals) no relative margin covers.
        let floor = 16.0 * f64::from(f32::from_bits(1));
        for (i, (x, o)) in points.chunks_exact(d).zip(out.iter_mut()).enumerate() {
            *o = if certain[i / PANEL] >> (i % PANEL) & 1 == 1 {
                let xn: f64 = x.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
                let j = candidates[i] as usize;
                Nearest {
                    index: j as u32,
                    dist: sq_dist(x, &self.exact[j * d..(j + 1) * d]),
                    second: (xn + f64::from(seconds[i]) - margin * (xn + self.max_norm) - floor)
                        .max(0.0),
                }
            } else {
                self.exact_nearest(x)
            };
        }
    }
}
