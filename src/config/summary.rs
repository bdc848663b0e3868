//! Stage `config`: `outlier_summary` text becomes a [`SummaryTemplate`] of literal text and
//! `{field}` placeholders.
//!
//! Invariants of a returned template: parts alternate as written (no two adjacent `Text`
//! parts, no empty `Text`), every `Field` name is trimmed and non-empty and contains no
//! brace, and concatenating the parts with `{`/`}` around fields gives back the value
//! (up to the spaces trimmed inside braces). A `{` without its `}` or a `}` without its
//! `{` is an error: ee-outliers would write it literally, which is never what was meant.

use super::model::{SummaryPart, SummaryTemplate};

pub(super) fn parse(v: &str) -> Result<SummaryTemplate, String> {
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut rest = v;
    while let Some(i) = rest.find(['{', '}']) {
        text.push_str(&rest[..i]);
        if rest[i..].starts_with('}') {
            return Err(format!(
                "'}}' without a matching '{{' in {v:?}; placeholders are written {{field.name}}"
            ));
        }
        let after = &rest[i + 1..];
        let Some(close) = after
            .find(['{', '}'])
            .filter(|&j| after[j..].starts_with('}'))
        else {
            return Err(format!(
                "'{{' without a matching '}}' in {v:?}; placeholders are written {{field.name}}"
            ));
        };
        let field = after[..close].trim();
        if field.is_empty() {
            return Err(format!("empty placeholder {{}} in {v:?}; name a field inside the braces, e.g. {{process.name}}"));
        }
        if !text.is_empty() {
            parts.push(SummaryPart::Text(std::mem::take(&mut text)));
        }
        parts.push(SummaryPart::Field(field.to_string()));
        rest = &after[close + 1..];
    }
    text.push_str(rest);
    if !text.is_empty() {
        parts.push(SummaryPart::Text(text));
    }
    Ok(SummaryTemplate {
        raw: v.to_string(),
        parts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> SummaryPart {
        SummaryPart::Text(s.into())
    }
    fn field(s: &str) -> SummaryPart {
        SummaryPart::Field(s.into())
    }

    #[test]
    fn placeholders_and_text_alternate() {
        let t = parse("rare child process {process.name} for {process.parent.name}").unwrap();
        assert_eq!(
            t.parts,
            vec![
                text("rare child process "),
                field("process.name"),
                text(" for "),
                field("process.parent.name")
            ]
        );
        assert_eq!(
            t.raw,
            "rare child process {process.name} for {process.parent.name}"
        );
    }

    #[test]
    fn adjacent_placeholders_and_spaces_inside_braces() {
        let t = parse("{ a }{b}").unwrap();
        assert_eq!(t.parts, vec![field("a"), field("b")]);
    }

    #[test]
    fn text_without_placeholder_is_one_part() {
        assert_eq!(
            parse("dummy summary").unwrap().parts,
            vec![text("dummy summary")]
        );
    }

    #[test]
    fn unclosed_brace_is_an_error() {
        assert!(parse("rare {process.name")
            .unwrap_err()
            .contains("'{' without a matching '}'"));
        assert!(parse("rare {a{b}")
            .unwrap_err()
            .contains("'{' without a matching '}'"));
    }

    #[test]
    fn unopened_brace_is_an_error() {
        assert!(parse("rare process.name}")
            .unwrap_err()
            .contains("'}' without a matching '{'"));
    }

    #[test]
    fn empty_placeholder_is_an_error() {
        assert!(parse("rare { }").unwrap_err().contains("empty placeholder"));
    }
}
