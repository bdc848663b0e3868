//! Stage `evaluate` (PURE) for `[sudden_appearance_*]` (SPEC section 9): the sliding
//! windows of a run, and, per (aggregator, target) pair, the windows in which the pair
//! appears suddenly, decided from the pair's time buckets.
//!
//! Must not: do I/O, read the clock (the run's `now` is an argument), or fail on a
//! validated use case (config guarantees 0 < step <= window <= history).
//!
//! Windows (all bounds CLOSED, in epoch milliseconds): with S = now - history, window i
//! is [S + i*step, S + i*step + window] for every i >= 0 whose end is before now
//! ("regular" windows), then one last window [now - window, now]. When S + window = now
//! there is no regular window and the last one is [S, now]. 0.2.17 evaluates
//! [now - step, now] last instead (a documented difference).
//!
//! A pair is sudden in window [a, b] when its earliest event in [a, b] is strictly later
//! than c = b - step; that earliest event is the one tagged. An event exactly at c is not
//! sudden; an event exactly at b or a is in the window; an event on the common edge of
//! two windows is in both.
//!
//! Buckets: Elasticsearch counts each pair in time buckets of g = gcd(step, window,
//! history) minutes aligned on S (a `date_histogram` with an offset, see
//! `plan::sudden`), with the bucket's earliest timestamp (`min`). Every window edge a, c,
//! b, now - window falls on that grid, so from (bucket start, earliest timestamp) alone:
//! - no event in [a, c] <=> no bucket starts in [a, c), and the bucket starting at c (if
//!   any) has its earliest event after c;
//! - then some event in (c, b] <=> a bucket starts in [c, b), or the bucket starting at b
//!   has its earliest event exactly at b;
//! - and the earliest event of the window is the earliest of the first bucket in [a, b].
//!
//! Memory: buckets come in composite order (aggregator, target, then time), so each
//! pair's buckets are consecutive: [`SuddenEvaluator`] keeps one pair's buckets, plus,
//! for the report of where 0.2.17's terms aggregations would have truncated, the window
//! ranges of the current aggregator's pairs and one counter per window.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{json, Value};
use time::{Duration, OffsetDateTime};

use super::event;
use super::model::join;
use super::pystr::{naive_datetime_str, str_of, textwrap_fill, timedelta_str};
use crate::config::{SuddenAppearanceSpec, SummaryTemplate};

const MINUTE_MS: i64 = 60_000;

/// The sliding windows of one run (see the module docs), in epoch milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Windows {
    /// S = now - history: start of the first window and of the counting range.
    start: i64,
    /// The run's `now`, truncated to the millisecond: end of the last window.
    now: i64,
    window: i64,
    step: i64,
    /// Number of regular windows: ceil((history - window) / step), 0 when equal.
    regular: usize,
    /// gcd(step, window, history) in minutes.
    grid_minutes: u64,
}

/// One window: its position and its closed bounds in epoch milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Window {
    /// 0-based position; the last window has index `Windows::count() - 1`.
    pub index: usize,
    pub start_ms: i64,
    pub end_ms: i64,
}

impl Window {
    /// The start as a UTC date-time.
    pub fn start(&self) -> OffsetDateTime {
        datetime_of_ms(self.start_ms)
    }
    /// The end as a UTC date-time.
    pub fn end(&self) -> OffsetDateTime {
        datetime_of_ms(self.end_ms)
    }
}

/// An epoch-millisecond timestamp as a UTC date-time.
pub fn datetime_of_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::UNIX_EPOCH + Duration::milliseconds(ms)
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

impl Windows {
    /// The windows of a run at `now` over `history_minutes`, with windows of
    /// `window_minutes` moving by `step_minutes`. `now` is truncated to the millisecond
    /// (the resolution of `date` fields). Config guarantees 0 < step <= window <= history;
    /// values outside that are clamped (step and window at least 1 minute, window at most
    /// the history, step at most the window) rather than panicking.
    pub fn new(
        now: OffsetDateTime,
        history_minutes: u64,
        window_minutes: u64,
        step_minutes: u64,
    ) -> Windows {
        let history_minutes = history_minutes.max(1);
        let window_minutes = window_minutes.clamp(1, history_minutes);
        let step_minutes = step_minutes.clamp(1, window_minutes);
        let now = (now.unix_timestamp_nanos() / 1_000_000) as i64;
        let (h, w, s) = (
            history_minutes as i64 * MINUTE_MS,
            window_minutes as i64 * MINUTE_MS,
            step_minutes as i64 * MINUTE_MS,
        );
        // Regular windows i satisfy i * s + w < h: i < (h - w) / s, so ceil((h - w) / s).
        let regular = ((h - w) + s - 1) / s;
        Windows {
            start: now - h,
            now,
            window: w,
            step: s,
            regular: regular as usize,
            grid_minutes: gcd(gcd(step_minutes, window_minutes), history_minutes),
        }
    }

    /// Number of windows: the regular ones plus the last, ceil((history - window) /
    /// step) + 1, the number of positions 0.2.17 evaluates too.
    pub fn count(&self) -> usize {
        self.regular + 1
    }

    /// Window `i` (`i < count()`); the last window for any larger `i`.
    pub fn window(&self, i: usize) -> Window {
        if i < self.regular {
            let start = self.start + i as i64 * self.step;
            Window {
                index: i,
                start_ms: start,
                end_ms: start + self.window,
            }
        } else {
            Window {
                index: self.regular,
                start_ms: self.now - self.window,
                end_ms: self.now,
            }
        }
    }

