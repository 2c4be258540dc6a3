use super::*;
use crate::persistence::aof::{encode_command, encode_timestamp_annotation};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Files redis-server 7.0.15 wrote (see `testdata/generate.sh`).
const COMMANDS_INCR: &[u8] = include_bytes!("../testdata/commands.incr.aof");
const NO_PREAMBLE_BASE: &[u8] = include_bytes!("../testdata/no_preamble.base.aof");

const PING: &[u8] = b"*1\r\n$4\r\nPING\r\n";

type Command = Vec<Vec<u8>>;

fn cmd(args: &[&[u8]]) -> Command {
    args.iter().map(|a| a.to_vec()).collect()
}

fn encode(commands: &[Command]) -> Vec<u8> {
    let mut out = Vec::new();
    for c in commands {
        let args: Vec<&[u8]> = c.iter().map(Vec::as_slice).collect();
        encode_command(&mut out, &args);
    }
    out
}

/// Every command of `input`, and how the reading ended.
fn read_all(input: impl Read) -> (Vec<Command>, Result<(), AofReadError>, u64) {
    let mut reader = AofReader::new(input);
    let mut commands = Vec::new();
    let end = loop {
        match reader.next_command() {
            Ok(Some(args)) => commands.push(args.iter().map(|a| a.to_vec()).collect()),
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    // Once it has ended, it stays ended.
    assert!(matches!(reader.next_command(), Ok(None)));
    (commands, end, reader.valid_up_to())
}

fn read_ok(input: &[u8]) -> Vec<Command> {
    let (commands, end, valid_up_to) = read_all(input);
    end.unwrap_or_else(|e| panic!("{e}: {}", input.escape_ascii()));
    assert!(valid_up_to <= input.len() as u64);
    commands
}

/// How reading `input` ends, after the commands.
fn ending(input: &[u8]) -> Result<(), AofReadError> {
    read_all(input).1
}

/// Hands out at most `step` bytes a read, and an `Interrupted` error every third call, to
/// exercise every buffer boundary.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
    calls: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.calls += 1;
        if self.calls.is_multiple_of(3) {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "signal"));
        }
        let n = self.step.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fn trickle(data: &[u8], step: usize) -> Trickle<'_> {
    Trickle { data, step, calls: 0 }
}

#[test]
fn reads_an_incr_file_redis_wrote() {
    assert!(COMMANDS_INCR.starts_with(b"#TS:"), "the fixture has timestamp annotations");
    let expected = [
        cmd(&[b"SELECT", b"0"]),
        cmd(&[b"SET", b"greeting", b"hello"]),
        cmd(&[b"INCR", b"counter"]),
        cmd(&[b"INCR", b"counter"]),
        cmd(&[b"SET", b"session", b"token", b"PXAT", b"4102444800000"]),
        cmd(&[b"PEXPIREAT", b"greeting", b"4102444801000"]),
        cmd(&[b"SELECT", b"3"]),
        cmd(&[b"SET", b"bin\x00key", b"\xff\r\n"]),
        cmd(&[b"MULTI"]),
        cmd(&[b"INCR", b"counter"]),
        cmd(&[b"SET", b"x", b""]),
        cmd(&[b"EXEC"]),
        cmd(&[b"DEL", b"x"]),
    ];
    assert_eq!(read_ok(COMMANDS_INCR), expected);
    let (commands, end, valid_up_to) = read_all(trickle(COMMANDS_INCR, 1));
    assert_eq!((commands.as_slice(), end.is_ok(), valid_up_to), (&expected[..], true, COMMANDS_INCR.len() as u64));

    // Our encoder writes the same bytes, annotations aside.
    let without_annotations: Vec<u8> = COMMANDS_INCR
        .split_inclusive(|&c| c == b'\n')
        .filter(|line| !line.starts_with(b"#TS:"))
        .flatten()
        .copied()
        .collect();
    assert_eq!(encode(&expected), without_annotations);
}

#[test]
fn reads_a_base_written_without_the_rdb_preamble() {
    assert!(!starts_with_rdb_preamble(NO_PREAMBLE_BASE));
    assert_eq!(
        read_ok(NO_PREAMBLE_BASE),
        [
            cmd(&[b"SELECT", b"0"]),
            cmd(&[b"SET", b"k", b"v"]),
            cmd(&[b"PEXPIREAT", b"k", b"4102444800000"]),
            cmd(&[b"SELECT", b"5"]),
            cmd(&[b"SET", b"other", b"12345"]),
        ]
    );
}

