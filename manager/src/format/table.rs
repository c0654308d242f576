//! docker's column layout: `tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)`.

/// Tab-separated lines laid out in columns: each cell padded to the widest cell
/// of its column plus 3, at least 10 wide; the last cell of a line is not padded
/// (and takes no part in the widths).
pub fn tabulate(lines: &[String]) -> String {
    let rows: Vec<Vec<&str>> = lines.iter().map(|l| l.split('\t').collect()).collect();
    layout(&rows, false)
}

/// Rows of cells laid out as [`tabulate`] does, trailing blanks of each line
/// trimmed (an empty last column leaves none).
pub fn tabulate_cells(rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<&str>> = rows
        .iter()
        .map(|r| r.iter().map(String::as_str).collect())
        .collect();
    layout(&rows, true)
}

fn layout(rows: &[Vec<&str>], trim: bool) -> String {
    let mut widths: Vec<usize> = Vec::new();
    for r in rows {
        for (i, c) in r.iter().enumerate().take(r.len().saturating_sub(1)) {
            if widths.len() <= i {
                widths.push(0);
            }
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            line.push_str(c);
            if i + 1 < r.len() {
                let w = (widths[i] + 3).max(10);
                line.push_str(&" ".repeat(w - c.chars().count()));
            }
        }
        out.push_str(if trim { line.trim_end() } else { &line });
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        let out = tabulate(&["DRIVER\tVOLUME NAME".into(), "local\tdata".into()]);
        assert_eq!(out, "DRIVER    VOLUME NAME\nlocal     data\n");
        // An empty last cell keeps the padding before it.
        assert_eq!(tabulate(&["a\t".into()]), "a         \n");
    }

    #[test]
    fn cells() {
        let t = tabulate_cells(&[
            vec!["A".into(), "B".into()],
            vec!["long-value".into(), "x".into()],
        ]);
        assert_eq!(t, "A            B\nlong-value   x\n");
        assert_eq!(tabulate_cells(&[vec!["a".into(), "".into()]]), "a\n");
    }
}