    /// Every window, in order.
    pub fn iter(&self) -> impl Iterator<Item = Window> + '_ {
        (0..self.count()).map(|i| self.window(i))
    }

    /// The counting range [S, now] (closed), in epoch milliseconds.
    pub fn range_ms(&self) -> (i64, i64) {
        (self.start, self.now)
    }

    /// The bucket width g = gcd(step, window, history), in minutes.
    pub fn grid_minutes(&self) -> u64 {
        self.grid_minutes
    }

    /// Where buckets start: S modulo g, in milliseconds (0 <= offset < g), the
    /// `date_histogram` `offset` that aligns buckets on S.
    pub fn offset_ms(&self) -> i64 {
        self.start.rem_euclid(self.grid_minutes as i64 * MINUTE_MS)
    }

    /// The window size in minutes.
    pub fn window_minutes(&self) -> u64 {
        (self.window / MINUTE_MS) as u64
    }

    /// Regular windows whose end b satisfies lo <= b <= hi, as an index range.
    fn regular_ending_within(&self, lo: i64, hi: i64) -> std::ops::Range<usize> {
        // b_i = S + window + i * step.
        let base = self.start + self.window;
        let first = (lo - base + self.step - 1).div_euclid(self.step).max(0);
        let last = (hi - base)
            .div_euclid(self.step)
            .min(self.regular as i64 - 1);
        if last < first {
            0..0
        } else {
            first as usize..last as usize + 1
        }
    }

    /// Windows that hold at least one event of `bucket`, as an index range. With a and b
    /// on the grid: a <= start, and b > start, or b = start when the bucket's earliest
    /// event is exactly at its start.
    fn holding(&self, bucket: &TimeBucket) -> std::ops::Range<usize> {
        let st = bucket.start_ms;
        // Regular windows: b_i >= st when an event is exactly at st, else b_i > st (b_i is
        // on the grid, so b_i >= st + 1 ms is b_i > st); and a_i = S + i*step <= st.
        let min_end = if bucket.first_ms == st { st } else { st + 1 };
        let base = self.start + self.window;
        let from = (min_end - base + self.step - 1)
            .div_euclid(self.step)
            .max(0);
        let to = ((st - self.start).div_euclid(self.step) + 1).min(self.regular as i64);
        let mut range = if from < to {
            from as usize..to as usize
        } else {
            self.regular..self.regular
        };
        // The last window [now - window, now] has the next index: it extends the range
        // when the range is empty or reaches the last regular window.
        let last = self.window(self.regular);
        if last.start_ms <= st && (st < last.end_ms || bucket.first_ms == st) {
            if range.is_empty() {
                range = self.regular..self.regular + 1;
            } else if range.end == self.regular {
                range.end = self.regular + 1;
            }
        }
        range
    }
}

/// One time bucket of one pair: the events of the pair in [start, start + g).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TimeBucket {
    /// Bucket start (epoch ms), on the grid of [`Windows::grid_minutes`] from S.
    pub start_ms: i64,
    pub doc_count: u64,
    /// Timestamp of the bucket's earliest event (epoch ms, the `min` sub-aggregation).
    pub first_ms: i64,
}

/// An (aggregator, target) pair: field values in the order of the use case's lists.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Pair {
    pub aggregator: Vec<String>,
    pub target: Vec<String>,
}

/// A pair appears suddenly in a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Appearance {
    pub window: Window,
    /// Timestamp (epoch ms) of the pair's earliest event in the window: the event to tag.
    pub first_ms: i64,
}

/// The windows in which a pair with these `buckets` (sorted by start, non-empty
/// buckets only, as the composite aggregation returns them) appears suddenly. One entry
/// per event: when the same earliest event is sudden in two windows (only possible with
/// the last window, which is off the step grid), the later window is kept, as 0.2.17
/// keeps it. Sorted by `first_ms`.
///
/// Each bucket is the first of the window [a, b] in at most three windows with c <= start
/// <= b (c = b - step): the regular windows ending in [start, start + step] and the last
/// window, so the work is linear in the buckets, not in the windows.
pub fn appearances(windows: &Windows, buckets: &[TimeBucket]) -> Vec<Appearance> {
    let mut out: Vec<Appearance> = Vec::new();
    let mut previous: Option<i64> = None;
    for bucket in buckets.iter().filter(|b| b.doc_count > 0) {
        let st = bucket.start_ms;
        let last = windows.window(windows.regular);
        let candidates = windows
            .regular_ending_within(st, st + windows.step)
            .map(|i| windows.window(i))
            .chain((last.end_ms - windows.step <= st && st <= last.end_ms).then_some(last));
        let mut sudden: Option<Appearance> = None;
        for w in candidates {
            let cut = w.end_ms - windows.step;
            // This bucket must be the window's first: no bucket in [a, st).
            if previous.is_some_and(|p| p >= w.start_ms) || st < w.start_ms {
                continue;
            }
            let is_sudden = if st == cut {
                bucket.first_ms > cut
            } else if st < w.end_ms {
                true
            } else {
                bucket.first_ms == w.end_ms
            };
            if is_sudden {
                // Same bucket, same earliest event: the later window wins.
                sudden = Some(Appearance {
                    window: w,
                    first_ms: bucket.first_ms,
                });
            }
        }
        out.extend(sudden);
        previous = Some(st);
    }
    out
}

/// The keys of [`SuddenFinding::extra_information`] and the model keys: summary
/// placeholders naming them (case-insensitively) take these values, not the event's.
pub const COMPUTED_KEYS: [&str; 10] = [
    "size_time_window",
    "start_time_window",
    "end_time_window",
    "aggregator",
    "aggregator_value",
    "target",
    "target_value",
    "num_target_value_in_window",
    "model_name",
    "model_type",
];

