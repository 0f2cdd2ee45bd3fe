//! The model report as an SVG figure: recomputations per cycle for each strategy side by side,
//! and the sampled probability of an early refresh against remaining time for each β.

use crate::model::{ModelReport, ProbabilityCurve, Strategy, StrategyReport};
use crate::output::svg::{Anchor, Stroke, Svg, colour, tick_label, ticks};

const WIDTH: f64 = 1000.0;
const MARGIN: f64 = 30.0;
const BAR_ROW: f64 = 26.0;
const HIST_COLUMNS: usize = 3;
const HIST_CELL_H: f64 = 200.0;
const CURVE_H: f64 = 330.0;
/// Histograms with more distinct values than this are grouped into wider bins.
const MAX_BINS: u64 = 40;

/// Renders the figure.
pub fn render_model_svg(report: &ModelReport) -> String {
    let n = report.strategies.len();
    let bars_h = 60.0 + BAR_ROW * n as f64 + 30.0;
    let hist_rows = n.div_ceil(HIST_COLUMNS);
    let hist_h = 40.0 + HIST_CELL_H * hist_rows as f64;
    let curves_h = if report.refresh_probability.is_empty() {
        0.0
    } else {
        CURVE_H
    };
    let height = 50.0 + bars_h + hist_h + curves_h + 10.0;
    let mut svg = Svg::new(WIDTH, height);

    let c = &report.config;
    svg.bold(
        MARGIN,
        30.0,
        17.0,
        Anchor::Start,
        &format!(
            "smartcache stampede model — λ = {} reads/s, Δ = {}, T = {} s, {} cycles, seed {}",
            c.read_rate, c.recompute, c.ttl, c.cycles, c.seed
        ),
    );
    let mut y = 50.0;
    mean_bars(&mut svg, &report.strategies, y);
    y += bars_h;
    histograms(&mut svg, &report.strategies, y);
    y += hist_h;
    if !report.refresh_probability.is_empty() {
        probability_curves(&mut svg, report, y);
    }
    svg.finish()
}

/// Panel A: mean recomputations per cycle, log scale, with the theory marked.
fn mean_bars(svg: &mut Svg, strategies: &[StrategyReport], top: f64) {
    svg.bold(
        MARGIN,
        top + 20.0,
        14.0,
        Anchor::Start,
        "Mean recomputations per expiry cycle (log scale; black tick: theory)",
    );
    let (x0, x1) = (260.0, WIDTH - 170.0);
    let max = strategies
        .iter()
        .flat_map(|s| {
            [
                s.recomputes_per_cycle.mean,
                s.expected_recomputes_per_cycle.unwrap_or(0.0),
            ]
        })
        .fold(1.0f64, f64::max);
    let (lo, hi) = (0.5f64, 10f64.powf((max * 1.2).log10().ceil()));
    let x_of = |v: f64| x0 + (x1 - x0) * (v.max(lo).ln() - lo.ln()) / (hi.ln() - lo.ln());
    let axis_y = top + 40.0 + BAR_ROW * strategies.len() as f64;
    let mut tick = 1.0;
    while tick <= hi * 1.0001 {
        for m in [1.0, 2.0, 5.0] {
            let v = tick * m;
            if v <= hi * 1.0001 {
                svg.line(
                    (x_of(v), top + 34.0),
                    (x_of(v), axis_y),
                    Stroke::solid("#dddddd", 1.0),
                );
                svg.text(x_of(v), axis_y + 14.0, 11.0, Anchor::Middle, &tick_label(v));
            }
        }
        tick *= 10.0;
    }
    for (i, s) in strategies.iter().enumerate() {
        let row = top + 40.0 + BAR_ROW * i as f64;
        svg.text(x0 - 8.0, row + 15.0, 12.0, Anchor::End, &s.label);
        let mean = s.recomputes_per_cycle.mean;
        svg.rect(x0, row + 3.0, x_of(mean) - x0, BAR_ROW - 8.0, colour(i));
        if let Some(theory) = s.expected_recomputes_per_cycle {
            svg.line(
                (x_of(theory), row),
                (x_of(theory), row + BAR_ROW - 2.0),
                Stroke::solid("#000000", 2.0),
            );
        }
        svg.text(
            x_of(mean).max(x_of(max)) + 8.0,
            row + 15.0,
            12.0,
            Anchor::Start,
            &format!("{mean:.2} ± {:.2}", s.recomputes_per_cycle.sd),
        );
    }
    svg.line((x0, axis_y), (x1, axis_y), Stroke::solid("#333333", 1.0));
}

