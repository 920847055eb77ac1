//! What to say about a step that no step definition matches: its file and
//! line, and the closest steps of the run.
//!
//! Each step's regular expression is read into a readable form (`When
//! <name> is|are stopped|started`, capture groups as `<n>` for numbers and
//! `<name>` otherwise, `seconds?` as `second(s)`, an optional part in
//! `[...]`) and into the word sequences it can read as (one per choice of
//! alternatives and optional parts, capture groups as wildcards). A step's
//! text is ranked against each definition by a word-level edit distance,
//! each word compared by its own letter-level distance, so a misspelled
//! word costs a fraction of a missing one.

use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;

use regex::Regex;

use crate::Steps;
use crate::steps::Kind;

/// At most this many word sequences per step definition; a definition with
/// more choices is compared with the first ones only.
const MAX_VARIANTS: usize = 256;

/// A suggestion at most this far (0: the same words, 1: nothing alike) is
/// shown.
const MAX_DISTANCE: f64 = 0.5;

/// What a capture group absorbs past its first word (a node list).
const SLOT_EXTRA_WORD: f64 = 0.5;

/// A step word a capture group takes once the text around the group is
/// put back (`node-2` for `<name>'s`).
const AROUND_A_PLACEHOLDER: f64 = 0.3;

/// How many suggestions a message lists.
pub(crate) const SUGGESTIONS: usize = 3;

/// A pattern read into a tree; anything it does not know reads as a class.
#[derive(Clone, Debug)]
enum Node {
    Lit(char),
    Space,
    /// A character class, `.`, `\d`: one unnamed character.
    Class {
        numeric: bool,
    },
    /// Anchors and flags: nothing to read.
    Empty,
    Group {
        capture: bool,
        numeric: bool,
        /// The pattern inside the parentheses.
        source: String,
        alternatives: Vec<Vec<Node>>,
    },
    Optional(Box<Node>),
    Repeated(Box<Node>),
}

struct Parser {
    chars: Vec<char>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    /// The pattern from `start` to the cursor.
    fn source(&self, start: usize) -> String {
        let end = self.at.min(self.chars.len());
        self.chars[start.min(end)..end].iter().collect()
    }

    /// Alternatives up to a `)` (left for the caller) or the end.
    fn alternatives(&mut self, in_group: bool) -> Vec<Vec<Node>> {
        let mut alternatives = Vec::new();
        let mut seq: Vec<Node> = Vec::new();
        while let Some(c) = self.peek() {
            match c {
                ')' if in_group => break,
                '|' => {
                    self.at += 1;
                    alternatives.push(std::mem::take(&mut seq));
                }
                '?' | '*' | '+' => {
                    self.at += 1;
                    self.skip_lazy();
                    if let Some(last) = seq.pop() {
                        seq.push(quantified(last, c != '+', c != '?'));
                    }
                }
                '{' => match self.repetition() {
                    Some(min) => {
                        self.skip_lazy();
                        if let Some(last) = seq.pop() {
                            seq.push(quantified(last, min == 0, true));
                        }
                    }
                    None => {
                        self.at += 1;
                        seq.push(Node::Lit('{'));
                    }
                },
                _ => seq.push(self.atom()),
            }
        }
        alternatives.push(seq);
        alternatives
    }

    /// A lazy quantifier's `?` changes nothing here.
    fn skip_lazy(&mut self) {
        if self.peek() == Some('?') {
            self.at += 1;
        }
    }

    /// `{m}`, `{m,}`, `{m,n}` at the cursor: its minimum, the cursor past it.
    fn repetition(&mut self) -> Option<usize> {
        let rest: String = self.chars[self.at.min(self.chars.len())..].iter().collect();
        let end = rest.find('}')?;
        let inner = &rest[1..end];
        let min = inner.split(',').next()?.trim();
        if inner.is_empty()
            || !inner
                .chars()
                .all(|c| c.is_ascii_digit() || c == ',' || c == ' ')
        {
            return None;
        }
        let min = min.parse().unwrap_or(0);
        self.at += rest[..=end].chars().count();
        Some(min)
    }

