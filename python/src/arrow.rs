//! The flat report tables (`httpreuse::report::flat`) as Arrow record
//! batches, handed to pyarrow through the Arrow C data interface
//! (<https://arrow.apache.org/docs/format/CDataInterface.html>), written by
//! hand: the column buffers built here are the ones pyarrow reads, no copy
//! (and no arrow-rs to compile).
//!
//! Types are those of the Parquet output read back by pyarrow: INT64 ->
//! `int64` (`l`), DOUBLE -> `double` (`g`), BOOLEAN -> `bool` (`b`),
//! BYTE_ARRAY UTF8 -> `string` (`u`, 32-bit offsets), every field nullable.

use std::ffi::{CString, c_char, c_void};
use std::ptr;

use httpreuse::report::flat::{Cell, Kind};

/// Rows per record batch (the Parquet writer's row group size).
pub const BATCH_ROWS: usize = 16 * 1024;
/// A batch is closed early once a string column holds this many bytes,
/// far below what 32-bit offsets can address.
const BATCH_STRING_BYTES: usize = 1 << 30;

/// `ArrowSchema` of the C data interface.
#[repr(C)]
pub struct FfiSchema {
    format: *const c_char,
    name: *const c_char,
    metadata: *const c_char,
    flags: i64,
    n_children: i64,
    children: *mut *mut FfiSchema,
    dictionary: *mut FfiSchema,
    release: Option<unsafe extern "C" fn(*mut FfiSchema)>,
    private_data: *mut c_void,
}

/// `ArrowArray` of the C data interface.
#[repr(C)]
pub struct FfiArray {
    length: i64,
    null_count: i64,
    offset: i64,
    n_buffers: i64,
    n_children: i64,
    buffers: *mut *const c_void,
    children: *mut *mut FfiArray,
    dictionary: *mut FfiArray,
    release: Option<unsafe extern "C" fn(*mut FfiArray)>,
    private_data: *mut c_void,
}

// The structs only travel between threads inside a PyCapsule; what they
// point to is owned by their private data.
unsafe impl Send for FfiSchema {}
unsafe impl Send for FfiArray {}

impl Drop for FfiSchema {
    fn drop(&mut self) {
        // Not moved out by a consumer: release it ourselves.
        if let Some(r) = self.release {
            unsafe { r(self) }
        }
    }
}

impl Drop for FfiArray {
    fn drop(&mut self) {
        if let Some(r) = self.release {
            unsafe { r(self) }
        }
    }
}

const FLAG_NULLABLE: i64 = 2;

struct SchemaPrivate {
    _format: CString,
    _name: CString,
    children: Vec<*mut FfiSchema>,
}

unsafe extern "C" fn release_schema(s: *mut FfiSchema) {
    if s.is_null() {
        return;
    }
    let s = unsafe { &mut *s };
    if s.release.is_none() {
        return;
    }
    let p = unsafe { Box::from_raw(s.private_data as *mut SchemaPrivate) };
    for &c in &p.children {
        // A child a consumer moved out has its release set to NULL here.
        let mut child = unsafe { Box::from_raw(c) };
        if let Some(r) = child.release {
            unsafe { r(&mut *child) };
        }
        child.release = None;
    }
    s.release = None;
    s.private_data = ptr::null_mut();
}

fn schema_node(format: &str, name: &str, flags: i64, children: Vec<FfiSchema>) -> FfiSchema {
    let format = CString::new(format).unwrap_or_default();
    let name = CString::new(name).unwrap_or_default();
    let mut children: Vec<*mut FfiSchema> = children
        .into_iter()
        .map(|c| Box::into_raw(Box::new(c)))
        .collect();
    let n_children = children.len() as i64;
    let children_ptr = children.as_mut_ptr();
    let p = Box::new(SchemaPrivate {
        children,
        _format: format,
        _name: name,
    });
    // The CStrings' heap buffers do not move with the box.
    let (fmt, nm) = (p._format.as_ptr(), p._name.as_ptr());
    FfiSchema {
        format: fmt,
        name: nm,
        metadata: ptr::null(),
        flags,
        n_children,
        children: children_ptr,
        dictionary: ptr::null_mut(),
        release: Some(release_schema),
        private_data: Box::into_raw(p) as *mut c_void,
    }
}

