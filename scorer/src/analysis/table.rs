//! The data tables the checks read (`scorer/data/*.tsv`): one row a line, columns
//! separated by tabs, `#` comment lines and blank lines skipped.

/// The rows of a table, each split into its trimmed columns.
pub fn rows(text: &str) -> impl Iterator<Item = Vec<&str>> + '_ {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split('\t').map(str::trim).collect())
}

/// Test support: the detections one check adds to a message.
#[cfg(test)]
pub fn detections_of(raw: &str, check: fn(&mut super::ScoreContext<'_>)) -> Vec<proto::Detection> {
    let message = mail_parser::MessageParser::default().parse(raw.as_bytes()).expect("a test message parses");
    let facts = super::MessageFacts::default();
    let mut ctx = super::ScoreContext::new(&message, &facts);
    check(&mut ctx);
    ctx.detections
}

#[cfg(test)]
mod tests {
    #[test]
    fn rows_skip_comments_and_blank_lines() {
        let rows: Vec<Vec<&str>> = super::rows("# head\n\na\tb \n  # more\nc\n").collect();
        assert_eq!(rows, vec![vec!["a", "b"], vec!["c"]]);
    }
}
