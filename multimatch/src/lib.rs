//! Many regular expressions over one text in one pass: a safe wrapper of Hyperscan's block
//! mode (`libhs`: Debian's `libhyperscan-dev`, or `libvectorscan-dev`, the portable fork
//! with the same API).
//!
//! A [`Database`] is a set of patterns compiled together; [`Database::scan`] reads a text
//! once and reports which patterns matched in it. The scorer uses it as a prefilter: a
//! pattern compiled with [`Flags::PREFILTER`] may report a match the exact pattern would
//! not (Hyperscan approximates what it cannot run, such as back-references and
//! look-around), never the other way round, so a pattern it does not report needs no
//! further look.
//!
//! A database is immutable and shared between threads; a [`Scratch`] is the working memory
//! of one scan at a time (one per thread or per concurrent caller, made for the databases it
//! will scan).

use hyperscan_sys as hs;
use std::ffi::{CStr, CString, c_char, c_int, c_uint, c_ulonglong, c_void};
use std::ptr::{self, NonNull};

/// Pattern flags (Hyperscan's `HS_FLAG_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flags(u32);

impl Flags {
    pub const NONE: Flags = Flags(0);
    pub const CASELESS: Flags = Flags(hs::HS_FLAG_CASELESS);
    pub const DOTALL: Flags = Flags(hs::HS_FLAG_DOTALL);
    pub const MULTILINE: Flags = Flags(hs::HS_FLAG_MULTILINE);
    /// Report each pattern at most once per scan.
    pub const SINGLEMATCH: Flags = Flags(hs::HS_FLAG_SINGLEMATCH);
    /// Compile in prefiltering mode: constructs Hyperscan cannot run exactly are widened,
    /// so it may report matches the pattern does not have, and misses none it has.
    pub const PREFILTER: Flags = Flags(hs::HS_FLAG_PREFILTER);

    pub fn bits(self) -> u32 {
        self.0
    }
}

impl std::ops::BitOr for Flags {
    type Output = Flags;
    fn bitor(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }
}

/// One pattern to compile: PCRE syntax, without delimiters (inline `(?i)`-style flags are
/// taken).
#[derive(Debug, Clone)]
pub struct Pattern {
    pub expression: String,
    pub flags: Flags,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Hyperscan does not run on this CPU (it needs SSSE3)")]
    UnsupportedPlatform,
    #[error("compiling the pattern database: {0}")]
    Compile(String),
    #[error("allocating scratch space: Hyperscan error {0}")]
    Scratch(i32),
    #[error("a text of {0} bytes is longer than Hyperscan scans at once (4 GiB)")]
    TooLong(usize),
    #[error("the scratch space was not made for this database")]
    ScratchMismatch,
    #[error("scanning: Hyperscan error {0}")]
    Scan(i32),
    #[error("serializing the database: Hyperscan error {0}")]
    Serialize(i32),
    #[error("not a database this library and CPU can load (Hyperscan error {0})")]
    Deserialize(i32),
}

/// A pattern the library refused, with its reason; the caller runs it another way.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    /// The pattern's index in the list given to [`Database::compile`].
    pub index: usize,
    pub reason: String,
}

/// Patterns compiled together. Pattern ids are their indexes in the list compiled.
#[derive(Debug)]
pub struct Database {
    raw: NonNull<hs::hs_database_t>,
    patterns: usize,
}

// SAFETY: a compiled database is immutable; Hyperscan allows scanning one database from
// many threads at once (each with its own scratch).
unsafe impl Send for Database {}
unsafe impl Sync for Database {}

impl Drop for Database {
    fn drop(&mut self) {
        // SAFETY: `raw` came from hs_compile_multi and is freed once, here.
        unsafe {
            hs::hs_free_database(self.raw.as_ptr());
        }
    }
}

/// What [`Database::compile`] made: the database of the patterns the library took (None
/// when it took none), and the ones it refused.
#[derive(Debug)]
pub struct Compiled {
    pub database: Option<Database>,
    pub rejected: Vec<Rejected>,
}