/// The schema of a table: a struct of one nullable field per column.
pub fn schema(columns: &[(&str, Kind)]) -> FfiSchema {
    let fields = columns
        .iter()
        .map(|(n, k)| {
            let f = match k {
                Kind::Int => "l",
                Kind::Float => "g",
                Kind::Bool => "b",
                Kind::Str => "u",
            };
            schema_node(f, n, FLAG_NULLABLE, Vec::new())
        })
        .collect();
    schema_node("+s", "", 0, fields)
}

/// A bit-packed buffer (validity or booleans), least significant bit first.
#[derive(Default)]
struct Bits {
    bytes: Vec<u8>,
    len: usize,
    ones: usize,
}

impl Bits {
    fn push(&mut self, b: bool) {
        if self.len.is_multiple_of(8) {
            self.bytes.push(0);
        }
        if b {
            let last = self.bytes.len() - 1;
            self.bytes[last] |= 1 << (self.len % 8);
            self.ones += 1;
        }
        self.len += 1;
    }
}

/// One column's buffers while rows come in.
enum Column {
    Int(Vec<i64>, Bits),
    Float(Vec<f64>, Bits),
    Bool(Bits, Bits),
    Str(Vec<i32>, Vec<u8>, Bits),
}

impl Column {
    fn new(k: Kind, rows: usize) -> Column {
        match k {
            Kind::Int => Column::Int(Vec::with_capacity(rows), Bits::default()),
            Kind::Float => Column::Float(Vec::with_capacity(rows), Bits::default()),
            Kind::Bool => Column::Bool(Bits::default(), Bits::default()),
            Kind::Str => {
                let mut o = Vec::with_capacity(rows + 1);
                o.push(0);
                Column::Str(o, Vec::new(), Bits::default())
            }
        }
    }

    fn push(&mut self, cell: Cell) -> Result<(), String> {
        match (self, cell) {
            (Column::Int(v, ok), Cell::Int(x)) => {
                ok.push(x.is_some());
                v.push(x.unwrap_or(0));
            }
            (Column::Float(v, ok), Cell::Float(x)) => {
                ok.push(x.is_some());
                v.push(x.unwrap_or(0.0));
            }
            (Column::Bool(v, ok), Cell::Bool(x)) => {
                ok.push(x.is_some());
                v.push(x.unwrap_or(false));
            }
            (Column::Str(o, d, ok), Cell::Str(x)) => {
                ok.push(x.is_some());
                if let Some(s) = x {
                    d.extend_from_slice(s.as_bytes());
                }
                o.push(i32::try_from(d.len()).map_err(|_| "string column over 2 GiB")?);
            }
            _ => return Err("internal: a cell does not fit its column type".into()),
        }
        Ok(())
    }

    fn string_bytes(&self) -> usize {
        match self {
            Column::Str(_, d, _) => d.len(),
            _ => 0,
        }
    }
}

/// What an exported array owns: its buffers, and the pointers to them.
struct ArrayPrivate {
    _owned: Owned,
    buffers: Vec<*const c_void>,
    children: Vec<*mut FfiArray>,
}

enum Owned {
    None,
    Int(Vec<i64>, Vec<u8>),
    Float(Vec<f64>, Vec<u8>),
    Bool(Vec<u8>, Vec<u8>),
    Str(Vec<i32>, Vec<u8>, Vec<u8>),
}

unsafe extern "C" fn release_array(a: *mut FfiArray) {
    if a.is_null() {
        return;
    }
    let a = unsafe { &mut *a };
    if a.release.is_none() {
        return;
    }
    let p = unsafe { Box::from_raw(a.private_data as *mut ArrayPrivate) };
    for &c in &p.children {
        let mut child = unsafe { Box::from_raw(c) };
        if let Some(r) = child.release {
            unsafe { r(&mut *child) };
        }
        child.release = None;
    }
    a.release = None;
    a.private_data = ptr::null_mut();
}

