//! `httpreuse._native`: the Rust side of the `httpreuse` Python package.
//! The Python module (`httpreuse/__init__.py`) turns keyword options into
//! the CLI's flags, parses the JSON parts and raises its exceptions; this
//! one runs the analysis with the GIL released and exports the tables.

use std::ffi::CString;
use std::path::PathBuf;

use clap::Parser;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

use httpreuse::analyzer;
use httpreuse::capture::CaptureError;
use httpreuse::cli::AnalysisArgs;
use httpreuse::report::{self, Report, flat};

mod arrow;

/// The analysis flags of the CLI, parsed exactly as `httpreuse` parses them.
#[derive(Parser)]
#[command(name = "httpreuse", no_binary_name = true)]
struct Flags {
    #[command(flatten)]
    analysis: AnalysisArgs,
}

fn flags(argv: Vec<String>) -> PyResult<Flags> {
    Flags::try_parse_from(argv).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// A capture error as the Python `httpreuse.CaptureError(message, file, offset)`.
fn capture_error(py: Python<'_>, e: &CaptureError) -> PyErr {
    let (file, offset) = match e {
        CaptureError::Io { file, .. }
        | CaptureError::Empty { file }
        | CaptureError::NotCapture { file, .. } => (Some(file.clone()), None),
        CaptureError::Corrupt { file, offset, .. } => (Some(file.clone()), Some(*offset)),
        CaptureError::NoCaptures { dir } => (Some(dir.clone()), None),
        CaptureError::StdinTwice => (None, None),
    };
    let made = py
        .import("httpreuse.errors")
        .and_then(|m| m.getattr("CaptureError"))
        .and_then(|c| c.call1((e.to_string(), file, offset)));
    match made {
        Ok(v) => PyErr::from_value(v),
        Err(err) => err,
    }
}

/// Parses the flags, then analyses with the GIL released.
fn run(py: Python<'_>, paths: Vec<PathBuf>, argv: Vec<String>) -> PyResult<Report> {
    let f = flags(argv)?;
    let inputs = httpreuse::cli::inputs(&paths);
    let opts = f.analysis.options().map_err(PyValueError::new_err)?;
    let filter = f.analysis.filter();
    let r = py.detach(move || analyzer::analyze_filtered(&inputs, opts, filter));
    r.map_err(|e| capture_error(py, &e))
}

fn json<T: serde::Serialize>(v: &T) -> PyResult<String> {
    serde_json::to_string(v).map_err(|e| PyRuntimeError::new_err(e.to_string()))
}

/// One record batch, exported once through `__arrow_c_array__`
/// (`pyarrow.record_batch(b)` takes it without copying).
#[pyclass(module = "httpreuse._native")]
struct RecordBatch {
    batch: Option<arrow::Batch>,
    columns: &'static [(&'static str, flat::Kind)],
}

#[pymethods]
impl RecordBatch {
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_array__<'py>(
        &mut self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<(Bound<'py, PyCapsule>, Bound<'py, PyCapsule>)> {
        let _ = requested_schema;
        let batch = self
            .batch
            .take()
            .ok_or_else(|| PyRuntimeError::new_err("this record batch was already exported"))?;
        let schema = PyCapsule::new(
            py,
            arrow::schema(self.columns),
            Some(CString::new("arrow_schema").unwrap_or_default()),
        )?;
        let array = PyCapsule::new(
            py,
            batch.export(),
            Some(CString::new("arrow_array").unwrap_or_default()),
        )?;
        Ok((schema, array))
    }

    fn __len__(&self) -> usize {
        self.batch.as_ref().map_or(0, |b| b.rows())
    }
}

/// A table's schema, exported through `__arrow_c_schema__`.
#[pyclass(module = "httpreuse._native")]
struct Schema {
    columns: &'static [(&'static str, flat::Kind)],
}

#[pymethods]
impl Schema {
    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        PyCapsule::new(
            py,
            arrow::schema(self.columns),
            Some(CString::new("arrow_schema").unwrap_or_default()),
        )
    }
}