/// Takes a compile error's message and frees it.
///
/// SAFETY: `error` is null or a compile error Hyperscan returned, not yet freed.
unsafe fn take_compile_error(error: *mut hs::hs_compile_error_t) -> (i32, String) {
    if error.is_null() {
        return (-1, "unknown error".to_owned());
    }
    // SAFETY: per the contract above, `error` points to a live hs_compile_error_t whose
    // message is a NUL-terminated string.
    unsafe {
        let message = if (*error).message.is_null() {
            "unknown error".to_owned()
        } else {
            CStr::from_ptr((*error).message).to_string_lossy().into_owned()
        };
        let expression = (*error).expression;
        hs::hs_free_compile_error(error);
        (expression, message)
    }
}

/// Whether Hyperscan runs on this CPU.
pub fn platform_supported() -> bool {
    // SAFETY: no arguments; reads CPU features.
    unsafe { hs::hs_valid_platform() == hs::HS_SUCCESS as c_int }
}

/// The library's version string.
pub fn version() -> String {
    // SAFETY: hs_version returns a static NUL-terminated string.
    unsafe { CStr::from_ptr(hs::hs_version()).to_string_lossy().into_owned() }
}

/// Whether Hyperscan takes the pattern (alone, without compiling it): the reason it does
/// not, a syntax it lacks, or a pattern that can match the empty string. A pattern it takes
/// can still be refused by [`Database::compile`] (one too large, say), rarely.
pub fn check(pattern: &Pattern) -> Result<(), String> {
    let expression = CString::new(pattern.expression.as_bytes()).map_err(|_| "a NUL byte in the pattern".to_owned())?;
    let mut info: *mut hs::hs_expr_info_t = ptr::null_mut();
    let mut error: *mut hs::hs_compile_error_t = ptr::null_mut();
    // SAFETY: `expression` is NUL-terminated; `info` and `error` are out-pointers.
    let status = unsafe { hs::hs_expression_info(expression.as_ptr(), pattern.flags.0, &mut info, &mut error) };
    if status != hs::HS_SUCCESS as c_int {
        // SAFETY: on failure `error` is set by the call (or null).
        let (_, reason) = unsafe { take_compile_error(error) };
        return Err(reason);
    }
    // SAFETY: on success `info` points to a structure allocated with malloc (this crate sets
    // no allocator), freed once here.
    let min_width = unsafe {
        let w = (*info).min_width;
        libc_free(info.cast());
        w
    };
    if min_width == 0 {
        return Err("it can match the empty string".to_owned());
    }
    Ok(())
}