#[test]
fn rdb_signature() {
    assert!(starts_with_rdb_preamble(b"REDIS0010\xfa"));
    assert!(starts_with_rdb_preamble(b"REDIS"));
    assert!(!starts_with_rdb_preamble(b"REDI"));
    assert!(!starts_with_rdb_preamble(b""));
    assert!(!starts_with_rdb_preamble(b"redis0010"));
    assert!(!starts_with_rdb_preamble(PING));
}

#[test]
fn empty_file_is_a_clean_end() {
    assert_eq!(read_ok(b""), Vec::<Command>::new());
    assert_eq!(read_ok(b"#TS:1\r\n#TS:2\r\n"), Vec::<Command>::new());
}

/// Arguments of every shape: empty, binary, CRLF inside, larger than the read buffer, larger
/// than the first allocation.
fn random_arg(rng: &mut SmallRng) -> Vec<u8> {
    let len = match rng.gen_range(0..20) {
        0 => 0,
        1 => rng.gen_range(BUFFER_SIZE - 10..BUFFER_SIZE + 10),
        2 if rng.gen_bool(0.1) => rng.gen_range(BULK_STEP..BULK_STEP * 3),
        3..=8 => rng.gen_range(1..10),
        _ => rng.gen_range(1..300),
    };
    match rng.gen_range(0..3) {
        0 => (0..len).map(|_| rng.gen()).collect(),
        1 => (0..len).map(|_| b"\r\n*$#"[rng.gen_range(0..5)]).collect(),
        _ => (0..len).map(|_| rng.gen_range(b'a'..=b'z')).collect(),
    }
}

fn random_command(rng: &mut SmallRng) -> Command {
    (0..rng.gen_range(1..6)).map(|_| random_arg(rng)).collect()
}

#[test]
fn random_commands_round_trip() {
    let mut rng = SmallRng::seed_from_u64(0xa0f);
    for round in 0..40 {
        let commands: Vec<Command> = (0..rng.gen_range(0..30)).map(|_| random_command(&mut rng)).collect();
        let mut file = Vec::new();
        for c in &commands {
            if rng.gen_bool(0.2) {
                encode_timestamp_annotation(&mut file, rng.gen());
            }
            file.extend_from_slice(&encode(std::slice::from_ref(c)));
        }
        assert_eq!(read_ok(&file), commands, "round {round}");
        let step = [1, 7, 4096, BUFFER_SIZE + 1][round % 4];
        let (read, end, valid_up_to) = read_all(trickle(&file, step));
        assert!(read == commands && end.is_ok(), "round {round}, {step}-byte reads");
        assert_eq!(valid_up_to, file.len() as u64);
    }
}

/// A file cut at any byte reads as its whole commands before the cut, and then ends cleanly
/// exactly when the cut falls between two commands (or after a whole annotation), and as
/// truncated just past the last whole command otherwise (an annotation cut short included).
#[test]
fn a_cut_at_every_offset_is_truncated_or_a_clean_end_at_command_boundaries() {
    let commands = [
        cmd(&[b"SELECT", b"0"]),
        cmd(&[b"SET", b"k", b"v\r\n"]),
        cmd(&[b"SET", b"", b""]),
        cmd(&[b"INCR", b"counter"]),
        cmd(&[b"APPEND", b"k", &[0u8; 12]]),
    ];
    let mut file = Vec::new();
    let mut ends = vec![0u64]; // where each command ends (the file's start is a boundary too)
    let mut annotation_ends = Vec::new();
    for (i, c) in commands.iter().enumerate() {
        if i % 2 == 1 {
            encode_timestamp_annotation(&mut file, 1_700_000_000 + i as i64);
            annotation_ends.push(file.len() as u64);
        }
        file.extend_from_slice(&encode(std::slice::from_ref(c)));
        ends.push(file.len() as u64);
    }
    for cut in 0..=file.len() {
        let (read, end, valid_up_to) = read_all(&file[..cut]);
        let whole = ends.iter().rposition(|&e| e <= cut as u64).unwrap();
        assert_eq!(read, &commands[..whole], "cut at {cut}");
        assert_eq!(valid_up_to, ends[whole], "cut at {cut}");
        match end {
            // A whole annotation after the last command ends the file cleanly too.
            Ok(()) => assert!(ends[whole] == cut as u64 || annotation_ends.contains(&(cut as u64)), "cut at {cut}"),
            Err(AofReadError::Truncated { valid_up_to }) => {
                assert_eq!(valid_up_to, ends[whole], "cut at {cut}");
                assert!(!ends.contains(&(cut as u64)) && !annotation_ends.contains(&(cut as u64)), "cut at {cut}");
            }
            Err(e) => panic!("cut at {cut}: {e}"),
        }
    }
}

