//! Stage `config`: how problems in a config file are reported.
//!
//! Every problem becomes a [`ConfigError`] with the [`Location`] it concerns; nothing here
//! stops at the first problem. [`Diagnostics`] collects errors and notices while a file is
//! read, and [`Diagnostics::finish`] sorts them by line so that the user sees a file's
//! problems top to bottom. Messages are full sentences: what is wrong, and what would be
//! right. A value that may be secret (a password) is never copied into a message.

use std::path::{Path, PathBuf};

use super::model::{Location, Notice};

/// One problem in a config file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub location: Location,
    /// What is wrong and what would be right, as a sentence.
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    /// `path:line: [section] key: message`, or `path:line: message` for a problem that
    /// concerns no section (an unreadable file, a line outside any section).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let l = &self.location;
        if l.section.is_none() && l.key.is_none() {
            write!(f, "{} {}", l, self.message)
        } else {
            write!(f, "{}: {}", l, self.message)
        }
    }
}

/// Every problem of a file, in line order; `Display` prints one per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", one_per_line(.errors))]
pub struct ConfigErrors {
    /// Never empty.
    pub errors: Vec<ConfigError>,
}

fn one_per_line(errors: &[ConfigError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

impl ConfigErrors {
    /// A problem with the file as a whole (line 0, no section, no key).
    pub(super) fn whole_file(file: &Path, message: String) -> ConfigErrors {
        ConfigErrors {
            errors: vec![ConfigError {
                location: Location {
                    file: file.to_path_buf(),
                    line: 0,
                    section: None,
                    key: None,
                },
                message,
            }],
        }
    }
}

/// Errors and notices of one file, collected while it is read.
#[derive(Debug)]
pub(super) struct Diagnostics {
    file: PathBuf,
    errors: Vec<ConfigError>,
    notices: Vec<Notice>,
}

impl Diagnostics {
    pub(super) fn new(file: &Path) -> Diagnostics {
        Diagnostics {
            file: file.to_path_buf(),
            errors: Vec::new(),
            notices: Vec::new(),
        }
    }

    /// A location in this file.
    pub(super) fn at(&self, line: usize, section: Option<&str>, key: Option<&str>) -> Location {
        Location {
            file: self.file.clone(),
            line,
            section: section.map(str::to_string),
            key: key.map(str::to_string),
        }
    }

    pub(super) fn error(&mut self, location: Location, message: impl Into<String>) {
        self.errors.push(ConfigError {
            location,
            message: message.into(),
        });
    }

    pub(super) fn notice(&mut self, location: Location, message: impl Into<String>) {
        self.notices.push(Notice {
            location,
            message: message.into(),
        });
    }

    pub(super) fn error_count(&self) -> usize {
        self.errors.len()
    }

    /// The notices sorted by line, or every error sorted by line when there is one.
    /// The sort is stable: problems on the same line keep the order they were found in.
    pub(super) fn finish(mut self) -> Result<Vec<Notice>, ConfigErrors> {
        if self.errors.is_empty() {
            self.notices.sort_by_key(|n| n.location.line);
            Ok(self.notices)
        } else {
            self.errors.sort_by_key(|e| e.location.line);
            Err(ConfigErrors {
                errors: self.errors,
            })
        }
    }
}

/// The candidate closest to `word` when it looks like a typo of it (at most two edits
/// by Levenshtein distance, case ignored, or the same letters once `_` and case are
/// ignored); `None` otherwise.
pub(super) fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let squash = |s: &str| s.replace('_', "").to_lowercase();
    let w = word.to_lowercase();
    candidates
        .iter()
        .map(|c| (strsim::levenshtein(&w, c), *c))
        .filter(|(d, c)| *d <= 2 || squash(c) == squash(word))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(line: usize, section: Option<&str>, key: Option<&str>) -> Location {
        Diagnostics::new(Path::new("t.conf")).at(line, section, key)
    }

    #[test]
    fn error_prints_path_line_section_key_and_message() {
        let e = ConfigError {
            location: loc(7, Some("general"), Some("es_timeout")),
            message: "too big".into(),
        };
        assert_eq!(e.to_string(), "t.conf:7: [general] es_timeout: too big");
    }

    #[test]
    fn error_without_section_has_no_double_colon() {
        let e = ConfigError {
            location: loc(0, None, None),
            message: "cannot read the file".into(),
        };
        assert_eq!(e.to_string(), "t.conf:0: cannot read the file");
    }

    #[test]
    fn errors_print_one_per_line_sorted_by_line() {
        let mut d = Diagnostics::new(Path::new("t.conf"));
        d.error(loc(9, Some("s"), Some("b")), "second");
        d.error(loc(2, Some("s"), Some("a")), "first");
        let e = d.finish().unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.conf:2: [s] a: first\nt.conf:9: [s] b: second"
        );
    }

    #[test]
    fn notices_are_returned_only_when_there_is_no_error() {
        let mut d = Diagnostics::new(Path::new("t.conf"));
        d.notice(loc(3, Some("s"), None), "fine");
        assert_eq!(d.finish().unwrap().len(), 1);
    }

    #[test]
    fn did_you_mean_finds_typos_and_underscore_slips() {
        let keys = ["trigger_method", "trigger_on", "target"];
        assert_eq!(did_you_mean("trigger_metod", &keys), Some("trigger_method"));
        assert_eq!(did_you_mean("triggermethod", &keys), Some("trigger_method"));
        assert_eq!(did_you_mean("Target", &keys), Some("target"));
        assert_eq!(did_you_mean("mitre_technique", &keys), None);
    }
}