    fn atom(&mut self) -> Node {
        let c = self.chars[self.at];
        self.at += 1;
        match c {
            '(' => self.group(),
            '[' => self.class(),
            '\\' => self.escape(),
            '.' => Node::Class { numeric: false },
            '^' | '$' => Node::Empty,
            c if c.is_whitespace() => Node::Space,
            c => Node::Lit(c),
        }
    }

    fn group(&mut self) -> Node {
        let mut capture = true;
        if self.peek() == Some('?') {
            self.at += 1;
            match self.peek() {
                Some('P') | Some('<') => {
                    // A named group: `(?P<name>...)`, `(?<name>...)`.
                    while let Some(c) = self.peek() {
                        self.at += 1;
                        if c == '>' {
                            break;
                        }
                    }
                }
                _ => {
                    // Flags: `(?i)` sets them, `(?i:...)` and `(?:...)`
                    // group without capturing.
                    capture = false;
                    while let Some(c) = self.peek() {
                        self.at += 1;
                        match c {
                            ':' => break,
                            ')' => return Node::Empty,
                            _ => {}
                        }
                    }
                }
            }
        }
        let start = self.at;
        let alternatives = self.alternatives(true);
        let source = self.source(start);
        if self.peek() == Some(')') {
            self.at += 1;
        }
        Node::Group {
            capture,
            numeric: is_numeric(&source),
            source,
            alternatives,
        }
    }

    /// A `[...]` class, the cursor past its `]`.
    fn class(&mut self) -> Node {
        let start = self.at;
        let mut depth = 1;
        if self.peek() == Some('^') {
            self.at += 1;
        }
        if self.peek() == Some(']') {
            self.at += 1;
        }
        while let Some(c) = self.peek() {
            self.at += 1;
            match c {
                '\\' => self.at += 1,
                '[' => depth += 1,
                ']' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
        }
        Node::Class {
            numeric: is_numeric(&self.source(start)),
        }
    }

    fn escape(&mut self) -> Node {
        let Some(c) = self.peek() else {
            return Node::Empty;
        };
        self.at += 1;
        match c {
            'd' => Node::Class { numeric: true },
            's' | 'n' | 't' | 'r' => Node::Space,
            'b' | 'B' | 'A' | 'z' => Node::Empty,
            'p' | 'P' | 'x' | 'u' => {
                // `\p{Greek}`, `\pL`, `\x{41}`, `\x41`.
                if self.peek() == Some('{') {
                    while let Some(c) = self.peek() {
                        self.at += 1;
                        if c == '}' {
                            break;
                        }
                    }
                } else {
                    self.at += if c == 'x' { 2 } else { 1 };
                }
                Node::Class { numeric: false }
            }
            c if c.is_ascii_alphanumeric() => Node::Class { numeric: false },
            c => Node::Lit(c),
        }
    }
}

/// `node?` (`optional`), `node+` (`repeated`), `node*` (both).
fn quantified(node: Node, optional: bool, repeated: bool) -> Node {
    let node = if repeated {
        Node::Repeated(Box::new(node))
    } else {
        node
    };
    if optional {
        Node::Optional(Box::new(node))
    } else {
        node
    }
}

/// Whether a group or class reads digits only: `-?\d+`, `[\d.]+`.
fn is_numeric(source: &str) -> bool {
    source.contains(r"\d")
        && source
            .replace(r"\d", "")
            .replace(r"\.", "")
            .chars()
            .all(|c| "-+?*.,[](){}0123456789".contains(c))
}

fn parse(pattern: &str) -> Vec<Vec<Node>> {
    let mut parser = Parser {
        chars: pattern.chars().collect(),
        at: 0,
    };
    let mut alternatives = parser.alternatives(false);
    // An unbalanced `)` cannot be in a pattern that compiled; read past
    // one anyway.
    while parser.peek().is_some() {
        parser.at += 1;
        alternatives.extend(parser.alternatives(false));
    }
    alternatives
}

/// A capture group whose alternatives are plain words is read as them
/// (`(stopped|started)`); any other is a placeholder.
fn is_plain(alternatives: &[Vec<Node>]) -> bool {
    alternatives
        .iter()
        .all(|seq| seq.iter().all(|n| matches!(n, Node::Lit(_) | Node::Space)))
}

fn placeholder(numeric: bool) -> &'static str {
    if numeric { "<n>" } else { "<name>" }
}