/// A sudden appearance of one pair: what is tagged, before the event itself is known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SuddenFinding {
    pub aggregator: Vec<String>,
    pub target: Vec<String>,
    pub window: Window,
    /// Timestamp (epoch ms) of the event to tag: the pair's earliest in the window.
    pub first_ms: i64,
}

impl SuddenFinding {
    /// The outlier fields ee-outliers 0.2.17 adds for this model, in its order:
    /// `size_time_window` (Python `str()` of the window size), `start_time_window`,
    /// `end_time_window` (`str()` of the naive UTC date-times), `aggregator` and `target`
    /// (the FIELD NAMES), `aggregator_value` and `target_value` (values joined with
    /// " - "), `num_target_value_in_window` (events of the pair in the closed window, from
    /// the first-events request).
    pub fn extra_information(
        &self,
        aggregator_fields: &[String],
        target_fields: &[String],
        window_minutes: u64,
        num_target_value_in_window: u64,
    ) -> Vec<(&'static str, Value)> {
        vec![
            (
                "size_time_window",
                json!(timedelta_str(Duration::minutes(window_minutes as i64))),
            ),
            (
                "start_time_window",
                json!(naive_datetime_str(self.window.start())),
            ),
            (
                "end_time_window",
                json!(naive_datetime_str(self.window.end())),
            ),
            ("aggregator", json!(aggregator_fields)),
            ("aggregator_value", json!(join(&self.aggregator))),
            ("target", json!(target_fields)),
            ("target_value", json!(join(&self.target))),
            (
                "num_target_value_in_window",
                json!(num_target_value_in_window),
            ),
        ]
    }
}

/// The `outlier_summary` of a sudden finding, as 0.2.17 builds it: a placeholder naming
/// one of `extras` ([`SuddenFinding::extra_information`]) or `model_name` /
/// `model_type` (compared case-insensitively, as 0.2.17 looks keys up) takes that value
/// (a list joined with ", ", a number in decimal); any other placeholder is read from
/// the tagged event's `_source` (`path` maps a placeholder to its `_source` path, as for
/// terms); a field found nowhere gives `{field <name> not found in event}`, as 0.2.17
/// writes it. The result is hard-wrapped at 150 columns with [`textwrap_fill`], as every
/// ee-outliers summary is.
///
/// 0.2.17 merges the event's fields and these values into one dictionary, the values
/// replacing top-level event fields of the same name; an event field that differs only
/// in case from one of them would win there, and loses here.
pub fn summary(
    template: &SummaryTemplate,
    extras: &[(&str, Value)],
    model: (&str, &str),
    source: &Value,
    path: impl Fn(&str) -> String,
) -> String {
    let (model_name, model_type) = model;
    let filled = template.fill(|field| {
        let key = field.to_lowercase();
        let extra = match key.as_str() {
            "model_name" => Some(Value::from(model_name)),
            "model_type" => Some(Value::from(model_type)),
            _ => extras
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.clone()),
        };
        match extra {
            Some(Value::Array(items)) => {
                Some(items.iter().map(str_of).collect::<Vec<_>>().join(", "))
            }
            Some(v) => Some(str_of(&v)),
            None => {
                let v = event::values(source, &path(field));
                Some(if v.is_empty() {
                    format!("{{field {field} not found in event}}")
                } else {
                    v.join(", ")
                })
            }
        }
    });
    textwrap_fill(&filled, 150)
}

/// Where 0.2.17 would have cut its per-window `terms` aggregations (which keep the most
/// frequent values, so the rare, sudden ones are the first to go); esoutliers counts
/// exactly and only reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Truncation {
    /// The largest number of distinct aggregator values with an event in one window.
    pub max_aggregators_in_a_window: u64,
    /// Windows with more distinct aggregator values than `max_num_aggregators`:
    /// (window index, distinct aggregator values), by window.
    pub windows_over_aggregator_cap: Vec<(usize, u64)>,
    /// The largest number of distinct target values under one aggregator value in one
    /// window.
    pub max_targets_under_an_aggregator: u64,
    /// Aggregator values with more distinct target values in some window than
    /// `max_num_targets`: (aggregator values, a window where the count is largest, that
    /// count), in input order.
    pub aggregators_over_target_cap: Vec<(Vec<String>, usize, u64)>,
}

/// Streams composite buckets (see the module docs for the order it relies on) into
/// sudden findings and the [`Truncation`] report.
#[derive(Debug)]
pub struct SuddenEvaluator {
    windows: Windows,
    max_num_aggregators: u64,
    max_num_targets: u64,
    /// The current pair and its buckets so far.
    pair: Option<Pair>,
    buckets: Vec<TimeBucket>,
    /// Window-index ranges [start, end) holding an event of each closed pair of the
    /// current aggregator.
    aggregator_ranges: Vec<(usize, usize)>,
    /// Per window + 1: difference array of the number of aggregators with an event.
    aggregators_per_window: Vec<i64>,
    truncation: Truncation,
}

impl SuddenEvaluator {
    /// An evaluator for `windows` with 0.2.17's caps from `spec` (for the report only).
    pub fn new(windows: Windows, spec: &SuddenAppearanceSpec) -> SuddenEvaluator {
        SuddenEvaluator {
            windows,
            max_num_aggregators: spec.max_num_aggregators,
            max_num_targets: spec.max_num_targets,
            pair: None,
            buckets: Vec::new(),
            aggregator_ranges: Vec::new(),
            aggregators_per_window: vec![0; windows.count() + 1],
            truncation: Truncation::default(),
        }
    }