impl Database {
    /// Compiles the patterns into one block-mode database. A pattern the library refuses
    /// (a syntax it lacks, a pattern that can match the empty string, one too large) is
    /// returned in [`Compiled::rejected`] with the reason, and the others are compiled
    /// without it. Fails only when the library cannot run here or refuses the set as a
    /// whole.
    pub fn compile(patterns: &[Pattern]) -> Result<Compiled, Error> {
        if !platform_supported() {
            return Err(Error::UnsupportedPlatform);
        }
        let mut rejected = Vec::new();
        let mut accepted: Vec<(usize, CString, c_uint)> = Vec::new();
        for (index, pattern) in patterns.iter().enumerate() {
            let Ok(expression) = CString::new(pattern.expression.as_bytes()) else {
                rejected.push(Rejected { index, reason: "a NUL byte in the pattern".to_owned() });
                continue;
            };
            if let Err(reason) = check(pattern) {
                rejected.push(Rejected { index, reason });
                continue;
            }
            accepted.push((index, expression, pattern.flags.0));
        }
        loop {
            if accepted.is_empty() {
                rejected.sort_by_key(|r| r.index);
                return Ok(Compiled { database: None, rejected });
            }
            let expressions: Vec<*const c_char> = accepted.iter().map(|(_, e, _)| e.as_ptr()).collect();
            let flags: Vec<c_uint> = accepted.iter().map(|(_, _, f)| *f).collect();
            let ids: Vec<c_uint> = accepted.iter().map(|(i, _, _)| *i as c_uint).collect();
            let mut db: *mut hs::hs_database_t = ptr::null_mut();
            let mut error: *mut hs::hs_compile_error_t = ptr::null_mut();
            // SAFETY: the three arrays have `accepted.len()` elements, and the strings
            // they point to live in `accepted` for the whole call.
            let status = unsafe {
                hs::hs_compile_multi(
                    expressions.as_ptr(),
                    flags.as_ptr(),
                    ids.as_ptr(),
                    accepted.len() as c_uint,
                    hs::HS_MODE_BLOCK,
                    ptr::null(),
                    &mut db,
                    &mut error,
                )
            };
            if status == hs::HS_SUCCESS as c_int {
                let raw = NonNull::new(db).ok_or_else(|| Error::Compile("no database returned".to_owned()))?;
                rejected.sort_by_key(|r| r.index);
                return Ok(Compiled { database: Some(Database { raw, patterns: patterns.len() }), rejected });
            }
            // SAFETY: on failure `error` is set by the call (or null).
            let (expression, reason) = unsafe { take_compile_error(error) };
            match usize::try_from(expression).ok().filter(|&e| e < accepted.len()) {
                // One pattern the check above let through: drop it and compile the rest.
                Some(position) => {
                    let (index, _, _) = accepted.remove(position);
                    rejected.push(Rejected { index, reason });
                }
                None => return Err(Error::Compile(reason)),
            }
        }
    }

    /// How many patterns were given to [`Database::compile`] (ids are below it).
    pub fn pattern_count(&self) -> usize {
        self.patterns
    }

    /// The database as bytes, to be cached (valid for the same library version and CPU
    /// features; [`Database::deserialize`] refuses others). The pattern count goes first.
    pub fn serialize(&self) -> Result<Vec<u8>, Error> {
        let mut bytes: *mut c_char = ptr::null_mut();
        let mut length: usize = 0;
        // SAFETY: `raw` is a live database; `bytes` and `length` are out-pointers.
        let status = unsafe { hs::hs_serialize_database(self.raw.as_ptr(), &mut bytes, &mut length) };
        if status != hs::HS_SUCCESS as c_int || bytes.is_null() {
            return Err(Error::Serialize(status));
        }
        let mut out = (self.patterns as u64).to_le_bytes().to_vec();
        // SAFETY: on success `bytes` holds `length` bytes allocated with malloc (no
        // allocator is set), copied here and freed once.
        unsafe {
            out.extend_from_slice(std::slice::from_raw_parts(bytes as *const u8, length));
            libc_free(bytes.cast());
        }
        Ok(out)
    }

    /// A database from [`Database::serialize`]'s bytes.
    pub fn deserialize(bytes: &[u8]) -> Result<Database, Error> {
        let (count, body) = bytes.split_at_checked(8).ok_or(Error::Deserialize(hs::HS_INVALID))?;
        let patterns = u64::from_le_bytes(count.try_into().map_err(|_| Error::Deserialize(hs::HS_INVALID))?) as usize;
        let mut db: *mut hs::hs_database_t = ptr::null_mut();
        // SAFETY: `body` is valid for its length; Hyperscan checks the bytes (magic,
        // version, platform, CRC) before it builds the database.
        let status = unsafe { hs::hs_deserialize_database(body.as_ptr().cast(), body.len(), &mut db) };
        if status != hs::HS_SUCCESS as c_int {
            return Err(Error::Deserialize(status));
        }
        let raw = NonNull::new(db).ok_or(Error::Deserialize(hs::HS_INVALID))?;
        Ok(Database { raw, patterns })
    }