fn render_seq(seq: &[Node]) -> String {
    seq.iter().map(render).collect()
}

fn render(node: &Node) -> String {
    match node {
        Node::Lit(c) => c.to_string(),
        Node::Space => " ".into(),
        Node::Class { numeric } => if *numeric { "<n>" } else { "<x>" }.into(),
        Node::Empty => String::new(),
        Node::Group {
            capture: true,
            numeric,
            alternatives,
            ..
        } if !is_plain(alternatives) => placeholder(*numeric).into(),
        Node::Group { alternatives, .. } => render_alternatives(alternatives),
        Node::Optional(inner) => match &**inner {
            Node::Lit(c) if !c.is_whitespace() => format!("({c})"),
            Node::Lit(_) | Node::Space => " ".into(),
            inner => {
                let text = render(inner);
                let trimmed = text.trim();
                if trimmed.is_empty() {
                    return text;
                }
                let lead = if text.starts_with(' ') { " " } else { "" };
                let trail = if text.ends_with(' ') { " " } else { "" };
                format!("{lead}[{trimmed}]{trail}")
            }
        },
        Node::Repeated(inner) => render(inner),
    }
}

/// `a|b`, `(a b | c)`, or the one alternative there is.
fn render_alternatives(alternatives: &[Vec<Node>]) -> String {
    let parts: Vec<String> = alternatives
        .iter()
        .map(|seq| collapse(&render_seq(seq)))
        .collect();
    match parts.as_slice() {
        [] => String::new(),
        [_] => render_seq(&alternatives[0]),
        _ if parts.iter().any(|p| p.contains(' ')) => format!("({})", parts.join(" | ")),
        _ => parts.join("|"),
    }
}

/// A whole pattern, readable: `within <n> second(s) a leader is elected`.
fn readable(pattern: &str) -> String {
    collapse(&render_alternatives(&parse(pattern)))
}

/// Runs of spaces as one, none at the ends.
fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A piece of one reading of a pattern.
#[derive(Clone, Debug)]
enum Piece {
    Char(char),
    Space,
    /// A placeholder, and the capture group's pattern when it has one.
    Slot(&'static str, Option<Rc<str>>),
}

/// Every reading of `seq` (up to [`MAX_VARIANTS`]).
fn expand_seq(seq: &[Node]) -> Vec<Vec<Piece>> {
    let mut out = vec![Vec::new()];
    for node in seq {
        let options = expand(node);
        let mut next = Vec::new();
        'all: for prefix in &out {
            for option in &options {
                if next.len() == MAX_VARIANTS {
                    break 'all;
                }
                let mut joined = prefix.clone();
                joined.extend(option.iter().cloned());
                next.push(joined);
            }
        }
        out = next;
    }
    out
}

fn expand_alternatives(alternatives: &[Vec<Node>]) -> Vec<Vec<Piece>> {
    let mut out: Vec<Vec<Piece>> = alternatives.iter().flat_map(|s| expand_seq(s)).collect();
    out.truncate(MAX_VARIANTS);
    out
}

fn expand(node: &Node) -> Vec<Vec<Piece>> {
    match node {
        Node::Lit(c) if c.is_whitespace() => vec![vec![Piece::Space]],
        Node::Lit(c) => vec![vec![Piece::Char(*c)]],
        Node::Space => vec![vec![Piece::Space]],
        Node::Class { numeric } => vec![vec![Piece::Slot(
            if *numeric { "<n>" } else { "<x>" },
            None,
        )]],
        Node::Empty => vec![Vec::new()],
        Node::Group {
            capture: true,
            numeric,
            source,
            alternatives,
        } if !is_plain(alternatives) => vec![vec![Piece::Slot(
            placeholder(*numeric),
            Some(Rc::from(source.as_str())),
        )]],
        Node::Group { alternatives, .. } => expand_alternatives(alternatives),
        Node::Optional(inner) => {
            let mut out = expand(inner);
            out.truncate(MAX_VARIANTS - 1);
            out.push(Vec::new());
            out
        }
        Node::Repeated(inner) => expand(inner),
    }
}

