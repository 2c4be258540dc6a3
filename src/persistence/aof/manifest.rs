//! The manifest of a multi-part AOF: which files make up the dataset, in what order, as Redis
//! 7.0's `aof.c` reads (`aofLoadManifestFromFile`), writes (`getAofManifestAsString`) and
//! changes it (`getNewBaseFileNameAndMarkPreAsHistory`, `getNewIncrAofName`,
//! `markRewrittenIncrAofAsHistory`).
//!
//! One line per file, base first, then history, then incr files:
//!
//! ```text
//! file appendonly.aof.2.base.rdb seq 2 type b
//! file appendonly.aof.1.incr.aof seq 1 type h
//! file appendonly.aof.2.incr.aof seq 2 type i
//! ```
//!
//! A name with spaces, quotes or unprintable bytes is written in double quotes with C-like
//! escapes, as `sdscatrepr` writes it (see [`sds`](super::sds)).

use super::sds;
use std::fmt;

/// Redis reads the manifest with `fgets` into a buffer of this many bytes plus the terminator:
/// a longer line is an error, and a longer comment goes on as a new line.
const MANIFEST_MAX_LINE: usize = 1024;

/// The three kinds of file a manifest lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AofFileType {
    /// The snapshot of the last rewrite (`b`): an RDB file, or commands when
    /// `aof-use-rdb-preamble` is `no`. At most one.
    Base,
    /// A base or incr file made obsolete by a rewrite (`h`), kept until it is deleted (at once,
    /// unless `aof-disable-auto-gc yes`).
    History,
    /// Commands written since the base (`i`), replayed in order after it.
    Incr,
}

impl AofFileType {
    /// The type's letter in the manifest.
    pub fn as_char(self) -> char {
        match self {
            AofFileType::Base => 'b',
            AofFileType::History => 'h',
            AofFileType::Incr => 'i',
        }
    }

    pub fn from_char(c: char) -> Option<AofFileType> {
        match c {
            'b' => Some(AofFileType::Base),
            'h' => Some(AofFileType::History),
            'i' => Some(AofFileType::Incr),
            _ => None,
        }
    }
}

/// One line of the manifest (`aofInfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AofInfo {
    /// A file name inside the AOF directory, never a path.
    pub name: String,
    pub seq: u64,
    pub file_type: AofFileType,
}

impl AofInfo {
    /// The manifest line for this file, newline included (`aofInfoFormat`).
    fn write_line(&self, out: &mut String) {
        out.push_str("file ");
        if sds::needs_repr(self.name.as_bytes()) {
            sds::cat_repr(out, self.name.as_bytes());
        } else {
            out.push_str(&self.name);
        }
        out.push_str(" seq ");
        out.push_str(itoa::Buffer::new().format(self.seq));
        out.push_str(" type ");
        out.push(self.file_type.as_char());
        out.push('\n');
    }
}

/// What the manifest says (`aofManifest`), and the sequence numbers new files continue from.
///
/// The operations below change it the way Redis's rewrite does; persisting it afterwards is the
/// caller's (Redis keeps a `dirty` flag for that, we leave it out: every operation here dirties).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    pub base: Option<AofInfo>,
    /// Incr files in the order they are replayed; their sequence numbers strictly increase.
    pub incrs: Vec<AofInfo>,
    /// Files waiting to be deleted, newest first.
    pub history: Vec<AofInfo>,
    /// The sequence number of the current base (0 without one); the next base gets this + 1.
    pub curr_base_seq: u64,
    /// The sequence number of the last incr file (0 without one); the next gets this + 1.
    pub curr_incr_seq: u64,
}

