//! `junit.xml`: one test case per expectation, plus one for the run itself,
//! so CI systems show a scenario's results natively.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use quick_xml::Writer;
use quick_xml::events::BytesText;

use super::{RunReport, Verdict};

/// File name in the run directory.
pub const JUNIT_FILE: &str = "junit.xml";

/// Writes `junit.xml` for `report` into `dir`.
pub fn write_junit(report: &RunReport, dir: &Path) -> std::io::Result<PathBuf> {
    let path = dir.join(JUNIT_FILE);
    std::fs::write(&path, junit_xml(report)?)?;
    Ok(path)
}

/// The JUnit XML of `report`.
pub fn junit_xml(report: &RunReport) -> std::io::Result<Vec<u8>> {
    let failures = report
        .expectations
        .iter()
        .filter(|e| e.passed == Some(false))
        .count()
        + usize::from(report.verdict == Verdict::Failed && run_problem(report).is_some());
    let skipped = report
        .expectations
        .iter()
        .filter(|e| e.passed.is_none())
        .count();
    let errors = usize::from(report.verdict == Verdict::Error);
    let total_secs = (report.timings.deploy_ms
        + report.timings.ready_ms
        + report.timings.run_ms
        + report.timings.end_ms
        + report.timings.cleanup_ms) as f64
        / 1000.0;
    let timestamp = humantime::format_rfc3339_seconds(report.started_at).to_string();
    let (tests, failures, skipped, errors) = (
        (report.expectations.len() + 1).to_string(),
        failures.to_string(),
        skipped.to_string(),
        errors.to_string(),
    );
    let total = format!("{total_secs:.3}");
    let mut writer = Writer::new_with_indent(Cursor::new(Vec::new()), b' ', 2);
    writer.write_event(quick_xml::events::Event::Decl(
        quick_xml::events::BytesDecl::new("1.0", Some("UTF-8"), None),
    ))?;
    writer
        .create_element("testsuites")
        .with_attribute(("name", report.app.as_str()))
        .write_inner_content(|w| {
            w.create_element("testsuite")
                .with_attributes([
                    ("name", report.scenario.as_str()),
                    ("tests", tests.as_str()),
                    ("failures", failures.as_str()),
                    ("errors", errors.as_str()),
                    ("skipped", skipped.as_str()),
                    ("time", total.as_str()),
                    ("timestamp", timestamp.as_str()),
                ])
                .write_inner_content(|w| {
                    write_run_case(w, report)?;
                    for expectation in &report.expectations {
                        let case = w.create_element("testcase").with_attributes([
                            ("classname", report.scenario.as_str()),
                            ("name", expectation.name.as_str()),
                        ]);
                        match expectation.passed {
                            Some(true) => {
                                case.write_empty()?;
                            }
                            Some(false) => {
                                let reason = expectation.reason.as_deref().unwrap_or("failed");
                                let observed = expectation.observed.as_deref().unwrap_or("");
                                case.write_inner_content(|w| {
                                    w.create_element("failure")
                                        .with_attribute(("message", reason))
                                        .write_text_content(BytesText::new(&format!(
                                            "{reason}\n\nobserved:\n{observed}"
                                        )))?;
                                    Ok::<(), std::io::Error>(())
                                })?;
                            }
                            None => {
                                case.write_inner_content(|w| {
                                    w.create_element("skipped")
                                        .with_attribute((
                                            "message",
                                            "not judged: the run stopped before it",
                                        ))
                                        .write_empty()?;
                                    Ok::<(), std::io::Error>(())
                                })?;
                            }
                        }
                    }
                    Ok::<(), std::io::Error>(())
                })?;
            Ok::<(), std::io::Error>(())
        })?;
    Ok(writer.into_inner().into_inner())
}

/// What went wrong with the run itself (deploy, readiness, a workload, a
/// crash, cleanup), if anything did apart from expectations.
fn run_problem(report: &RunReport) -> Option<String> {
    let expectation_failed = report.expectations.iter().any(|e| e.passed == Some(false));
    match (&report.summary, report.verdict) {
        (_, Verdict::Passed) => None,
        (Some(summary), _) if !(expectation_failed && summary.starts_with("expectation `")) => {
            Some(summary.clone())
        }
        _ => None,
    }
}