#[test]
fn transactions_left_open_count_as_truncated() {
    let set = cmd(&[b"SET", b"a", b"1"]);
    let multi = cmd(&[b"MULTI"]);
    let exec = cmd(&[b"EXEC"]);
    let whole = encode(&[set.clone(), multi.clone(), set.clone(), exec.clone()]);
    assert_eq!(read_ok(&whole).len(), 4);

    // EOF after a complete command inside the transaction: back to before the MULTI.
    let open = encode(&[set.clone(), multi.clone(), set.clone()]);
    let before_multi = encode(std::slice::from_ref(&set)).len() as u64;
    let (read, end, _) = read_all(&open[..]);
    assert_eq!(read.len(), 3);
    assert!(
        matches!(end, Err(AofReadError::UnfinishedMulti { valid_up_to }) if valid_up_to == before_multi),
        "{end:?}"
    );

    // EOF inside a command inside the transaction: Redis 7.0 cuts past the last whole command.
    let mut cut = open.clone();
    cut.extend_from_slice(b"*1\r\n$4\r\nEX");
    let mut reader = AofReader::new(&cut[..]);
    for _ in 0..3 {
        reader.next_command().unwrap().unwrap();
    }
    assert_eq!(reader.open_multi(), Some(before_multi));
    let end = reader.next_command();
    assert!(matches!(end, Err(AofReadError::Truncated { valid_up_to }) if valid_up_to == open.len() as u64));
    assert_eq!(end.unwrap_err().truncate_to(), Some(open.len() as u64));

    // As in Redis's loader: names in any case, a MULTI inside a transaction is only queued,
    // an EXEC outside one changes nothing.
    let lower = encode(&[cmd(&[b"exec"]), cmd(&[b"multi"]), cmd(&[b"MULTI"]), cmd(&[b"Exec"]), set.clone()]);
    let mut reader = AofReader::new(&lower[..]);
    let mut open_after = Vec::new();
    while let Some(_args) = reader.next_command().unwrap() {
        open_after.push(reader.open_multi().is_some());
    }
    assert_eq!(open_after, [false, true, true, false, false]);

    // A transaction closed before the end is not held against a later truncation.
    let mut closed = whole.clone();
    closed.extend_from_slice(b"*2\r\n$3");
    assert!(
        matches!(ending(&closed), Err(AofReadError::Truncated { valid_up_to }) if valid_up_to == whole.len() as u64)
    );
}