fn table(name: &str) -> PyResult<&'static [(&'static str, flat::Kind)]> {
    match name {
        "connections" => Ok(flat::CONNECTION_COLUMNS),
        "exchanges" => Ok(flat::EXCHANGE_COLUMNS),
        _ => Err(PyValueError::new_err(format!("no table {name:?}"))),
    }
}

/// The schema of `connections` or `exchanges`.
#[pyfunction]
fn schema(name: &str) -> PyResult<Schema> {
    Ok(Schema {
        columns: table(name)?,
    })
}

/// The parts of an analysis: the header, summary and findings as JSON
/// text, the two tables as record batches.
type Parts = (String, String, String, Vec<RecordBatch>, Vec<RecordBatch>);

/// Analyses `paths` as one capture (in the order given) with the CLI's
/// analysis flags `argv`.
#[pyfunction]
#[pyo3(signature = (paths, argv))]
fn analyze(py: Python<'_>, paths: Vec<PathBuf>, argv: Vec<String>) -> PyResult<Parts> {
    let report = run(py, paths, argv)?;
    let header = json(&report.header)?;
    let summary = json(&report.summary)?;
    let findings = json(&report.findings)?;
    let tables = py.detach(move || -> Result<_, String> {
        let mut conns = arrow::TableBuilder::new(flat::CONNECTION_COLUMNS);
        let mut exs = arrow::TableBuilder::new(flat::EXCHANGE_COLUMNS);
        for c in &report.connections {
            conns.push(flat::connection_row(c))?;
            for (i, e) in c.exchanges.iter().enumerate() {
                exs.push(flat::exchange_row(c, i, e))?;
            }
        }
        Ok((conns.finish(), exs.finish()))
    });
    let (conns, exs) = tables.map_err(PyRuntimeError::new_err)?;
    let wrap = |bs: Vec<arrow::Batch>, columns| {
        bs.into_iter()
            .map(|b| RecordBatch {
                batch: Some(b),
                columns,
            })
            .collect()
    };
    Ok((
        header,
        summary,
        findings,
        wrap(conns, flat::CONNECTION_COLUMNS),
        wrap(exs, flat::EXCHANGE_COLUMNS),
    ))
}

/// Analyses `paths` and writes `connections.parquet` and
/// `exchanges.parquet` into `out_dir` (created if missing), exactly as
/// `httpreuse --format parquet -o OUT_DIR` does. Returns the header,
/// summary and findings as JSON text.
#[pyfunction]
#[pyo3(signature = (paths, out_dir, argv))]
fn analyze_to_parquet(
    py: Python<'_>,
    paths: Vec<PathBuf>,
    out_dir: PathBuf,
    argv: Vec<String>,
) -> PyResult<(String, String, String)> {
    let report = run(py, paths, argv)?;
    let dir = out_dir.clone();
    let written = py.detach(|| -> std::io::Result<()> {
        std::fs::create_dir_all(&dir)?;
        let mut r = report::parquet::ParquetRenderer::create(&dir)?;
        report::render::render(&report, &mut r)
    });
    written
        .map_err(|e| pyo3::exceptions::PyOSError::new_err(format!("{}: {e}", out_dir.display())))?;
    Ok((
        json(&report.header)?,
        json(&report.summary)?,
        json(&report.findings)?,
    ))
}

/// Timestamp of the first frame of a capture file, seconds since the
/// epoch (`None` for a capture without frames): the key that puts rotated
/// files in time order.
#[pyfunction]
fn capture_start(py: Python<'_>, path: PathBuf) -> PyResult<Option<f64>> {
    let input = httpreuse::capture::Input::Path(path);
    let r = py.detach(|| -> Result<Option<f64>, CaptureError> {
        let mut reader = httpreuse::capture::CaptureReader::open(&input)?;
        Ok(reader.next_frame()?.map(|f| f.ts.as_secs_f64()))
    });
    r.map_err(|e| capture_error(py, &e))
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(analyze, m)?)?;
    m.add_function(wrap_pyfunction!(analyze_to_parquet, m)?)?;
    m.add_function(wrap_pyfunction!(schema, m)?)?;
    m.add_function(wrap_pyfunction!(capture_start, m)?)?;
    m.add_class::<RecordBatch>()?;
    m.add_class::<Schema>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
