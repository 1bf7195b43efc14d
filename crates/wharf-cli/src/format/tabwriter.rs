//! Elastic tabstops, re-implemented from Go's `text/tabwriter` (the algorithm docker's tables
//! go through): cells are tab-terminated; a column block is a run of consecutive lines that have
//! a cell in that column; each block is as wide as its widest cell plus padding, at least
//! `minwidth`. The last cell of a line is not part of any column and is never padded.

/// Settings as in `tabwriter.NewWriter(out, minwidth, tabwidth, padding, ' ', 0)`.
#[derive(Debug, Clone, Copy)]
pub struct TabWriter {
    pub minwidth: usize,
    pub padding: usize,
}

impl TabWriter {
    /// docker's table formatter: `tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)`.
    pub const DOCKER_TABLE: TabWriter = TabWriter {
        minwidth: 10,
        padding: 3,
    };

    pub fn new(minwidth: usize, padding: usize) -> Self {
        TabWriter { minwidth, padding }
    }

    /// Aligns all of `text` (as if written then flushed).
    pub fn format(&self, text: &str) -> String {
        let mut lines: Vec<Vec<&str>> = text.split('\n').map(|l| l.split('\t').collect()).collect();
        // A trailing newline leaves an empty final "line" that Go never prints.
        let ends_nl = text.ends_with('\n');
        if ends_nl {
            lines.pop();
        }
        let mut out = String::with_capacity(text.len() * 2);
        let mut widths = Vec::new();
        self.format_block(&lines, &mut widths, 0, lines.len(), &mut out);
        if !ends_nl && out.ends_with('\n') {
            out.pop();
        }
        out
    }

    fn format_block(
        &self,
        lines: &[Vec<&str>],
        widths: &mut Vec<usize>,
        mut line0: usize,
        line1: usize,
        out: &mut String,
    ) {
        let column = widths.len();
        let mut this = line0;
        while this < line1 {
            if column + 1 >= lines[this].len() {
                this += 1;
                continue;
            }
            // A column block starts here: print the lines before it.
            write_lines(lines, widths, line0, this, out);
            line0 = this;
            let mut width = self.minwidth;
            while this < line1 && column + 1 < lines[this].len() {
                let w = cell_width(lines[this][column]) + self.padding;
                width = width.max(w);
                this += 1;
            }
            widths.push(width);
            self.format_block(lines, widths, line0, this, out);
            widths.pop();
            line0 = this;
        }
        write_lines(lines, widths, line0, line1, out);
    }
}

fn cell_width(s: &str) -> usize {
    s.chars().count()
}

fn write_lines(lines: &[Vec<&str>], widths: &[usize], from: usize, to: usize, out: &mut String) {
    for line in &lines[from..to] {
        for (j, cell) in line.iter().enumerate() {
            out.push_str(cell);
            if j < widths.len() {
                let w = cell_width(cell);
                out.extend(std::iter::repeat_n(' ', widths[j].saturating_sub(w)));
            }
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_like_docker_tables() {
        let t = TabWriter::DOCKER_TABLE;
        let got = t.format("REPOSITORY\tTAG\tSIZE\nbusybox\tlatest\t1.98MB\nmyrepo/bb\tv1\t1MB\n");
        assert_eq!(
            got,
            "REPOSITORY   TAG       SIZE\nbusybox      latest    1.98MB\nmyrepo/bb    v1        1MB\n"
        );
    }

    #[test]
    fn lines_without_tabs_break_column_blocks() {
        let t = TabWriter::new(0, 1);
        let got = t.format("a\tb\nlong-cell\tc\nplain\nx\ty\n");
        assert_eq!(got, "a         b\nlong-cell c\nplain\nx y\n");
    }

    #[test]
    fn blocks_nest_per_column() {
        let t = TabWriter::new(0, 1);
        // The second column exists only on the first two lines.
        let got = t.format("a\tbb\tc\naaa\tb\tc\nx\ty\n");
        assert_eq!(got, "a   bb c\naaa b  c\nx   y\n");
    }

    #[test]
    fn counts_runes_not_bytes() {
        let t = TabWriter::new(0, 1);
        assert_eq!(t.format("é\tx\nab\ty\n"), "é  x\nab y\n");
    }
}
