//! The search training runs: row-major points, each answered with its
//! exact nearest centroid, that distance, and a lower bound on the distance
//! to every other centroid (Hamerly's bounds need it), in the kernel's
//! layout. Panels are filled from the rows a call at a time, into buffers
//! the caller keeps, so the hot loop allocates nothing.
//!
//! The kernels certify their f32 winner with a rounding margin scaled by
//! the largest centroid norm. Where a few centroids sit far out (heavy
//! tails), that margin exceeds the gaps between the centroids around most
//! points, so a winner the kernel left uncertified is confirmed here
//! against a bound that splits the centroids by norm
//! ([`Centroids::split_floor`]) before falling back to the f64 scan, and
//! the same bound tightens the runner-up bound Hamerly's iterations use.

use super::{Centroids, Layout, Nearest, PANEL, PANEL_LIMIT, Tile, approx_scan, margin};
use crate::kmeans::sq_dist;

/// Buffers a search reuses from call to call: keep one per thread.
#[derive(Debug, Default)]
pub struct Scratch {
    approx: Vec<Tile>,
    found: Vec<Nearest>,
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
            let runner_up = f64::from(second);
            let (best, second) = (xn + f64::from(best), xn + runner_up);
            // An infinite runner-up is only genuine for k = 1; otherwise it
            // is f32 overflow (coordinates beyond ~1e19), settled in f64.
            let clear = second - best > 2.0 * slack && (second.is_finite() || self.k == 1);
            let split = self.split_floor(xn, runner_up, |norm| margin(d, xn, norm));
            let j = index as usize;
            *o = if clear {
                Nearest {
                    index,
                    dist: sq_dist(x, &self.exact[j * d..(j + 1) * d]),
                    second: (second - slack).max(split).max(0.0),
                }
            } else {
                let whole = self.whole_floor(xn, runner_up, slack);
                self.confirm(x, j, xn, whole.max(split))
            };
        }
    }

    /// The panel kernel: the rows transposed into panels, the certified
    /// winners confirmed in f64 with the runner-up's f32 value, less the
    /// whole certification margin, as the lower bound; the others (near
    /// ties, huge or NaN coordinates) rescanned in f64.
    fn nearest_panels(&self, points: &[f32], out: &mut [Nearest], scratch: &mut Scratch) {
        self.scan_rows_as_panels(points, scratch);
        for (i, (x, o)) in points.chunks_exact(self.d).zip(out.iter_mut()).enumerate() {
            *o = self.finish_lane(x, i, scratch);
        }
    }

    /// The rows transposed into panels and scanned: each lane's f32
    /// winner, runner-up value and certification in `scratch`.
    fn scan_rows_as_panels(&self, points: &[f32], scratch: &mut Scratch) {
        let d = self.d;
        let n = points.len() / d;
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
    }

    /// Point `x`, lane `i` of [`Centroids::scan_rows_as_panels`]'s scan:
    /// its exact nearest centroid and the bound on the others.
    #[inline(always)]
    fn finish_lane(&self, x: &[f32], i: usize, scratch: &Scratch) -> Nearest {
        let d = self.d;
        let xn: f64 = x.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
        let j = scratch.candidates[i] as usize;
        let runner_up = f64::from(scratch.seconds[i]);
        let error = self.panel_error(xn);
        let split = self.split_floor(xn, runner_up, &error);
        if scratch.certain[i / PANEL] >> (i % PANEL) & 1 == 1 {
            Nearest {
                index: j as u32,
                dist: sq_dist(x, &self.exact[j * d..(j + 1) * d]),
                second: (xn + runner_up - error(self.max_norm)).max(split).max(0.0),
            }
        } else {
            let whole = self.whole_floor(xn, runner_up, error(self.max_norm));
            self.confirm(x, j, xn, whole.max(split))
        }
    }

    /// For each point of `points` (row-major) whose exact nearest centroid
    /// is strictly nearer than `best[i].0`: `best[i]` = (that distance,
    /// `offset` + its index), exactly what [`Centroids::nearest_in`]'s
    /// answer gives; the other entries are left alone. k-means|| seeding
    /// asks this of each round's new candidates, which most points are
    /// farther from than from their current one: the panel path then
    /// proves no new candidate nearer from the f32 values alone (the
    /// winner's exact distance, and a bound on the others split by norm
    /// at the current distance) and skips the rest of the search's
    /// per-point work.
    pub fn nearer_in(
        &self,
        points: &[f32],
        best: &mut [(f64, u32)],
        offset: u32,
        scratch: &mut Scratch,
    ) {
        let d = self.d;
        debug_assert_eq!(points.len(), best.len() * d);
        if self.k == 0 || best.is_empty() {
            return;
        }
        if self.kernel.layout() == Layout::Rows {
            let mut found = std::mem::take(&mut scratch.found);
            found.clear();
            found.resize(best.len(), Nearest::default());
            self.nearest_rows(points, &mut found, &mut scratch.approx);
            for (b, f) in best.iter_mut().zip(&found) {
                if f.dist < b.0 {
                    *b = (f.dist, offset + f.index);
                }
            }
            scratch.found = found;
            return;
        }
        self.scan_rows_as_panels(points, scratch);
        for (i, (x, b)) in points.chunks_exact(d).zip(best.iter_mut()).enumerate() {
            let j = scratch.candidates[i] as usize;
            if j < self.k {
                let dist = sq_dist(x, &self.exact[j * d..(j + 1) * d]);
                if scratch.certain[i / PANEL] >> (i % PANEL) & 1 == 1 {
                    if dist < b.0 {
                        *b = (dist, offset + j as u32);
                    }
                    continue;
                }
                if dist >= b.0 && self.none_below(x, f64::from(scratch.seconds[i]), b.0) {
                    continue;
                }
            }
            let f = self.finish_lane(x, i, scratch);
            if f.dist < b.0 {
                *b = (f.dist, offset + f.index);
            }
        }
    }

    /// Whether every centroid but the panel kernel's winner is certainly
    /// at an `f64` squared distance (as [`sq_dist`] computes it) of at
    /// least `cur` from `x`, given the least f32 value among them,
    /// `runner_up`: those with ‖c‖² ≤ T = (‖x‖ + √c')² (c' = `cur` plus
    /// room for the f64 rounding) are at least ‖x‖² + `runner_up` less
    /// T's rounding margin away, those beyond at least c' (triangle
    /// inequality). The same bound as [`Centroids::split_floor`], split
    /// at the current distance instead of the runner-up's.
    #[inline(always)]
    fn none_below(&self, x: &[f32], runner_up: f64, cur: f64) -> bool {
        if !(cur.is_finite() && runner_up.is_finite()) {
            return false;
        }
        let xn: f64 = x.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
        // NaN coordinates are out of range too.
        let in_range = xn + self.max_norm < f64::from(PANEL_LIMIT);
        if !in_range {
            return false;
        }
        let error = self.panel_error(xn);
        let target = cur + 1e-9 * (cur + xn);
        let s = xn + runner_up;
        if s - error(self.max_norm) >= target {
            return true;
        }
        let root = xn.sqrt() + target.sqrt();
        // Rounded up, so every centroid beyond T is beyond √target.
        let t = root * root * (1.0 + 1e-12);
        // The f32 copies' norms may exceed the exact ones by an ulp.
        t < self.max_norm && s - error(t * (1.0 + 1e-6)) >= target
    }

    /// The panel path's bound on the error of a centroid's f32 value
    /// (index bits included) for a point with ‖x‖² = `xn`, as a function
    /// of ‖c‖² (any bound on it).
    fn panel_error(&self, xn: f64) -> impl Fn(f64) -> f64 {
        let margin = f64::from(self.panel_margin());
        // Index bits move a value by up to 15 units in its last place,
        // which near 0 (subnormals) no relative margin covers.
        let floor = 16.0 * f64::from(f32::from_bits(1));
        move |norm: f64| margin * (xn + norm) + floor
    }

    /// A lane of the panel kernel that it left uncertified, for
    /// `cluster_assign`: its winner `j` (f32) confirmed in `f64` against
    /// the split bound from its runner-up value `runner_up` (as training
    /// does), else settled in `f64`. The exact nearest and its distance.
    pub(super) fn confirm_panel(&self, x: &[f32], j: u32, runner_up: f32) -> (u32, f64) {
        let d = self.d;
        let xn: f64 = x.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
        let (j, runner_up) = (j as usize, f64::from(runner_up));
        let error = self.panel_error(xn);
        let split = self.split_floor(xn, runner_up, &error);
        let lower = self
            .whole_floor(xn, runner_up, error(self.max_norm))
            .max(split);
        if j < self.k && lower > 0.0 {
            let dist = sq_dist(x, &self.exact[j * d..(j + 1) * d]);
            if lower > dist + 1e-9 * (dist + xn) {
                return (j as u32, dist);
            }
        }
        self.settle(x)
    }

    /// A lower bound on the squared distance from a point with ‖x‖² =
    /// `xn` to every centroid but its f32 winner, from the smallest f32
    /// value ‖c‖² − 2x·c among them (`runner_up`), when the f32 value of a
    /// centroid with ‖c‖² ≤ N is within `error(N)` of the exact one, and
    /// whatever the largest ‖c‖² is: 0 where it cannot say more than
    /// `max_norm` does.
    ///
    /// Rather than bounding every centroid's error by the largest norm (a
    /// few far-away centroids, which heavy-tailed data always has, make
    /// that margin larger than the gaps between the centroids around the
    /// bulk of the points), the centroids are split at T = (‖x‖ + √s)²,
    /// s = ‖x‖² + `runner_up`: those with ‖c‖² ≤ T are at least
    /// s − error(T) away; those beyond it at least (√T − ‖x‖)² = s (the
    /// triangle inequality, T ≥ ‖x‖²), whatever their f32 value.
    pub(super) fn split_floor(&self, xn: f64, runner_up: f64, error: impl Fn(f64) -> f64) -> f64 {
        let s = xn + runner_up;
        if !(s > 0.0 && s.is_finite()) {
            return 0.0;
        }
        let rx = xn.sqrt();
        let root = rx + s.sqrt();
        let t = root * root;
        // No centroid beyond T: the bound by the largest norm is as good.
        // Past the limit an f32 value could overflow, and a NaN from an
        // infinite one could hide a near centroid's value from the minima.
        if !(t < self.max_norm && self.max_norm < f64::from(PANEL_LIMIT)) {
            return 0.0;
        }
        // The f32 copies' norms may exceed the exact ones by an ulp.
        let near = s - error(t * (1.0 + 1e-6));
        let gap = t.sqrt() - rx - 4.0 * f64::EPSILON * t.sqrt();
        let far = if gap > 0.0 { gap * gap } else { 0.0 };
        near.min(far).max(0.0)
    }

    /// The lower bound on the other centroids that the largest norm gives
    /// (`slack` = the error bound at that norm), where no f32 value can
    /// have overflowed; 0 otherwise.
    pub(super) fn whole_floor(&self, xn: f64, runner_up: f64, slack: f64) -> f64 {
        if xn + self.max_norm < f64::from(PANEL_LIMIT) && runner_up.is_finite() {
            (xn + runner_up - slack).max(0.0)
        } else {
            0.0
        }
    }

    /// Point `x` (‖x‖² = `xn`) whose f32 scan did not certify its winner
    /// `j`: `j` stands when its exact distance is below `lower`, a lower
    /// bound on every other centroid's (with room for the rounding of the
    /// f64 arithmetic), else every centroid is scanned in f64.
    fn confirm(&self, x: &[f32], j: usize, xn: f64, lower: f64) -> Nearest {
        let d = self.d;
        if j < self.k {
            let dist = sq_dist(x, &self.exact[j * d..(j + 1) * d]);
            if lower > dist + 1e-9 * (dist + xn) {
                return Nearest {
                    index: j as u32,
                    dist,
                    second: lower,
                };
            }
        }
        #[cfg(test)]
        super::count_fallback();
        self.exact_nearest(x)
    }
}