#[test]
fn corrupt_files_say_where() {
    use Corruption::*;
    let p = PING.len() as u64;
    let cases: Vec<(Vec<u8>, u64, Corruption)> = vec![
        ([PING, b"x"].concat(), p, ExpectedArray { found: b'x' }),
        ([PING, b"\r\n"].concat(), p, ExpectedArray { found: b'\r' }),
        ([PING, b"$4\r\nPING\r\n"].concat(), p, ExpectedArray { found: b'$' }),
        (b"*0\r\n".to_vec(), 1, InvalidArgc),
        (b"*-1\r\n".to_vec(), 1, InvalidArgc),
        (b"*\r\n".to_vec(), 1, InvalidArgc),
        (b"* 1\r\n".to_vec(), 1, InvalidArgc),
        (b"*1x\r\n".to_vec(), 2, InvalidArgc),
        (b"*1\n".to_vec(), 2, InvalidArgc),
        (b"*1\rx".to_vec(), 3, InvalidArgc),
        (b"*2147483648\r\n".to_vec(), 10, InvalidArgc),
        (b"*1\r\n*4\r\n".to_vec(), 4, ExpectedBulk { found: b'*' }),
        (b"*1\r\n$-1\r\n".to_vec(), 5, InvalidBulkLength),
        (b"*1\r\n$\r\n\r\n".to_vec(), 5, InvalidBulkLength),
        (b"*1\r\n$+4\r\nPING\r\n".to_vec(), 5, InvalidBulkLength),
        (b"*1\r\n$9223372036854775808\r\n".to_vec(), 23, InvalidBulkLength),
        (b"*1\r\n$4\r\nPINGxy".to_vec(), 12, ExpectedCrlf { found: b'x' }),
        (b"*1\r\n$4\r\nPING\n".to_vec(), 12, ExpectedCrlf { found: b'\n' }),
        (b"*1\r\n$4\r\nPING\r\r".to_vec(), 13, ExpectedCrlf { found: b'\r' }),
        (b"*1\r\n$3\r\nPING\r\n".to_vec(), 11, ExpectedCrlf { found: b'G' }),
        ([PING, &[b'#'; 1023], b"\n"].concat(), p, AnnotationTooLong),
    ];
    for (file, offset, what) in cases {
        let (_, end, _) = read_all(&file[..]);
        match end {
            Err(AofReadError::Corrupt { offset: o, what: w }) => {
                assert_eq!((o, w), (offset, what), "{}", file.escape_ascii())
            }
            other => panic!("{}: {other:?}", file.escape_ascii()),
        }
    }
    // The longest annotation Redis reads as one line.
    assert_eq!(read_ok(&[&[b'#'; 1022][..], b"\n", PING].concat()).len(), 1);
}

/// Endings checked against redis-server 7.0.15 with `aof-load-truncated yes` (tests/aof_format.rs
/// runs them against the real server again), and the three places where we differ on purpose.
#[test]
fn endings_as_redis_judges_them() {
    let p = PING.len() as u64;
    let truncated = |tail: &[u8], at: u64| {
        let file = [PING, tail].concat();
        match ending(&file) {
            Err(AofReadError::Truncated { valid_up_to }) => assert_eq!(valid_up_to, at, "{}", tail.escape_ascii()),
            other => panic!("{}: {other:?}", tail.escape_ascii()),
        }
    };
    truncated(b"*", p);
    truncated(b"*1", p);
    truncated(b"*1\r\n$", p);
    truncated(b"*1\r\n$4\r\nPING\r", p);
    truncated(b"*3\r\n$3\r\nset\r\n$1\r\na\r\n$1\r\n", p);
    assert!(matches!(ending(b"*2\r\n$3\r\nSET"), Err(AofReadError::Truncated { valid_up_to: 0 })));
    assert!(matches!(ending(&[PING, b"*0\r\n"].concat()), Err(AofReadError::Corrupt { .. })));

    // Redis 7.0 loads these; we do not:
    // - an argument not followed by CRLF (Redis skips two bytes unseen);
    assert!(matches!(ending(&[PING, b"*1\r\n$4\r\nPINGxy"].concat()), Err(AofReadError::Corrupt { .. })));
    // - an annotation cut short at the end (Redis ends cleanly, then appends after it, so the
    //   next command it writes would be read as part of the annotation);
    truncated(b"#TS:123", p);
    // - a negative length (Redis aborts on the allocation).
    assert!(matches!(ending(&[PING, b"*1\r\n$-1\r\n"].concat()), Err(AofReadError::Corrupt { .. })));
}

#[test]
fn absurd_lengths_cost_no_memory() {
    // Lengths far beyond the data: truncated, read without allocating what they announce.
    let huge_bulk = b"*1\r\n$9223372036854775807\r\nabc";
    assert!(matches!(ending(huge_bulk), Err(AofReadError::Truncated { valid_up_to: 0 })));
    let huge_argc = b"*2147483647\r\n$1\r\na\r\n";
    assert!(matches!(ending(huge_argc), Err(AofReadError::Truncated { valid_up_to: 0 })));

    // A long bulk that stops short, read 1 byte per call: the allocation stays near the data.
    let mut file = b"*1\r\n$100000000\r\n".to_vec();
    file.extend(std::iter::repeat_n(b'z', 3 * BULK_STEP));
    assert!(matches!(ending(&file), Err(AofReadError::Truncated { valid_up_to: 0 })));
    let mut reader = AofReader::new(trickle(&file, 1));
    assert!(matches!(reader.next_command(), Err(AofReadError::Truncated { valid_up_to: 0 })));
    assert_eq!(reader.offset(), file.len() as u64);
}