impl Manifest {
    /// Reads a manifest as `aofLoadManifestFromFile` does, accepting and refusing the same
    /// texts. It is lenient where Redis is: comment lines (`#`, counted in line numbers), keys in
    /// any case and any order, unknown key/value pairs (for forward compatibility), a type given
    /// by its first letter, a sequence number read by `atoll`, a name cut at a NUL.
    ///
    /// Two refusals are ours, for values Redis accepts but our types cannot hold: a negative
    /// sequence number on a base or history line (Redis never writes one), and a file name that
    /// is not UTF-8.
    pub fn parse(text: &[u8]) -> Result<Manifest, ManifestError> {
        let mut manifest = Manifest::default();
        let mut max_incr_seq: i64 = 0;
        let mut line_number = 0;
        let mut rest = text;
        loop {
            if rest.is_empty() {
                if line_number == 0 {
                    return Err(ManifestError::new(ManifestErrorKind::Empty, 0, None));
                }
                return Ok(manifest);
            }
            // One fgets: up to MANIFEST_MAX_LINE bytes, ending after a newline if one comes.
            let window = &rest[..rest.len().min(MANIFEST_MAX_LINE)];
            let len = window.iter().position(|&c| c == b'\n').map_or(window.len(), |i| i + 1);
            let (chunk, after) = rest.split_at(len);
            rest = after;
            line_number += 1;

            // The rest is C string handling: a NUL ends what Redis sees of the chunk.
            let buf = sds::c_str(chunk);
            if buf.first() == Some(&b'#') {
                continue;
            }
            if !buf.contains(&b'\n') {
                return Err(ManifestError::new(ManifestErrorKind::LineTooLong, line_number, None));
            }
            let line = sds::trim(buf);
            let error = |kind| ManifestError::new(kind, line_number, Some(line));
            let info = match parse_line(line) {
                Ok(info) => info,
                Err(kind) => return Err(error(kind)),
            };
            match info.file_type {
                b'b' => {
                    if manifest.base.is_some() {
                        return Err(error(ManifestErrorKind::DuplicateBase));
                    }
                    let seq = u64::try_from(info.seq).map_err(|_| error(ManifestErrorKind::NegativeSeq))?;
                    let name = String::from_utf8(info.name).map_err(|_| error(ManifestErrorKind::NameNotUtf8))?;
                    manifest.base = Some(AofInfo { name, seq, file_type: AofFileType::Base });
                    manifest.curr_base_seq = seq;
                }
                b'h' => {
                    let seq = u64::try_from(info.seq).map_err(|_| error(ManifestErrorKind::NegativeSeq))?;
                    let name = String::from_utf8(info.name).map_err(|_| error(ManifestErrorKind::NameNotUtf8))?;
                    manifest.history.push(AofInfo { name, seq, file_type: AofFileType::History });
                }
                b'i' => {
                    if info.seq <= max_incr_seq {
                        return Err(error(ManifestErrorKind::NonMonotonicSeq));
                    }
                    max_incr_seq = info.seq;
                    let seq = info.seq as u64; // > 0, checked just above
                    let name = String::from_utf8(info.name).map_err(|_| error(ManifestErrorKind::NameNotUtf8))?;
                    manifest.incrs.push(AofInfo { name, seq, file_type: AofFileType::Incr });
                    manifest.curr_incr_seq = seq;
                }
                _ => return Err(error(ManifestErrorKind::UnknownType)),
            }
        }
    }