/// One word of a reading: a literal word, or one holding a placeholder.
#[derive(Clone, Debug)]
struct Word {
    /// The word as written, a placeholder as `<n>`.
    text: String,
    slot: bool,
    /// What a word holding one capture group takes; a word holding a
    /// class or more groups takes any word.
    fits: Option<Fits>,
}

/// A word holding one capture group: `<name>`, `<name>'s`.
#[derive(Clone, Debug)]
struct Fits {
    /// The whole word: `^(?:[a-z]\S+'s)$`.
    whole: Regex,
    /// The group alone, for a step that left out the text around it.
    alone: Regex,
    prefix: String,
    suffix: String,
}

/// Compiled patterns, each once.
type Compiled = HashMap<String, Option<Regex>>;

fn compiled(cache: &mut Compiled, pattern: String) -> Option<Regex> {
    cache
        .entry(pattern)
        .or_insert_with_key(|p| Regex::new(p).ok())
        .clone()
}

fn word(parts: &[&Piece], cache: &mut Compiled) -> Word {
    let mut text = String::new();
    let mut slots = Vec::new();
    for part in parts {
        match part {
            Piece::Char(c) => text.push(*c),
            Piece::Slot(name, source) => {
                slots.push((text.len(), name.len(), source.clone()));
                text.push_str(name);
            }
            Piece::Space => {}
        }
    }
    let fits = match slots.as_slice() {
        [(at, len, Some(source))] => {
            let (prefix, suffix) = (&text[..*at], &text[at + len..]);
            let whole = compiled(
                cache,
                format!(
                    "^(?:{}(?:{source}){})$",
                    regex::escape(prefix),
                    regex::escape(suffix)
                ),
            );
            let alone = compiled(cache, format!("^(?:{source})$"));
            whole.zip(alone).map(|(whole, alone)| Fits {
                whole,
                alone,
                prefix: prefix.to_owned(),
                suffix: suffix.to_owned(),
            })
        }
        _ => None,
    };
    Word {
        slot: !slots.is_empty(),
        text,
        fits,
    }
}

fn words(pieces: &[Piece], cache: &mut Compiled) -> Vec<Word> {
    pieces
        .split(|p| matches!(p, Piece::Space))
        .filter(|parts| !parts.is_empty())
        .map(|parts| word(&parts.iter().collect::<Vec<_>>(), cache))
        .collect()
}

/// How far a step's word is from a reading's word (0 to 1), and what the
/// reading writes there.
fn fit(word: &Word, step: &str) -> (f64, String) {
    if !word.slot {
        return (word_distance(&word.text, step), word.text.clone());
    }
    match &word.fits {
        None => (0.0, step.to_owned()),
        Some(fits) if fits.whole.is_match(step) => (0.0, step.to_owned()),
        Some(fits)
            if !(fits.prefix.is_empty() && fits.suffix.is_empty()) && fits.alone.is_match(step) =>
        {
            (
                AROUND_A_PLACEHOLDER,
                format!("{}{step}{}", fits.prefix, fits.suffix),
            )
        }
        // Not what the group takes (`three` for a number): a wrong word.
        Some(_) => (1.0, step.to_owned()),
    }
}

/// Letter-level edit distance of two words, from 0 (equal, ignoring case)
/// to 1.
fn word_distance(a: &str, b: &str) -> f64 {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    let longest = a.len().max(b.len());
    if longest == 0 {
        return 0.0;
    }
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut row = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != cb);
            row[j + 1] = substitute.min(previous[j + 1] + 1).min(row[j] + 1);
        }
        previous = row;
    }
    previous[b.len()] as f64 / longest as f64
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    /// The reading's word for the step's.
    Match,
    /// A reading's word the step lacks.
    Missing,
    /// A step's word the reading lacks.
    Extra,
    /// A step's word a placeholder takes in as well.
    Absorb,
}