    /// Scans `text` once; appends the id of every pattern that matched to `matched` (once
    /// per match end, or once per scan with [`Flags::SINGLEMATCH`]).
    pub fn scan(&self, text: &[u8], scratch: &mut Scratch, matched: &mut Vec<u32>) -> Result<(), Error> {
        let length = c_uint::try_from(text.len()).map_err(|_| Error::TooLong(text.len()))?;
        // SAFETY: `text` is valid for `length` bytes; the scratch is exclusively borrowed
        // for the call; the context is a `Vec<u32>` that only `on_match` touches, during
        // the call.
        let status = unsafe {
            hs::hs_scan(
                self.raw.as_ptr(),
                text.as_ptr().cast(),
                length,
                0,
                scratch.raw.as_ptr(),
                Some(on_match),
                (matched as *mut Vec<u32>).cast(),
            )
        };
        match status {
            s if s == hs::HS_SUCCESS as c_int => Ok(()),
            hs::HS_INVALID => Err(Error::ScratchMismatch),
            s => Err(Error::Scan(s)),
        }
    }
}

unsafe extern "C" fn on_match(
    id: c_uint,
    _from: c_ulonglong,
    _to: c_ulonglong,
    _flags: c_uint,
    context: *mut c_void,
) -> c_int {
    // SAFETY: `context` is the `&mut Vec<u32>` that `Database::scan` passed.
    let matched = unsafe { &mut *(context as *mut Vec<u32>) };
    matched.push(id);
    0
}

unsafe extern "C" {
    #[link_name = "free"]
    fn libc_free(p: *mut c_void);
}

/// Working memory for scans: one per thread or concurrent caller, made for every database
/// it will scan.
#[derive(Debug)]
pub struct Scratch {
    raw: NonNull<hs::hs_scratch_t>,
}

// SAFETY: a scratch may move between threads; it is used by one scan at a time, which
// `&mut Scratch` in `Database::scan` ensures. Through `&Scratch` it is only read (by
// `try_clone`, which copies it), which many threads may do at once.
unsafe impl Send for Scratch {}
unsafe impl Sync for Scratch {}

