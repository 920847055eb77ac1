//! `report.html`: one self-contained page (inline CSS and SVG, no script,
//! no external URL) that a person opens first when a run fails.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use plotters::coord::CoordTranslate;
use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use super::summary::duration_us;
use super::{FaultWindow, LatencyPoint, RequestOutcome, RunReport};
use super::{OBSERVATIONS_FILE, SeriesPoint};

/// File name in the run directory.
pub const HTML_FILE: &str = "report.html";
/// Points per line at most; longer lines are thinned evenly.
const MAX_POINTS: usize = 400;
/// Timeline rows shown at most; the rest stay in `report.json`.
const MAX_TIMELINE_ROWS: usize = 2000;
/// Line colours that stay apart on white (blue, orange, green, red, purple,
/// brown, pink, grey, olive, cyan).
const LINE_COLORS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// The fields of an `observations.jsonl` line that charts need.
#[derive(Deserialize)]
struct SeriesLine {
    observer: String,
    at_ms: u64,
    series: Vec<SeriesPoint>,
}

/// One chart: an observer's series, a line per source.
#[derive(Serialize)]
struct Chart {
    observer: String,
    series: String,
    svg: String,
}

/// Writes `report.html` for `report` into `dir`, charting the series in
/// `dir/observations.jsonl` if there is one.
pub fn write_html(report: &RunReport, dir: &Path) -> std::io::Result<PathBuf> {
    let lines = read_series(&dir.join(OBSERVATIONS_FILE))?;
    let html = render_html(report, &lines).map_err(std::io::Error::other)?;
    let path = dir.join(HTML_FILE);
    std::fs::write(&path, html)?;
    Ok(path)
}

fn read_series(path: &Path) -> std::io::Result<Vec<SeriesLine>> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut lines = Vec::new();
    for line in std::io::BufReader::new(file).lines() {
        // A torn last line (a crashed writer) is skipped, not fatal.
        if let Ok(parsed) = serde_json::from_str::<SeriesLine>(&line?) {
            lines.push(parsed);
        }
    }
    Ok(lines)
}

/// `(observer, series)` → source → points `(seconds, value)`.
type SeriesTable = BTreeMap<(String, String), BTreeMap<String, Vec<(f64, f64)>>>;

fn collect_series(lines: &[SeriesLine]) -> SeriesTable {
    let mut table = SeriesTable::new();
    for line in lines {
        for point in &line.series {
            table
                .entry((line.observer.clone(), point.series.clone()))
                .or_default()
                .entry(point.source.clone())
                .or_default()
                .push((line.at_ms as f64 / 1000.0, point.value));
        }
    }
    for sources in table.values_mut() {
        for points in sources.values_mut() {
            thin(points);
        }
    }
    table
}

/// Keeps at most [`MAX_POINTS`], evenly spaced, always the last.
fn thin(points: &mut Vec<(f64, f64)>) {
    if points.len() <= MAX_POINTS {
        return;
    }
    let step = points.len().div_ceil(MAX_POINTS);
    let last = *points.last().expect("not empty");
    let mut kept: Vec<(f64, f64)> = points.iter().step_by(step).copied().collect();
    if kept.last() != Some(&last) {
        kept.push(last);
    }
    *points = kept;
}

/// The page, as text.
/// The page of `report` without recorded observations, for tests.
#[cfg(test)]
pub(crate) fn render_for_test(report: &RunReport) -> String {
    render_html(report, &[]).unwrap()
}

