//! Exhaustive accuracy of the fixed-point Lab path against the f64 reference,
//! over all 16,777,216 sRGB8 colours. Prints the measured maxima and means.

use colorize_shared::{lab, reference};

#[derive(Default, Clone, Copy)]
struct Stats {
    max: [f64; 3],
    sum: [f64; 3],
    worst: [[u8; 3]; 3],
    rt_max: [i32; 3],
    rt_sum: [u64; 3],
    rt_worst: [u8; 3],
}

impl Stats {
    fn merge(&mut self, o: &Stats) {
        for c in 0..3 {
            if o.max[c] > self.max[c] {
                self.max[c] = o.max[c];
                self.worst[c] = o.worst[c];
            }
            self.sum[c] += o.sum[c];
            if o.rt_max[c] > self.rt_max[c] {
                self.rt_max[c] = o.rt_max[c];
                self.rt_worst = o.rt_worst;
            }
            self.rt_sum[c] += o.rt_sum[c];
        }
    }
}

fn scan(r_range: std::ops::Range<u32>) -> Stats {
    let mut s = Stats::default();
    for r in r_range {
        for g in 0..256u32 {
            for b in 0..256u32 {
                let px = [r as u8, g as u8, b as u8];
                let (l, a, bb) = lab::rgb8_to_lab(px[0], px[1], px[2]);
                let got = [l as f64 / 256.0, a as f64 / 256.0, bb as f64 / 256.0];
                let want = reference::rgb8_to_lab(px[0], px[1], px[2]);
                for c in 0..3 {
                    let e = (got[c] - want[c]).abs();
                    s.sum[c] += e;
                    if e > s.max[c] {
                        s.max[c] = e;
                        s.worst[c] = px;
                    }
                }
                let back = lab::lab_to_rgb8(l, a, bb);
                for c in 0..3 {
                    let e = (back[c] as i32 - px[c] as i32).abs();
                    s.rt_sum[c] += e as u64;
                    if e > s.rt_max[c] {
                        s.rt_max[c] = e;
                        s.rt_worst = px;
                    }
                }
            }
        }
    }
    s
}

#[test]
fn all_srgb8_colours_forward_and_round_trip() {
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(8) as u32;
    let chunk = 256u32.div_ceil(threads);
    let parts: Vec<Stats> = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..threads)
            .map(|t| sc.spawn(move || scan(t * chunk..((t + 1) * chunk).min(256))))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut s = Stats::default();
    for p in &parts {
        s.merge(p);
    }
    let n = (1u64 << 24) as f64;
    println!("forward vs f64 reference over 16,777,216 colours:");
    for (c, name) in ["L*", "a*", "b*"].iter().enumerate() {
        println!(
            "  {name}: max {:.4} (at {:?}), mean {:.5}",
            s.max[c],
            s.worst[c],
            s.sum[c] / n
        );
    }
    println!("round trip RGB -> Lab -> RGB:");
    for (c, name) in ["R", "G", "B"].iter().enumerate() {
        println!(
            "  {name}: max {} levels, mean {:.5}",
            s.rt_max[c],
            s.rt_sum[c] as f64 / n
        );
    }
    println!("  worst round-trip colour: {:?}", s.rt_worst);
    // The README's table ("Lab in fixed point") is what this measures: a
    // figure off by more than its last printed digit fails, whether the
    // code got worse or the README went stale.
    let readme = readme_figures();
    for (c, name) in ["L*", "a*", "b*"].iter().enumerate() {
        let (max, mean) = readme[c];
        assert!(
            (s.max[c] - max).abs() <= 0.0015,
            "{name}: max error {:.4}, the README says {max}",
            s.max[c]
        );
        assert!(
            (s.sum[c] / n - mean).abs() <= 0.00015,
            "{name}: mean error {:.5}, the README says {mean}",
            s.sum[c] / n
        );
    }
    assert!(
        s.rt_max.iter().all(|&e| e <= 1),
        "round trip {:?}: the README says 1 level",
        s.rt_max
    );
}

/// (max, mean) of L*, a*, b* from the README's accuracy table.
fn readme_figures() -> [(f64, f64); 3] {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
    let text = std::fs::read_to_string(path).unwrap();
    ["| L\\* |", "| a\\* |", "| b\\* |"].map(|row| {
        let line = text
            .lines()
            .find(|l| l.starts_with(row))
            .unwrap_or_else(|| panic!("no {row} row in README.md"));
        let cells: Vec<f64> = line
            .split('|')
            .filter_map(|c| c.trim().parse().ok())
            .collect();
        assert_eq!(cells.len(), 2, "{line}");
        (cells[0], cells[1])
    })
}

#[test]
fn gray_is_exactly_neutral_and_l_is_strictly_monotone() {
    let mut prev = None;
    for v in 0..=255u8 {
        let (l, a, b) = lab::rgb8_to_lab(v, v, v);
        assert_eq!((a, b), (0, 0), "gray {v} has chroma");
        assert_eq!(l, lab::gray8_to_l(v), "gray paths disagree at {v}");
        if let Some(p) = prev {
            assert!(l > p, "L* not increasing at gray {v}: {p} -> {l}");
        }
        prev = Some(l);
        let want = reference::rgb8_to_lab(v, v, v)[0];
        assert!((l as f64 / 256.0 - want).abs() <= 0.5);
    }
    println!("gray: a* = b* = 0 for all 256 levels; L* strictly increasing");
}