/// Panel B: one histogram of recomputations per cycle for each strategy.
fn histograms(svg: &mut Svg, strategies: &[StrategyReport], top: f64) {
    svg.bold(
        MARGIN,
        top + 20.0,
        14.0,
        Anchor::Start,
        "Recomputations per cycle: share of cycles (dashed: mean, black: theory)",
    );
    let cell_w = (WIDTH - 2.0 * MARGIN) / HIST_COLUMNS as f64;
    for (i, s) in strategies.iter().enumerate() {
        let left = MARGIN + cell_w * (i % HIST_COLUMNS) as f64 + 40.0;
        let cell_top = top + 40.0 + HIST_CELL_H * (i / HIST_COLUMNS) as f64;
        let (w, h) = (cell_w - 60.0, HIST_CELL_H - 75.0);
        let (plot_top, base) = (cell_top + 28.0, cell_top + 28.0 + h);
        svg.text(left, cell_top + 12.0, 12.0, Anchor::Start, &s.label);
        let theory = s
            .expected_recomputes_per_cycle
            .map(|t| format!(", theory {t:.2}"))
            .unwrap_or_default();
        svg.text(
            left,
            cell_top + 25.0,
            10.0,
            Anchor::Start,
            &format!(
                "mean {:.2} ± {:.2}{theory}",
                s.recomputes_per_cycle.mean, s.recomputes_per_cycle.sd
            ),
        );
        let (Some(first), Some(last)) = (s.histogram.first(), s.histogram.last()) else {
            continue;
        };
        let width = (last.value - first.value + 1).div_ceil(MAX_BINS).max(1);
        let bins = (last.value - first.value) / width + 1;
        let mut counts = vec![0u64; bins as usize];
        for b in &s.histogram {
            counts[((b.value - first.value) / width) as usize] += b.cycles;
        }
        let total: u64 = counts.iter().sum();
        let top_share = counts
            .iter()
            .map(|&c| c as f64 / total.max(1) as f64)
            .fold(0.0, f64::max)
            .max(1e-9);
        let lo = first.value as f64 - 0.5;
        let hi = (first.value + bins * width) as f64 - 0.5;
        let x_of = |v: f64| left + w * (v - lo) / (hi - lo);
        for (k, &count) in counts.iter().enumerate() {
            let share = count as f64 / total.max(1) as f64;
            let x = x_of(first.value as f64 + (k as u64 * width) as f64 - 0.5);
            let bar_h = h * share / top_share;
            svg.rect(
                x + 0.5,
                base - bar_h,
                (w / bins as f64 - 1.0).max(0.5),
                bar_h,
                colour(i),
            );
        }
        let mark = |svg: &mut Svg, v: f64, stroke: Stroke| {
            if (lo..=hi).contains(&v) {
                svg.line((x_of(v), plot_top), (x_of(v), base), stroke);
            }
        };
        mark(
            svg,
            s.recomputes_per_cycle.mean,
            Stroke::dashed("#555555", 1.5),
        );
        if let Some(t) = s.expected_recomputes_per_cycle {
            mark(svg, t, Stroke::solid("#000000", 1.5));
        }
        svg.line(
            (left, base),
            (left + w, base),
            Stroke::solid("#333333", 1.0),
        );
        for t in ticks(first.value as f64, last.value as f64, 5)
            .into_iter()
            .filter(|t| t.fract() == 0.0)
        {
            svg.text(x_of(t), base + 13.0, 10.0, Anchor::Middle, &tick_label(t));
        }
        svg.line(
            (left, plot_top),
            (left, base),
            Stroke::solid("#333333", 1.0),
        );
        svg.text(
            left - 4.0,
            plot_top + 8.0,
            10.0,
            Anchor::End,
            &format!("{:.0}%", 100.0 * top_share),
        );
        svg.text(left - 4.0, base, 10.0, Anchor::End, "0");
    }
}