fn render_html(report: &RunReport, lines: &[SeriesLine]) -> Result<String, String> {
    let run_end_s = lines
        .iter()
        .map(|l| l.at_ms)
        .chain(report.timeline.iter().map(|t| t.at_ms))
        .chain(
            report
                .latency_points
                .iter()
                .map(|p| p.at_ms + p.latency_us / 1000),
        )
        .max()
        .unwrap_or(0) as f64
        / 1000.0;
    let charts = collect_series(lines)
        .into_iter()
        .map(|((observer, series), sources)| {
            let svg = chart_svg(&series, &sources, &report.faults, run_end_s.max(1.0))?;
            Ok(Chart {
                observer,
                series,
                svg,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let mut charts = charts;
    if let Some(svg) = schedule_svg(&report.faults, run_end_s.max(1.0))? {
        charts.insert(
            0,
            Chart {
                observer: "faults".into(),
                series: "the fault schedule, a row a node".into(),
                svg,
            },
        );
    }
    let client_charts = client_charts(report, run_end_s.max(1.0))?;
    let shown = report.timeline.len().min(MAX_TIMELINE_ROWS);
    let logs: Vec<(String, String)> = report
        .logs
        .iter()
        .map(|(node, path)| {
            let relative = report
                .run_dir
                .as_deref()
                .and_then(|dir| path.strip_prefix(dir).ok())
                .unwrap_or(path);
            (node.clone(), relative.display().to_string())
        })
        .collect();
    let mut env = minijinja::Environment::new();
    env.add_template("report.html", include_str!("report.html.j2"))
        .map_err(|e| e.to_string())?;
    let template = env.get_template("report.html").map_err(|e| e.to_string())?;
    template
        .render(minijinja::context! {
            report => report,
            started_at => humantime::format_rfc3339_seconds(report.started_at).to_string(),
            total_s => (report.timings.deploy_ms + report.timings.ready_ms + report.timings.run_ms + report.timings.end_ms + report.timings.cleanup_ms) as f64 / 1000.0,
            timeline => &report.timeline[..shown],
            timeline_hidden => report.timeline.len() - shown,
            charts => charts,
            client_charts => client_charts,
            clients => report.clients.iter().map(|c| minijinja::context! {
                client => &c.client,
                f => &c.f,
                ok => c.ok,
                fail => c.fail,
                unknown => c.unknown,
                ok_per_second => format!("{:.1}", c.ok_per_second),
                p50 => c.latency.map(|l| duration_us(l.p50_us)),
                p90 => c.latency.map(|l| duration_us(l.p90_us)),
                p99 => c.latency.map(|l| duration_us(l.p99_us)),
                max => c.latency.map(|l| duration_us(l.max_us)),
            }).collect::<Vec<_>>(),
            logs => logs,
        })
        .map_err(|e| e.to_string())
}

/// The clients' charts: each request's latency over time, coloured by
/// outcome, and the successful requests per second of each workload and
/// kind, both with the fault windows shaded.
fn client_charts(report: &RunReport, end_s: f64) -> Result<Vec<Chart>, String> {
    if report.clients.is_empty() {
        return Ok(Vec::new());
    }
    let mut throughput: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for c in &report.clients {
        let mut points: Vec<(f64, f64)> = c
            .per_second
            .iter()
            .map(|s| (s.second as f64 + 0.5, s.ok as f64))
            .collect();
        thin(&mut points);
        throughput.insert(format!("{} {}", c.client, c.f), points);
    }
    Ok(vec![
        Chart {
            observer: "clients".into(),
            series: "latency of each request (ms, log scale), by outcome".into(),
            svg: latency_svg(&report.latency_points, &report.faults, end_s)?,
        },
        Chart {
            observer: "clients".into(),
            series: "requests that took effect, per second".into(),
            svg: chart_svg("ok requests per second", &throughput, &report.faults, end_s)?,
        },
    ])
}

/// Each sampled request as a point: when it was invoked, how long it took.
fn latency_svg(
    points: &[LatencyPoint],
    faults: &[FaultWindow],
    end_s: f64,
) -> Result<String, String> {
    let ms = |p: &LatencyPoint| (p.latency_us as f64 / 1000.0).max(0.01);
    let high = points.iter().map(ms).fold(1.0f64, f64::max) * 2.0;
    let low = (points.iter().map(ms).fold(high, f64::min) / 2.0).max(0.01);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720, 260)).into_drawing_area();
        let e = |e: DrawingAreaErrorKind<std::io::Error>| e.to_string();
        root.fill(&WHITE).map_err(e)?;
        let mut chart = ChartBuilder::on(&root)
            .caption("request latency (ms)", ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(0f64..end_s, (low..high).log_scale())
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc("seconds into the run")
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(e)?;
        shade_faults(&mut chart, faults, end_s, (low, high))?;
        for (outcome, label, color) in [
            (RequestOutcome::Ok, "ok", LINE_COLORS[0]),
            (RequestOutcome::Fail, "failed", LINE_COLORS[1]),
            (RequestOutcome::Unknown, "unknown outcome", LINE_COLORS[3]),
        ] {
            let color = color.to_rgba();
            let these: Vec<&LatencyPoint> =
                points.iter().filter(|p| p.outcome == outcome).collect();
            if these.is_empty() {
                continue;
            }
            chart
                .draw_series(
                    these
                        .iter()
                        .map(|p| Circle::new((p.at_ms as f64 / 1000.0, ms(p)), 2, color.filled())),
                )
                .map_err(e)?
                .label(label)
                .legend(move |(x, y)| Circle::new((x + 8, y), 3, color.filled()));
        }
        legend(&mut chart)?;
        root.present().map_err(e)?;
    }
    Ok(svg)
}

/// The nodes of `faults`, in their natural order (`node-2` before
/// `node-10`).
fn struck_nodes(faults: &[FaultWindow]) -> Vec<String> {
    let mut nodes: Vec<String> = faults.iter().flat_map(|f| f.nodes.clone()).collect();
    let key = |n: &String| {
        let digits = n.len() - n.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        let (stem, number) = n.split_at(n.len() - digits);
        (
            stem.to_owned(),
            number.parse::<u64>().unwrap_or(0),
            n.clone(),
        )
    };
    nodes.sort_by_key(key);
    nodes.dedup();
    nodes
}

/// The fault schedule as bands: a row a node, a band for each fault
/// window on each node it struck, on the same time axis as the other
/// charts. `None` when no fault names its nodes.
fn schedule_svg(faults: &[FaultWindow], end_s: f64) -> Result<Option<String>, String> {
    let nodes = struck_nodes(faults);
    if nodes.is_empty() {
        return Ok(None);
    }
    let rows = nodes.len() as f64;
    let height = 70 + 24 * nodes.len() as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720, height)).into_drawing_area();
        let e = |e: DrawingAreaErrorKind<std::io::Error>| e.to_string();
        root.fill(&WHITE).map_err(e)?;
        let mut chart = ChartBuilder::on(&root)
            .caption("fault schedule", ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..end_s, -0.5f64..rows - 0.5)
            .map_err(e)?;
        // Row i from the top is node i.
        let row = |i: usize| rows - 1.0 - i as f64;
        let label = |y: &f64| {
            let i = (rows - 1.0 - y.round()) as usize;
            match (y.fract() == 0.0, nodes.get(i)) {
                (true, Some(node)) => node.clone(),
                _ => String::new(),
            }
        };
        chart
            .configure_mesh()
            .x_desc("seconds into the run")
            .y_labels(nodes.len())
            .y_label_formatter(&label)
            .y_label_style(("sans-serif", 12))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(e)?;
        let band = RGBColor(220, 60, 60).mix(0.55).filled();
        let nodes = &nodes;
        chart
            .draw_series(faults.iter().flat_map(|fault| {
                let start = fault.start_ms as f64 / 1000.0;
                let stop = fault.end_ms.map_or(end_s, |ms| ms as f64 / 1000.0);
                fault.nodes.iter().filter_map(move |node| {
                    let i = nodes.iter().position(|n| n == node)?;
                    let y = row(i);
                    Some(Rectangle::new([(start, y - 0.35), (stop, y + 0.35)], band))
                })
            }))
            .map_err(e)?;
        root.present().map_err(e)?;
    }
    Ok(Some(svg))
}