impl Scratch {
    /// A scratch large enough for each of `databases`.
    pub fn new<'d>(databases: impl IntoIterator<Item = &'d Database>) -> Result<Scratch, Error> {
        let mut raw: *mut hs::hs_scratch_t = ptr::null_mut();
        for db in databases {
            // SAFETY: `raw` is null or a scratch this loop allocated; the call grows it for
            // `db` (freeing and replacing it when it must).
            let status = unsafe { hs::hs_alloc_scratch(db.raw.as_ptr(), &mut raw) };
            if status != hs::HS_SUCCESS as c_int {
                if !raw.is_null() {
                    // SAFETY: allocated above, freed once.
                    unsafe {
                        hs::hs_free_scratch(raw);
                    }
                }
                return Err(Error::Scratch(status));
            }
        }
        NonNull::new(raw).map(|raw| Scratch { raw }).ok_or(Error::Scratch(hs::HS_INVALID))
    }

    /// Another scratch for the same databases (for another thread).
    pub fn try_clone(&self) -> Result<Scratch, Error> {
        let mut raw: *mut hs::hs_scratch_t = ptr::null_mut();
        // SAFETY: `self.raw` is a live scratch; `raw` is an out-pointer.
        let status = unsafe { hs::hs_clone_scratch(self.raw.as_ptr(), &mut raw) };
        if status != hs::HS_SUCCESS as c_int {
            return Err(Error::Scratch(status));
        }
        NonNull::new(raw).map(|raw| Scratch { raw }).ok_or(Error::Scratch(hs::HS_INVALID))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // SAFETY: allocated by hs_alloc_scratch / hs_clone_scratch, freed once, here.
        unsafe {
            hs::hs_free_scratch(self.raw.as_ptr());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(expression: &str, flags: Flags) -> Pattern {
        Pattern { expression: expression.to_owned(), flags }
    }

    fn matches(db: &Database, text: &str) -> Vec<u32> {
        let mut scratch = Scratch::new([db]).unwrap();
        let mut found = Vec::new();
        db.scan(text.as_bytes(), &mut scratch, &mut found).unwrap();
        found.sort_unstable();
        found
    }

    #[test]
    fn reports_each_pattern_that_matches_once() {
        let one = Flags::SINGLEMATCH;
        let compiled = Database::compile(&[
            pattern("verify your account", one | Flags::CASELESS),
            pattern(r"\bpassword\b", one),
            pattern("^Subject: win", one | Flags::MULTILINE),
        ])
        .unwrap();
        assert!(compiled.rejected.is_empty(), "{:?}", compiled.rejected);
        let db = compiled.database.unwrap();
        assert_eq!(matches(&db, "Please VERIFY your account password, password"), vec![0, 1]);
        assert_eq!(matches(&db, "x\nSubject: win big"), vec![2]);
        assert_eq!(matches(&db, "nothing here"), Vec::<u32>::new());
    }

    #[test]
    fn refused_patterns_are_listed_and_the_rest_compile() {
        let one = Flags::SINGLEMATCH;
        let compiled =
            Database::compile(&[pattern("a(b", one), pattern("ok", one), pattern("x*", one), pattern(r"(a)\1", one)])
                .unwrap();
        let refused: Vec<usize> = compiled.rejected.iter().map(|r| r.index).collect();
        assert_eq!(refused, vec![0, 2, 3], "{:?}", compiled.rejected);
        assert!(compiled.rejected[1].reason.contains("empty"));
        let db = compiled.database.unwrap();
        assert_eq!(db.pattern_count(), 4);
        assert_eq!(matches(&db, "ok"), vec![1], "ids are the indexes given");
    }

    #[test]
    fn prefilter_mode_widens_what_it_cannot_run_and_misses_nothing() {
        let compiled = Database::compile(&[pattern(r"(ab)\1", Flags::SINGLEMATCH | Flags::PREFILTER)]).unwrap();
        assert!(compiled.rejected.is_empty(), "{:?}", compiled.rejected);
        let db = compiled.database.unwrap();
        assert_eq!(matches(&db, "xxababyy"), vec![0], "the real match is reported");
        assert_eq!(matches(&db, "zzz"), Vec::<u32>::new());
    }

    #[test]
    fn a_scratch_made_for_another_database_is_an_error_and_clones_work() {
        let a = Database::compile(&[pattern("a", Flags::NONE)]).unwrap().database.unwrap();
        let b = Database::compile(&[pattern("b{3}c+d", Flags::NONE)]).unwrap().database.unwrap();
        let both = Scratch::new([&a, &b]).unwrap();
        let mut clone = both.try_clone().unwrap();
        let mut found = Vec::new();
        b.scan(b"bbbccd", &mut clone, &mut found).unwrap();
        a.scan(b"aa", &mut clone, &mut found).unwrap();
        assert_eq!(found, vec![0, 0, 0], "without SINGLEMATCH every match end is reported");
        let big = Database::compile(&[pattern("(foo|bar)[a-z]{2,40}baz", Flags::NONE), pattern("q.*z", Flags::DOTALL)])
            .unwrap()
            .database
            .unwrap();
        let mut small = Scratch::new([&a]).unwrap();
        assert!(matches!(big.scan(b"foobarbaz", &mut small, &mut found), Err(Error::ScratchMismatch)));
        assert!(version().starts_with('5'), "{}", version());
        let bytes = b.serialize().unwrap();
        let copy = Database::deserialize(&bytes).unwrap();
        assert_eq!(copy.pattern_count(), 1);
        let mut found = Vec::new();
        copy.scan(b"bbbcd", &mut clone, &mut found).unwrap();
        assert_eq!(found, vec![0], "a deserialized database scans as the original");
        assert!(Database::deserialize(&bytes[..bytes.len() - 3]).is_err());
        assert!(Database::deserialize(b"junk").is_err());
    }
}