/// How far a step's words are from one reading of a definition (0 to 1),
/// and the step as that reading would write it: its words, the
/// placeholders filled with what the step wrote there.
fn align(reading: &[Word], step: &[&str]) -> (f64, String) {
    let (n, m) = (reading.len(), step.len());
    let longest = n.max(m);
    if longest == 0 {
        return (0.0, String::new());
    }
    let mut cost = vec![vec![0.0_f64; m + 1]; n + 1];
    let mut op = vec![vec![Op::Match; m + 1]; n + 1];
    for j in 1..=m {
        cost[0][j] = j as f64;
        op[0][j] = Op::Extra;
    }
    for i in 1..=n {
        cost[i][0] = i as f64;
        op[i][0] = Op::Missing;
        let word = &reading[i - 1];
        for j in 1..=m {
            let substitute = fit(word, step[j - 1]).0;
            let mut best = (cost[i - 1][j - 1] + substitute, Op::Match);
            for candidate in [
                (cost[i - 1][j] + 1.0, Op::Missing),
                (cost[i][j - 1] + 1.0, Op::Extra),
            ] {
                if candidate.0 < best.0 {
                    best = candidate;
                }
            }
            if word.slot && matches!(op[i][j - 1], Op::Match | Op::Absorb) {
                let absorbed = cost[i][j - 1] + SLOT_EXTRA_WORD;
                if absorbed < best.0 {
                    best = (absorbed, Op::Absorb);
                }
            }
            cost[i][j] = best.0;
            op[i][j] = best.1;
        }
    }
    // Back from the end: the reading's words, a placeholder as the step's
    // words it took.
    let mut written: Vec<String> = Vec::new();
    let mut taken: Vec<String> = Vec::new();
    let (mut i, mut j) = (n, m);
    while i > 0 || j > 0 {
        match op[i][j] {
            Op::Match if i > 0 && j > 0 => {
                let word = &reading[i - 1];
                taken.push(fit(word, step[j - 1]).1);
                taken.reverse();
                written.push(taken.join(" "));
                taken.clear();
                i -= 1;
                j -= 1;
            }
            Op::Absorb if j > 0 => {
                taken.push(step[j - 1].to_owned());
                j -= 1;
            }
            Op::Missing if i > 0 => {
                written.push(reading[i - 1].text.clone());
                i -= 1;
            }
            _ if j > 0 => j -= 1,
            _ => {
                written.push(reading[i - 1].text.clone());
                i -= 1;
            }
        }
    }
    written.reverse();
    (cost[n][m] / longest as f64, written.join(" "))
}

/// One step definition of the run, read for suggestions.
struct Definition {
    keyword: &'static str,
    regex: Regex,
    readable: String,
    readings: Vec<Vec<Word>>,
}

/// A defined step close to a step that matched none.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Suggestion {
    /// The definition, readable: `When <name> is|are stopped|started`.
    pub readable: String,
    /// The step rewritten to this definition, when the definition matches
    /// it: `When node-1 is stopped`.
    pub rewritten: Option<String>,
    /// From 0 (the same words) to 1.
    pub distance: f64,
}

/// The step definitions of one run.
pub(crate) struct Catalog {
    definitions: Vec<Definition>,
}

impl Catalog {
    /// The steps the run registers.
    pub(crate) fn new(steps: &Steps) -> Self {
        let mut definitions: Vec<Definition> = Vec::new();
        let mut cache = Compiled::new();
        for (kind, regex, _) in &steps.steps {
            let keyword = match kind {
                Kind::Given => "Given",
                Kind::When => "When",
                Kind::Then => "Then",
            };
            let readable = format!("{keyword} {}", readable(regex.as_str()));
            if definitions.iter().any(|d| d.readable == readable) {
                continue;
            }
            let readings = expand_alternatives(&parse(regex.as_str()))
                .iter()
                .map(|pieces| words(pieces, &mut cache))
                .collect();
            definitions.push(Definition {
                keyword,
                regex: regex.clone(),
                readable,
                readings,
            });
        }
        Catalog { definitions }
    }

    /// How many steps are defined.
    pub(crate) fn len(&self) -> usize {
        self.definitions.len()
    }