    /// The manifest as Redis writes it (`getAofManifestAsString`): base, history, then incr
    /// files, one `file <name> seq <n> type <t>` line each.
    ///
    /// Like Redis's, the text does not always read back: a manifest listing nothing is empty
    /// text (refused as empty), and a name with a single quote but nothing else to escape is
    /// written bare (refused as unbalanced quotes), as are an empty name and a line of 1024
    /// bytes or more.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for info in self.base.iter().chain(&self.history).chain(&self.incrs) {
            info.write_line(&mut out);
        }
        out
    }

    /// Names the base file a rewrite is about to install, `<basename>.<seq>.base.rdb` (or
    /// `.base.aof` without the RDB preamble), records it as the base and moves the previous
    /// base to the front of the history (`getNewBaseFileNameAndMarkPreAsHistory`).
    ///
    /// # Panics
    ///
    /// If the sequence number would pass `u64::MAX` (Redis's signed counter would overflow long
    /// before; a wrapped number would overwrite an older file).
    pub fn new_base(&mut self, basename: &str, rdb_preamble: bool) -> String {
        if let Some(mut previous) = self.base.take() {
            previous.file_type = AofFileType::History;
            self.history.insert(0, previous);
        }
        self.curr_base_seq = next_seq(self.curr_base_seq);
        let format = if rdb_preamble { "rdb" } else { "aof" };
        let name = format!("{basename}.{}.base.{format}", self.curr_base_seq);
        self.base = Some(AofInfo { name: name.clone(), seq: self.curr_base_seq, file_type: AofFileType::Base });
        name
    }

    /// Names a new incr file, `<basename>.<seq>.incr.aof`, and appends it to the incr files
    /// (`getNewIncrAofName`): at start-up when there is none, and when a rewrite starts.
    ///
    /// # Panics
    ///
    /// If the sequence number would pass `u64::MAX`, as [`Manifest::new_base`].
    pub fn new_incr(&mut self, basename: &str) -> String {
        self.curr_incr_seq = next_seq(self.curr_incr_seq);
        let name = format!("{basename}.{}.incr.aof", self.curr_incr_seq);
        self.incrs.push(AofInfo { name: name.clone(), seq: self.curr_incr_seq, file_type: AofFileType::Incr });
        name
    }

    /// The incr file to append to: the last one, or a new one when there is none
    /// (`getLastIncrAofName`, at start-up).
    pub fn last_or_new_incr(&mut self, basename: &str) -> String {
        match self.incrs.last() {
            Some(last) => last.name.clone(),
            None => self.new_incr(basename),
        }
    }

    /// After a successful rewrite while the AOF is on: every incr file but the last (the one
    /// opened when the rewrite started, still being written) becomes history, in front of the
    /// existing history, in their order (`markRewrittenIncrAofAsHistory` with an open AOF).
    pub fn mark_incrs_as_history(&mut self) {
        let keep = usize::from(!self.incrs.is_empty());
        self.move_incrs_to_history(self.incrs.len() - keep);
    }

    /// After a successful rewrite while the AOF is off (`BGREWRITEAOF` with `appendonly no`):
    /// every incr file becomes history (`markRewrittenIncrAofAsHistory` without an open AOF).
    pub fn mark_all_incrs_as_history(&mut self) {
        self.move_incrs_to_history(self.incrs.len());
    }

    fn move_incrs_to_history(&mut self, count: usize) {
        let rewritten = self.incrs.drain(..count).map(|info| AofInfo { file_type: AofFileType::History, ..info });
        let older = std::mem::take(&mut self.history);
        self.history = rewritten.chain(older).collect();
    }

    /// Empties the history and returns it, for the caller to delete those files
    /// (`aofDelHistoryFiles`, which then persists the manifest).
    pub fn take_history(&mut self) -> Vec<AofInfo> {
        std::mem::take(&mut self.history)
    }

    /// The files a load replays, in order: the base, then the incr files.
    pub fn files_to_load(&self) -> impl Iterator<Item = &AofInfo> {
        self.base.iter().chain(&self.incrs)
    }
}

fn next_seq(seq: u64) -> u64 {
    seq.checked_add(1).expect("AOF file sequence number overflow")
}

/// The fields of one line, as Redis holds them before it looks at the type.
struct RawInfo {
    name: Vec<u8>,
    seq: i64,
    file_type: u8,
}

