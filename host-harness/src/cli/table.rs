//! Tables for people: aligned columns, a header, nothing fancy, so output
//! reads the same in a terminal, a log file and a snapshot.

use comfy_table::{Cell, CellAlignment, ContentArrangement, Table, presets};

/// A table with `header` columns.
pub fn new(header: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(presets::ASCII_MARKDOWN)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header.iter().map(Cell::new));
    table
}

/// Right-aligns the columns at `indexes` (numbers read better that way).
pub fn align_right(table: &mut Table, indexes: &[usize]) {
    for &i in indexes {
        if let Some(column) = table.column_mut(i) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
}

/// `yes` / `no`.
pub fn yes_no(value: bool) -> &'static str {
    if value { "yes" } else { "no" }
}

/// A value or `-`.
pub fn or_dash<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_string(), |v| v.to_string())
}