/// Shades each fault window across the chart's height `low..high`.
fn shade_faults<CT: CoordTranslate<From = (f64, f64)>>(
    chart: &mut ChartContext<'_, SVGBackend<'_>, CT>,
    faults: &[FaultWindow],
    end_s: f64,
    (low, high): (f64, f64),
) -> Result<(), String> {
    let shade = RGBColor(220, 60, 60).mix(0.12).filled();
    chart
        .draw_series(faults.iter().map(|fault| {
            let start = fault.start_ms as f64 / 1000.0;
            let stop = fault.end_ms.map_or(end_s, |ms| ms as f64 / 1000.0);
            Rectangle::new([(start, low), (stop, high)], shade)
        }))
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// The legend of the series drawn, top left.
fn legend<'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, CT>,
) -> Result<(), String> {
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(|e| e.to_string())
}

/// Splits a line where samples are missing (a source that did not answer),
/// so an outage shows as a gap rather than a made-up slope.
fn segments(points: &[(f64, f64)]) -> Vec<&[(f64, f64)]> {
    let mut gaps: Vec<f64> = points.windows(2).map(|w| w[1].0 - w[0].0).collect();
    gaps.sort_by(f64::total_cmp);
    let typical = gaps.get(gaps.len() / 2).copied().unwrap_or(0.0);
    let limit = (typical * 3.0).max(0.5);
    let mut parts = Vec::new();
    let mut start = 0;
    for i in 1..points.len() {
        if points[i].0 - points[i - 1].0 > limit {
            parts.push(&points[start..i]);
            start = i;
        }
    }
    parts.push(&points[start..]);
    parts
}