/// Splits a trimmed, non-comment line into its fields, with Redis's checks in Redis's order.
fn parse_line(line: &[u8]) -> Result<RawInfo, ManifestErrorKind> {
    if line.is_empty() {
        return Err(ManifestErrorKind::InvalidFormat);
    }
    // "argc < 6" rather than "!= 6" leaves room for fields a later version may add.
    let argv = sds::split_args(line).filter(|argv| argv.len() >= 6 && argv.len() % 2 == 0);
    let argv = argv.ok_or(ManifestErrorKind::InvalidFormat)?;
    let (mut name, mut seq, mut file_type) = (None, 0, 0);
    for pair in argv.chunks_exact(2) {
        // strcasecmp and friends see C strings: an argument ends at its first NUL.
        let (key, value) = (sds::c_str(&pair[0]), &pair[1]);
        if key.eq_ignore_ascii_case(b"file") {
            let value = sds::c_str(value);
            if value.contains(&b'/') || value.contains(&b'\\') {
                return Err(ManifestErrorKind::PathNotFileName);
            }
            name = Some(value.to_vec());
        } else if key.eq_ignore_ascii_case(b"seq") {
            seq = sds::atoll(value);
        } else if key.eq_ignore_ascii_case(b"type") {
            file_type = value.first().copied().unwrap_or(0);
        }
    }
    match name {
        Some(name) if seq != 0 && file_type != 0 => Ok(RawInfo { name, seq, file_type }),
        _ => Err(ManifestErrorKind::InvalidFormat),
    }
}

/// What is wrong with a manifest. The first seven are Redis's, with its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestErrorKind {
    /// No line at all (an empty file).
    Empty,
    /// A line of 1024 bytes or more, or a last line without a newline.
    LineTooLong,
    /// An empty line, unbalanced quotes, fewer than six fields or an odd number, or a missing
    /// name, zero sequence number or empty type.
    InvalidFormat,
    /// A name with `/` or `\`.
    PathNotFileName,
    /// A second base line.
    DuplicateBase,
    /// An incr sequence number not above the previous incr's (nor above 0).
    NonMonotonicSeq,
    /// A type other than `b`, `h` or `i`.
    UnknownType,
    /// Ours: a negative sequence number on a base or history line, which Redis accepts.
    NegativeSeq,
    /// Ours: a file name that is not UTF-8, which Redis accepts.
    NameNotUtf8,
}

impl ManifestErrorKind {
    /// Redis's message (for the first seven).
    pub fn message(self) -> &'static str {
        match self {
            ManifestErrorKind::Empty => "Found an empty AOF manifest",
            ManifestErrorKind::LineTooLong => "The AOF manifest file contains too long line",
            ManifestErrorKind::InvalidFormat => "Invalid AOF manifest file format",
            ManifestErrorKind::PathNotFileName => "File can't be a path, just a filename",
            ManifestErrorKind::DuplicateBase => "Found duplicate base file information",
            ManifestErrorKind::NonMonotonicSeq => "Found a non-monotonic sequence number",
            ManifestErrorKind::UnknownType => "Unknown AOF file type",
            ManifestErrorKind::NegativeSeq => "Negative AOF file sequence numbers are not supported",
            ManifestErrorKind::NameNotUtf8 => "AOF file names that are not UTF-8 are not supported",
        }
    }
}

/// A manifest Redis (or we) would refuse to load, with the line where it went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    pub kind: ManifestErrorKind,
    /// 1-based, comment lines included; 0 for an empty manifest.
    pub line_number: usize,
    /// The offending line, trimmed, when Redis shows it (not for `Empty` and `LineTooLong`).
    pub line: Option<String>,
}

impl ManifestError {
    fn new(kind: ManifestErrorKind, line_number: usize, line: Option<&[u8]>) -> ManifestError {
        ManifestError { kind, line_number, line: line.map(|l| String::from_utf8_lossy(l).into_owned()) }
    }

    /// The lines Redis logs before it exits, for a server that wants its log to read the same.
    pub fn redis_log_lines(&self) -> Vec<String> {
        let mut lines = vec!["\n*** FATAL AOF MANIFEST FILE ERROR ***\n".to_string()];
        if let Some(line) = &self.line {
            lines.push(format!("Reading the manifest file, at line {}\n", self.line_number));
            lines.push(format!(">>> '{line}'\n"));
        }
        lines.push(format!("{}\n", self.kind.message()));
        lines
    }
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.message())?;
        match &self.line {
            Some(line) => write!(f, " (reading the manifest file, at line {}: '{line}')", self.line_number),
            None => Ok(()),
        }
    }
}

impl std::error::Error for ManifestError {}

#[cfg(test)]
mod tests;