    /// The `count` definitions closest to a step's text (without its
    /// keyword), closest first, none farther than [`MAX_DISTANCE`].
    pub(crate) fn closest(&self, keyword: &str, text: &str, count: usize) -> Vec<Suggestion> {
        let step: Vec<&str> = text.split_whitespace().collect();
        let mut ranked: Vec<(usize, Suggestion)> = Vec::new();
        for (order, definition) in self.definitions.iter().enumerate() {
            let best = definition
                .readings
                .iter()
                .map(|reading| align(reading, &step))
                .min_by(|a, b| a.0.total_cmp(&b.0));
            let Some((distance, written)) = best else {
                continue;
            };
            if distance > MAX_DISTANCE {
                continue;
            }
            let keyword = match keyword.trim() {
                "" => definition.keyword,
                written_keyword => written_keyword,
            };
            let rewritten = (definition.regex.is_match(&written) && written != collapse(text))
                .then(|| format!("{keyword} {written}"));
            ranked.push((
                order,
                Suggestion {
                    readable: definition.readable.clone(),
                    rewritten,
                    distance,
                },
            ));
        }
        ranked.sort_by(|a, b| a.1.distance.total_cmp(&b.1.distance).then(a.0.cmp(&b.0)));
        ranked.into_iter().take(count).map(|(_, s)| s).collect()
    }
}

