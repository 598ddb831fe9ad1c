//! CSV: `connections.csv` (one row per connection) and `exchanges.csv`
//! (one row per exchange, with its `connection_id` and `trans_depth`), the
//! columns of [`crate::report::flat`], a header row first, RFC 4180 quoting
//! (csv crate). Empty fields are nulls. To standard output only the
//! connections table is written; `-o DIR` writes both files.

use std::io::{self, Write};

use crate::report::flat::{self, Cell, Kind};
use crate::report::render::Render;
use crate::report::{ConnectionReport, Header, Summary};

/// Writes the two CSV tables one connection at a time.
pub struct CsvRenderer<'w> {
    connections: ::csv::Writer<Box<dyn Write + 'w>>,
    exchanges: ::csv::Writer<Box<dyn Write + 'w>>,
}

fn io_err(e: ::csv::Error) -> io::Error {
    io::Error::other(e)
}

fn header(cols: &'static [(&'static str, Kind)]) -> impl Iterator<Item = &'static str> {
    cols.iter().map(|(n, _)| *n)
}

fn write_row<W: Write>(w: &mut ::csv::Writer<W>, cols: usize, row: &[Cell]) -> io::Result<()> {
    if row.len() != cols {
        return Err(io::Error::other(format!(
            "internal: a row has {} cells for {cols} columns",
            row.len()
        )));
    }
    w.write_record(row.iter().map(Cell::text)).map_err(io_err)
}

impl<'w> CsvRenderer<'w> {
    /// A renderer writing the connections table to `connections` and the
    /// exchanges table to `exchanges` (`io::sink()` to leave one out).
    pub fn new(connections: Box<dyn Write + 'w>, exchanges: Box<dyn Write + 'w>) -> Self {
        CsvRenderer {
            connections: ::csv::Writer::from_writer(connections),
            exchanges: ::csv::Writer::from_writer(exchanges),
        }
    }
}

impl Render for CsvRenderer<'_> {
    fn begin(
        &mut self,
        _header: &Header,
        _summary: &Summary,
        _findings: &[crate::report::findings::Finding],
    ) -> io::Result<()> {
        self.connections
            .write_record(header(flat::CONNECTION_COLUMNS))
            .map_err(io_err)?;
        self.exchanges
            .write_record(header(flat::EXCHANGE_COLUMNS))
            .map_err(io_err)
    }

    fn connection(&mut self, c: &ConnectionReport) -> io::Result<()> {
        write_row(
            &mut self.connections,
            flat::CONNECTION_COLUMNS.len(),
            &flat::connection_row(c),
        )?;
        for (i, e) in c.exchanges.iter().enumerate() {
            write_row(
                &mut self.exchanges,
                flat::EXCHANGE_COLUMNS.len(),
                &flat::exchange_row(c, i, e),
            )?;
        }
        Ok(())
    }

    fn end(&mut self) -> io::Result<()> {
        self.connections.flush()?;
        self.exchanges.flush()
    }
}