    /// Feeds the next bucket (composite order). Returns the findings of the previous
    /// pair when this bucket starts a new pair. Buckets with `doc_count = 0` are skipped.
    pub fn push(&mut self, pair: Pair, bucket: TimeBucket) -> Vec<SuddenFinding> {
        if bucket.doc_count == 0 {
            return Vec::new();
        }
        let mut out = Vec::new();
        if self.pair.as_ref() != Some(&pair) {
            let new_aggregator = self
                .pair
                .as_ref()
                .is_some_and(|p| p.aggregator != pair.aggregator);
            out = self.close_pair();
            if new_aggregator {
                self.close_aggregator();
            }
            self.pair = Some(pair);
        }
        debug_assert!(
            self.buckets
                .last()
                .is_none_or(|b| b.start_ms < bucket.start_ms),
            "buckets of one pair must come sorted by time (time source last)"
        );
        self.buckets.push(bucket);
        out
    }

    /// End of input: the last pair's findings and the truncation report.
    pub fn finish(mut self) -> (Vec<SuddenFinding>, Truncation) {
        let out = self.close_pair();
        self.close_aggregator();
        let mut running = 0i64;
        for i in 0..self.windows.count() {
            running += self.aggregators_per_window[i];
            let n = running as u64;
            let t = &mut self.truncation;
            t.max_aggregators_in_a_window = t.max_aggregators_in_a_window.max(n);
            if n > self.max_num_aggregators {
                t.windows_over_aggregator_cap.push((i, n));
            }
        }
        (out, self.truncation)
    }

    fn close_pair(&mut self) -> Vec<SuddenFinding> {
        let buckets = std::mem::take(&mut self.buckets);
        let Some(pair) = self.pair.take() else {
            return Vec::new();
        };
        // The windows holding an event of this pair, merged into disjoint ranges.
        let mut merged: Vec<(usize, usize)> = Vec::new();
        for b in &buckets {
            let r = self.windows.holding(b);
            if r.is_empty() {
                continue;
            }
            match merged.last_mut() {
                Some(last) if r.start <= last.1 => last.1 = last.1.max(r.end),
                _ => merged.push((r.start, r.end)),
            }
        }
        self.aggregator_ranges.extend(merged);
        let found = appearances(&self.windows, &buckets);
        let out = found
            .into_iter()
            .map(|a| SuddenFinding {
                aggregator: pair.aggregator.clone(),
                target: pair.target.clone(),
                window: a.window,
                first_ms: a.first_ms,
            })
            .collect();
        self.pair = Some(pair);
        out
    }

    /// Counts the distinct targets per window of the aggregator just completed (a sweep
    /// over its pairs' ranges) and marks the windows it has events in.
    fn close_aggregator(&mut self) {
        let ranges = std::mem::take(&mut self.aggregator_ranges);
        let Some(pair) = self.pair.take() else {
            return;
        };
        let mut edges: BTreeMap<usize, i64> = BTreeMap::new();
        for (s, e) in &ranges {
            *edges.entry(*s).or_default() += 1;
            *edges.entry(*e).or_default() -= 1;
        }
        let (mut running, mut best, mut best_at) = (0i64, 0i64, 0usize);
        let mut open_since: Option<usize> = None;
        for (&at, &delta) in &edges {
            running += delta;
            if running > best {
                (best, best_at) = (running, at);
            }
            // The aggregator has an event in a window when at least one pair has.
            match (open_since, running > 0) {
                (None, true) => open_since = Some(at),
                (Some(s), false) => {
                    self.aggregators_per_window[s] += 1;
                    self.aggregators_per_window[at] -= 1;
                    open_since = None;
                }
                _ => {}
            }
        }
        let t = &mut self.truncation;
        t.max_targets_under_an_aggregator = t.max_targets_under_an_aggregator.max(best as u64);
        if best as u64 > self.max_num_targets {
            t.aggregators_over_target_cap
                .push((pair.aggregator.clone(), best_at, best as u64));
        }
    }
}

/// What the first-events request found for one finding (see
/// `plan::sudden::SuddenPlan::first_events_body`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum FirstEvent {
    /// The event to tag: the smallest `_id` (then `_index`) among the pair's events at
    /// the earliest timestamp. `num_in_window`: the pair's events in the closed window.
    Found {
        index: String,
        id: String,
        num_in_window: u64,
        /// The event's `_source` as requested (`Value::Null` when none was asked for).
        source: Value,
    },
    /// More events share the earliest timestamp than the request returned (`tied`): the
    /// caller lists their ids with `SuddenPlan::tie_query` and takes the smallest.
    Tied { tied: u64, num_in_window: u64 },
    /// No event at the earliest timestamp any more (deleted or changed since counting):
    /// nothing to tag.
    Gone { num_in_window: u64 },
}