fn array_node(length: usize, nulls: usize, owned: Owned, children: Vec<FfiArray>) -> FfiArray {
    // A validity bitmap is left out (NULL) when nothing is null.
    let validity = |bits: &Vec<u8>| -> *const c_void {
        if nulls == 0 {
            ptr::null()
        } else {
            bits.as_ptr() as *const c_void
        }
    };
    let buffers: Vec<*const c_void> = match &owned {
        Owned::None => vec![ptr::null()],
        Owned::Int(v, ok) => vec![validity(ok), v.as_ptr() as *const c_void],
        Owned::Float(v, ok) => vec![validity(ok), v.as_ptr() as *const c_void],
        Owned::Bool(v, ok) => vec![validity(ok), v.as_ptr() as *const c_void],
        Owned::Str(o, d, ok) => vec![
            validity(ok),
            o.as_ptr() as *const c_void,
            d.as_ptr() as *const c_void,
        ],
    };
    let mut children: Vec<*mut FfiArray> = children
        .into_iter()
        .map(|c| Box::into_raw(Box::new(c)))
        .collect();
    let mut p = Box::new(ArrayPrivate {
        _owned: owned,
        buffers,
        children: Vec::new(),
    });
    let n_children = children.len() as i64;
    let children_ptr = children.as_mut_ptr();
    p.children = children;
    FfiArray {
        length: length as i64,
        null_count: nulls as i64,
        offset: 0,
        n_buffers: p.buffers.len() as i64,
        n_children,
        buffers: p.buffers.as_mut_ptr(),
        children: children_ptr,
        dictionary: ptr::null_mut(),
        release: Some(release_array),
        private_data: Box::into_raw(p) as *mut c_void,
    }
}

/// The rows of one record batch, column by column.
pub struct Batch {
    columns: Vec<Column>,
    rows: usize,
}

impl Batch {
    /// Rows in the batch.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The batch as a struct array of its columns.
    pub fn export(self) -> FfiArray {
        let rows = self.rows;
        let children = self
            .columns
            .into_iter()
            .map(|c| match c {
                Column::Int(v, ok) => {
                    array_node(rows, rows - ok.ones, Owned::Int(v, ok.bytes), vec![])
                }
                Column::Float(v, ok) => {
                    array_node(rows, rows - ok.ones, Owned::Float(v, ok.bytes), vec![])
                }
                Column::Bool(v, ok) => {
                    array_node(rows, rows - ok.ones, Owned::Bool(v.bytes, ok.bytes), vec![])
                }
                Column::Str(o, d, ok) => {
                    array_node(rows, rows - ok.ones, Owned::Str(o, d, ok.bytes), vec![])
                }
            })
            .collect();
        array_node(rows, 0, Owned::None, children)
    }
}

/// Builds record batches of a table, a row at a time.
pub struct TableBuilder {
    kinds: &'static [(&'static str, Kind)],
    current: Batch,
    done: Vec<Batch>,
}

impl TableBuilder {
    /// An empty table of these columns.
    pub fn new(kinds: &'static [(&'static str, Kind)]) -> Self {
        TableBuilder {
            kinds,
            current: Self::batch(kinds),
            done: Vec::new(),
        }
    }

    fn batch(kinds: &[(&str, Kind)]) -> Batch {
        Batch {
            columns: kinds
                .iter()
                .map(|(_, k)| Column::new(*k, BATCH_ROWS))
                .collect(),
            rows: 0,
        }
    }

    /// Appends a row (cells in column order).
    pub fn push(&mut self, row: Vec<Cell>) -> Result<(), String> {
        if row.len() != self.kinds.len() {
            return Err("internal: a row does not match the columns".into());
        }
        for (c, cell) in self.current.columns.iter_mut().zip(row) {
            c.push(cell)?;
        }
        self.current.rows += 1;
        if self.current.rows >= BATCH_ROWS
            || self
                .current
                .columns
                .iter()
                .any(|c| c.string_bytes() >= BATCH_STRING_BYTES)
        {
            let full = std::mem::replace(&mut self.current, Self::batch(self.kinds));
            self.done.push(full);
        }
        Ok(())
    }

    /// The batches (none when the table is empty).
    pub fn finish(mut self) -> Vec<Batch> {
        if self.current.rows > 0 {
            self.done.push(self.current);
        }
        self.done
    }
}