/// A feature's path as a reader finds it: relative to the working
/// directory when under it.
pub(crate) fn shown_path(path: Option<&Path>, feature_name: &str) -> String {
    let Some(path) = path else {
        return feature_name.to_owned();
    };
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// What a reader sees about a step no definition matches.
pub(crate) fn message(
    catalog: &Catalog,
    place: &str,
    keyword: &str,
    text: &str,
    count: usize,
) -> String {
    let step = format!("{} {}", keyword.trim(), text.trim());
    let suggestions = catalog.closest(keyword, text, count);
    if suggestions.is_empty() {
        return format!(
            "`{step}` ({place}) matches no step definition, and none of the {} defined steps is close to it",
            catalog.len()
        );
    }
    let mut out =
        format!("`{step}` ({place}) matches no step definition; the closest defined steps:");
    for suggestion in suggestions {
        out.push_str("\n  ");
        out.push_str(&suggestion.readable);
        if let Some(rewritten) = &suggestion.rewritten {
            out.push_str(&format!("  (as `{rewritten}`)"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generic;

    #[test]
    fn patterns_read_with_placeholders() {
        assert_eq!(
            readable(r"^within (-?\d+) seconds? a leader is elected$"),
            "within <n> second(s) a leader is elected"
        );
        assert_eq!(
            readable(r"^a new (?:([a-z][\w-]*) )?node joins(?: with peers ([a-z]\S+))?$"),
            "a new [<name>] node joins [with peers <name>]"
        );
        assert_eq!(
            readable(r"^the leader is (killed|stopped|cut off from the rest)$"),
            "the leader is (killed | stopped | cut off from the rest)"
        );
        assert_eq!(
            readable(r"^([a-z]\S+) (?:is|are) (stopped|started)$"),
            "<name> is|are stopped|started"
        );
        assert_eq!(
            readable(r"^the link is delayed by (-?[\d.]+) ?ms(?: (?:\+/-|±) (-?[\d.]+) ?ms)?$"),
            "the link is delayed by <n> ms [+/-|± <n> ms]"
        );
    }

    #[test]
    fn odd_patterns_read_without_panicking() {
        for pattern in [
            "",
            "^$",
            "(?i)^Hello world$",
            r"^a{2,3} b{,} c\p{Greek}+ d\x41 [^]x] (?P<n>\d+) (?<m>x|y)*? \bz\B$",
            r"^[[:alpha:]]+ \Q? (a|b|c){1,} (?:|x)$",
            "^(a)(b)(c)(d)(e)(f)(g)(h)(i)?(j)?(k)?(l)?(m)?(n)?(o)?(p)?(q)?(r)?$",
            "^(?:a|b|c|d)(?:a|b|c|d)(?:a|b|c|d)(?:a|b|c|d)(?:a|b|c|d)(?:a|b|c|d)$",
        ] {
            let _ = readable(pattern);
            let readings = expand_alternatives(&parse(pattern));
            assert!(readings.len() <= MAX_VARIANTS, "{pattern}");
        }
    }

    #[test]
    fn word_distance_is_normalized() {
        assert_eq!(word_distance("stopped", "Stopped"), 0.0);
        assert!((word_distance("stoped", "stopped") - 1.0 / 7.0).abs() < 1e-9);
        assert_eq!(word_distance("", "abc"), 1.0);
        assert_eq!(word_distance("", ""), 0.0);
    }

    fn catalog() -> Catalog {
        let app = Steps::new()
            .given(r"^a Raft cluster of (-?\d+) nodes?$", |_, _| {
                Box::pin(async {})
            })
            .then(r"^within (-?\d+) seconds? a leader is elected$", |_, _| {
                Box::pin(async {})
            })
            .when(
                r"^the leader is (killed|stopped|restarted|paused|cut off from the rest)$",
                |_, _| Box::pin(async {}),
            );
        Catalog::new(&generic::steps().and(app))
    }

    #[test]
    fn a_typo_ranks_the_intended_step_first() {
        let catalog = catalog();
        let first =
            |keyword: &str, text: &str| catalog.closest(keyword, text, SUGGESTIONS).remove(0);

        let stopped = first("When ", "node-1 is stoped");
        assert!(
            stopped
                .readable
                .starts_with("When <name> is|are stopped|started"),
            "{stopped:?}"
        );
        assert_eq!(stopped.rewritten.as_deref(), Some("When node-1 is stopped"));

        let elected = first("And ", "within 20 secnds a leader is elcted");
        assert_eq!(
            elected.readable,
            "Then within <n> second(s) a leader is elected"
        );
        assert_eq!(
            elected.rewritten.as_deref(),
            Some("And within 20 seconds a leader is elected")
        );

        let cluster = first("Given ", "a raft clster of 3 nodes");
        assert_eq!(cluster.readable, "Given a Raft cluster of <n> node(s)");
        assert_eq!(
            cluster.rewritten.as_deref(),
            Some("Given a Raft cluster of 3 nodes")
        );

        // A list of nodes is one placeholder's words; a missing word is
        // put back.
        let cut = first("When ", "node-0 and node-1 are cut off from rest");
        assert!(cut.readable.contains("cut off from the <name>"), "{cut:?}");
        assert_eq!(
            cut.rewritten.as_deref(),
            Some("When node-0 and node-1 are cut off from the rest")
        );

        let ready = first("Then ", "within 20 seconds evry node is redy");
        assert!(ready.readable.contains("every node is"), "{ready:?}");
    }

    #[test]
    fn suggestions_come_closest_first_and_at_most_three() {
        let catalog = catalog();
        let suggestions = catalog.closest("When ", "the leader is kiled", SUGGESTIONS);
        assert!(!suggestions.is_empty() && suggestions.len() <= SUGGESTIONS);
        assert!(suggestions[0].readable.starts_with("When the leader is"));
        assert!(
            suggestions
                .windows(2)
                .all(|w| w[0].distance <= w[1].distance)
        );
    }

    #[test]
    fn an_unrelated_sentence_gets_no_far_fetched_suggestion() {
        let catalog = catalog();
        for text in [
            "the moon is made of green cheese and nobody minds",
            "",
            "   ",
            "ünïcödé ☃ 123",
        ] {
            let suggestions = catalog.closest("Given ", text, SUGGESTIONS);
            assert!(suggestions.iter().all(|s| s.distance <= MAX_DISTANCE));
            let said = message(&catalog, "x.feature:3", "Given ", text, SUGGESTIONS);
            assert!(said.contains("x.feature:3"), "{said}");
        }
        let said = message(
            &catalog,
            "x.feature:3",
            "Given ",
            "the moon is made of green cheese and nobody minds",
            SUGGESTIONS,
        );
        assert!(said.contains("none of the"), "{said}");
    }

    #[test]
    fn no_steps_no_suggestions() {
        let catalog = Catalog::new(&Steps::new());
        assert!(catalog.closest("When ", "node-1 is stoped", 3).is_empty());
        let said = message(&catalog, "x.feature:1", "When ", "node-1 is stoped", 3);
        assert!(said.contains("none of the 0 defined steps"), "{said}");
    }
}
