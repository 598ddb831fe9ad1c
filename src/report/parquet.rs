//! Parquet: `connections.parquet` and `exchanges.parquet`, the columns of
//! [`crate::report::flat`] (every column OPTIONAL; integers INT64, seconds
//! DOUBLE, text BYTE_ARRAY UTF8), uncompressed, written with the arrow-rs
//! `parquet` crate's column writers (no arrow, no codecs: see Cargo.toml).
//! DuckDB, Spark, pandas and polars read them as they are.
//!
//! Parquet is columnar, so rows are buffered up to [`ROW_GROUP_ROWS`] per
//! table and written as one row group; the renderer still holds at most one
//! connection report at a time.

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::Arc;

use parquet::data_type::{BoolType, ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;

use crate::report::flat::{self, Cell, Kind};
use crate::report::render::Render;
use crate::report::{ConnectionReport, Header, Summary};

/// Rows buffered per table before a row group is written.
pub const ROW_GROUP_ROWS: usize = 16 * 1024;

fn pq(e: parquet::errors::ParquetError) -> io::Error {
    io::Error::other(e)
}

enum Column {
    Int(Vec<i64>, Vec<i16>),
    Float(Vec<f64>, Vec<i16>),
    Bool(Vec<bool>, Vec<i16>),
    Str(Vec<ByteArray>, Vec<i16>),
}

impl Column {
    fn new(k: Kind) -> Column {
        match k {
            Kind::Int => Column::Int(Vec::new(), Vec::new()),
            Kind::Float => Column::Float(Vec::new(), Vec::new()),
            Kind::Bool => Column::Bool(Vec::new(), Vec::new()),
            Kind::Str => Column::Str(Vec::new(), Vec::new()),
        }
    }

    fn push(&mut self, c: Cell) -> io::Result<()> {
        fn put<T>(vals: &mut Vec<T>, defs: &mut Vec<i16>, v: Option<T>) {
            match v {
                Some(v) => {
                    vals.push(v);
                    defs.push(1);
                }
                None => defs.push(0),
            }
        }
        match (self, c) {
            (Column::Int(v, d), Cell::Int(x)) => put(v, d, x),
            (Column::Float(v, d), Cell::Float(x)) => put(v, d, x),
            (Column::Bool(v, d), Cell::Bool(x)) => put(v, d, x),
            (Column::Str(v, d), Cell::Str(x)) => {
                put(v, d, x.map(|s| ByteArray::from(s.into_bytes())))
            }
            _ => {
                return Err(io::Error::other(
                    "internal: a cell does not fit its column type",
                ));
            }
        }
        Ok(())
    }
}

/// One Parquet file being written.
struct Table {
    writer: Option<SerializedFileWriter<File>>,
    columns: Vec<Column>,
    kinds: &'static [(&'static str, Kind)],
    rows: usize,
}

fn schema(name: &str, cols: &[(&str, Kind)]) -> String {
    let mut s = format!("message {name} {{\n");
    for (n, k) in cols {
        let t = match k {
            Kind::Int => "INT64",
            Kind::Float => "DOUBLE",
            Kind::Bool => "BOOLEAN",
            Kind::Str => "BYTE_ARRAY",
        };
        let ann = if *k == Kind::Str { " (UTF8)" } else { "" };
        s.push_str(&format!("  OPTIONAL {t} {n}{ann};\n"));
    }
    s.push('}');
    s
}

impl Table {
    fn create(
        path: &Path,
        name: &str,
        kinds: &'static [(&'static str, Kind)],
    ) -> io::Result<Table> {
        let file = File::create(path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        let schema = Arc::new(parse_message_type(&schema(name, kinds)).map_err(pq)?);
        let props = Arc::new(
            WriterProperties::builder()
                .set_created_by(format!("httpreuse {}", env!("CARGO_PKG_VERSION")))
                .build(),
        );
        let writer = SerializedFileWriter::new(file, schema, props).map_err(pq)?;
        Ok(Table {
            writer: Some(writer),
            columns: kinds.iter().map(|(_, k)| Column::new(*k)).collect(),
            kinds,
            rows: 0,
        })
    }

    fn push(&mut self, row: Vec<Cell>) -> io::Result<()> {
        if row.len() != self.kinds.len() {
            return Err(io::Error::other(
                "internal: a row does not match the columns",
            ));
        }
        for (col, cell) in self.columns.iter_mut().zip(row) {
            col.push(cell)?;
        }
        self.rows += 1;
        if self.rows >= ROW_GROUP_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the buffered rows as one row group.
    fn flush(&mut self) -> io::Result<()> {
        if self.rows == 0 {
            return Ok(());
        }
        let Some(w) = self.writer.as_mut() else {
            return Err(io::Error::other("parquet file already closed"));
        };
        let mut rg = w.next_row_group().map_err(pq)?;
        let mut cols = self.columns.iter_mut();
        while let Some(mut cw) = rg.next_column().map_err(pq)? {
            let Some(col) = cols.next() else {
                return Err(io::Error::other(
                    "internal: more parquet columns than buffers",
                ));
            };
            match col {
                Column::Int(v, d) => {
                    cw.typed::<Int64Type>()
                        .write_batch(v, Some(d), None)
                        .map_err(pq)?;
                    v.clear();
                    d.clear();
                }
                Column::Float(v, d) => {
                    cw.typed::<DoubleType>()
                        .write_batch(v, Some(d), None)
                        .map_err(pq)?;
                    v.clear();
                    d.clear();
                }
                Column::Bool(v, d) => {
                    cw.typed::<BoolType>()
                        .write_batch(v, Some(d), None)
                        .map_err(pq)?;
                    v.clear();
                    d.clear();
                }
                Column::Str(v, d) => {
                    cw.typed::<ByteArrayType>()
                        .write_batch(v, Some(d), None)
                        .map_err(pq)?;
                    v.clear();
                    d.clear();
                }
            }
            cw.close().map_err(pq)?;
        }
        rg.close().map_err(pq)?;
        self.rows = 0;
        Ok(())
    }

    fn close(&mut self) -> io::Result<()> {
        self.flush()?;
        if let Some(w) = self.writer.take() {
            w.close().map_err(pq)?;
        }
        Ok(())
    }
}

/// Writes `connections.parquet` and `exchanges.parquet` into a directory.
pub struct ParquetRenderer {
    connections: Table,
    exchanges: Table,
}

impl ParquetRenderer {
    /// Creates (or truncates) both files in `dir`, which must exist.
    pub fn create(dir: &Path) -> io::Result<ParquetRenderer> {
        Ok(ParquetRenderer {
            connections: Table::create(
                &dir.join("connections.parquet"),
                "connections",
                flat::CONNECTION_COLUMNS,
            )?,
            exchanges: Table::create(
                &dir.join("exchanges.parquet"),
                "exchanges",
                flat::EXCHANGE_COLUMNS,
            )?,
        })
    }
}

impl Render for ParquetRenderer {
    fn begin(
        &mut self,
        _header: &Header,
        _summary: &Summary,
        _findings: &[crate::report::findings::Finding],
    ) -> io::Result<()> {
        Ok(())
    }

    fn connection(&mut self, c: &ConnectionReport) -> io::Result<()> {
        self.connections.push(flat::connection_row(c))?;
        for (i, e) in c.exchanges.iter().enumerate() {
            self.exchanges.push(flat::exchange_row(c, i, e))?;
        }
        Ok(())
    }

    fn end(&mut self) -> io::Result<()> {
        self.connections.close()?;
        self.exchanges.close()
    }
}