#[test]
fn reads_the_commands_after_an_rdb_preamble() {
    use crate::persistence::rdb::{AuxFields, RdbReader, RdbWriteOptions, RdbWriter};
    use std::io::BufReader;

    let aux = AuxFields { redis_ver: "7.0.15", ctime: 1_700_000_000, used_mem: 1 << 20, aof_base: true, repl: None };
    let options = RdbWriteOptions { compression: true, checksum: true };
    let mut file = RdbWriter::new(Vec::new(), options, aux).unwrap().finish().unwrap();
    let preamble = file.len() as u64;
    assert!(starts_with_rdb_preamble(&file));
    let tail = encode(&[cmd(&[b"SET", b"k", b"v"])]);
    file.extend_from_slice(&tail);
    file.extend_from_slice(b"*2\r\n$3\r\nDEL");

    let mut input = BufReader::new(&file[..]);
    let mut rdb = RdbReader::new(&mut input).unwrap();
    while rdb.next_record().unwrap().is_some() {}
    assert_eq!(rdb.bytes_read(), preamble);
    let mut aof = AofReader::starting_at(&mut input, preamble);
    assert_eq!(aof.valid_up_to(), preamble);
    assert_eq!(aof.next_command().unwrap().unwrap(), [&b"SET"[..], b"k", b"v"]);
    let end = aof.next_command();
    assert!(matches!(end, Err(AofReadError::Truncated { valid_up_to }) if valid_up_to == preamble + tail.len() as u64));
}

#[test]
fn io_errors_pass_through() {
    struct Broken;
    impl Read for Broken {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::other("disk on fire"))
        }
    }
    let mut reader = AofReader::new(Broken);
    let e = reader.next_command().unwrap_err();
    assert!(matches!(&e, AofReadError::Io(inner) if inner.to_string() == "disk on fire"));
    assert_eq!(e.truncate_to(), None);
    assert!(reader.next_command().unwrap().is_none());
}

#[test]
fn errors_read_like_redis_log_lines() {
    assert_eq!(
        AofReadError::Truncated { valid_up_to: 14 }.to_string(),
        "Unexpected end of file reading the append only file (the last complete command ends at offset 14)"
    );
    assert_eq!(
        AofReadError::Corrupt { offset: 14, what: Corruption::ExpectedArray { found: b'x' } }.to_string(),
        "Bad file format reading the append only file at offset 14: Expected prefix '*', got: 'x'"
    );
    assert_eq!(Corruption::ExpectedCrlf { found: b'x' }.to_string(), "Expected \\r\\n, got: 78");
    assert_eq!(Corruption::ExpectedBulk { found: 0 }.to_string(), "Expected prefix '$', got: '\\x00'");
}

/// Random damage never panics, and whatever comes out is consistent: commands only before
/// `valid_up_to`, offsets within the file.
#[test]
fn damaged_files_never_panic() {
    let mut rng = SmallRng::seed_from_u64(99);
    let base: Vec<u8> = [COMMANDS_INCR, NO_PREAMBLE_BASE].concat();
    let alphabet = b"*$#\r\n0123456789-+ xMULTIEXEC\0\xff";
    for round in 0..20_000 {
        let mut file = if round % 10 == 0 {
            (0..rng.gen_range(0..64)).map(|_| alphabet[rng.gen_range(0..alphabet.len())]).collect()
        } else {
            base.clone()
        };
        for _ in 0..rng.gen_range(1..5) {
            let at = rng.gen_range(0..=file.len());
            match rng.gen_range(0..4) {
                0 if at < file.len() => file[at] = alphabet[rng.gen_range(0..alphabet.len())],
                1 if at < file.len() => {
                    file.remove(at);
                }
                2 => file.insert(at, alphabet[rng.gen_range(0..alphabet.len())]),
                _ => file.truncate(at),
            }
        }
        let len = file.len() as u64;
        let (_, end, valid_up_to) = read_all(&file[..]);
        assert!(valid_up_to <= len);
        match end {
            Ok(()) => {}
            Err(AofReadError::Truncated { valid_up_to: v } | AofReadError::UnfinishedMulti { valid_up_to: v }) => {
                assert!(v <= valid_up_to)
            }
            Err(AofReadError::Corrupt { offset, .. }) => assert!(offset < len && offset >= valid_up_to),
            Err(AofReadError::Io(e)) => panic!("{e}"),
        }
    }
}
