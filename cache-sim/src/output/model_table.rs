//! The model report as a readable table.

use crate::model::ModelReport;
use crate::output::table::Table;

fn opt(x: Option<f64>, decimals: usize) -> String {
    x.map(|v| format!("{v:.decimals$}"))
        .unwrap_or_else(|| "–".to_string())
}

/// Renders a model report: a heading with the parameters, then one row per strategy.
pub fn render_model(report: &ModelReport) -> String {
    let c = &report.config;
    let mut out = format!(
        "Stampede model: λ = {} reads/s, Δ = {}, T = {} s, {} cycles, seed {}\n\n",
        c.read_rate, c.recompute, c.ttl, c.cycles, c.seed
    );
    let mut table = Table::new(&[
        "strategy",
        "recomputes/cycle",
        "sd",
        "theory",
        "max",
        "missing reads/cycle",
        "peak in flight",
        "1st refresh before expiry (s)",
        "theory",
        "TTL given up",
    ]);
    for s in &report.strategies {
        let cycles = s.recomputes_per_cycle.count.max(1) as f64;
        table.row(vec![
            s.label.clone(),
            format!("{:.3}", s.recomputes_per_cycle.mean),
            format!("{:.3}", s.recomputes_per_cycle.sd),
            opt(s.expected_recomputes_per_cycle, 3),
            format!("{}", s.recomputes_per_cycle.max),
            format!("{:.2}", s.missing_reads as f64 / cycles),
            format!("{}", s.peak_concurrent_recomputes),
            format!(
                "{:.4} ± {:.4}",
                s.first_refresh_lead.mean, s.first_refresh_lead.sd
            ),
            opt(s.expected_first_refresh_lead, 4),
            format!("{:.2}%", 100.0 * s.ttl_given_up.mean),
        ]);
    }
    out.push_str(&table.render());
    out.push_str(
        "\nA cycle is one generation of the value: the recomputations started by reads that saw it, \
         or its absence after it expired.\n",
    );
    out
}