/// The test case "the scenario ran": an error when the run could not be
/// carried out, a failure when a workload failed or a node crashed.
fn write_run_case<W: std::io::Write>(w: &mut Writer<W>, report: &RunReport) -> std::io::Result<()> {
    let case = w.create_element("testcase").with_attributes([
        ("classname", report.scenario.as_str()),
        ("name", "the scenario runs"),
    ]);
    let Some(problem) = run_problem(report) else {
        case.write_empty()?;
        return Ok(());
    };
    let tag = if report.verdict == Verdict::Error {
        "error"
    } else {
        "failure"
    };
    let first_line = problem.lines().next().unwrap_or("").to_owned();
    case.write_inner_content(|w| {
        w.create_element(tag)
            .with_attribute(("message", first_line.as_str()))
            .write_text_content(BytesText::new(&problem))?;
        Ok::<(), std::io::Error>(())
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {

    use quick_xml::Reader;
    use quick_xml::events::Event;

    use super::*;
    use crate::report::ExpectationReport;

    fn expectation(name: &str, passed: Option<bool>) -> ExpectationReport {
        ExpectationReport {
            name: name.into(),
            timing: crate::report::Timing::AtEnd,
            passed,
            reason: (passed == Some(false)).then(|| "height is 2 < 3".into()),
            observed: (passed == Some(false)).then(|| "Heights { min: 2 }".into()),
            decided_at_ms: None,
        }
    }

    fn report(
        verdict: Verdict,
        summary: Option<&str>,
        expectations: Vec<ExpectationReport>,
    ) -> RunReport {
        RunReport {
            summary: summary.map(Into::into),
            expectations,
            ..RunReport::sample(verdict)
        }
    }

    /// (element, attributes) of every start or empty element, in order.
    fn elements(xml: &[u8]) -> Vec<(String, Vec<(String, String)>)> {
        let mut reader = Reader::from_reader(xml);
        let mut out = Vec::new();
        let mut buf = Vec::new();
        loop {
            match reader.read_event_into(&mut buf).expect("well-formed XML") {
                Event::Start(e) | Event::Empty(e) => {
                    let attrs = e
                        .attributes()
                        .map(|a| {
                            let a = a.unwrap();
                            let value = a.unescape_value().unwrap().into_owned();
                            (String::from_utf8(a.key.as_ref().to_vec()).unwrap(), value)
                        })
                        .collect();
                    out.push((
                        String::from_utf8(e.name().as_ref().to_vec()).unwrap(),
                        attrs,
                    ));
                }
                Event::Eof => return out,
                _ => {}
            }
            buf.clear();
        }
    }

    fn attr<'a>(element: &'a (String, Vec<(String, String)>), name: &str) -> &'a str {
        &element.1.iter().find(|(k, _)| k == name).unwrap().1
    }

    #[test]
    fn a_failed_expectation_is_a_failure_with_its_reason() {
        let xml = junit_xml(&report(
            Verdict::Failed,
            Some("expectation `ends above 3` failed: height is 2 < 3"),
            vec![
                expectation("always fine", Some(true)),
                expectation("ends above 3", Some(false)),
            ],
        ))
        .unwrap();
        let els = elements(&xml);
        let names: Vec<&str> = els.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(
            names,
            [
                "testsuites",
                "testsuite",
                "testcase",
                "testcase",
                "testcase",
                "failure"
            ]
        );
        assert_eq!(
            (
                attr(&els[1], "tests"),
                attr(&els[1], "failures"),
                attr(&els[1], "errors")
            ),
            ("3", "1", "0")
        );
        assert_eq!(attr(&els[4], "name"), "ends above 3");
        assert_eq!(attr(&els[5], "message"), "height is 2 < 3");
        let text = String::from_utf8(xml).unwrap();
        assert!(
            text.contains("Heights { min: 2 }"),
            "the observed state is in the body"
        );
    }

    #[test]
    fn a_run_that_could_not_happen_is_an_error_and_unjudged_expectations_are_skipped() {
        let xml = junit_xml(&report(
            Verdict::Error,
            Some("deploy failed: node binary `x` not found <here>"),
            vec![expectation("never judged", None)],
        ))
        .unwrap();
        let els = elements(&xml);
        assert_eq!(
            (attr(&els[1], "errors"), attr(&els[1], "skipped")),
            ("1", "1")
        );
        let error = els.iter().find(|e| e.0 == "error").unwrap();
        assert_eq!(
            attr(error, "message"),
            "deploy failed: node binary `x` not found <here>"
        );
        assert!(els.iter().any(|e| e.0 == "skipped"));
    }

    #[test]
    fn a_passing_run_has_only_passing_cases() {
        let xml = junit_xml(&report(
            Verdict::Passed,
            None,
            vec![expectation("fine", Some(true))],
        ))
        .unwrap();
        let els = elements(&xml);
        assert_eq!(
            (
                attr(&els[1], "tests"),
                attr(&els[1], "failures"),
                attr(&els[1], "errors")
            ),
            ("2", "0", "0")
        );
        assert!(
            !els.iter()
                .any(|e| matches!(e.0.as_str(), "failure" | "error" | "skipped"))
        );
    }
}