/// Panel C: P(early refresh) against remaining time, sampled from the real policy, for each β;
/// dashed verticals: where the model's first refresh of a cycle started on average.
fn probability_curves(svg: &mut Svg, report: &ModelReport, top: f64) {
    let curves: &[ProbabilityCurve] = &report.refresh_probability;
    let samples = curves.first().map(|c| c.samples).unwrap_or(0);
    svg.bold(
        MARGIN,
        top + 20.0,
        14.0,
        Anchor::Start,
        &format!("P(early refresh) against remaining time: dots sampled from XFetch::refresh_early ({samples} draws each), lines e^(−r/βΔ)"),
    );
    let (x0, x1, y0, y1) = (90.0, WIDTH - 60.0, top + 45.0, top + CURVE_H - 45.0);
    // (β, colour of its strategy in the other panels, mean lead of its first refresh).
    let xfetch: Vec<(f64, &str, f64)> = report
        .strategies
        .iter()
        .enumerate()
        .filter_map(|(i, s)| match s.strategy {
            Strategy::XFetch { beta } => Some((beta, colour(i), s.first_refresh_lead.mean)),
            _ => None,
        })
        .collect();
    let span = curves
        .iter()
        .flat_map(|c| c.points.last().map(|p| p.remaining))
        .chain(xfetch.iter().map(|l| l.2 * 1.05))
        .fold(0.0f64, f64::max)
        .max(1e-9);
    let x_of = |r: f64| x0 + (x1 - x0) * r / span;
    let y_of = |p: f64| y1 - (y1 - y0) * p;
    for t in ticks(0.0, 1.0, 5) {
        svg.line((x0, y_of(t)), (x1, y_of(t)), Stroke::solid("#e5e5e5", 1.0));
        svg.text(x0 - 6.0, y_of(t) + 4.0, 11.0, Anchor::End, &tick_label(t));
    }
    for t in ticks(0.0, span, 8) {
        svg.text(x_of(t), y1 + 16.0, 11.0, Anchor::Middle, &tick_label(t));
    }
    svg.line((x0, y1), (x1, y1), Stroke::solid("#333333", 1.0));
    svg.line((x0, y0), (x0, y1), Stroke::solid("#333333", 1.0));
    svg.text(
        (x0 + x1) / 2.0,
        y1 + 34.0,
        12.0,
        Anchor::Middle,
        "remaining time before expiry r (s)",
    );
    svg.text(x0 - 50.0, (y0 + y1) / 2.0, 12.0, Anchor::Middle, "P");
    let mut legend = Vec::new();
    for (i, curve) in curves.iter().enumerate() {
        let found = xfetch.iter().find(|x| x.0 == curve.beta);
        let c = found
            .map(|x| x.1)
            .unwrap_or_else(|| colour(report.strategies.len() + i));
        let line: Vec<(f64, f64)> = curve
            .points
            .iter()
            .map(|p| (x_of(p.remaining), y_of(p.theory)))
            .collect();
        svg.polyline(&line, Stroke::solid(c, 1.5));
        for p in &curve.points {
            svg.circle(x_of(p.remaining), y_of(p.sampled), 2.6, c);
        }
        let mut label = format!("β = {}", curve.beta);
        if let Some((_, _, lead)) = found {
            svg.line((x_of(*lead), y0), (x_of(*lead), y1), Stroke::dashed(c, 1.2));
            label.push_str(&format!(
                ": a cycle's first refresh {lead:.2} s before expiry (mean, dashed)"
            ));
        }
        legend.push((c, label));
    }
    let legend_x = x_of(span * 0.5);
    svg.rect(
        legend_x - 10.0,
        y0 - 8.0,
        x1 - legend_x + 10.0,
        20.0 * legend.len() as f64 + 6.0,
        "white",
    );
    for (i, (c, label)) in legend.iter().enumerate() {
        let legend_y = y0 + 10.0 + 20.0 * i as f64;
        svg.circle(legend_x, legend_y - 4.0, 4.0, c);
        svg.text(legend_x + 10.0, legend_y, 12.0, Anchor::Start, label);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ModelConfig, RecomputeTime, run_model};

    #[test]
    fn figure_has_a_panel_per_strategy_and_curve() {
        let config = ModelConfig {
            read_rate: 200.0,
            recompute: RecomputeTime::Fixed { seconds: 0.1 },
            ttl: 3.0,
            cycles: 20,
            seed: 1,
        };
        let strategies = [
            Strategy::PlainTtl,
            Strategy::XFetch { beta: 1.0 },
            Strategy::XFetch { beta: 2.0 },
        ];
        let report = run_model(&config, &strategies).unwrap();
        let doc = render_model_svg(&report);
        for s in &strategies {
            assert!(doc.contains(&s.label()), "{} missing", s.label());
        }
        assert_eq!(doc.matches("<polyline").count(), 2, "one theory line per β");
        assert!(doc.contains("β = 2: a cycle&apos;s first refresh"));
    }
}