/// One chart as inline SVG, with fault windows shaded.
fn chart_svg(
    series: &str,
    sources: &BTreeMap<String, Vec<(f64, f64)>>,
    faults: &[FaultWindow],
    end_s: f64,
) -> Result<String, String> {
    let values = sources.values().flatten().map(|(_, v)| *v);
    let (low, high) = values.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (low, high) = if low > high { (0.0, 1.0) } else { (low, high) };
    let pad = ((high - low) * 0.1).max(1.0);
    // Counts and indexes never go below zero: do not invent negative space.
    let bottom = if low >= 0.0 {
        (low - pad).max(0.0)
    } else {
        low - pad
    };
    let y_range = bottom..(high + pad);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720, 260)).into_drawing_area();
        let e = |e: DrawingAreaErrorKind<std::io::Error>| e.to_string();
        root.fill(&WHITE).map_err(e)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(series, ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(0f64..end_s, y_range.clone())
            .map_err(e)?;
        let whole = sources.values().flatten().all(|(_, v)| v.fract() == 0.0);
        // Integer series: label whole ticks only (no "1, 1, 2, 2").
        let y_label = |v: &f64| match (whole, v.fract() == 0.0) {
            (true, true) => format!("{v:.0}"),
            (true, false) => String::new(),
            (false, _) => format!("{v:.2}"),
        };
        chart
            .configure_mesh()
            .x_desc("seconds into the run")
            .y_label_formatter(&y_label)
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(e)?;
        shade_faults(&mut chart, faults, end_s, (y_range.start, y_range.end))?;
        for (i, (source, points)) in sources.iter().enumerate() {
            let color = LINE_COLORS[i % LINE_COLORS.len()].to_rgba();
            for (n, segment) in segments(points).into_iter().enumerate() {
                let drawn = chart
                    .draw_series(LineSeries::new(
                        segment.iter().copied(),
                        color.stroke_width(2),
                    ))
                    .map_err(e)?;
                if n == 0 {
                    drawn.label(source.as_str()).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                    });
                }
            }
        }
        legend(&mut chart)?;
        root.present().map_err(e)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_that_stopped_answering_leaves_a_gap() {
        let mut points: Vec<(f64, f64)> = (0..20).map(|i| (i as f64 * 0.1, 1.0)).collect();
        points.extend((40..60).map(|i| (i as f64 * 0.1, 2.0)));
        let parts = segments(&points);
        assert_eq!(parts.len(), 2);
        assert_eq!((parts[0].len(), parts[1].len()), (20, 20));
        assert_eq!(segments(&points[..20]).len(), 1, "evenly sampled: one line");
    }

    #[test]
    fn the_fault_schedule_draws_a_row_a_struck_node() {
        let window = |start_ms, end_ms, nodes: &[&str]| FaultWindow {
            source: "nemesis".into(),
            what: "something".into(),
            start_ms,
            end_ms,
            nodes: nodes.iter().map(|n| n.to_string()).collect(),
        };
        assert_eq!(
            schedule_svg(&[window(0, Some(1), &[])], 10.0).unwrap(),
            None
        );
        let faults = [
            window(1_000, Some(3_000), &["node-10"]),
            window(2_000, Some(4_000), &["node-2"]),
            window(5_000, None, &["node-2", "node-10", "node-0"]),
        ];
        assert_eq!(struck_nodes(&faults), ["node-0", "node-2", "node-10"]);
        let svg = schedule_svg(&faults, 10.0).unwrap().unwrap();
        for node in ["node-0", "node-2", "node-10"] {
            assert!(
                svg.contains(&format!("\n{node}\n")),
                "{node} has no row: {svg}"
            );
        }
        // A band for each node of each window: 1 + 1 + 3.
        let bands = svg.matches("fill=\"#DC3C3C\"").count();
        assert_eq!(bands, 5, "{svg}");
    }

    #[test]
    fn long_lines_are_thinned_evenly_keeping_the_last_point() {
        let mut points: Vec<(f64, f64)> = (0..10_000).map(|i| (i as f64, i as f64)).collect();
        thin(&mut points);
        assert!(points.len() <= MAX_POINTS + 1, "{}", points.len());
        assert_eq!(points.first(), Some(&(0.0, 0.0)));
        assert_eq!(points.last(), Some(&(9_999.0, 9_999.0)));
    }
}