/// Decides [`FirstEvent`] from one bucket of the first-events response: `in_window`
/// (bucket `doc_count`), `tied` (the `first` sub-filter's `doc_count`) and the hits
/// returned for it as (`_index`, `_id`, `_source`).
pub fn first_event(in_window: u64, tied: u64, hits: &[(String, String, Value)]) -> FirstEvent {
    if tied == 0 || hits.is_empty() {
        return FirstEvent::Gone {
            num_in_window: in_window,
        };
    }
    if (hits.len() as u64) < tied {
        return FirstEvent::Tied {
            tied,
            num_in_window: in_window,
        };
    }
    let (index, id, source) = hits
        .iter()
        .min_by(|a, b| (&a.1, &a.0).cmp(&(&b.1, &b.0)))
        .expect("hits is not empty");
    FirstEvent::Found {
        index: index.clone(),
        id: id.clone(),
        num_in_window: in_window,
        source: source.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-28 12:00:00 UTC);

    fn ms(t: OffsetDateTime) -> i64 {
        (t.unix_timestamp_nanos() / 1_000_000) as i64
    }

    fn min(m: i64) -> i64 {
        m * MINUTE_MS
    }

    /// History 10 h, windows of 4 h moving by 2 h: S = 02:00; regular windows start at
    /// 02:00, 04:00, 06:00 (ends 06:00, 08:00, 10:00 < 12:00), then [08:00, 12:00].
    fn ten_hours() -> Windows {
        Windows::new(NOW, 600, 240, 120)
    }

    fn at(h: i64, m: i64) -> i64 {
        ms(datetime!(2026-11-28 00:00:00 UTC)) + min(h * 60 + m)
    }

    /// Buckets of width g (minutes) from events at the given epoch-ms timestamps.
    fn buckets(w: &Windows, events: &[i64]) -> Vec<TimeBucket> {
        let g = w.grid_minutes() as i64 * MINUTE_MS;
        let (s, _) = w.range_ms();
        let mut out: Vec<TimeBucket> = Vec::new();
        let mut sorted = events.to_vec();
        sorted.sort();
        for t in sorted {
            let start = s + (t - s).div_euclid(g) * g;
            match out.last_mut() {
                Some(b) if b.start_ms == start => b.doc_count += 1,
                _ => out.push(TimeBucket {
                    start_ms: start,
                    doc_count: 1,
                    first_ms: t,
                }),
            }
        }
        out
    }

    /// Reference: the definition applied to raw events, window by window.
    fn by_definition(w: &Windows, events: &[i64]) -> Vec<(usize, i64)> {
        let mut out: Vec<(usize, i64)> = Vec::new();
        for win in w.iter() {
            let first = events
                .iter()
                .filter(|t| win.start_ms <= **t && **t <= win.end_ms)
                .min();
            if let Some(&f) = first {
                if f > win.end_ms - w.step {
                    out.retain(|(_, t)| *t != f);
                    out.push((win.index, f));
                }
            }
        }
        out.sort_by_key(|(_, t)| *t);
        out
    }

    fn found(w: &Windows, events: &[i64]) -> Vec<(usize, i64)> {
        appearances(w, &buckets(w, events))
            .into_iter()
            .map(|a| (a.window.index, a.first_ms))
            .collect()
    }

    #[test]
    fn windows_step_until_the_end_reaches_now_then_the_last_ends_at_now() {
        let w = ten_hours();
        let got: Vec<(i64, i64)> = w.iter().map(|x| (x.start_ms, x.end_ms)).collect();
        assert_eq!(
            got,
            vec![
                (at(2, 0), at(6, 0)),
                (at(4, 0), at(8, 0)),
                (at(6, 0), at(10, 0)),
                (at(8, 0), at(12, 0)),
            ]
        );
        assert_eq!(w.count(), 4);
        assert_eq!(w.grid_minutes(), 120);
    }

    #[test]
    fn window_as_long_as_history_gives_one_window() {
        let w = Windows::new(NOW, 600, 600, 60);
        assert_eq!(w.count(), 1);
        assert_eq!(
            w.window(0),
            Window {
                index: 0,
                start_ms: at(2, 0),
                end_ms: at(12, 0)
            }
        );
    }

    #[test]
    fn last_window_is_off_the_step_grid_when_history_minus_window_is_not_a_multiple() {
        // History 10 h, window 4 h, step 4 h: regular [02,06], [06,10]; last [08,12].
        let w = Windows::new(NOW, 600, 240, 240);
        let got: Vec<(i64, i64)> = w.iter().map(|x| (x.start_ms, x.end_ms)).collect();
        assert_eq!(
            got,
            vec![
                (at(2, 0), at(6, 0)),
                (at(6, 0), at(10, 0)),
                (at(8, 0), at(12, 0))
            ]
        );
        // ceil((600 - 240) / 240) + 1, as 0.2.17 counts its scans.
        assert_eq!(w.count(), 3);
        // gcd(240, 240, 600) = 120: 08:00 and 10:00 are bucket edges.
        assert_eq!(w.grid_minutes(), 120);
    }

    #[test]
    fn grid_is_the_gcd_and_the_offset_aligns_buckets_on_the_history_start() {
        // now 12:00:00.250; history 25 h, window 90 min, step 60 min: gcd 30 min.
        let now = datetime!(2026-11-28 12:00:00.250 UTC);
        let w = Windows::new(now, 1500, 90, 60);
        assert_eq!(w.grid_minutes(), 30);
        let (s, end) = w.range_ms();
        assert_eq!(end, ms(now));
        assert_eq!(s, ms(datetime!(2026-11-27 11:00:00.250 UTC)));
        assert_eq!(w.offset_ms(), 250);
        assert_eq!((s - w.offset_ms()) % min(30), 0);
    }

    #[test]
    fn now_is_truncated_to_the_millisecond() {
        let w = Windows::new(datetime!(2026-11-28 12:00:00.123456789 UTC), 60, 60, 60);
        assert_eq!(w.window(0).end(), datetime!(2026-11-28 12:00:00.123 UTC));
    }

    #[test]
    fn pair_first_seen_in_the_last_step_is_sudden() {
        let w = ten_hours();
        // Window [02,06]: cut 04:00. An event at 05:00 only.
        assert_eq!(found(&w, &[at(5, 0)]), vec![(0, at(5, 0))]);
    }

    #[test]
    fn pair_seen_before_the_cut_is_not_sudden() {
        let w = ten_hours();
        // 03:00 is before the cut of [02,06] (04:00); [04,08] sees 05:00 first (cut 06:00).
        assert_eq!(found(&w, &[at(3, 0), at(5, 0)]), vec![]);
    }

    #[test]
    fn event_exactly_at_end_minus_step_is_not_sudden() {
        let w = ten_hours();
        // 04:00 is the cut of [02,06] (not strictly later) and the start of [04,08],
        // where it is early. It is sudden nowhere.
        assert_eq!(found(&w, &[at(4, 0)]), vec![]);
        assert_eq!(by_definition(&w, &[at(4, 0)]), vec![]);
    }

    #[test]
    fn event_one_millisecond_after_the_cut_is_sudden() {
        let w = ten_hours();
        assert_eq!(found(&w, &[at(4, 0) + 1]), vec![(0, at(4, 0) + 1)]);
    }

    #[test]
    fn event_exactly_at_the_window_end_counts_in_that_window() {
        let w = ten_hours();
        // 06:00 is the end of [02,06] (sudden there: 06:00 > 04:00) and the cut of
        // [04,08], where it is not sudden. One entry, window 0.
        assert_eq!(found(&w, &[at(6, 0)]), vec![(0, at(6, 0))]);
    }

    #[test]
    fn event_exactly_at_the_window_start_is_in_the_window() {
        let w = ten_hours();
        // 02:00 is the start of [02,06]: first there, and before its cut.
        assert_eq!(found(&w, &[at(2, 0)]), vec![]);
        // An event at 02:00 hides a later one at 05:00 in [02,06].
        assert_eq!(found(&w, &[at(2, 0), at(5, 0)]), vec![]);
    }

    #[test]
    fn closed_windows_share_their_edge_events() {
        let w = ten_hours();
        // 06:00 is in [02,06] (end) and [04,08] (cut) and [06,10] (start): it makes
        // 07:00 early in [06,10] and [04,08] though it is sudden in [02,06].
        assert_eq!(found(&w, &[at(6, 0), at(7, 0)]), vec![(0, at(6, 0))]);
    }

    #[test]
    fn event_at_now_is_sudden_in_the_last_window() {
        let w = ten_hours();
        assert_eq!(found(&w, &[at(12, 0)]), vec![(3, at(12, 0))]);
    }

    #[test]
    fn same_event_sudden_in_two_windows_keeps_the_later_one() {
        // Windows [02,06], [06,10] (cut 06:00), last [08,12] (cut 08:00). 09:00 is the
        // first of [06,10] (09:00 > 06:00) and of [08,12] (09:00 > 08:00).
        let w = Windows::new(NOW, 600, 240, 240);
        assert_eq!(found(&w, &[at(9, 0)]), vec![(2, at(9, 0))]);
        assert_eq!(by_definition(&w, &[at(9, 0)]), vec![(2, at(9, 0))]);
    }

    #[test]
    fn a_pair_can_be_sudden_again_after_a_quiet_window() {
        let w = ten_hours();
        // 03:00 sudden? no (cut 04:00). 11:00: first of [08,12], cut 10:00: sudden.
        assert_eq!(found(&w, &[at(3, 0), at(11, 0)]), vec![(3, at(11, 0))]);
    }

    #[test]
    fn buckets_agree_with_the_definition_on_every_grid_position() {
        // Every combination of up to three events among grid edges and their
        // neighbours, on a geometry with an off-grid last window.
        let w = Windows::new(NOW, 600, 240, 180);
        let (s, now) = w.range_ms();
        let g = w.grid_minutes() as i64 * MINUTE_MS;
        let mut points = Vec::new();
        let mut t = s;
        while t <= now {
            points.extend([t, t + 1, t + g / 2]);
            if t > s {
                points.push(t - 1);
            }
            t += g;
        }
        points.retain(|p| *p <= now);
        for (i, a) in points.iter().enumerate() {
            for b in &points[i..] {
                for c in [None, Some(s + 5 * g), Some(now)] {
                    let mut events = vec![*a, *b];
                    events.extend(c);
                    assert_eq!(
                        found(&w, &events),
                        by_definition(&w, &events),
                        "events {events:?}"
                    );
                }
            }
        }
    }

    fn spec(max_aggs: u64, max_targets: u64) -> SuddenAppearanceSpec {
        SuddenAppearanceSpec {
            window_minutes: 240,
            step_minutes: 120,
            max_num_aggregators: max_aggs,
            max_num_targets: max_targets,
        }
    }

    fn pair(a: &str, t: &str) -> Pair {
        Pair {
            aggregator: vec![a.into()],
            target: vec![t.into()],
        }
    }

    fn run(
        w: Windows,
        spec: &SuddenAppearanceSpec,
        input: &[(&str, &str, &[i64])],
    ) -> (Vec<SuddenFinding>, Truncation) {
        let mut e = SuddenEvaluator::new(w, spec);
        let mut out = Vec::new();
        for (a, t, events) in input {
            for b in buckets(&w, events) {
                out.extend(e.push(pair(a, t), b));
            }
        }
        let (rest, trunc) = e.finish();
        out.extend(rest);
        (out, trunc)
    }

    #[test]
    fn evaluator_returns_each_pair_findings_when_the_next_pair_starts() {
        let w = ten_hours();
        let mut e = SuddenEvaluator::new(w, &spec(10, 10));
        let b = buckets(&w, &[at(5, 0)]);
        assert_eq!(e.push(pair("h1", "a"), b[0]), vec![]);
        let next = buckets(&w, &[at(3, 0)]);
        let got = e.push(pair("h1", "b"), next[0]);
        assert_eq!(
            got,
            vec![SuddenFinding {
                aggregator: vec!["h1".into()],
                target: vec!["a".into()],
                window: w.window(0),
                first_ms: at(5, 0)
            }]
        );
        assert_eq!(e.finish().0, vec![]);
    }

    #[test]
    fn truncation_counts_distinct_values_per_window() {
        let w = ten_hours();
        // Windows: 0 [02,06], 1 [04,08], 2 [06,10], 3 [08,12].
        // h1: targets a (03:00: windows 0), b (05:00: windows 0,1), c (07:00: 1,2).
        // h2: target a at 11:00 (window 3). h3: a at 06:00 (windows 0, 1, 2).
        let input: &[(&str, &str, &[i64])] = &[
            ("h1", "a", &[at(3, 0)]),
            ("h1", "b", &[at(5, 0)]),
            ("h1", "c", &[at(7, 0)]),
            ("h2", "a", &[at(11, 0)]),
            ("h3", "a", &[at(6, 0)]),
        ];
        let (_, t) = run(w, &spec(1, 1), input);
        // Window 1 has h1 and h3; window 0 h1 and h3; window 2 h1, h3; window 3 h2.
        assert_eq!(t.max_aggregators_in_a_window, 2);
        assert_eq!(t.windows_over_aggregator_cap, vec![(0, 2), (1, 2), (2, 2)]);
        // h1 has 2 targets in windows 0 (a, b) and 1 (b, c); first such window: 0.
        assert_eq!(t.max_targets_under_an_aggregator, 2);
        assert_eq!(
            t.aggregators_over_target_cap,
            vec![(vec!["h1".into()], 0, 2)]
        );

        let (_, t) = run(w, &spec(2, 2), input);
        assert_eq!(t.windows_over_aggregator_cap, vec![]);
        assert_eq!(t.aggregators_over_target_cap, vec![]);
    }

    #[test]
    fn event_exactly_at_a_window_end_counts_for_truncation_only_there() {
        let w = ten_hours();
        // 08:00 is the end of window 1, the start of window 3 and inside window 2.
        let b = buckets(&w, &[at(8, 0)]);
        assert_eq!(w.holding(&b[0]), 1..4);
        // 08:00:00.001 is not in window 1.
        let b = buckets(&w, &[at(8, 0) + 1]);
        assert_eq!(w.holding(&b[0]), 2..4);
        // 01:59 is before S: no window (cannot come from the query, but stays harmless).
        let b = TimeBucket {
            start_ms: at(0, 0),
            doc_count: 1,
            first_ms: at(1, 59),
        };
        assert!(w.holding(&b).is_empty());
    }

    #[test]
    fn windows_holding_a_bucket_agree_with_the_definition() {
        for w in [
            ten_hours(),
            Windows::new(NOW, 600, 240, 180),
            Windows::new(NOW, 600, 600, 60),
        ] {
            let (s, now) = w.range_ms();
            let g = w.grid_minutes() as i64 * MINUTE_MS;
            let mut t = s;
            while t <= now {
                for e in [t, t + 1, t + g / 2, t + g - 1] {
                    if e > now {
                        continue;
                    }
                    let b = buckets(&w, &[e]);
                    let got: Vec<usize> = w.holding(&b[0]).collect();
                    let want: Vec<usize> = w
                        .iter()
                        .filter(|x| x.start_ms <= e && e <= x.end_ms)
                        .map(|x| x.index)
                        .collect();
                    assert_eq!(got, want, "event at {e}");
                }
                t += g;
            }
        }
    }

    #[test]
    fn computed_keys_name_every_extra_field_and_the_model_keys() {
        let f = SuddenFinding {
            aggregator: vec!["a".into()],
            target: vec!["t".into()],
            window: ten_hours().window(0),
            first_ms: at(5, 0),
        };
        let mut keys: Vec<&str> = f
            .extra_information(&["x".into()], &["y".into()], 60, 1)
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        keys.extend(["model_name", "model_type"]);
        assert_eq!(keys, COMPUTED_KEYS.to_vec());
    }

    #[test]
    fn extra_information_uses_python_spellings() {
        let w = ten_hours();
        let f = SuddenFinding {
            aggregator: vec!["h1".into(), "u1".into()],
            target: vec!["cmd.exe".into()],
            window: w.window(0),
            first_ms: at(5, 0),
        };
        let got: serde_json::Map<String, Value> = f
            .extra_information(
                &["host.name".into(), "user.name".into()],
                &["process.name".into()],
                1440 + 60,
                3,
            )
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        assert_eq!(
            Value::Object(got),
            json!({
                "size_time_window": "1 day, 1:00:00",
                "start_time_window": "2026-11-28 02:00:00",
                "end_time_window": "2026-11-28 06:00:00",
                "aggregator": ["host.name", "user.name"],
                "aggregator_value": "h1 - u1",
                "target": ["process.name"],
                "target_value": "cmd.exe",
                "num_target_value_in_window": 3
            })
        );
    }

    #[test]
    fn first_event_takes_the_smallest_id_among_ties() {
        let hits = vec![
            ("i2".to_string(), "e4".to_string(), Value::Null),
            ("i1".to_string(), "e0".to_string(), Value::Null),
            ("i1".to_string(), "e3".to_string(), Value::Null),
        ];
        assert_eq!(
            first_event(5, 3, &hits),
            FirstEvent::Found {
                index: "i1".into(),
                id: "e0".into(),
                num_in_window: 5,
                source: Value::Null
            }
        );
    }

    #[test]
    fn first_event_with_more_ties_than_hits_asks_for_all_of_them() {
        let hits = vec![("i".to_string(), "e1".to_string(), Value::Null)];
        assert_eq!(
            first_event(40, 12, &hits),
            FirstEvent::Tied {
                tied: 12,
                num_in_window: 40
            }
        );
    }

    #[test]
    fn first_event_missing_since_counting_is_gone() {
        assert_eq!(
            first_event(2, 0, &[]),
            FirstEvent::Gone { num_in_window: 2 }
        );
    }
    fn arb_geometry() -> impl Strategy<Value = Windows> {
        // In units of 10 minutes: 0 < step <= window <= history <= 30 units.
        (1u64..=30)
            .prop_flat_map(|h| (Just(h), 1..=h))
            .prop_flat_map(|(h, w)| (Just(h), Just(w), 1..=w))
            .prop_map(|(h, w, s)| Windows::new(NOW, h * 10, w * 10, s * 10))
    }

    /// Events as offsets from S: on 10-minute edges, or 1 ms / 5 minutes after, or 1 ms
    /// before one, kept inside [S, now].
    fn arb_events(w: Windows) -> impl Strategy<Value = Vec<i64>> {
        let (s, now) = w.range_ms();
        let units = (now - s) / min(10);
        prop::collection::vec((0..=units, 0usize..4), 1..6).prop_map(move |v| {
            v.into_iter()
                .map(|(k, d)| s + k * min(10) + [0, 1, min(5), -1][d])
                .map(|t| t.clamp(s, now))
                .collect()
        })
    }

    proptest::proptest! {
        #[test]
        fn buckets_agree_with_the_definition_on_random_geometries(
            (w, events) in arb_geometry().prop_flat_map(|w| (Just(w), arb_events(w)))
        ) {
            prop_assert_eq!(found(&w, &events), by_definition(&w, &events));
        }

        #[test]
        fn truncation_agrees_with_counting_window_by_window(
            (w, pairs) in arb_geometry().prop_flat_map(|w| (
                Just(w),
                prop::collection::vec(((0u8..3), (0u8..3), arb_events(w)), 1..8),
            ))
        ) {
            // One entry per pair (the first wins), sorted in composite order.
            let mut by_pair: BTreeMap<(u8, u8), Vec<i64>> = BTreeMap::new();
            for (a, t, ev) in pairs {
                by_pair.entry((a, t)).or_insert(ev);
            }
            let names: Vec<(String, String, Vec<i64>)> = by_pair
                .into_iter()
                .map(|((a, t), ev)| (format!("h{a}"), format!("t{t}"), ev))
                .collect();
            let input: Vec<(&str, &str, &[i64])> = names
                .iter()
                .map(|(a, t, ev)| (a.as_str(), t.as_str(), ev.as_slice()))
                .collect();
            let (_, got) = run(w, &spec(1, 1), &input);
            let mut max_aggs = 0u64;
            let mut over_aggs = Vec::new();
            let mut max_targets = 0u64;
            let mut best: BTreeMap<String, (u64, usize)> = BTreeMap::new();
            for win in w.iter() {
                let inside = |ev: &Vec<i64>| ev.iter().any(|t| win.start_ms <= *t && *t <= win.end_ms);
                let mut per_agg: BTreeMap<&str, u64> = BTreeMap::new();
                for (a, _, ev) in &names {
                    if inside(ev) {
                        *per_agg.entry(a).or_default() += 1;
                    }
                }
                let n = per_agg.len() as u64;
                max_aggs = max_aggs.max(n);
                if n > 1 {
                    over_aggs.push((win.index, n));
                }
                for (a, k) in per_agg {
                    max_targets = max_targets.max(k);
                    let e = best.entry(a.to_string()).or_insert((0, 0));
                    if k > e.0 {
                        *e = (k, win.index);
                    }
                }
            }
            let over_targets: Vec<(Vec<String>, usize, u64)> = best
                .into_iter()
                .filter(|(_, (k, _))| *k > 1)
                .map(|(a, (k, i))| (vec![a], i, k))
                .collect();
            prop_assert_eq!(got.max_aggregators_in_a_window, max_aggs);
            prop_assert_eq!(got.windows_over_aggregator_cap, over_aggs);
            prop_assert_eq!(got.max_targets_under_an_aggregator, max_targets);
            prop_assert_eq!(got.aggregators_over_target_cap, over_targets);
        }
    }
    #[test]
    fn summary_fills_extra_fields_before_event_fields_and_wraps_at_150() {
        use crate::config::SummaryPart;
        let w = ten_hours();
        let f = SuddenFinding {
            aggregator: vec!["ws-1".into()],
            target: vec!["cmd.exe".into()],
            window: w.window(0),
            first_ms: at(5, 0),
        };
        let extras = f.extra_information(&["host.name".into()], &["process.name".into()], 240, 2);
        let t = |parts: &[&str]| SummaryTemplate {
            raw: String::new(),
            parts: parts
                .iter()
                .map(|p| match p.strip_prefix('{') {
                    Some(f) => SummaryPart::Field(f.trim_end_matches('}').into()),
                    None => SummaryPart::Text(p.to_string()),
                })
                .collect(),
        };
        let event = json!({ "user": { "name": "bob" }, "target_value": "hidden" });
        let got = summary(
            &t(&[
                "{Target_Value}",
                " new for ",
                "{aggregator_value}",
                " (",
                "{aggregator}",
                ") by ",
                "{user.name}",
                ", ",
                "{num_target_value_in_window}",
                " in ",
                "{size_time_window}",
                " ",
                "{model_type}",
                " ",
                "{nowhere}",
            ]),
            &extras,
            ("new_process", "sudden_appearance"),
            &event,
            |f| f.to_string(),
        );
        assert_eq!(
            got,
            "cmd.exe new for ws-1 (host.name) by bob, 2 in 4:00:00 sudden_appearance \
             {field nowhere not found in event}"
        );
        let long = summary(&t(&[&"x ".repeat(100)]), &extras, ("m", "t"), &event, |f| {
            f.to_string()
        });
        assert_eq!(
            long.lines().map(str::len).collect::<Vec<_>>(),
            vec![149, 49]
        );
    }
}
